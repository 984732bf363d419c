//! Salts and scramble checks for the plugins sqlmux serves to clients.
//!
//! sqlmux knows each user's password, so it computes the scramble a client with that
//! password would send and compares (the client side of the same computation comes from
//! mysql_common).

use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;

/// Name of the mysql_native_password plugin.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
/// Name of the caching_sha2_password plugin.
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";
/// caching_sha2_password: the password was verified from the scramble.
pub const SHA2_FAST_AUTH_SUCCESS: u8 = 0x03;
/// caching_sha2_password: send the password itself (over TLS).
pub const SHA2_PERFORM_FULL_AUTH: u8 = 0x04;
/// caching_sha2_password: the client asks for the server's RSA key.
pub const SHA2_REQUEST_PUBLIC_KEY: u8 = 0x02;

/// A fresh 20-byte salt of printable characters (no NUL, as real servers send).
pub fn new_salt() -> [u8; 20] {
    let mut salt = [0u8; 20];
    // The OS RNG failing is not something a client can cause; fall back to a time-based salt.
    if getrandom_fill(&mut salt).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in salt.iter_mut().enumerate() {
            *b = (nanos >> (i % 16 * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    for b in &mut salt {
        *b = 33 + (*b % 94);
    }
    salt
}

fn getrandom_fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a mysql_native_password response against the known password.
pub fn check_native(salt: &[u8; 20], password: &str, response: &[u8]) -> bool {
    match scramble_native(salt, password.as_bytes()) {
        Some(expected) => same(&expected, response),
        None => response.is_empty(),
    }
}

/// Checks a caching_sha2_password scramble against the known password.
pub fn check_sha2(salt: &[u8; 20], password: &str, response: &[u8]) -> bool {
    match scramble_sha256(salt, password.as_bytes()) {
        Some(expected) => same(&expected, response),
        None => response.is_empty(),
    }
}

/// Checks a cleartext password (caching_sha2 full authentication over TLS), NUL-terminated.
pub fn check_cleartext(password: &str, response: &[u8]) -> bool {
    let sent = response.strip_suffix(&[0]).unwrap_or(response);
    same(password.as_bytes(), sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_are_printable_and_fresh() {
        let a = new_salt();
        let b = new_salt();
        assert_ne!(a, b);
        assert!(a.iter().all(|c| (33..127).contains(c)));
    }

    #[test]
    fn native_fixture_from_the_protocol_docs() {
        // SHA1("pw") XOR SHA1(salt + SHA1(SHA1("pw"))) computed by mysql_common's client side.
        let salt = *b"0123456789abcdefghij";
        let good = scramble_native(&salt, b"secret").unwrap();
        assert!(check_native(&salt, "secret", &good));
        assert!(!check_native(&salt, "Secret", &good));
        assert!(!check_native(&salt, "secret", &good[..19]));
        assert!(check_native(&salt, "", &[]));
        assert!(!check_native(&salt, "secret", &[]));
    }

    #[test]
    fn sha2_and_cleartext() {
        let salt = *b"0123456789abcdefghij";
        let good = scramble_sha256(&salt, b"secret").unwrap();
        assert!(check_sha2(&salt, "secret", &good));
        assert!(!check_sha2(&salt, "other", &good));
        assert!(check_cleartext("secret", b"secret\0"));
        assert!(!check_cleartext("secret", b"secreT\0"));
    }
}
