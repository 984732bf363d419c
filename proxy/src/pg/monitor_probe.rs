//! The monitor's check of a PostgreSQL server: a connection of the monitor user, kept
//! between checks, and `pg_is_in_recovery()`.

use super::backend::{BackendConn, ConnectParams};
use super::cancel::CancelRegistry;
use crate::monitor::{Observation, Probe};
use sqlmux_config::MonitorSettings;
use std::sync::Arc;
use std::time::Duration;

/// One server's probe.
pub struct PgProbe {
    address: String,
    user: String,
    password: String,
    database: String,
    tls: bool,
    connector: tokio_rustls::TlsConnector,
    cancels: Arc<CancelRegistry>,
    timeout: Duration,
    conn: Option<BackendConn>,
}

impl PgProbe {
    /// A probe of `address` as the monitor user.
    pub fn new(
        settings: &MonitorSettings,
        address: &str,
        tls: bool,
        connector: tokio_rustls::TlsConnector,
    ) -> Self {
        Self {
            address: address.to_string(),
            user: settings.user.clone(),
            password: settings.password.clone(),
            database: settings.database.clone(),
            tls,
            connector,
            cancels: Arc::new(CancelRegistry::default()),
            timeout: settings.timeout,
            conn: None,
        }
    }

    async fn look(&mut self) -> Result<Observation, String> {
        if self.conn.is_none() {
            let params = ConnectParams {
                address: &self.address,
                user: &self.user,
                password: &self.password,
                database: &self.database,
                tls: self.tls,
                connector: &self.connector,
                statement_limit: 1,
                cancels: &self.cancels,
            };
            let conn = BackendConn::connect(&params, self.timeout)
                .await
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let in_recovery = conn
            .simple("SELECT pg_is_in_recovery()")
            .await
            .map_err(|e| e.to_string())?;
        Ok(Observation {
            read_only: in_recovery.as_deref() == Some("t"),
        })
    }
}

#[async_trait::async_trait]
impl Probe for PgProbe {
    async fn check(&mut self) -> Result<Observation, String> {
        self.look().await
    }
}
