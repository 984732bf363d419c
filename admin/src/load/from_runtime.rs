//! The file model of a running runtime: what `LOAD` keeps for the parts it does not load.

use super::*;

/// The file model of a running runtime: what `LOAD` keeps for the parts it does not load.
pub(crate) fn file_from_runtime(rt: &Runtime) -> ConfigFile {
    ConfigFile {
        listen: ListenFile {
            mysql: rt.listen.mysql.clone(),
            postgres: rt.listen.postgres.clone(),
            admin_mysql: rt.listen.admin_mysql.clone(),
            admin_postgres: rt.listen.admin_postgres.clone(),
            http: rt.listen.http.clone(),
            workers: rt.listen.workers,
            handshake_timeout_ms: ms(rt.clients.handshake_timeout),
            max_client_connections: Some(rt.clients.max_connections),
        },
        admin: rt.admin.as_ref().map(|a| AdminFile {
            user: a.user.clone(),
            password: Some(a.password.clone()),
            password_file: None,
            password_env: None,
            data_dir: Some(a.data_dir.clone()),
        }),
        clusters: clusters(rt),
        servers: servers(rt),
        users: users(rt),
        rules: rules(rt),
        pool: pool(rt),
        monitor: monitor(rt),
        failover: failover(rt),
        mysql: mysql(rt),
        postgres: postgres(rt),
        tls: rt.tls.as_ref().map(|t| TlsFile {
            cert: t.cert.clone(),
            key: t.key.clone(),
        }),
        log: LogFile {
            level: Some(rt.log_level.clone()),
            format: rt.log_json.then(|| "json".to_string()),
        },
        control: ControlFile {
            token: rt.control_token.clone(),
            token_file: None,
            token_env: None,
        },
        shutdown: shutdown(rt),
        stats: sqlmux_config::file::StatsFile {
            max_digests: Some(rt.stats.max_digests),
        },
    }
}

/// A duration in whole milliseconds.
fn ms(d: std::time::Duration) -> Option<u64> {
    Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `[[clusters]]`.
fn clusters(rt: &Runtime) -> Vec<ClusterFile> {
    rt.clusters
        .iter()
        .map(|c| ClusterFile {
            name: c.name.clone(),
            protocol: match c.protocol {
                Protocol::Mysql => "mysql",
                Protocol::Postgres => "postgres",
            }
            .to_string(),
            writer_hostgroup: c.writer_hostgroup,
            reader_hostgroup: c.reader_hostgroup,
            max_replication_lag_ms: c.max_replication_lag_ms,
            patroni: c.patroni.as_ref().map(patroni_file),
        })
        .collect()
}

/// `[[servers]]`.
fn servers(rt: &Runtime) -> Vec<ServerFile> {
    rt.servers
        .iter()
        .map(|s| ServerFile {
            hostgroup: s.hostgroup,
            address: s.address.clone(),
            weight: Some(s.weight),
            max_connections: Some(s.max_connections),
            status: Some(s.status.as_str().to_string()),
            tls: Some(s.tls),
            allow_cleartext_password: Some(s.allow_cleartext_password),
            tls_ca: s.tls_ca.clone(),
            tls_verify: Some(s.tls_verify),
        })
        .collect()
}

/// `[[users]]`.
fn users(rt: &Runtime) -> Vec<UserFile> {
    rt.users
        .iter()
        .map(|u| UserFile {
            name: u.name.clone(),
            password: Some(u.password.clone()),
            password_file: None,
            password_env: None,
            cluster: u.cluster.clone(),
            default_schema: u.default_schema.clone(),
            read_your_writes_ms: u
                .read_your_writes
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        })
        .collect()
}

/// `[[rules]]`.
fn rules(rt: &Runtime) -> Vec<RuleFile> {
    rt.rules
        .iter()
        .map(|r| RuleFile {
            match_: r.pattern.as_str().to_string(),
            hostgroup: r.hostgroup,
            user: r.user.clone(),
            schema: r.schema.clone(),
        })
        .collect()
}

/// `[pool]`.
fn pool(rt: &Runtime) -> PoolFile {
    PoolFile {
        connect_timeout_ms: ms(rt.pool.connect_timeout),
        idle_timeout_ms: ms(rt.pool.idle_timeout),
        max_lifetime_ms: ms(rt.pool.max_lifetime),
        wait_timeout_ms: ms(rt.pool.wait_timeout),
        shun_after_errors: Some(rt.pool.shun_after_errors),
        shun_ms: ms(rt.pool.shun_time),
        query_timeout_ms: Some(rt.pool.query_timeout.and_then(ms).unwrap_or(0)),
        idle_transaction_timeout_ms: Some(
            rt.pool.idle_transaction_timeout.and_then(ms).unwrap_or(0),
        ),
    }
}

/// `[monitor]`.
fn monitor(rt: &Runtime) -> Option<sqlmux_config::file::MonitorFile> {
    rt.monitor
        .as_ref()
        .map(|m| sqlmux_config::file::MonitorFile {
            user: m.user.clone(),
            password: m.password.clone(),
            password_file: None,
            password_env: None,
            database: Some(m.database.clone()),
            interval_ms: ms(m.interval),
            timeout_ms: ms(m.timeout),
            down_after: Some(m.down_after),
            up_after: Some(m.up_after),
        })
}

/// `[failover]`.
fn failover(rt: &Runtime) -> sqlmux_config::file::FailoverFile {
    sqlmux_config::file::FailoverFile {
        hold_timeout_ms: ms(rt.failover.hold_timeout),
        hold_max_statements: Some(rt.failover.hold_max_statements),
        hold_max_bytes: Some(rt.failover.hold_max_bytes),
        min_interval_ms: ms(rt.failover.min_interval),
    }
}

/// `[mysql]`.
fn mysql(rt: &Runtime) -> MysqlFile {
    MysqlFile {
        local_infile: Some(rt.mysql.local_infile),
        backend_statement_limit: Some(rt.mysql.backend_statement_limit),
        server_version: rt.mysql.server_version.clone(),
        default_auth_plugin: Some(rt.mysql.default_auth_plugin.clone()),
        max_session_statements: Some(rt.mysql.max_session_statements),
    }
}

/// `[postgres]`.
fn postgres(rt: &Runtime) -> sqlmux_config::file::PostgresFile {
    sqlmux_config::file::PostgresFile {
        auth_method: Some(
            match rt.postgres.auth_method {
                sqlmux_config::PgAuthMethod::ScramSha256 => "scram-sha-256",
                sqlmux_config::PgAuthMethod::Md5 => "md5",
                sqlmux_config::PgAuthMethod::Cleartext => "cleartext",
            }
            .to_string(),
        ),
        backend_statement_limit: Some(rt.postgres.backend_statement_limit),
        max_pending_bytes: Some(rt.postgres.max_pending_bytes),
        max_session_statements: Some(rt.postgres.max_session_statements),
    }
}

/// `[shutdown]`.
fn shutdown(rt: &Runtime) -> ShutdownFile {
    ShutdownFile {
        mode: Some(
            match rt.shutdown.mode {
                sqlmux_config::ShutdownMode::Service => "service",
                sqlmux_config::ShutdownMode::Sidecar => "sidecar",
            }
            .to_string(),
        ),
        timeout_ms: ms(rt.shutdown.timeout),
        accept_grace_ms: ms(rt.shutdown.accept_grace),
    }
}

/// The file form of a Patroni source.
fn patroni_file(p: &sqlmux_config::runtime::PatroniSource) -> sqlmux_config::file::PatroniFile {
    use sqlmux_config::runtime::PatroniStore;
    let (etcd, rest, interval_ms) = match &p.store {
        PatroniStore::Etcd(e) => (Some(e.clone()), None, None),
        PatroniStore::Rest {
            endpoints,
            interval,
        } => (
            None,
            Some(endpoints.clone()),
            Some(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX)),
        ),
    };
    sqlmux_config::file::PatroniFile {
        etcd,
        rest,
        namespace: Some(p.namespace.clone()),
        scope: p.scope.clone(),
        interval_ms,
    }
}
