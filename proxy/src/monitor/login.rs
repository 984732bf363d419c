//! [`ProbeLogin`]: where and as whom a probe of either protocol logs in.

use sqlmux_config::MonitorSettings;

/// A server's address and the monitor user's credentials.
pub struct ProbeLogin {
    /// `host:port` of the server.
    pub address: String,
    /// The monitor user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// TLS towards the server, when its entry asks for it.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// `allow_cleartext_password` of the server entry.
    pub allow_cleartext: bool,
}

impl ProbeLogin {
    /// The monitor user of `settings` at `address`.
    pub fn new(
        settings: &MonitorSettings,
        address: &str,
        tls: Option<tokio_rustls::TlsConnector>,
        allow_cleartext: bool,
    ) -> Self {
        ProbeLogin {
            address: address.to_string(),
            user: settings.user.clone(),
            password: settings.password.clone(),
            tls,
            allow_cleartext,
        }
    }
}
