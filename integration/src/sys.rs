//! Small OS helpers: temp dirs, effective uid, OS-user lookup, server owner, sbin binaries, log tails.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Creates a fresh temp dir under `/tmp` (short paths keep unix socket names under the
/// 108-byte limit) with mode 0755 so that a dropped-privilege server user can traverse it.
pub(crate) fn temp_dir(prefix: &str) -> io::Result<TempDir> {
    let base = Path::new("/tmp");
    let dir = if base.is_dir() {
        tempfile::Builder::new().prefix(prefix).tempdir_in(base)?
    } else {
        tempfile::Builder::new().prefix(prefix).tempdir()?
    };
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Debian's `/usr/sbin/<name>` if present (not in a non-root `PATH`), else `<name>` from
/// `PATH`.
pub(crate) fn sbin_binary(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// `Some((uid, gid))` of the user to run a PostgreSQL-family server as when we are root (they
/// refuse to run as root): `postgres`, else `nobody`; `None` when we are not root.
pub(crate) fn unprivileged_owner() -> io::Result<Option<(u32, u32)>> {
    if euid()? != 0 {
        return Ok(None);
    }
    lookup_user("postgres")
        .or_else(|| lookup_user("nobody"))
        .map(Some)
        .ok_or_else(|| {
            io::Error::other("running as root but neither a `postgres` nor a `nobody` user exists")
        })
}

/// Effective uid of this process.
pub(crate) fn euid() -> io::Result<u32> {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let out = Command::new("id").arg("-u").output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| io::Error::other(format!("cannot parse `id -u` output: {e}")))
}

/// Looks up `(uid, gid)` of a user in `/etc/passwd`.
pub(crate) fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// Current length of a file (0 if it does not exist).
pub(crate) fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The file's content from byte `offset` on, lossily decoded ("" if unreadable).
pub(crate) fn read_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut buf);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `lines` lines of the file's content from byte `offset` on.
pub(crate) fn tail(path: &Path, offset: u64, lines: usize) -> String {
    let text = read_from(path, offset);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero() {
        assert_eq!(lookup_user("root"), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-sqlmux"), None);
    }

    #[test]
    fn temp_dir_is_traversable_and_tail_reads_from_offset() {
        let dir = temp_dir("sqlmux-test-").unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let f = dir.path().join("log");
        fs::write(&f, "one\ntwo\nthree\n").unwrap();
        assert_eq!(file_len(&f), 14);
        assert_eq!(tail(&f, 0, 2), "two\nthree");
        assert_eq!(read_from(&f, 8), "three\n");
        assert_eq!(tail(&dir.path().join("missing"), 0, 5), "");
    }
}
