//! The settings sections of the file (`[pool]`, `[failover]`, `[monitor]`, `[mysql]`,
//! `[postgres]`, `[admin]`, `[shutdown]`, `[stats]`, `[log]`, the client limits of
//! `[listen]`), each checked and given its defaults.

use crate::error::ConfigError;
use crate::file::{
    AdminFile, FailoverFile, ListenFile, LogFile, MonitorFile, MysqlFile, PoolFile, ShutdownFile,
    StatsFile,
};
use crate::runtime::*;
use crate::validate::secret;
use std::time::Duration;

/// `v` milliseconds, or `default` when absent.
fn ms(v: Option<u64>, default: Duration) -> Duration {
    v.map(Duration::from_millis).unwrap_or(default)
}

/// A timeout that 0 (or absence) turns off.
pub(crate) fn off_when_zero(ms: Option<u64>) -> Option<Duration> {
    ms.filter(|&ms| ms > 0).map(Duration::from_millis)
}

/// `[pool]`.
pub(crate) fn pool(file: &PoolFile) -> PoolSettings {
    let defaults = PoolSettings::default();
    PoolSettings {
        connect_timeout: ms(file.connect_timeout_ms, defaults.connect_timeout),
        idle_timeout: ms(file.idle_timeout_ms, defaults.idle_timeout),
        max_lifetime: ms(file.max_lifetime_ms, defaults.max_lifetime),
        wait_timeout: ms(file.wait_timeout_ms, defaults.wait_timeout),
        shun_after_errors: file.shun_after_errors.unwrap_or(defaults.shun_after_errors),
        shun_time: ms(file.shun_ms, defaults.shun_time),
        query_timeout: off_when_zero(file.query_timeout_ms),
        idle_transaction_timeout: off_when_zero(file.idle_transaction_timeout_ms),
    }
}

/// `[failover]`.
pub(crate) fn failover(file: &FailoverFile) -> FailoverSettings {
    let defaults = FailoverSettings::default();
    FailoverSettings {
        hold_timeout: ms(file.hold_timeout_ms, defaults.hold_timeout),
        hold_max_statements: file
            .hold_max_statements
            .unwrap_or(defaults.hold_max_statements),
        hold_max_bytes: file.hold_max_bytes.unwrap_or(defaults.hold_max_bytes),
        min_interval: ms(file.min_interval_ms, defaults.min_interval),
    }
}

/// The client limits of `[listen]`.
pub(crate) fn clients(file: &ListenFile) -> Result<ClientLimits, ConfigError> {
    let defaults = ClientLimits::default();
    Ok(ClientLimits {
        handshake_timeout: match file.handshake_timeout_ms {
            None => defaults.handshake_timeout,
            Some(0) => {
                return Err(ConfigError::invalid(
                    "listen.handshake_timeout_ms",
                    "must be above 0",
                ))
            }
            Some(ms) => Duration::from_millis(ms),
        },
        max_connections: file
            .max_client_connections
            .unwrap_or(defaults.max_connections),
    })
}

/// `[shutdown]`.
pub(crate) fn shutdown(file: &ShutdownFile) -> Result<ShutdownSettings, ConfigError> {
    let defaults = ShutdownSettings::default();
    Ok(ShutdownSettings {
        mode: match file.mode.as_deref() {
            None | Some("service") => ShutdownMode::Service,
            Some("sidecar") => ShutdownMode::Sidecar,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "shutdown.mode",
                    format!("{other:?} is neither \"service\" nor \"sidecar\""),
                ))
            }
        },
        timeout: ms(file.timeout_ms, defaults.timeout),
        accept_grace: ms(file.accept_grace_ms, defaults.accept_grace),
    })
}

/// `[monitor]`, when present; its password may come from a file (noted in
/// `secret_files`).
pub(crate) fn monitor(
    file: Option<&MonitorFile>,
    secret_files: &mut Vec<String>,
) -> Result<Option<MonitorSettings>, ConfigError> {
    let Some(m) = file else {
        return Ok(None);
    };
    if m.user.is_empty() {
        return Err(ConfigError::invalid("monitor.user", "must not be empty"));
    }
    let positive = |key: &str, v: u64| {
        if v == 0 {
            Err(ConfigError::invalid(key, "must be at least 1"))
        } else {
            Ok(v)
        }
    };
    let d = MonitorSettings::defaults();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(Some(MonitorSettings {
        user: m.user.clone(),
        password: secret(
            "monitor.password",
            (!m.password.is_empty()).then(|| m.password.clone()),
            m.password_file.as_deref(),
            m.password_env.as_deref(),
            secret_files,
        )?
        .unwrap_or_default(),
        database: m.database.clone().unwrap_or(d.database),
        interval: Duration::from_millis(positive(
            "monitor.interval_ms",
            m.interval_ms.unwrap_or(ms(d.interval)),
        )?),
        timeout: Duration::from_millis(positive(
            "monitor.timeout_ms",
            m.timeout_ms.unwrap_or(ms(d.timeout)),
        )?),
        down_after: positive(
            "monitor.down_after",
            m.down_after.unwrap_or(d.down_after).into(),
        )? as u32,
        up_after: positive("monitor.up_after", m.up_after.unwrap_or(d.up_after).into())? as u32,
    }))
}

/// `[mysql]`.
pub(crate) fn mysql(file: MysqlFile) -> Result<MysqlSettings, ConfigError> {
    let defaults = MysqlSettings::default();
    let default_auth_plugin = file
        .default_auth_plugin
        .unwrap_or(defaults.default_auth_plugin);
    if !matches!(
        default_auth_plugin.as_str(),
        "mysql_native_password" | "caching_sha2_password"
    ) {
        return Err(ConfigError::invalid(
            "mysql.default_auth_plugin",
            format!(
                "unsupported plugin {default_auth_plugin:?} (mysql_native_password or caching_sha2_password)"
            ),
        ));
    }
    let backend_statement_limit = file
        .backend_statement_limit
        .unwrap_or(defaults.backend_statement_limit);
    if backend_statement_limit == 0 {
        return Err(ConfigError::invalid(
            "mysql.backend_statement_limit",
            "must be at least 1",
        ));
    }
    Ok(MysqlSettings {
        backend_statement_limit,
        local_infile: file.local_infile.unwrap_or(defaults.local_infile),
        server_version: file.server_version.filter(|v| !v.is_empty()),
        default_auth_plugin,
        max_session_statements: file
            .max_session_statements
            .unwrap_or(defaults.max_session_statements),
    })
}

/// `[admin]`, when present; its password may come from a file (noted in `secret_files`).
pub(crate) fn admin(
    file: Option<AdminFile>,
    secret_files: &mut Vec<String>,
) -> Result<Option<AdminSettings>, ConfigError> {
    let Some(a) = file else {
        return Ok(None);
    };
    Ok(Some(AdminSettings {
        password: secret(
            "admin.password",
            a.password,
            a.password_file.as_deref(),
            a.password_env.as_deref(),
            secret_files,
        )?
        .ok_or_else(|| {
            ConfigError::invalid(
                "admin.password",
                "give `password`, `password_file` or `password_env`",
            )
        })?,
        user: a.user,
        data_dir: a.data_dir.unwrap_or_else(|| "sqlmux-data".to_string()),
    }))
}

/// `[log] format`: whether logs are JSON lines.
pub(crate) fn log_json(file: &LogFile) -> Result<bool, ConfigError> {
    match file.format.as_deref() {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(ConfigError::invalid(
            "log.format",
            format!("{other:?} is neither \"text\" nor \"json\""),
        )),
    }
}

/// `[stats]`.
pub(crate) fn stats(file: &StatsFile) -> Result<StatsSettings, ConfigError> {
    Ok(StatsSettings {
        max_digests: match file.max_digests {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "stats.max_digests",
                    "must be at least 1",
                ))
            }
            Some(n) => n,
            None => StatsSettings::default().max_digests,
        },
    })
}
