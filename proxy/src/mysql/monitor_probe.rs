//! The monitor's check of a MySQL/MariaDB server: a connection of the monitor user, kept
//! between checks, and `@@read_only` / `@@innodb_read_only`.

use super::backend::{BackendConn, ConnectParams};
use crate::monitor::{Observation, Probe};
use sqlmux_config::MonitorSettings;

/// One server's probe.
pub struct MysqlProbe {
    address: String,
    user: String,
    password: String,
    tls: Option<tokio_rustls::TlsConnector>,
    conn: Option<BackendConn>,
}

impl MysqlProbe {
    /// A probe of `address` as the monitor user.
    pub fn new(
        settings: &MonitorSettings,
        address: &str,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Self {
        Self {
            address: address.to_string(),
            user: settings.user.clone(),
            password: settings.password.clone(),
            tls,
            conn: None,
        }
    }

    async fn look(&mut self) -> Result<Observation, String> {
        if self.conn.is_none() {
            let params =
                ConnectParams::own(&self.address, &self.user, &self.password, self.tls.as_ref());
            self.conn = Some(
                BackendConn::connect(&params)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let row = conn
            .query_row("SELECT @@read_only, @@innodb_read_only")
            .await
            .map_err(|e| e.to_string())?;
        let on = |i: usize| row.get(i).and_then(|v| v.as_deref()) == Some(b"1");
        Ok(Observation {
            read_only: on(0) || on(1),
        })
    }
}

#[async_trait::async_trait]
impl Probe for MysqlProbe {
    async fn check(&mut self) -> Result<Observation, String> {
        self.look().await
    }
}
