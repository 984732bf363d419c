//! Free TCP ports on the loopback interface.

use std::io;
use std::net::TcpListener;

/// Returns a port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, drop).
///
/// Another process may grab it before the caller binds; server starts in this crate
/// retry once with a fresh port when that happens.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
