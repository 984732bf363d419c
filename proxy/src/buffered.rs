//! [`Buffered`]: a stream with its read and write buffers, what a MySQL client connection
//! (`mysql::client`) and a PostgreSQL connection (`pg::conn`) share: reads that take a
//! buffer only when the peer speaks, framed reads through the protocol's decoder, flushes,
//! the TLS upgrade of a client. Each protocol keeps its framing and its error type.

use crate::stream::MaybeTls;
use bytes::BytesMut;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWriteExt;

/// The read buffer a read starts with when the connection holds none.
const READ_CHUNK: usize = 16 * 1024;

/// How a protocol's connection error says what [`Buffered`] runs into.
pub trait ConnErrors: From<io::Error> {
    /// The peer closed the connection in the middle of a frame or exchange (or the stream
    /// is gone).
    fn closed() -> Self;
    /// The TLS handshake failed.
    fn tls(e: io::Error) -> Self;

    /// An end of stream inside `read_exact`: the peer closed; any other error as it is.
    fn closed_on_eof(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::closed()
        } else {
            Self::from(e)
        }
    }
}

/// A connection's stream and buffers, failing with the protocol's error `E`.
pub struct Buffered<E> {
    /// The stream; `None` only after a failed TLS upgrade.
    pub(crate) stream: Option<MaybeTls>,
    /// Bytes read and not yet taken as frames.
    pub(crate) rbuf: BytesMut,
    /// Bytes queued to be written.
    pub(crate) wbuf: BytesMut,
    errors: PhantomData<fn() -> E>,
}

/// A read's count, with a TLS peer that hung up without close_notify read as an end of
/// stream (0).
#[inline]
pub fn eof_as_zero(read: io::Result<usize>) -> io::Result<usize> {
    match read {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

/// After a read of `n` bytes with `buffered` left unread: `None` to read on, else the end
/// of input (`Ok(None)` when the peer closed between frames, `closed` in the middle of one).
#[inline]
pub fn end_of_input<T, E: ConnErrors>(
    n: usize,
    buffered: &BytesMut,
) -> Option<Result<Option<T>, E>> {
    match (n, buffered.is_empty()) {
        (0, true) => Some(Ok(None)),
        (0, false) => Some(Err(E::closed())),
        _ => None,
    }
}

impl<E: ConnErrors> Buffered<E> {
    /// Wraps a connected stream; the buffers are taken on first use.
    pub fn new(stream: MaybeTls) -> Self {
        Self {
            stream: Some(stream),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            errors: PhantomData,
        }
    }

    /// The stream, `closed` when a failed TLS upgrade took it.
    #[inline]
    pub fn stream(&mut self) -> Result<&mut MaybeTls, E> {
        self.stream.as_mut().ok_or_else(E::closed)
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

    /// Reads more bytes into the read buffer: an idle connection takes a buffer only when
    /// the peer speaks; one with less than `min_room` free grows. 0 at the end of stream.
    #[inline]
    pub async fn fill(&mut self, min_room: usize) -> Result<usize, E> {
        std::future::poll_fn(|cx| self.poll_fill(cx, min_room)).await
    }

    /// [`Self::fill`] as a poll: a future waiting on it (an idle session's) is a few bytes.
    fn poll_fill(&mut self, cx: &mut Context<'_>, min_room: usize) -> Poll<Result<usize, E>> {
        let Self { stream, rbuf, .. } = self;
        let stream = stream.as_mut().ok_or_else(E::closed)?;
        if rbuf.capacity() == 0 {
            ready!(stream.poll_readable(cx))?;
            rbuf.reserve(READ_CHUNK);
        } else if rbuf.capacity() - rbuf.len() < min_room {
            rbuf.reserve(64 * 1024);
        }
        let read = ready!(tokio_util::io::poll_read_buf(Pin::new(stream), cx, rbuf));
        Poll::Ready(Ok(eof_as_zero(read)?))
    }

    /// Reads until `decode` takes one whole frame off the read buffer (see [`Self::fill`]
    /// for `min_room`); `None` when the peer closed between frames. A poll, not an async
    /// fn: an idle session's task keeps this read, and it is a few bytes.
    #[inline]
    pub async fn read_with<T>(
        &mut self,
        min_room: usize,
        mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E> {
        std::future::poll_fn(|cx| loop {
            if let Some(frame) = decode(&mut self.rbuf)? {
                return Poll::Ready(Ok(Some(frame)));
            }
            let n = ready!(self.poll_fill(cx, min_room))?;
            if let Some(end) = end_of_input(n, &self.rbuf) {
                return Poll::Ready(end);
            }
        })
        .await
    }

    /// Writes everything queued, then flushes the stream.
    pub async fn flush(&mut self) -> Result<(), E> {
        let Self { stream, wbuf, .. } = self;
        let stream = stream.as_mut().ok_or_else(E::closed)?;
        if !wbuf.is_empty() {
            stream.write_all(wbuf).await?;
            wbuf.clear();
        }
        stream.flush().await?;
        Ok(())
    }

    /// Accepts TLS from a client (after it asked for it).
    pub async fn accept_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> Result<(), E> {
        MaybeTls::accept_tls_in(&mut self.stream, acceptor, E::closed(), E::tls).await
    }
}

/// Makes `$conn` a buffered connection: [`ConnErrors`] for its error type `$error` (whose
/// `Closed` and `Tls(io::Error)` variants they are) and `Deref` to its `conn` field, a
/// [`Buffered`], whose methods are then the connection's.
macro_rules! buffered_conn {
    ($conn:ty, $error:ident) => {
        impl $crate::buffered::ConnErrors for $error {
            fn closed() -> Self {
                $error::Closed
            }

            fn tls(e: std::io::Error) -> Self {
                $error::Tls(e)
            }
        }

        impl std::ops::Deref for $conn {
            type Target = $crate::buffered::Buffered<$error>;

            fn deref(&self) -> &Self::Target {
                &self.conn
            }
        }

        impl std::ops::DerefMut for $conn {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.conn
            }
        }
    };
}

pub(crate) use buffered_conn;
