//! The bytes between a PostgreSQL client and pgwire.
//!
//! pgwire's frontend decoders assume well-formed messages: a truncated `Parse` or a
//! `PasswordMessage` shorter than its length field makes them panic, and a `Query` with
//! bytes after its terminator leaves those bytes to be read as the next message. So pgwire
//! never sees raw client bytes here:
//!
//! - [`read_opening`] reads the untyped first packets itself: SSLRequest and GSSENCRequest
//!   are refused with `N` (the admin port has no TLS), a CancelRequest ends the connection,
//!   anything else is handed to pgwire as the startup packet (which it validates).
//! - [`FrontendStream`] then frames every typed message ([`Framer`]) and passes on only the
//!   ones pgwire decodes safely and the admin interface answers: `Query` (one string, one
//!   terminator), `PasswordMessage` (before authentication) and `Terminate`. Anything else
//!   is replaced by a [`REJECT_PREFIX`] query that the connection answers with an error
//!   ([`rejection`]): the extended query protocol (discarded up to its `Sync`, like the
//!   server does after an error), `FunctionCall`, a malformed or oversized message, an
//!   unknown message type. COPY data outside a COPY is ignored, as the server does.

use bytes::{Buf, BufMut, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Longest startup packet (the server's `MAX_STARTUP_PACKET_LENGTH`); also the limit of
/// every message before authentication.
pub(crate) const STARTUP_LIMIT: usize = 10_000;
/// Longest message after authentication (an admin statement).
pub(crate) const MESSAGE_LIMIT: usize = 16 << 20;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// Starts a query text that [`FrontendStream`] put in place of a message it refused; the
/// rest says why. A real query starting with it is refused too, so it cannot be forged.
pub(crate) const REJECT_PREFIX: &str = "\u{1}sqlmux-reject:";

/// How a connection opened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// The startup packet, length included, for pgwire to decode.
    Startup(BytesMut),
    /// A CancelRequest: admin statements are short and not cancelled; close.
    Cancel,
}

/// Reads the untyped packets a connection opens with, answering SSL and GSSAPI encryption
/// requests with `N`.
pub(crate) async fn read_opening<S>(stream: &mut S) -> io::Result<Opening>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // At most one SSLRequest and one GSSENCRequest come before the startup packet.
    for _ in 0..3 {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await?;
        let len = u32::from_be_bytes(head) as usize;
        if !(8..=STARTUP_LIMIT).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid length of startup packet: {len}"),
            ));
        }
        let mut packet = BytesMut::zeroed(len);
        packet[..4].copy_from_slice(&head);
        stream.read_exact(&mut packet[4..]).await?;
        let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST if len == 8 => {
                stream.write_all(b"N").await?;
                stream.flush().await?;
            }
            CANCEL_REQUEST => return Ok(Opening::Cancel),
            _ => return Ok(Opening::Startup(packet)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "too many encryption requests before the startup packet",
    ))
}

/// What the connection does with a [`REJECT_PREFIX`] query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// A `Sync` outside an extended-protocol batch: only ReadyForQuery.
    Sync,
    /// An error; `fatal` ends the connection after it.
    Error {
        /// FATAL (then close) or ERROR (the session goes on).
        fatal: bool,
        /// SQLSTATE.
        code: &'static str,
        /// Message.
        message: String,
    },
}

/// The [`Rejection`] a query text stands for, if it is one.
pub(crate) fn rejection(query: &str) -> Option<Rejection> {
    let reason = query.strip_prefix(REJECT_PREFIX)?;
    let (what, kind) = reason.split_once(':').unwrap_or((reason, ""));
    let kind = kind
        .parse::<u8>()
        .map_or_else(|_| "?".to_string(), type_name);
    let error = |fatal, code, message: String| Rejection::Error {
        fatal,
        code,
        message,
    };
    Some(match what {
        "sync" => Rejection::Sync,
        "extended" => error(
            false,
            "0A000",
            "the sqlmux admin interface speaks the simple query protocol only: the extended \
             query protocol (Parse/Bind/Execute, prepared statements, query parameters) is not \
             supported"
                .into(),
        ),
        "function" => error(
            false,
            "0A000",
            "FunctionCall is not supported by the sqlmux admin interface".into(),
        ),
        "reserved" => error(
            false,
            "42601",
            "a statement may not start with the control character U+0001".into(),
        ),
        "malformed" => error(true, "08P01", format!("invalid {kind} message format")),
        "too_large" => error(
            true,
            "54000",
            format!("{kind} message longer than the sqlmux admin interface accepts"),
        ),
        "early" => error(
            true,
            "08P01",
            format!("expected password response, got message type {kind}"),
        ),
        _ => error(
            true,
            "08P01",
            format!("invalid frontend message type {kind}"),
        ),
    })
}

/// A message type byte as the error text shows it.
fn type_name(kind: u8) -> String {
    if kind.is_ascii_graphic() {
        format!("'{}'", kind as char)
    } else {
        format!("0x{kind:02x}")
    }
}

/// Splits typed frontend messages and keeps only what pgwire may decode (module doc).
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Bytes read, not yet a whole message.
    input: BytesMut,
    /// Messages for pgwire.
    output: BytesMut,
    /// Discarding extended-protocol messages up to the next `Sync`.
    skipping: bool,
    /// A fatal rejection was emitted: nothing after `output`.
    closed: bool,
    /// The client authenticated: queries are allowed, up to [`MESSAGE_LIMIT`].
    authenticated: bool,
}

impl Framer {
    /// Takes bytes from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.input.extend_from_slice(bytes);
        while !self.closed && self.input.len() >= 5 {
            let kind = self.input[0];
            let len =
                u32::from_be_bytes([self.input[1], self.input[2], self.input[3], self.input[4]])
                    as usize;
            let limit = if self.authenticated {
                MESSAGE_LIMIT
            } else {
                STARTUP_LIMIT
            };
            if len < 4 {
                return self.fatal("malformed", kind);
            }
            if len > limit {
                return self.fatal("too_large", kind);
            }
            if self.input.len() < 1 + len {
                self.input.reserve(1 + len - self.input.len());
                return;
            }
            let message = self.input.split_to(1 + len);
            self.dispatch(kind, message);
        }
    }

    fn dispatch(&mut self, kind: u8, message: BytesMut) {
        let body = &message[5..];
        if !self.authenticated {
            match kind {
                b'p' | b'X' => self.output.extend_from_slice(&message),
                _ => self.fatal("early", kind),
            }
            return;
        }
        if self.skipping {
            match kind {
                b'S' => self.skipping = false,
                b'X' => self.output.extend_from_slice(&message),
                _ => {}
            }
            return;
        }
        match kind {
            b'Q' => match body.iter().position(|&b| b == 0) {
                Some(end) if end + 1 == body.len() => {
                    if body.starts_with(REJECT_PREFIX.as_bytes()) {
                        self.reject("reserved");
                    } else {
                        self.output.extend_from_slice(&message);
                    }
                }
                _ => self.fatal("malformed", kind),
            },
            b'X' => {
                if body.is_empty() {
                    self.output.extend_from_slice(&message);
                } else {
                    self.fatal("malformed", kind);
                }
            }
            // Parse, Bind, Describe, Execute, Close, Flush: refused once, then discarded
            // up to the Sync (the refusal's ReadyForQuery answers that Sync).
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => {
                self.reject("extended");
                self.skipping = true;
            }
            b'S' => self.reject("sync"),
            b'F' => self.reject("function"),
            // CopyData, CopyDone, CopyFail outside a COPY: ignored, as the server does.
            b'd' | b'c' | b'f' => {}
            _ => self.fatal("unknown", kind),
        }
    }

    fn reject(&mut self, reason: &str) {
        let text = format!("{REJECT_PREFIX}{reason}");
        self.output.put_u8(b'Q');
        // The text is a few bytes; the length always fits.
        self.output.put_u32((4 + text.len() + 1) as u32);
        self.output.extend_from_slice(text.as_bytes());
        self.output.put_u8(0);
    }

    fn fatal(&mut self, reason: &str, kind: u8) {
        self.reject(&format!("{reason}:{kind}"));
        self.closed = true;
        self.input.clear();
    }

    /// Moves up to `buf.remaining()` bytes of output into `buf`; false when there are none.
    fn drain_into(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        if self.output.is_empty() {
            return false;
        }
        let n = self.output.len().min(buf.remaining());
        buf.put_slice(&self.output[..n]);
        self.output.advance(n);
        true
    }
}

/// A client connection as pgwire reads it: every typed message screened by a [`Framer`];
/// writes go straight through.
#[derive(Debug)]
pub(crate) struct FrontendStream<S> {
    inner: S,
    framer: Framer,
}

impl<S> FrontendStream<S> {
    /// Wraps a connection whose untyped opening packets were read ([`read_opening`]).
    pub fn new(inner: S) -> Self {
        FrontendStream {
            inner,
            framer: Framer::default(),
        }
    }

    /// The client authenticated: queries are passed on from now on.
    pub fn set_authenticated(&mut self) {
        self.framer.authenticated = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrontendStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.framer.drain_into(buf) || this.framer.closed {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of input (an incomplete message is dropped).
                return Poll::Ready(Ok(()));
            }
            this.framer.push(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrontendStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((4 + body.len()) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// The query texts of the `Q` messages in `output` (which must hold only those).
    fn queries(framer: &mut Framer) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = std::mem::take(&mut framer.output);
        while !buf.is_empty() {
            assert_eq!(buf[0], b'Q', "{buf:?}");
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            let m = buf.split_to(1 + len);
            out.push(String::from_utf8(m[5..m.len() - 1].to_vec()).unwrap());
        }
        out
    }

    fn authenticated() -> Framer {
        Framer {
            authenticated: true,
            ..Framer::default()
        }
    }

    #[test]
    fn queries_pass_whole_even_byte_by_byte() {
        let mut f = authenticated();
        let mut input = message(b'Q', b"SELECT 1\0");
        input.extend(message(b'Q', b"SELECT 2\0"));
        for b in &input {
            f.push(std::slice::from_ref(b));
        }
        assert_eq!(queries(&mut f), ["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn extended_protocol_is_refused_once_and_discarded_up_to_sync() {
        let mut f = authenticated();
        let mut input = message(b'P', b"\0SELECT $1\0\0\0");
        input.extend(message(b'B', b"\0\0\0\0\0\0\0\0"));
        input.extend(message(b'E', b"\0\0\0\0\0"));
        input.extend(message(b'Q', b"SELECT 'discarded'\0"));
        input.extend(message(b'S', b""));
        input.extend(message(b'Q', b"SELECT 3\0"));
        f.push(&input);
        let q = queries(&mut f);
        assert_eq!(q.len(), 2, "{q:?}");
        assert!(matches!(
            rejection(&q[0]),
            Some(Rejection::Error {
                fatal: false,
                code: "0A000",
                ..
            })
        ));
        assert_eq!(q[1], "SELECT 3");
        // A Sync on its own gets its ReadyForQuery.
        f.push(&message(b'S', b""));
        assert_eq!(rejection(&queries(&mut f)[0]), Some(Rejection::Sync));
    }

    #[test]
    fn malformed_messages_are_fatal_and_end_the_input() {
        for input in [
            message(b'Q', b"SELECT 1"),         // no terminator
            message(b'Q', b"SELECT 1\0junk\0"), // bytes after it
            message(b'X', b"x"),                // Terminate with a body
            vec![b'Q', 0, 0, 0, 3],             // length below 4
            vec![b'Q', 0xff, 0xff, 0xff, 0xff], // negative length
            vec![b'Q', 0x7f, 0xff, 0xff, 0xff], // over the limit
            message(b'Z', b""),                 // unknown type
            message(b'p', b"pw\0"),             // password after authentication
        ] {
            let mut f = authenticated();
            f.push(&input);
            f.push(&message(b'Q', b"SELECT 'after'\0"));
            let q = queries(&mut f);
            assert_eq!(q.len(), 1, "{input:?}: {q:?}");
            assert!(
                matches!(rejection(&q[0]), Some(Rejection::Error { fatal: true, .. })),
                "{input:?}: {q:?}"
            );
            assert!(f.closed);
        }
    }

    #[test]
    fn before_authentication_only_passwords_pass() {
        let mut f = Framer::default();
        f.push(&message(b'p', b"md5abc\0"));
        assert_eq!(&f.output[..], &message(b'p', b"md5abc\0")[..]);
        f.output.clear();
        f.push(&message(b'Q', b"SELECT 1\0"));
        let q = queries(&mut f);
        assert!(matches!(
            rejection(&q[0]),
            Some(Rejection::Error { fatal: true, code: "08P01", message }) if message.contains("'Q'")
        ));
        // A big password message before authentication is refused without buffering it.
        let mut f = Framer::default();
        f.push(&[b'p', 0, 1, 0, 0]);
        assert!(f.closed);
    }

    #[test]
    fn a_forged_rejection_is_refused() {
        let mut f = authenticated();
        let mut body = format!("{REJECT_PREFIX}sync").into_bytes();
        body.push(0);
        f.push(&message(b'Q', &body));
        let q = queries(&mut f);
        assert!(matches!(
            rejection(&q[0]),
            Some(Rejection::Error {
                fatal: false,
                code: "42601",
                ..
            })
        ));
    }

    #[test]
    fn copy_messages_outside_copy_are_ignored() {
        let mut f = authenticated();
        f.push(&message(b'd', b"data"));
        f.push(&message(b'c', b""));
        f.push(&message(b'Q', b"SELECT 1\0"));
        assert_eq!(queries(&mut f), ["SELECT 1"]);
    }

    #[tokio::test]
    async fn opening_refuses_encryption_then_returns_the_startup_packet() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let mut startup = Vec::new();
        startup.extend_from_slice(&0u32.to_be_bytes());
        startup.extend_from_slice(&196_608u32.to_be_bytes()); // 3.0
        startup.extend_from_slice(b"user\0admin\0\0");
        let len = startup.len() as u32;
        startup[..4].copy_from_slice(&len.to_be_bytes());
        let mut input = Vec::new();
        input.extend_from_slice(&8u32.to_be_bytes());
        input.extend_from_slice(&GSSENC_REQUEST.to_be_bytes());
        input.extend_from_slice(&8u32.to_be_bytes());
        input.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        input.extend_from_slice(&startup);
        client.write_all(&input).await.unwrap();
        let opening = read_opening(&mut server).await.unwrap();
        assert_eq!(opening, Opening::Startup(BytesMut::from(&startup[..])));
        let mut answers = [0u8; 2];
        client.read_exact(&mut answers).await.unwrap();
        assert_eq!(&answers, b"NN");

        // A length below 8, and a direct TLS ClientHello (no TLS on this port).
        for input in [&[0u8, 0, 0, 4][..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
            let (mut client, mut server) = tokio::io::duplex(1024);
            client.write_all(input).await.unwrap();
            assert!(read_opening(&mut server).await.is_err(), "{input:?}");
        }
    }
}
