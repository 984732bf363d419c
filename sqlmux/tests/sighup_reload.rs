//! The `sqlmux` binary: SIGHUP re-reads the config file (a bad file is refused and the old
//! runtime keeps serving); client connections survive; a bad config at start exits non-zero.

use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use sqlmux_protocol::mysql::packet::{decode_frame, encode};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, users: &[(&str, &str)], rule: &str) -> String {
    let mut c = format!(
        "[listen]\nmysql = \"127.0.0.1:{port}\"\n[[clusters]]\nname = \"shop\"\nprotocol = \"mysql\"\n\
         writer_hostgroup = 10\nreader_hostgroup = 20\n[[servers]]\nhostgroup = 10\naddress = \"127.0.0.1:1\"\n\
         [[rules]]\nmatch = \"{rule}\"\nhostgroup = 10\n"
    );
    for (name, pw) in users {
        c.push_str(&format!(
            "[[users]]\nname = \"{name}\"\npassword = \"{pw}\"\ncluster = \"shop\"\n"
        ));
    }
    c
}

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_packet(s: &mut TcpStream, buf: &mut bytes::BytesMut) -> Vec<u8> {
    loop {
        if let Some(f) = decode_frame(buf, 1 << 24).unwrap() {
            return f.payload().into_owned();
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "proxy closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Logs in with mysql_native_password; returns the socket and the first reply byte.
fn login(port: u16, user: &str, password: &str) -> (TcpStream, bytes::BytesMut, u8) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = bytes::BytesMut::new();
    let greeting = read_packet(&mut s, &mut buf);
    let v_end = 1 + greeting[1..].iter().position(|b| *b == 0).unwrap();
    let mut salt = greeting[v_end + 5..v_end + 13].to_vec();
    salt.extend_from_slice(&greeting[v_end + 32..v_end + 44]);
    let caps: u32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_0001;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    let scramble = scramble_native(&salt, password.as_bytes()).unwrap();
    p.push(20);
    p.extend_from_slice(&scramble);
    p.extend_from_slice(b"mysql_native_password\0");
    s.write_all(&encode(1, &p)).unwrap();
    let reply = read_packet(&mut s, &mut buf);
    (s, buf, reply[0])
}

fn ping(s: &mut TcpStream, buf: &mut bytes::BytesMut) -> u8 {
    s.write_all(&encode(0, &[0x0e])).unwrap();
    read_packet(s, buf)[0]
}

fn start(path: &std::path::Path, port: u16) -> Proxy {
    let child = Command::new(env!("CARGO_BIN_EXE_sqlmux"))
        .arg("--config")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sqlmux did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proxy(child)
}

fn hup(p: &Proxy) {
    let ok = Command::new("kill")
        .arg("-HUP")
        .arg(p.0.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sighup_reloads_valid_configs_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sqlmux.toml");
    let port = free_port();
    std::fs::write(&path, config(port, &[("app", "apppw")], "^x")).unwrap();
    let mut proxy = start(&path, port);
    let (mut kept, mut kept_buf, first) = login(port, "app", "apppw");
    assert_eq!(first, 0x00);
    assert_eq!(
        login(port, "newbie", "pw").2,
        0xFF,
        "unknown before the reload"
    );

    std::fs::write(
        &path,
        config(port, &[("app", "apppw"), ("newbie", "pw")], "^x"),
    )
    .unwrap();
    hup(&proxy);
    assert!(
        eventually(|| login(port, "newbie", "pw").2 == 0x00),
        "the new user can log in"
    );
    assert_eq!(
        ping(&mut kept, &mut kept_buf),
        0x00,
        "the old connection survived"
    );

    std::fs::write(&path, config(port, &[("app", "apppw")], "(unclosed")).unwrap();
    hup(&proxy);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        login(port, "newbie", "pw").2,
        0x00,
        "a bad file is refused: the old runtime stays"
    );
    assert!(proxy.0.try_wait().unwrap().is_none(), "still running");
    assert_eq!(ping(&mut kept, &mut kept_buf), 0x00);
}

#[test]
fn a_bad_config_at_start_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        config(free_port(), &[("app", "a"), ("app", "b")], "^x"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlmux"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("users[1].name") && err.contains("duplicate user"),
        "{err}"
    );
}
