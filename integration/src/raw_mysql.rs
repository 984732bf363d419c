//! A minimal blocking MySQL client speaking raw packets, for tests that need exact control
//! (unsupported commands, garbage, auth switch, COM_FIELD_LIST, pool limits).

use bytes::BytesMut;
use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use sqlmux_protocol::mysql::constants::CapabilityFlags;
use sqlmux_protocol::mysql::packet::{decode_frame, encode, Frame};
use sqlmux_protocol::mysql::response::{parse_err, ErrInfo};
use sqlmux_protocol::mysql::scanner::{Expect, Progress, Scanner};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Capabilities this client announces.
pub fn client_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

/// A connected raw client.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    /// The salt of the server's greeting.
    pub salt: Vec<u8>,
}

impl RawClient {
    /// Opens the TCP connection and reads the greeting.
    pub fn open(port: u16) -> io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut c = RawClient {
            stream,
            buf: BytesMut::new(),
            salt: Vec::new(),
        };
        let greeting = c.read_frame()?;
        let p = greeting.payload();
        let v_end = 1 + p[1..].iter().position(|b| *b == 0).unwrap_or(0);
        let mut salt = p[v_end + 5..v_end + 13].to_vec();
        salt.extend_from_slice(&p[v_end + 32..v_end + 44]);
        c.salt = salt;
        Ok(c)
    }

    /// Opens and authenticates with mysql_native_password (the reply is returned raw).
    pub fn login(
        port: u16,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> io::Result<(RawClient, Frame)> {
        let mut c = Self::open(port)?;
        let scramble = scramble_native(&c.salt, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default();
        c.send(
            1,
            &handshake_response(user, &scramble, db, "mysql_native_password"),
        )?;
        let reply = c.read_frame()?;
        Ok((c, reply))
    }

    /// The socket, for callers that stream a response themselves.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Writes one packet.
    pub fn send(&mut self, seq: u8, payload: &[u8]) -> io::Result<()> {
        self.stream.write_all(&encode(seq, payload))
    }

    /// Writes bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads more bytes from the socket into the buffer.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads one logical packet.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        loop {
            if let Some(f) = decode_frame(&mut self.buf, 1 << 30).map_err(io::Error::other)? {
                return Ok(f);
            }
            self.fill()?;
        }
    }

    /// Sends a command and collects the packets of its response.
    pub fn command(&mut self, payload: &[u8], expect: Expect) -> io::Result<Vec<Vec<u8>>> {
        self.send(0, payload)?;
        let mut scanner = Scanner::new(expect, true);
        let mut packets = Vec::new();
        loop {
            let (n, progress) = scanner.scan(&self.buf).map_err(io::Error::other)?;
            let mut taken = self.buf.split_to(n);
            while let Some(f) = decode_frame(&mut taken, 1 << 30).map_err(io::Error::other)? {
                packets.push(f.payload().into_owned());
            }
            if progress != Progress::More {
                return Ok(packets);
            }
            self.fill()?;
        }
    }

    /// Runs a text query; `Err` carries the server's ERR.
    pub fn query(&mut self, sql: &str) -> io::Result<Result<Vec<Vec<u8>>, ErrInfo>> {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        let packets = self.command(&p, Expect::Query)?;
        Ok(match packets.last().and_then(|l| parse_err(l)) {
            Some(e) => Err(e),
            None => Ok(packets),
        })
    }
}

/// A HandshakeResponse41 payload.
pub fn handshake_response(user: &str, auth: &[u8], db: Option<&str>, plugin: &str) -> Vec<u8> {
    let mut p = client_capabilities().bits().to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p.push(auth.len() as u8);
    p.extend_from_slice(auth);
    p.extend_from_slice(db.unwrap_or("").as_bytes());
    p.push(0);
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p
}

/// The caching_sha2 scramble of `password` for a 20-byte salt.
pub fn sha2_scramble(salt: &[u8], password: &str) -> Vec<u8> {
    let salt: [u8; 20] = salt.try_into().unwrap_or([0; 20]);
    scramble_sha256(&salt, password.as_bytes())
        .map(|s| s.to_vec())
        .unwrap_or_default()
}

/// The mysql_native_password scramble of `password`.
pub fn native_scramble(salt: &[u8], password: &str) -> Vec<u8> {
    scramble_native(salt, password.as_bytes())
        .map(|s| s.to_vec())
        .unwrap_or_default()
}

/// The text values (NULL as `NULL`) of the first row of a result read by
/// [`RawClient::query`] (the client asks for CLIENT_DEPRECATE_EOF).
pub fn first_row(packets: &[Vec<u8>]) -> Vec<String> {
    let columns = packets[0][0] as usize;
    let mut row = &packets[1 + columns][..];
    let mut out = Vec::new();
    for _ in 0..columns {
        if row.first() == Some(&0xFB) {
            out.push("NULL".to_string());
            row = &row[1..];
            continue;
        }
        let (v, used) = sqlmux_protocol::mysql::lenenc::read_str(row).unwrap();
        out.push(String::from_utf8_lossy(v).into_owned());
        row = &row[used..];
    }
    out
}
