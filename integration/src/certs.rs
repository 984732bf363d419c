//! A self-signed TLS certificate for tests of client- and backend-side TLS.

use std::path::{Path, PathBuf};

/// A self-signed certificate for 127.0.0.1 and localhost written to `dir`; returns the
/// (certificate, key) PEM paths.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("rcgen makes a self-signed certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("the test dir is writable");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("the test dir is writable");
    (cert, key)
}
