//! The client side of a MySQL session: framed reads, buffered writes, TLS upgrade.

use crate::stream::MaybeTls;
use bytes::BytesMut;
use sqlmux_protocol::mysql::packet::{decode_frame, write_packet, Frame, PacketError};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest logical packet a client may send (MySQL's own upper bound of max_allowed_packet).
pub const MAX_CLIENT_PACKET: usize = 1 << 30;

/// The read buffer a request starts with (grown for larger packets).
const READ_CHUNK: usize = 16 * 1024;

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

fn closed_on_eof(e: io::Error) -> ClientError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ClientError::Closed
    } else {
        ClientError::Io(e)
    }
}

/// A connected client.
pub struct ClientConn {
    stream: Option<MaybeTls>,
    rbuf: BytesMut,
    wbuf: BytesMut,
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
            stream: Some(MaybeTls::Plain(stream)),
            // Taken when a request arrives, given back while the session idles.
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            peer,
            written: 0,
            max_packet: crate::session::admission::MAX_PRELOGIN_PACKET,
        }
    }

    fn stream(&mut self) -> io::Result<&mut MaybeTls> {
        self.stream.as_mut().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "stream lost in TLS upgrade")
        })
    }

    /// True when the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(MaybeTls::is_tls)
    }

    /// The client has logged in: packets up to [`MAX_CLIENT_PACKET`] from now on.
    pub fn logged_in(&mut self) {
        self.max_packet = MAX_CLIENT_PACKET;
    }

    /// Reads one whole logical packet; `None` when the client closed between packets.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            if let Some(frame) = decode_frame(&mut self.rbuf, self.max_packet)? {
                return Ok(Some(frame));
            }
            let stream = self.stream.as_mut().ok_or(ClientError::Closed)?;
            if self.rbuf.capacity() == 0 {
                // An idle session holds no buffer: it takes one when the client speaks.
                stream.readable().await?;
                self.rbuf.reserve(READ_CHUNK);
            } else if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                self.rbuf.reserve(64 * 1024);
            }
            let n = match stream.read_buf(&mut self.rbuf).await {
                Ok(n) => n,
                // A TLS client that hangs up without close_notify between packets.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ClientError::Closed)
                };
            }
        }
    }

    /// Reads exactly one packet and not a byte more: the packet before a TLS upgrade must
    /// not swallow the start of the TLS handshake that a client sends right behind it.
    pub async fn read_frame_exact(&mut self) -> Result<Frame, ClientError> {
        if !self.rbuf.is_empty() {
            return self.expect_frame().await;
        }
        let stream = self.stream.as_mut().ok_or(ClientError::Closed)?;
        let mut header = [0u8; 4];
        stream
            .read_exact(&mut header)
            .await
            .map_err(closed_on_eof)?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if len > self.max_packet {
            return Err(ClientError::TooLarge(PacketError::TooLarge {
                len,
                max: self.max_packet,
            }));
        }
        self.rbuf.extend_from_slice(&header);
        // Memory as the bytes arrive, never from the declared length alone.
        let mut rest = (&mut *stream).take(len as u64);
        while self.rbuf.len() < 4 + len {
            if rest.read_buf(&mut self.rbuf).await.map_err(closed_on_eof)? == 0 {
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
        write_packet(&mut self.wbuf, seq, payload)
    }

    /// Writes queued packets.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let Self { stream, wbuf, .. } = self;
        let stream = stream.as_mut().ok_or(ClientError::Closed)?;
        if !wbuf.is_empty() {
            stream.write_all(wbuf).await?;
            wbuf.clear();
        }
        stream.flush().await?;
        Ok(())
    }

    /// Queues one packet and flushes.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), ClientError> {
        self.queue(seq, payload);
        self.flush().await
    }

    /// Writes relayed bytes as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.written += bytes.len() as u64;
        self.stream()?.write_all(bytes).await?;
        Ok(())
    }

    /// Gives back the buffers while the session idles (an idle session holds none); bytes
    /// the client already sent stay.
    pub fn release_buffers(&mut self) {
        crate::stream::release_empty([&mut self.rbuf, &mut self.wbuf]);
    }

    /// Bytes of read and write buffer held now (0 while the session idles).
    pub fn buffered_capacity(&self) -> usize {
        self.rbuf.capacity() + self.wbuf.capacity()
    }

    /// Resolves when the client has hung up (see [`MaybeTls::hung_up`]).
    pub async fn hung_up(&self) {
        if let Some(stream) = &self.stream {
            stream.hung_up().await;
        }
    }

    /// Bytes written raw so far: unchanged across a relay means the client got nothing of it.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the stream after raw writes.
    pub async fn flush_raw(&mut self) -> Result<(), ClientError> {
        self.stream()?.flush().await?;
        Ok(())
    }

    /// Upgrades the connection to TLS (after the client's SSL request).
    pub async fn start_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<(), ClientError> {
        MaybeTls::accept_tls_in(
            &mut self.stream,
            acceptor,
            ClientError::Closed,
            ClientError::Tls,
        )
        .await
    }
}
