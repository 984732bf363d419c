//! The monitor's check of a MySQL/MariaDB server: a connection of the monitor user, kept
//! between checks, `@@read_only` / `@@innodb_read_only`, and replication lag
//! (`SHOW ALL SLAVES STATUS` on MariaDB, `SHOW REPLICA STATUS` on MySQL).

use super::backend::{BackendConn, BackendError, ConnectParams, ResultRows};
use crate::monitor::{Lag, Observation, Probe, ProbeLogin};
use std::time::Duration;

/// One server's probe.
pub struct MysqlProbe {
    login: ProbeLogin,
    conn: Option<BackendConn>,
}

impl MysqlProbe {
    /// A probe logging in as `login` says.
    pub fn new(login: ProbeLogin) -> Self {
        Self { login, conn: None }
    }

    async fn look(&mut self) -> Result<Observation, String> {
        if self.conn.is_none() {
            let params = ConnectParams {
                allow_cleartext: self.login.allow_cleartext,
                ..ConnectParams::own(
                    &self.login.address,
                    &self.login.user,
                    &self.login.password,
                    self.login.tls.as_ref(),
                )
            };
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
        let read_only = on(0) || on(1);
        let lag = replication_lag(conn).await?;
        Ok(Observation { read_only, lag })
    }
}

#[async_trait::async_trait]
impl Probe for MysqlProbe {
    async fn check(&mut self) -> Result<Observation, String> {
        self.look().await
    }
}

/// The server's replication lag: the largest of its replication channels'. A server error
/// (no privilege to look, say) leaves it unknown; a broken connection fails the check.
async fn replication_lag(conn: &mut BackendConn) -> Result<Lag, String> {
    let status = if conn.server_version.contains("MariaDB") {
        conn.query_rows("SHOW ALL SLAVES STATUS").await
    } else {
        match conn.query_rows("SHOW REPLICA STATUS").await {
            // Before MySQL 8.0.22.
            Err(BackendError::Server(_)) => conn.query_rows("SHOW SLAVE STATUS").await,
            other => other,
        }
    };
    match status {
        Ok(status) => Ok(lag_of(&status)),
        Err(BackendError::Server(_)) => Ok(Lag::Unknown),
        Err(e) => Err(e.to_string()),
    }
}

/// The lag a replication status result set shows: no channel, no replica; a channel whose
/// applier is stopped (`Seconds_Behind_*` NULL) makes it unknown.
fn lag_of(status: &ResultRows) -> Lag {
    let mut worst = None;
    for row in &status.rows {
        let seconds = status
            .get(row, "Seconds_Behind_Master")
            .or_else(|| status.get(row, "Seconds_Behind_Source"))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let Some(seconds) = seconds else {
            return Lag::Unknown;
        };
        worst = worst.max(Some(seconds));
    }
    match worst {
        None => Lag::NotReplica,
        Some(s) => Lag::Behind {
            time: Duration::from_secs(s),
            bytes: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(rows: &[&[Option<&str>]]) -> ResultRows {
        ResultRows {
            names: vec![
                "Connection_name".into(),
                "Slave_SQL_Running".into(),
                "Seconds_Behind_Master".into(),
            ],
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect())
                .collect(),
        }
    }

    #[test]
    fn no_channel_is_no_replica_a_stopped_applier_is_unknown_the_worst_channel_counts() {
        assert_eq!(lag_of(&status(&[])), Lag::NotReplica);
        assert_eq!(
            lag_of(&status(&[
                &[Some(""), Some("Yes"), Some("0")],
                &[Some("b"), Some("Yes"), Some("7")]
            ])),
            Lag::Behind {
                time: Duration::from_secs(7),
                bytes: None
            }
        );
        assert_eq!(
            lag_of(&status(&[
                &[Some(""), Some("Yes"), Some("0")],
                &[Some("b"), Some("No"), None]
            ])),
            Lag::Unknown
        );
    }
}
