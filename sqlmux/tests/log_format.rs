//! `[log] format = "json"`: the binary writes one JSON object per log line.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn json_logs_are_one_object_per_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sqlmux.toml");
    std::fs::write(
        &path,
        format!(
            "[listen]\nmysql = \"127.0.0.1:{port}\"\n[[clusters]]\nname = \"shop\"\nprotocol = \"mysql\"\n\
             writer_hostgroup = 10\nreader_hostgroup = 20\n[[servers]]\nhostgroup = 10\naddress = \"127.0.0.1:1\"\n\
             [[users]]\nname = \"app\"\npassword = \"apppw\"\ncluster = \"shop\"\n\
             [log]\nformat = \"json\"\n[shutdown]\ntimeout_ms = 0\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlmux"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sqlmux did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(child.wait().unwrap().success());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 2, "{out}");
    for line in lines {
        let doc: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            doc["level"].is_string() && doc["fields"]["message"].is_string(),
            "{line}"
        );
    }
}
