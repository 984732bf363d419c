//! `./test.sh`, the README's test command, on a machine that lacks what the tests drive:
//! its dry run names what it would install, and a user who cannot install is told the exact
//! command before any test runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test.sh")
}

/// Where `tool` is on this machine.
fn which(tool: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(!found.is_empty(), "{tool} is needed to run the test");
    found
}

/// A PATH holding only the tools the script itself needs (and `python3`), without PHP,
/// sysbench, etcd, Patroni, the MariaDB client or npm (the script adds the sbin
/// directories itself).
fn bare_path(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    // Readable by the unprivileged user of the second test too.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for tool in ["bash", "env", "dirname", "id", "python3", "apt-get"] {
        std::os::unix::fs::symlink(which(tool), dir.join(tool)).unwrap();
    }
    dir.display().to_string()
}

#[test]
fn a_dry_run_names_what_is_missing_and_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(script())
        .arg("--dry-run")
        .env("PATH", bare_path(dir.path()))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let apt = stdout
        .lines()
        .find(|l| l.contains("apt-get install"))
        .unwrap_or_else(|| panic!("no apt-get line: {stdout}{stderr}"));
    for package in ["php-cli", "sysbench", "etcd-server", "mariadb-client"] {
        assert!(apt.contains(package), "{package} missing from {apt}");
    }
    assert!(stderr.contains("missing php-cli"), "{stderr}");
    assert!(
        !stdout.contains("running") && !stderr.contains("Compiling"),
        "a dry run runs nothing"
    );
}

#[test]
fn a_user_who_cannot_install_gets_the_command_and_no_test_runs() {
    // Only root can become another user here; elsewhere the caller is that user already.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let dir = tempfile::tempdir().unwrap();
    let path = bare_path(dir.path());
    let mut cmd = if is_root {
        let mut c = Command::new(which("setpriv"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(script());
        c
    } else {
        Command::new(script())
    };
    let out = cmd
        .env("PATH", &path)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("not root and no usable sudo") && stderr.contains("apt-get install -y"),
        "{stderr}"
    );
    assert!(stderr.contains("php-cli"), "{stderr}");
}
