//! A framed PostgreSQL connection, used on both sides of the proxy: buffered reads of whole
//! messages, buffered writes, TLS upgrade.

use crate::stream::MaybeTls;
use bytes::Buf;
use bytes::{Bytes, BytesMut};
use sqlmux_protocol::pg::frame::{decode_frame, decode_startup, FrameError, Message};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest message accepted from either side (PostgreSQL's own limit is 1 GiB).
pub const MAX_MESSAGE: usize = 1 << 30;

/// Flush queued output once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// The read buffer a read starts with when the connection holds none.
const READ_CHUNK: usize = 16 * 1024;

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

/// One framed connection.
pub struct PgConn {
    stream: Option<MaybeTls>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// The largest message read (a client's: 64 KiB until it has logged in).
    max_message: usize,
}

impl PgConn {
    /// Wraps a connected socket.
    pub fn new(stream: MaybeTls) -> Self {
        Self {
            stream: Some(stream),
            // Taken on first use; a client's are given back while its session idles.
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            max_message: MAX_MESSAGE,
        }
    }

    /// Registers the socket with the current runtime's reactor (see [`MaybeTls::rehome`]).
    pub fn rehome(&mut self) -> std::io::Result<()> {
        let stream = self.stream.take().ok_or(std::io::ErrorKind::NotConnected)?;
        self.stream = Some(stream.rehome()?);
        Ok(())
    }

    /// Whether the peer hung up or sent something unasked (see [`MaybeTls::peer_closed`]);
    /// unread buffered bytes count as something unasked.
    pub fn peer_closed(&self) -> bool {
        self.buffered() > 0 || self.stream.as_ref().is_none_or(MaybeTls::peer_closed)
    }

    /// A duplicate descriptor of the socket (see [`MaybeTls::cut_handle`]).
    pub fn cut_handle(&self) -> Option<crate::workers::CutHandle> {
        self.stream.as_ref().and_then(MaybeTls::cut_handle)
    }

    /// True when the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(MaybeTls::is_tls)
    }

    /// Resolves when the peer has hung up (see [`MaybeTls::hung_up`]).
    pub async fn hung_up(&self) {
        if let Some(stream) = &self.stream {
            stream.hung_up().await;
        }
    }

    /// Gives back the buffers while the connection idles (a client between requests holds
    /// none); bytes already read or queued stay.
    pub fn release_buffers(&mut self) {
        crate::stream::release_empty([&mut self.rbuf, &mut self.wbuf]);
    }

    /// Bytes of read and write buffer held now (0 for an idle client).
    pub fn buffered_capacity(&self) -> usize {
        self.rbuf.capacity() + self.wbuf.capacity()
    }

    /// Bytes read but not yet taken as messages.
    pub fn buffered(&self) -> usize {
        self.rbuf.len()
    }

    async fn fill(&mut self) -> Result<usize, ConnError> {
        let stream = self.stream.as_mut().ok_or(ConnError::Closed)?;
        if self.rbuf.capacity() == 0 {
            // An idle client holds no buffer: it takes one when the peer speaks.
            stream.readable().await?;
            self.rbuf.reserve(READ_CHUNK);
        } else if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(64 * 1024);
        }
        match stream.read_buf(&mut self.rbuf).await {
            Ok(n) => Ok(n),
            // A TLS peer that hangs up without close_notify.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one whole message; `None` when the peer closed between messages.
    /// Limits the messages read to `max` bytes (a client before it has logged in).
    pub fn limit_messages(&mut self, max: usize) {
        self.max_message = max;
    }

    pub async fn read(&mut self) -> Result<Option<Message>, ConnError> {
        loop {
            if let Some(m) = decode_frame(&mut self.rbuf, self.max_message)? {
                return Ok(Some(m));
            }
            if self.fill().await? == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Closed)
                };
            }
        }
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
            if let Some(body) = decode_startup(&mut self.rbuf)? {
                return Ok(Some(body));
            }
            let stream = self.stream.as_mut().ok_or(ConnError::Closed)?;
            let want = if self.rbuf.len() < 4 {
                4 - self.rbuf.len()
            } else {
                let len =
                    i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]]);
                (len.max(8) as usize).saturating_sub(self.rbuf.len())
            };
            let mut chunk = vec![0u8; want];
            let n = match stream.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Closed)
                };
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Moves the leading bytes of the buffered input that `scan` measures (whole messages it
    /// accepts) into `to`'s queue with one copy; returns how many.
    pub fn forward_buffered(
        &mut self,
        to: &mut PgConn,
        scan: impl FnOnce(&[u8]) -> usize,
    ) -> usize {
        let run = scan(&self.rbuf).min(self.rbuf.len());
        if run > 0 {
            to.queue(&self.rbuf[..run]);
            self.rbuf.advance(run);
        }
        run
    }

    /// Queues bytes (one or more whole messages).
    #[inline]
    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Writes the queue when it has grown large (a slow peer then slows the relay down).
    pub async fn flush_if_full(&mut self) -> Result<(), ConnError> {
        if self.wbuf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        let Self { stream, wbuf, .. } = self;
        let stream = stream.as_mut().ok_or(ConnError::Closed)?;
        if !wbuf.is_empty() {
            stream.write_all(wbuf).await?;
            wbuf.clear();
        }
        stream.flush().await?;
        Ok(())
    }

    /// Queues and flushes (written straight from `bytes` when nothing else is queued).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        if !self.wbuf.is_empty() {
            self.queue(bytes);
            return self.flush().await;
        }
        let stream = self.stream.as_mut().ok_or(ConnError::Closed)?;
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    /// Accepts TLS from a client (after its SSLRequest was answered `S`).
    pub async fn accept_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<(), ConnError> {
        MaybeTls::accept_tls_in(
            &mut self.stream,
            acceptor,
            ConnError::Closed,
            ConnError::Tls,
        )
        .await
    }

    /// Starts TLS towards the backend at `address` (after it answered `S` to an
    /// SSLRequest).
    pub async fn connect_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        address: &str,
    ) -> Result<(), ConnError> {
        let plain = self
            .stream
            .take()
            .and_then(MaybeTls::into_plain)
            .ok_or(ConnError::Closed)?;
        let tls = MaybeTls::connect_tls(plain, connector, address)
            .await
            .map_err(ConnError::Tls)?;
        self.stream = Some(tls);
        Ok(())
    }

    /// Reads one raw byte (the answer to an SSLRequest).
    pub async fn read_byte(&mut self) -> Result<u8, ConnError> {
        let stream = self.stream.as_mut().ok_or(ConnError::Closed)?;
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).await.map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ConnError::Closed
            } else {
                ConnError::Io(e)
            }
        })?;
        Ok(b[0])
    }
}
