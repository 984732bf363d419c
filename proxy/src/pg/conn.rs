//! A framed PostgreSQL connection, used on both sides of the proxy: buffered reads of whole
//! messages, buffered writes, TLS upgrade.

use crate::buffered::{end_of_input, eof_as_zero, Buffered, ConnErrors};
use crate::stream::MaybeTls;
use bytes::{Buf, Bytes};
use sqlmux_protocol::postgres::frame::{decode_frame, decode_startup, FrameError, Message};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest message accepted from either side (PostgreSQL's own limit is 1 GiB).
pub const MAX_MESSAGE: usize = 1 << 30;

/// Flush queued output once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// What went wrong on one connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection in the middle of a message or exchange.
    #[error("connection closed")]
    Closed,
    /// The peer sent bytes that are not a message.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The TLS handshake failed.
    #[error("tls handshake failed: {0}")]
    Tls(io::Error),
}

crate::buffered::buffered_conn!(PgConn, ConnError);

/// One framed connection.
pub struct PgConn {
    /// The stream and its buffers (their methods are the connection's, through `Deref`).
    conn: Buffered<ConnError>,
    /// The largest message read (a client's: 64 KiB until it has logged in).
    max_message: usize,
}

impl PgConn {
    /// Wraps a connected socket.
    pub fn new(stream: MaybeTls) -> Self {
        Self {
            // Buffers taken on first use; a client's are given back while its session idles.
            conn: Buffered::new(stream),
            max_message: MAX_MESSAGE,
        }
    }

    /// Registers the socket with the current runtime's reactor (see [`MaybeTls::rehome`]).
    pub fn rehome(&mut self) -> std::io::Result<()> {
        let stream = self.conn.stream.take();
        let stream = stream.ok_or(std::io::ErrorKind::NotConnected)?;
        self.conn.stream = Some(stream.rehome()?);
        Ok(())
    }

    /// Whether the peer hung up or sent something unasked (see [`MaybeTls::peer_closed`]);
    /// unread buffered bytes count as something unasked.
    pub fn peer_closed(&self) -> bool {
        self.buffered() > 0 || self.conn.stream.as_ref().is_none_or(MaybeTls::peer_closed)
    }

    /// A duplicate descriptor of the socket (see [`MaybeTls::cut_handle`]).
    pub fn cut_handle(&self) -> Option<crate::workers::CutHandle> {
        self.conn.stream.as_ref().and_then(MaybeTls::cut_handle)
    }

    /// Bytes read but not yet taken as messages.
    pub fn buffered(&self) -> usize {
        self.conn.rbuf.len()
    }

    /// Limits the messages read to `max` bytes (a client before it has logged in).
    pub fn limit_messages(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Reads one whole message; `None` when the peer closed between messages.
    pub async fn read(&mut self) -> Result<Option<Message>, ConnError> {
        let max = self.max_message;
        self.conn
            .read_with(4096, |rbuf| Ok(decode_frame(rbuf, max)?))
            .await
    }

    /// Reads a message that must come.
    pub async fn expect(&mut self) -> Result<Message, ConnError> {
        self.read().await?.ok_or(ConnError::Closed)
    }

    /// Reads one untagged startup packet and returns its body; `None` when the peer closed
    /// before sending anything. Reads no further than the packet: a TLS handshake may follow
    /// right behind an SSLRequest.
    pub async fn read_startup(&mut self) -> Result<Option<Bytes>, ConnError> {
        loop {
            let Buffered { stream, rbuf, .. } = &mut self.conn;
            if let Some(body) = decode_startup(rbuf)? {
                return Ok(Some(body));
            }
            let stream = stream.as_mut().ok_or(ConnError::Closed)?;
            let want = if rbuf.len() < 4 {
                4 - rbuf.len()
            } else {
                let len = i32::from_be_bytes([rbuf[0], rbuf[1], rbuf[2], rbuf[3]]);
                (len.max(8) as usize).saturating_sub(rbuf.len())
            };
            let mut chunk = vec![0u8; want];
            let n = eof_as_zero(stream.read(&mut chunk).await)?;
            if let Some(end) = end_of_input(n, rbuf) {
                return end;
            }
            rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Moves the leading bytes of the buffered input that `scan` measures (whole messages it
    /// accepts) into `to`'s queue with one copy; returns how many.
    pub fn forward_buffered(
        &mut self,
        to: &mut PgConn,
        scan: impl FnOnce(&[u8]) -> usize,
    ) -> usize {
        let rbuf = &mut self.conn.rbuf;
        let run = scan(rbuf).min(rbuf.len());
        if run > 0 {
            to.queue(&rbuf[..run]);
            rbuf.advance(run);
        }
        run
    }

    /// Queues bytes (one or more whole messages).
    #[inline]
    pub fn queue(&mut self, bytes: &[u8]) {
        self.conn.wbuf.extend_from_slice(bytes);
    }

    /// Writes the queue when it has grown large (a slow peer then slows the relay down).
    pub async fn flush_if_full(&mut self) -> Result<(), ConnError> {
        if self.conn.wbuf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Queues and flushes (written straight from `bytes` when nothing else is queued).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        if !self.conn.wbuf.is_empty() {
            self.queue(bytes);
            return self.flush().await;
        }
        let stream = self.conn.stream()?;
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    /// Starts TLS towards the backend at `address` (after it answered `S` to an
    /// SSLRequest).
    pub async fn connect_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        address: &str,
    ) -> Result<(), ConnError> {
        let plain = self
            .conn
            .stream
            .take()
            .and_then(MaybeTls::into_plain)
            .ok_or(ConnError::Closed)?;
        let tls = MaybeTls::connect_tls(plain, connector, address)
            .await
            .map_err(ConnError::Tls)?;
        self.conn.stream = Some(tls);
        Ok(())
    }

    /// Reads one raw byte (the answer to an SSLRequest).
    pub async fn read_byte(&mut self) -> Result<u8, ConnError> {
        let mut b = [0u8; 1];
        let stream = self.conn.stream()?;
        stream
            .read_exact(&mut b)
            .await
            .map_err(ConnError::closed_on_eof)?;
        Ok(b[0])
    }
}
