//! The client side of a MySQL session: framed reads, buffered writes, TLS upgrade.

use crate::buffered::{Buffered, ConnErrors};
use crate::stream::MaybeTls;
use sqlmux_protocol::mysql::packet::{decode_frame, write_packet, Frame, PacketError};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest logical packet a client may send (MySQL's own upper bound of max_allowed_packet).
pub const MAX_CLIENT_PACKET: usize = 1 << 30;

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket error.
    #[error("client i/o error: {0}")]
    Io(#[from] io::Error),
    /// The client closed the connection in the middle of a packet or exchange.
    #[error("client closed the connection")]
    Closed,
    /// The client sent a packet that is too large.
    #[error("client packet too large: {0}")]
    TooLarge(#[from] PacketError),
    /// TLS handshake with the client failed.
    #[error("client tls handshake failed: {0}")]
    Tls(io::Error),
}

crate::buffered::buffered_conn!(ClientConn, ClientError);

/// A connected client.
pub struct ClientConn {
    /// The stream and its buffers (their methods are the connection's, through `Deref`).
    conn: Buffered<ClientError>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Bytes written raw since the connection opened (to know whether a response began).
    written: u64,
    /// The largest packet read: 64 KiB until the client has logged in.
    max_packet: usize,
}

impl ClientConn {
    /// Wraps an accepted socket.
    pub fn new(stream: tokio::net::TcpStream, peer: SocketAddr) -> Self {
        Self {
            // Buffers taken when a request arrives, given back while the session idles.
            conn: Buffered::new(MaybeTls::Plain(stream)),
            peer,
            written: 0,
            max_packet: crate::session::admission::MAX_PRELOGIN_PACKET,
        }
    }

    fn raw_stream(&mut self) -> io::Result<&mut MaybeTls> {
        self.conn.stream.as_mut().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "stream lost in TLS upgrade")
        })
    }

    /// The client has logged in: packets up to [`MAX_CLIENT_PACKET`] from now on.
    pub fn logged_in(&mut self) {
        self.max_packet = MAX_CLIENT_PACKET;
    }

    /// Reads one whole logical packet; `None` when the client closed between packets.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        let max = self.max_packet;
        self.conn
            .read_with(1024, |rbuf| Ok(decode_frame(rbuf, max)?))
            .await
    }

    /// Reads exactly one packet and not a byte more: the packet before a TLS upgrade must
    /// not swallow the start of the TLS handshake that a client sends right behind it.
    pub async fn read_frame_exact(&mut self) -> Result<Frame, ClientError> {
        if !self.conn.rbuf.is_empty() {
            return self.expect_frame().await;
        }
        let Buffered { stream, rbuf, .. } = &mut self.conn;
        let stream = stream.as_mut().ok_or(ClientError::Closed)?;
        let mut header = [0u8; 4];
        stream
            .read_exact(&mut header)
            .await
            .map_err(ClientError::closed_on_eof)?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if len > self.max_packet {
            return Err(ClientError::TooLarge(PacketError::TooLarge {
                len,
                max: self.max_packet,
            }));
        }
        rbuf.extend_from_slice(&header);
        // Memory as the bytes arrive, never from the declared length alone.
        let mut rest = (&mut *stream).take(len as u64);
        while rbuf.len() < 4 + len {
            if rest
                .read_buf(rbuf)
                .await
                .map_err(ClientError::closed_on_eof)?
                == 0
            {
                return Err(ClientError::Closed);
            }
        }
        self.expect_frame().await
    }

    /// Reads a packet that must come (an answer within an exchange).
    pub async fn expect_frame(&mut self) -> Result<Frame, ClientError> {
        self.read_frame().await?.ok_or(ClientError::Closed)
    }

    /// Queues one packet; returns the next sequence id.
    pub fn queue(&mut self, seq: u8, payload: &[u8]) -> u8 {
        write_packet(&mut self.conn.wbuf, seq, payload)
    }

    /// Queues one packet and flushes.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), ClientError> {
        self.queue(seq, payload);
        self.flush().await
    }

    /// Writes relayed bytes as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.written += bytes.len() as u64;
        self.raw_stream()?.write_all(bytes).await?;
        Ok(())
    }

    /// Bytes written raw so far: unchanged across a relay means the client got nothing of it.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the stream after raw writes.
    pub async fn flush_raw(&mut self) -> Result<(), ClientError> {
        self.raw_stream()?.flush().await?;
        Ok(())
    }
}
