//! The socket adapters between a client and opensrv-mysql.
//!
//! [`OnePacketReader`]: opensrv-mysql 0.7.0 misreads input holding several packets (a
//! pipelined client), so each read hands it at most one whole MySQL packet, never a byte of
//! the next. After authentication it also screens commands: opensrv answers unknown or
//! malformed commands with OK, so those are replaced by a [`REJECT_PREFIX`] query the shim
//! answers with the right ERR; commands without a response for unknown statements
//! (`COM_STMT_SEND_LONG_DATA`, a short `COM_STMT_CLOSE`) are dropped; a packet needing
//! continuation (16 MiB or more) is skipped and rejected.
//!
//! [`GatedWriter`]: a buffered writer (opensrv writes header and payload separately) that
//! replaces opensrv's own access-denied packet (code 1698) by the server's ERR 1045.

use super::error::AdminError;
use bytes::{Buf, Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Payload length of a packet followed by a continuation packet.
const CONTINUED: usize = 0xFF_FFFF;
/// Largest packet accepted before authentication (a handshake response is far smaller).
const MAX_HANDSHAKE_PACKET: usize = 64 * 1024;
/// Longest time a client may take to authenticate.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Buffered output beyond which writes wait for the socket.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Marks a query the reader put in place of a command it rejected; the rest names why.
pub(crate) const REJECT_PREFIX: &str = "\0sqlmux-reject:";

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_PING: u8 = 0x0e;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;

/// State one connection's reader, writer and shim share.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Set by the shim once the client authenticated: commands are screened from then on.
    authenticated: AtomicBool,
    /// Set by the shim when authentication failed: the ERR payload to send instead of
    /// opensrv's.
    denial: Mutex<Option<Vec<u8>>>,
}

impl Gate {
    /// The client authenticated.
    pub fn authenticated(&self) {
        self.authenticated.store(true, Ordering::Release);
    }

    /// Authentication failed: `payload` replaces opensrv's ERR packet.
    pub fn deny(&self, payload: Vec<u8>) {
        *self.denial.lock().unwrap_or_else(|p| p.into_inner()) = Some(payload);
    }

    fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    fn take_denial(&self) -> Option<Vec<u8>> {
        self.denial.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Why the reader rejected a command (encoded after [`REJECT_PREFIX`]).
pub(crate) fn rejection(query: &str) -> Option<AdminError> {
    let reason = query.strip_prefix(REJECT_PREFIX)?;
    Some(match reason {
        "too-large" => AdminError::PacketTooLarge,
        "utf8" => AdminError::InvalidUtf8,
        "execute" => AdminError::UnknownStatement,
        "empty" => AdminError::EmptyCommand,
        other => other
            .strip_prefix("command:")
            .and_then(|c| c.parse::<u8>().ok())
            .map(AdminError::UnknownCommand)
            .unwrap_or(AdminError::UnknownCommand(0xff)),
    })
}

/// A COM_QUERY packet standing for a rejected command.
fn reject_packet(seq: u8, reason: &str) -> Bytes {
    let mut payload = vec![COM_QUERY];
    payload.extend_from_slice(REJECT_PREFIX.as_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode(seq, &payload)
}

/// One packet: 3-byte length, sequence id, payload.
pub(crate) fn encode(seq: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + payload.len());
    let len = payload.len().min(CONTINUED - 1) as u32;
    out.extend_from_slice(&len.to_le_bytes()[..3]);
    out.extend_from_slice(&[seq]);
    out.extend_from_slice(&payload[..len as usize]);
    out.freeze()
}

enum Verdict {
    Pass,
    Drop,
    Reject(String),
}

/// What to do with one command packet (payload without header).
fn screen(payload: &[u8]) -> Verdict {
    let Some((&command, body)) = payload.split_first() else {
        return Verdict::Reject("empty".into());
    };
    match command {
        COM_QUIT | COM_PING | COM_FIELD_LIST => Verdict::Pass,
        COM_QUERY | COM_INIT_DB | COM_STMT_PREPARE => {
            if std::str::from_utf8(body).is_ok() {
                Verdict::Pass
            } else {
                Verdict::Reject("utf8".into())
            }
        }
        // No statement is ever prepared: closing one has no response, a short packet is
        // ignored like the server does; long data has no response either.
        COM_STMT_CLOSE if body.len() >= 4 => Verdict::Pass,
        COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA => Verdict::Drop,
        COM_STMT_EXECUTE => Verdict::Reject("execute".into()),
        other => Verdict::Reject(format!("command:{other}")),
    }
}

/// A packet being skipped: bytes left of the current chunk, and whether another follows.
struct Skip {
    left: usize,
    more: bool,
    seq: u8,
}

/// Hands its reader one whole packet per read (see the module doc).
pub(crate) struct OnePacketReader<R> {
    inner: R,
    gate: std::sync::Arc<Gate>,
    /// Bytes read from the socket, not yet handed out.
    buf: BytesMut,
    /// The packet being handed out.
    ready: Bytes,
    skip: Option<Skip>,
    eof: bool,
    /// Where socket reads land before joining `buf`.
    scratch: Vec<u8>,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<R> OnePacketReader<R> {
    /// Wraps `inner`; the client must authenticate within `handshake_timeout`.
    pub fn new(inner: R, gate: std::sync::Arc<Gate>, handshake_timeout: Duration) -> Self {
        Self {
            inner,
            gate,
            buf: BytesMut::with_capacity(4096),
            ready: Bytes::new(),
            skip: None,
            eof: false,
            scratch: vec![0; 16 * 1024],
            deadline: Box::pin(tokio::time::sleep(handshake_timeout)),
        }
    }

    /// The next packet to hand out from `buf`, if a whole one is there.
    fn next_packet(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(skip) = &mut self.skip {
                let n = skip.left.min(self.buf.len());
                self.buf.advance(n);
                skip.left -= n;
                if skip.left > 0 {
                    return Ok(None);
                }
                if !skip.more {
                    // opensrv answers with `seq + 1`, which must not overflow.
                    let seq = skip.seq.min(0xFE);
                    self.skip = None;
                    return Ok(Some(reject_packet(seq, "too-large")));
                }
                // The next chunk's header.
                if self.buf.len() < 4 {
                    return Ok(None);
                }
                let len = usize::from(self.buf[0])
                    | usize::from(self.buf[1]) << 8
                    | usize::from(self.buf[2]) << 16;
                *skip = Skip {
                    left: len,
                    more: len == CONTINUED,
                    seq: self.buf[3],
                };
                self.buf.advance(4);
                continue;
            }
            if self.buf.len() < 4 {
                return Ok(None);
            }
            let len = usize::from(self.buf[0])
                | usize::from(self.buf[1]) << 8
                | usize::from(self.buf[2]) << 16;
            let seq = self.buf[3];
            let authenticated = self.gate.is_authenticated();
            if !authenticated && len > MAX_HANDSHAKE_PACKET {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "handshake packet too large",
                ));
            }
            if len == CONTINUED {
                self.buf.advance(4);
                self.skip = Some(Skip {
                    left: len,
                    more: true,
                    seq,
                });
                continue;
            }
            if self.buf.len() < 4 + len {
                self.buf.reserve(4 + len - self.buf.len());
                return Ok(None);
            }
            let packet = self.buf.split_to(4 + len).freeze();
            // opensrv answers a packet with `seq + 1` (a panic on overflow in debug builds):
            // a handshake packet never has 255; a command always starts with 0.
            if !authenticated {
                if seq == 0xFF {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "handshake packet out of order",
                    ));
                }
                return Ok(Some(packet));
            }
            match screen(&packet[4..]) {
                Verdict::Pass if seq == 0 => return Ok(Some(packet)),
                Verdict::Pass => {
                    let mut packet = BytesMut::from(&packet[..]);
                    packet[3] = 0;
                    return Ok(Some(packet.freeze()));
                }
                Verdict::Drop => continue,
                Verdict::Reject(reason) => return Ok(Some(reject_packet(0, &reason))),
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for OnePacketReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(out.remaining());
                out.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if !this.gate.is_authenticated() && this.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client did not authenticate in time",
                )));
            }
            if let Some(packet) = this.next_packet()? {
                this.ready = packet;
                continue;
            }
            if this.eof {
                // A partial packet at EOF is dropped: the peer is gone.
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            if n == 0 {
                this.eof = true;
            } else {
                this.buf.extend_from_slice(read.filled());
            }
        }
    }
}

/// Buffers opensrv's output and swaps its access-denied packet for ours.
pub(crate) struct GatedWriter<W> {
    inner: W,
    gate: std::sync::Arc<Gate>,
    buf: Vec<u8>,
    written: usize,
    /// After a denial: opensrv's further output is dropped.
    swallow: bool,
}

impl<W> GatedWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, gate: std::sync::Arc<Gate>) -> Self {
        Self {
            inner,
            gate,
            buf: Vec::with_capacity(8192),
            written: 0,
            swallow: false,
        }
    }
}

impl<W: AsyncWrite + Unpin> GatedWriter<W> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes all of `bufs` (one call carries one whole packet from opensrv).
    fn accept(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() - self.written >= WRITE_HIGH_WATER {
            ready!(self.poll_drain(cx))?;
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.swallow {
            return Poll::Ready(Ok(total));
        }
        if !self.gate.is_authenticated() {
            if let Some(payload) = self.gate.take_denial() {
                // This write is opensrv's ERR packet: keep its sequence id, send ours.
                let seq = bufs
                    .iter()
                    .flat_map(|b| b.iter())
                    .nth(3)
                    .copied()
                    .unwrap_or(2);
                self.buf.extend_from_slice(&encode(seq, &payload));
                self.swallow = true;
                return Poll::Ready(Ok(total));
            }
        }
        for b in bufs {
            self.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(total))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for GatedWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.accept(cx, &[io::IoSlice::new(data)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.accept(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn query(seq: u8, sql: &str) -> Vec<u8> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        encode(seq, &p).to_vec()
    }

    async fn read_one<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
        let mut buf = vec![0u8; 1 << 20];
        let n = r.read(&mut buf).await.unwrap();
        buf.truncate(n);
        buf
    }

    fn authenticated_gate() -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        gate.authenticated();
        gate
    }

    #[tokio::test]
    async fn pipelined_packets_come_out_one_per_read() {
        let mut input = Vec::new();
        input.extend(query(0, "SELECT 1"));
        input.extend(query(0, "SELECT 22"));
        input.extend(query(0, "SELECT 333"));
        let mut r = OnePacketReader::new(&input[..], authenticated_gate(), HANDSHAKE_TIMEOUT);
        assert_eq!(read_one(&mut r).await, query(0, "SELECT 1"));
        assert_eq!(read_one(&mut r).await, query(0, "SELECT 22"));
        assert_eq!(read_one(&mut r).await, query(0, "SELECT 333"));
        assert!(read_one(&mut r).await.is_empty(), "then EOF");
    }

    #[tokio::test]
    async fn a_packet_split_over_reads_is_reassembled_and_small_buffers_get_parts() {
        let packet = query(0, &"x".repeat(10_000));
        let (client, server) = tokio::io::duplex(64);
        let mut r = OnePacketReader::new(server, authenticated_gate(), HANDSHAKE_TIMEOUT);
        let writer = {
            let packet = packet.clone();
            tokio::spawn(async move {
                let mut client = client;
                let mut doubled = packet.clone();
                doubled.extend(&packet);
                client.write_all(&doubled).await.unwrap();
            })
        };
        let mut got = Vec::new();
        while got.len() < packet.len() {
            let mut small = [0u8; 1000];
            let n = r.read(&mut small).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, packet, "never a byte of the next packet");
        assert_eq!(read_one(&mut r).await, packet);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn unknown_and_unsupported_commands_become_rejections() {
        let mut input = Vec::new();
        input.extend(encode(0, &[0x1f]).to_vec()); // COM_RESET_CONNECTION
        input.extend(encode(0, &[]).to_vec()); // empty
        input.extend(encode(0, &[COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 0, 0]).to_vec()); // dropped
        input.extend(encode(0, &[COM_STMT_CLOSE, 1]).to_vec()); // short: dropped
        input.extend(encode(0, &[COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0]).to_vec());
        input.extend(encode(0, &[COM_QUERY, 0xff, 0xfe]).to_vec()); // not UTF-8
        input.extend(encode(0, &[COM_PING]).to_vec());
        let mut r = OnePacketReader::new(&input[..], authenticated_gate(), HANDSHAKE_TIMEOUT);
        let reason = |p: Vec<u8>| {
            let text = String::from_utf8(p[5..].to_vec()).unwrap();
            assert_eq!(p[4], COM_QUERY);
            rejection(&text).map(|e| e.to_string())
        };
        assert_eq!(
            reason(read_one(&mut r).await),
            Some(AdminError::UnknownCommand(0x1f).to_string())
        );
        assert_eq!(
            reason(read_one(&mut r).await),
            Some(AdminError::EmptyCommand.to_string())
        );
        assert_eq!(
            reason(read_one(&mut r).await),
            Some(AdminError::UnknownStatement.to_string())
        );
        assert_eq!(
            reason(read_one(&mut r).await),
            Some(AdminError::InvalidUtf8.to_string())
        );
        assert_eq!(read_one(&mut r).await, encode(0, &[COM_PING]).to_vec());
    }

    #[tokio::test]
    async fn sequence_ids_cannot_overflow_opensrvs_reply_counter() {
        let mut input = query(0xFF, "SELECT 1");
        input.extend(encode(0xFF, &[0x1f]).to_vec());
        let mut r = OnePacketReader::new(&input[..], authenticated_gate(), HANDSHAKE_TIMEOUT);
        assert_eq!(read_one(&mut r).await, query(0, "SELECT 1"));
        assert_eq!(read_one(&mut r).await[3], 0);
        let input = encode(0xFF, b"handshake").to_vec();
        let mut r = OnePacketReader::new(&input[..], Arc::new(Gate::default()), HANDSHAKE_TIMEOUT);
        let mut buf = [0u8; 64];
        assert!(r.read(&mut buf).await.is_err());
    }

    #[tokio::test]
    async fn handshake_packets_pass_unscreened() {
        let gate = Arc::new(Gate::default());
        let response = encode(1, &[0x85, 0xa6, 0xff, 0x01]).to_vec();
        let mut r = OnePacketReader::new(&response[..], gate, HANDSHAKE_TIMEOUT);
        assert_eq!(read_one(&mut r).await, response);
    }

    #[tokio::test]
    async fn oversized_packets_are_skipped_and_rejected() {
        let mut input = Vec::new();
        let mut first = vec![0xff, 0xff, 0xff, 0];
        first.push(COM_QUERY);
        first.extend(std::iter::repeat_n(b'a', CONTINUED - 1));
        input.extend(first);
        input.extend(encode(1, b"tail").to_vec());
        input.extend(query(0, "SELECT 1"));
        let mut r = OnePacketReader::new(&input[..], authenticated_gate(), HANDSHAKE_TIMEOUT);
        let p = read_one(&mut r).await;
        assert_eq!(
            p[3], 1,
            "the rejection carries the last chunk's sequence id"
        );
        assert_eq!(
            rejection(std::str::from_utf8(&p[5..]).unwrap()).map(|e| e.to_string()),
            Some(AdminError::PacketTooLarge.to_string())
        );
        assert_eq!(read_one(&mut r).await, query(0, "SELECT 1"));
    }

    #[tokio::test]
    async fn large_handshake_packets_are_refused() {
        let input = encode(1, &vec![0u8; MAX_HANDSHAKE_PACKET + 1]).to_vec();
        let mut r = OnePacketReader::new(&input[..], Arc::new(Gate::default()), HANDSHAKE_TIMEOUT);
        let mut buf = vec![0u8; 1024];
        assert!(r.read(&mut buf).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_client_times_out_before_authenticating() {
        let (_client, server) = tokio::io::duplex(64);
        let mut r =
            OnePacketReader::new(server, Arc::new(Gate::default()), Duration::from_millis(50));
        let mut buf = [0u8; 16];
        let err = r.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn the_denial_replaces_opensrvs_err_packet() {
        let gate = Arc::new(Gate::default());
        let mut out = Vec::new();
        {
            let mut w = GatedWriter::new(&mut out, gate.clone());
            w.write_all(&encode(0, b"greeting")).await.unwrap();
            w.flush().await.unwrap();
            gate.deny(b"\xff\x15\x04#28000denied".to_vec());
            let header = [5u8, 0, 0, 2];
            let n = w
                .write_vectored(&[
                    io::IoSlice::new(&header),
                    io::IoSlice::new(b"\xff\xa2\x06#28"),
                ])
                .await
                .unwrap();
            assert_eq!(n, 10, "a whole packet per call");
            w.write_all(b"more").await.unwrap();
            w.flush().await.unwrap();
        }
        let mut expected = encode(0, b"greeting").to_vec();
        expected.extend(encode(2, b"\xff\x15\x04#28000denied").to_vec());
        assert_eq!(out, expected);
    }
}
