//! What sqlmux lets a backend login send of a password, for both protocols: never the
//! password itself in clear over plain TCP (PostgreSQL's cleartext request, MySQL's
//! `mysql_clear_password`), unless the server entry says `allow_cleartext_password = true`.

/// Why a login stopped before sending the password in clear.
pub const CLEARTEXT_REFUSED: &str = "the server asks for the password in clear over plain TCP; sqlmux does not send it (set tls = true, or allow_cleartext_password = true on the [[servers]] entry)";

/// Whether a password may go in clear on this connection.
pub fn may_send_cleartext(tls: bool, allowed: bool) -> bool {
    tls || allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_goes_only_over_tls_or_when_allowed() {
        assert!(!may_send_cleartext(false, false));
        assert!(may_send_cleartext(true, false));
        assert!(may_send_cleartext(false, true));
    }
}
