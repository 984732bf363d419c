//! The binary's commands: `sqlmux check --config FILE` and `sqlmux --version`.

use std::process::Command;

fn sqlmux(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sqlmux"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_a_valid_file_and_refuses_a_bad_one() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../sqlmux.example.toml");
    let (code, out, _) = sqlmux(&["check", "--config", example]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("valid") && out.contains("cluster shop (mysql)"),
        "{out}"
    );
    assert!(!out.contains("apppw"), "passwords are hidden: {out}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[clusters]]\nname = \"x\"\nprotocol = \"oracle\"\nwriter_hostgroup = 1\nreader_hostgroup = 2\n").unwrap();
    let (code, _, err) = sqlmux(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("protocol"), "{err}");
}

#[test]
fn version_is_printed() {
    let (code, out, _) = sqlmux(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), format!("sqlmux {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_every_command_and_flag() {
    let (code, out, _) = sqlmux(&["--help"]);
    assert_eq!(code, Some(0));
    for word in [
        "check",
        "--config",
        "--version",
        "--help",
        "SIGTERM",
        "SIGHUP",
        "RUST_LOG",
    ] {
        assert!(out.contains(word), "{word} is not in:\n{out}");
    }
    let (code, out, _) = sqlmux(&["check", "--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("--config") && out.contains("passwords hidden"),
        "{out}"
    );
    // No config: a usage error (2) that points at --help.
    let (code, _, err) = sqlmux(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--help"), "{err}");
}
