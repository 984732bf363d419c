//! Which side of the proxy a failure came from.

/// Which side failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client (socket, bad packets).
    Client,
    /// A backend server.
    Backend,
    /// sqlmux itself (pool limits, routing, configuration).
    Proxy,
}

impl Side {
    /// Lower-case name (stats, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Backend => "backend",
            Side::Proxy => "proxy",
        }
    }
}
