//! A TCP connection that may have been upgraded to TLS, on either side of the proxy.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A plain or TLS stream; the TLS variants are boxed to keep the enum small.
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS accepted from a client.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS towards a backend.
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// True when the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTls::Plain(_))
    }

    /// Registers the socket with the current runtime's reactor (a worker borrowing a pooled
    /// connection another worker opened). A plain socket is moved (two `epoll_ctl`); under
    /// TLS the session state stays and the socket is swapped for a duplicate of itself.
    pub fn rehome(self) -> io::Result<Self> {
        match self {
            MaybeTls::Plain(s) => Ok(MaybeTls::Plain(TcpStream::from_std(s.into_std()?)?)),
            MaybeTls::ServerTls(mut s) => {
                swap_for_duplicate(s.get_mut().0)?;
                Ok(MaybeTls::ServerTls(s))
            }
            MaybeTls::ClientTls(mut s) => {
                swap_for_duplicate(s.get_mut().0)?;
                Ok(MaybeTls::ClientTls(s))
            }
        }
    }

    /// Whether the peer has closed the connection or sent something unasked, seen without
    /// blocking: for a pooled connection that no statement is using, either means it is
    /// dead (a server's idle timeout, a terminated backend, a restart).
    pub fn peer_closed(&self) -> bool {
        let tcp = self.tcp();
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        match socket2::SockRef::from(tcp).peek(&mut byte) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// A duplicate descriptor of the TCP socket (under TLS too), for a later shutdown.
    pub fn cut_handle(&self) -> Option<crate::workers::CutHandle> {
        use std::os::fd::AsFd;
        self.tcp()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::sync::Arc::new)
    }

    /// The TCP socket under the stream.
    fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::ServerTls(s) => s.get_ref().0,
            MaybeTls::ClientTls(s) => s.get_ref().0,
        }
    }

    /// Resolves when the peer has hung up (FIN or RST), seen without reading: a session
    /// waits on this beside its backend, so a client that left mid-statement frees the
    /// backend at once. A peer that sends something meanwhile (a pipelined request, a TLS
    /// alert) is alive as far as this can tell: it is not watched further.
    pub async fn hung_up(&self) {
        let tcp = self.tcp();
        loop {
            if tcp.readable().await.is_err() {
                return;
            }
            let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
            // WouldBlock clears the readiness (a spurious wake-up): wait again.
            match tcp.try_io(Interest::READABLE, || {
                socket2::SockRef::from(tcp).peek(&mut byte)
            }) {
                Ok(0) => return,
                Ok(_) => std::future::pending::<()>().await,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
        }
    }

    /// Waits until the peer has sent something (plain TCP; under TLS at once, as the TLS
    /// layer may hold decrypted bytes already): an idle session waits here without a read
    /// buffer, and takes one only when its next request arrives.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(s) => s.poll_read_ready(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Takes the plain TCP stream out for a TLS upgrade.
    pub fn into_plain(self) -> Option<TcpStream> {
        match self {
            MaybeTls::Plain(s) => Some(s),
            _ => None,
        }
    }

    /// Accepts TLS from a client on the plain socket in `slot` (after the client asked for
    /// it); the slot then holds the TLS stream, or nothing when the handshake failed. The
    /// caller's errors: `closed` when there is no plain socket, `tls` for a failed handshake.
    pub async fn accept_tls_in<E>(
        slot: &mut Option<MaybeTls>,
        acceptor: &tokio_rustls::TlsAcceptor,
        closed: E,
        tls: fn(io::Error) -> E,
    ) -> Result<(), E> {
        let plain = slot.take().and_then(MaybeTls::into_plain).ok_or(closed)?;
        let stream = acceptor.accept(plain).await.map_err(tls)?;
        *slot = Some(MaybeTls::ServerTls(Box::new(stream)));
        Ok(())
    }

    /// Starts TLS towards the server at `address` (`host:port`, `[v6]:port`) on `tcp`,
    /// checking its certificate against the host.
    pub async fn connect_tls(
        tcp: TcpStream,
        connector: &tokio_rustls::TlsConnector,
        address: &str,
    ) -> io::Result<MaybeTls> {
        let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = connector.connect(name, tcp).await?;
        Ok(MaybeTls::ClientTls(Box::new(tls)))
    }
}

/// Replaces `socket` with a duplicate of its descriptor registered with the current runtime;
/// the original leaves its reactor and is closed (the connection stays open).
fn swap_for_duplicate(socket: &mut TcpStream) -> io::Result<()> {
    use std::os::fd::AsFd;
    let duplicate = socket.as_fd().try_clone_to_owned()?;
    *socket = TcpStream::from_std(std::net::TcpStream::from(duplicate))?;
    Ok(())
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => poll_read_draining(s, cx, buf),
            MaybeTls::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

/// Reads from a plain socket like `TcpStream::poll_read`, but saves the `recv` that would
/// only return EAGAIN: a read that leaves room in the buffer has drained the socket, so the
/// socket's read readiness is cleared right away. Data that arrives later raises a new
/// epoll edge, and tokio only clears the readiness it observed before the `recv`, so
/// nothing is missed. On the per-statement path this is one syscall less per direction.
fn poll_read_draining(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        let room = buf.remaining();
        let mut received = None;
        // The outer `try_io` remembers the readiness seen before the `recv`; reporting
        // WouldBlock from it after a short read clears exactly that readiness.
        let result = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(buf)?;
            received = Some(n);
            if n > 0 && n < room {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        return match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && received.is_none() => continue,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        };
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            MaybeTls::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Gives back a connection's buffers that hold nothing (an idle client holds none; bytes
/// read or queued stay).
pub fn release_empty(buffers: [&mut bytes::BytesMut; 2]) {
    for buffer in buffers {
        if buffer.is_empty() && buffer.capacity() > 0 {
            *buffer = bytes::BytesMut::new();
        }
    }
}

/// How long a connection may be silent before TCP keepalive probes start.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Sets what every client and backend socket of the data path gets: no Nagle delay, and TCP
/// keepalive (probes after 60 s of silence, every 10 s, 6 of them), so a peer that vanished
/// without a word (a pulled cable, a dead VM) is noticed and its session or backend freed.
pub fn tune(tcp: &tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(std::time::Duration::from_secs(10))
        .with_retries(6);
    let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (MaybeTls, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (MaybeTls::Plain(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn a_hang_up_is_seen_and_a_pipelined_request_is_not_one() {
        let (reader, writer) = pair().await;
        let watch = tokio::time::timeout(Duration::from_millis(100), reader.hung_up());
        assert!(watch.await.is_err(), "a silent peer is still there");
        drop(writer);
        tokio::time::timeout(Duration::from_secs(5), reader.hung_up())
            .await
            .expect("a closed peer is seen");

        let (mut reader, mut writer) = pair().await;
        writer.write_all(b"next").await.unwrap();
        let watch = tokio::time::timeout(Duration::from_millis(200), reader.hung_up());
        assert!(watch.await.is_err(), "a peer that sends is alive");
        let mut buf = [0u8; 4];
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"next", "the request stays to be read");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_and_short_reads_deliver_every_byte() {
        let (mut reader, mut writer) = pair().await;
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let send = tokio::spawn(async move {
            for chunk in sent.chunks(7_000) {
                writer.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut got = Vec::new();
        // A 1000-byte buffer makes most reads full (readiness kept) and some short (cleared).
        let mut buf = [0u8; 1000];
        while got.len() < expected.len() {
            let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf))
                .await
                .expect("a read after a short read must still wake up")
                .unwrap();
            assert!(n > 0, "early end of stream");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, expected);
        send.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ping_pong_never_loses_a_wakeup() {
        let (mut proxy_side, mut peer) = pair().await;
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                let n = peer.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                peer.write_all(&buf[..n]).await.unwrap();
            }
        });
        let mut buf = [0u8; 64];
        for round in 0..5_000u32 {
            proxy_side.write_all(&round.to_le_bytes()).await.unwrap();
            let mut have = 0;
            while have < 4 {
                let n = tokio::time::timeout(
                    Duration::from_secs(10),
                    proxy_side.read(&mut buf[have..]),
                )
                .await
                .expect("reply lost")
                .unwrap();
                assert!(n > 0);
                have += n;
            }
            assert_eq!(buf[..4], round.to_le_bytes());
        }
        drop(proxy_side);
        echo.await.unwrap();
    }

    /// Runs `ping_pong` in a second runtime on a socket made in a first one, already dropped:
    /// it only works if `rehome` moved the socket to the second runtime's reactor.
    fn after_first_runtime_is_gone(rehome: fn(MaybeTls) -> io::Result<MaybeTls>) {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let first = runtime();
        let (stream, peer) = first.block_on(async {
            let (stream, peer) = pair().await;
            (stream, peer.into_std().unwrap())
        });
        drop(first);
        runtime().block_on(async move {
            let mut stream = rehome(stream).unwrap();
            let mut peer = TcpStream::from_std(peer).unwrap();
            peer.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
                .await
                .expect("the moved socket must be woken by its new reactor")
                .unwrap();
            assert_eq!(&buf, b"ping");
            stream.write_all(b"pong").await.unwrap();
            peer.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
        });
    }

    #[test]
    fn a_moved_socket_works_on_the_runtime_it_moved_to() {
        after_first_runtime_is_gone(MaybeTls::rehome);
    }

    #[test]
    fn a_socket_swapped_for_its_duplicate_works_on_the_new_runtime() {
        after_first_runtime_is_gone(|stream| {
            let Some(mut tcp) = stream.into_plain() else {
                unreachable!("pair() is plain")
            };
            swap_for_duplicate(&mut tcp)?;
            Ok(MaybeTls::Plain(tcp))
        });
    }

    #[test]
    fn without_moving_the_socket_fails_once_its_runtime_is_gone() {
        let result = std::panic::catch_unwind(|| after_first_runtime_is_gone(Ok));
        assert!(result.is_err(), "the check above must be able to fail");
    }

    #[tokio::test]
    async fn end_of_stream_reads_zero() {
        let (mut reader, writer) = pair().await;
        drop(writer);
        let mut buf = [0u8; 16];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_tuned_socket_has_keepalive_and_no_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, _accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let client = client.unwrap();
        tune(&client);
        let sock = socket2::SockRef::from(&client);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert!(client.nodelay().unwrap());
    }
}
