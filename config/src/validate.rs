//! Turns the file model into a [`Runtime`], refusing anything inconsistent.

use crate::error::ConfigError;
use crate::file::{ClusterFile, ConfigFile, RuleFile, ServerFile, UserFile};
use crate::runtime::*;
use crate::sections;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Validates and compiles a parsed file.
pub fn compile(file: ConfigFile) -> Result<Runtime, ConfigError> {
    let listen = compile_listen(&file)?;
    let clusters = compile_clusters(&file.clusters)?;
    let hostgroups: HashMap<u32, &str> = clusters
        .iter()
        .flat_map(|c| {
            [
                (c.writer_hostgroup, c.name.as_str()),
                (c.reader_hostgroup, c.name.as_str()),
            ]
        })
        .collect();
    let servers = compile_servers(&file.servers, &hostgroups)?;
    let mut secret_files = Vec::new();
    let users = compile_users(&file.users, &clusters, &mut secret_files)?;
    let rules = compile_rules(&file.rules, &hostgroups)?;
    let pool = sections::pool(&file.pool);
    let failover = sections::failover(&file.failover);
    let clients = sections::clients(&file.listen)?;
    let shutdown = sections::shutdown(&file.shutdown)?;
    let monitor = sections::monitor(file.monitor.as_ref(), &mut secret_files)?;
    let mysql = sections::mysql(file.mysql)?;
    let postgres = postgres_settings(&file.postgres)?;
    let admin = sections::admin(file.admin, &mut secret_files)?;
    let control_token = secret(
        "control.token",
        file.control.token.clone(),
        file.control.token_file.as_deref(),
        file.control.token_env.as_deref(),
        &mut secret_files,
    )?
    .filter(|t| !t.is_empty());
    let tls = file.tls.map(|t| TlsSettings {
        cert: t.cert,
        key: t.key,
    });
    refuse_open_control(&listen, control_token.as_deref(), admin.as_ref())?;
    Ok(Runtime {
        listen,
        clients,
        admin,
        clusters,
        servers,
        users: users.into_iter().map(std::sync::Arc::new).collect(),
        rules,
        pool,
        failover,
        shutdown,
        monitor,
        mysql,
        postgres,
        tls,
        log_json: sections::log_json(&file.log)?,
        log_level: file.log.level.unwrap_or_else(|| "info".to_string()),
        control_token,
        secret_files,
        stats: sections::stats(&file.stats)?,
    })
}

fn postgres_settings(file: &crate::file::PostgresFile) -> Result<PostgresSettings, ConfigError> {
    let defaults = PostgresSettings::default();
    let auth_method = match file.auth_method.as_deref() {
        None | Some("scram-sha-256") => PgAuthMethod::ScramSha256,
        Some("md5") => PgAuthMethod::Md5,
        Some("cleartext") | Some("password") => PgAuthMethod::Cleartext,
        Some(other) => {
            return Err(ConfigError::invalid(
                "postgres.auth_method",
                format!("unsupported method {other:?} (scram-sha-256, md5 or cleartext)"),
            ))
        }
    };
    let backend_statement_limit = file
        .backend_statement_limit
        .unwrap_or(defaults.backend_statement_limit);
    if backend_statement_limit == 0 {
        return Err(ConfigError::invalid(
            "postgres.backend_statement_limit",
            "must be at least 1",
        ));
    }
    Ok(PostgresSettings {
        auth_method,
        backend_statement_limit,
        max_pending_bytes: file.max_pending_bytes.unwrap_or(defaults.max_pending_bytes),
        max_session_statements: file
            .max_session_statements
            .unwrap_or(defaults.max_session_statements),
    })
}

/// Checks that `addr` has the form `host:port` with a numeric port.
pub fn check_address(key: &str, addr: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError::invalid(key, format!("bad address {addr:?}: {why}"));
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("empty or invalid host"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("port must be a number from 0 to 65535"))?;
    Ok(())
}

fn compile_listen(file: &ConfigFile) -> Result<ListenSettings, ConfigError> {
    let l = &file.listen;
    let fields = [
        ("listen.mysql", &l.mysql),
        ("listen.postgres", &l.postgres),
        ("listen.admin_mysql", &l.admin_mysql),
        ("listen.admin_postgres", &l.admin_postgres),
        ("listen.http", &l.http),
    ];
    for (key, value) in fields {
        if let Some(addr) = value {
            check_address(key, addr)?;
        }
    }
    if let Some(n) = l.workers {
        if !(1..=1024).contains(&n) {
            return Err(ConfigError::invalid(
                "listen.workers",
                format!("{n} workers: must be from 1 to 1024"),
            ));
        }
    }
    Ok(ListenSettings {
        workers: l.workers,
        mysql: l.mysql.clone(),
        postgres: l.postgres.clone(),
        admin_mysql: l.admin_mysql.clone(),
        admin_postgres: l.admin_postgres.clone(),
        http: l.http.clone(),
    })
}

fn compile_clusters(files: &[ClusterFile]) -> Result<Vec<Cluster>, ConfigError> {
    let mut names = HashSet::new();
    let mut owner: HashMap<u32, &str> = HashMap::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, c) in files.iter().enumerate() {
        let key = |f: &str| format!("clusters[{i}].{f}");
        if c.name.is_empty() {
            return Err(ConfigError::invalid(key("name"), "must not be empty"));
        }
        if !names.insert(c.name.as_str()) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("duplicate cluster {:?}", c.name),
            ));
        }
        let protocol = match c.protocol.as_str() {
            "mysql" => Protocol::Mysql,
            "postgres" | "postgresql" => Protocol::Postgres,
            other => {
                return Err(ConfigError::invalid(
                    key("protocol"),
                    format!("unknown protocol {other:?} (mysql or postgres)"),
                ))
            }
        };
        for (field, hg) in [
            ("writer_hostgroup", c.writer_hostgroup),
            ("reader_hostgroup", c.reader_hostgroup),
        ] {
            if let Some(other) = owner.get(&hg) {
                if *other != c.name {
                    return Err(ConfigError::invalid(
                        key(field),
                        format!("hostgroup {hg} already belongs to cluster {other:?}"),
                    ));
                }
            }
            owner.insert(hg, &c.name);
        }
        out.push(Cluster {
            name: c.name.clone(),
            protocol,
            writer_hostgroup: c.writer_hostgroup,
            reader_hostgroup: c.reader_hostgroup,
            max_replication_lag_ms: c.max_replication_lag_ms.filter(|ms| *ms > 0),
            patroni: c
                .patroni
                .as_ref()
                .map(|p| compile_patroni(&key("patroni"), p, protocol))
                .transpose()?,
        });
    }
    Ok(out)
}

/// A cluster's Patroni source: etcd or REST endpoints (exactly one), a scope, a namespace.
fn compile_patroni(
    key: &str,
    p: &crate::file::PatroniFile,
    protocol: Protocol,
) -> Result<PatroniSource, ConfigError> {
    let field = |f: &str| format!("{key}.{f}");
    if protocol != Protocol::Postgres {
        return Err(ConfigError::invalid(
            key.to_string(),
            "Patroni manages PostgreSQL clusters only",
        ));
    }
    if p.scope.is_empty() {
        return Err(ConfigError::invalid(field("scope"), "must not be empty"));
    }
    let store = match (&p.etcd, &p.rest) {
        (Some(etcd), None) if !etcd.is_empty() => {
            for (i, e) in etcd.iter().enumerate() {
                check_address(&format!("{}[{i}]", field("etcd")), e)?;
            }
            PatroniStore::Etcd(etcd.clone())
        }
        (None, Some(rest)) if !rest.is_empty() => {
            for (i, r) in rest.iter().enumerate() {
                if !r.starts_with("http://") {
                    return Err(ConfigError::invalid(
                        format!("{}[{i}]", field("rest")),
                        format!("{r:?} is not an http:// URL"),
                    ));
                }
            }
            PatroniStore::Rest {
                endpoints: rest.clone(),
                interval: Duration::from_millis(p.interval_ms.unwrap_or(1000).max(1)),
            }
        }
        _ => {
            return Err(ConfigError::invalid(
                key.to_string(),
                "give either `etcd` or `rest` endpoints (one of them, not empty)",
            ))
        }
    };
    let namespace = p.namespace.as_deref().unwrap_or("/service");
    let namespace = format!("/{}", namespace.trim_matches('/'));
    Ok(PatroniSource {
        store,
        namespace,
        scope: p.scope.clone(),
    })
}

fn compile_servers(
    files: &[ServerFile],
    hostgroups: &HashMap<u32, &str>,
) -> Result<Vec<Server>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, s) in files.iter().enumerate() {
        let key = |f: &str| format!("servers[{i}].{f}");
        if !hostgroups.contains_key(&s.hostgroup) {
            return Err(ConfigError::invalid(
                key("hostgroup"),
                format!("hostgroup {} is used by no cluster", s.hostgroup),
            ));
        }
        check_address(&key("address"), &s.address)?;
        if !seen.insert((s.hostgroup, s.address.as_str())) {
            return Err(ConfigError::invalid(
                key("address"),
                format!(
                    "server {} is listed twice in hostgroup {}",
                    s.address, s.hostgroup
                ),
            ));
        }
        let max_connections = s.max_connections.unwrap_or(100);
        if max_connections == 0 {
            return Err(ConfigError::invalid(
                key("max_connections"),
                "must be at least 1",
            ));
        }
        let status = match &s.status {
            None => ServerStatus::Online,
            Some(v) => ServerStatus::parse(v).ok_or_else(|| {
                ConfigError::invalid(
                    key("status"),
                    format!("unknown status {v:?} (ONLINE, SHUNNED, OFFLINE_SOFT, OFFLINE_HARD)"),
                )
            })?,
        };
        out.push(Server {
            hostgroup: s.hostgroup,
            address: s.address.clone(),
            weight: s.weight.unwrap_or(1),
            max_connections,
            status,
            tls: s.tls.unwrap_or(false),
            allow_cleartext_password: s.allow_cleartext_password.unwrap_or(false),
            tls_ca: s.tls_ca.clone(),
            tls_verify: s.tls_verify.unwrap_or(true),
        });
    }
    Ok(out)
}

fn compile_users(
    files: &[UserFile],
    clusters: &[Cluster],
    secret_files: &mut Vec<String>,
) -> Result<Vec<User>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, u) in files.iter().enumerate() {
        let key = |f: &str| format!("users[{i}].{f}");
        if u.name.is_empty() {
            return Err(ConfigError::invalid(key("name"), "must not be empty"));
        }
        if !names.insert(u.name.as_str()) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("duplicate user {:?}", u.name),
            ));
        }
        if !clusters.iter().any(|c| c.name == u.cluster) {
            return Err(ConfigError::invalid(
                key("cluster"),
                format!("no cluster named {:?}", u.cluster),
            ));
        }
        let password = secret(
            &key("password"),
            u.password.clone(),
            u.password_file.as_deref(),
            u.password_env.as_deref(),
            secret_files,
        )?
        .ok_or_else(|| {
            ConfigError::invalid(
                key("password"),
                "give `password`, `password_file` or `password_env`",
            )
        })?;
        out.push(User {
            name: u.name.clone(),
            password,
            cluster: u.cluster.clone(),
            default_schema: u.default_schema.clone(),
            read_your_writes: u.read_your_writes_ms.map(Duration::from_millis),
        });
    }
    Ok(out)
}

fn compile_rules(
    files: &[RuleFile],
    hostgroups: &HashMap<u32, &str>,
) -> Result<Vec<Rule>, ConfigError> {
    files
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let pattern = regex::Regex::new(&r.match_).map_err(|e| {
                ConfigError::invalid(format!("rules[{i}].match"), format!("bad regex: {e}"))
            })?;
            if !hostgroups.contains_key(&r.hostgroup) {
                return Err(ConfigError::invalid(
                    format!("rules[{i}].hostgroup"),
                    format!("hostgroup {} is used by no cluster", r.hostgroup),
                ));
            }
            Ok(Rule {
                pattern,
                hostgroup: r.hostgroup,
                user: r.user.clone(),
                schema: r.schema.clone(),
            })
        })
        .collect()
}

/// A secret given one of three ways: in the file (`value`), in a file of its own
/// (`<key>_file`, e.g. a mounted Kubernetes Secret; a trailing newline is dropped) or in an
/// environment variable (`<key>_env`). At most one; `None` when none is given. A file read
/// is recorded in `files`, which sqlmux watches.
pub(crate) fn secret(
    key: &str,
    value: Option<String>,
    file: Option<&str>,
    env: Option<&str>,
    files: &mut Vec<String>,
) -> Result<Option<String>, ConfigError> {
    let given = [value.is_some(), file.is_some(), env.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        return Err(ConfigError::invalid(
            key.to_string(),
            format!("give one of `{key}`, `{key}_file` and `{key}_env`"),
        ));
    }
    if let Some(path) = file {
        files.push(path.to_string());
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(format!("{key}_file"), format!("cannot read {path:?}: {e}"))
        })?;
        return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
    }
    if let Some(name) = env {
        return std::env::var(name).map(Some).map_err(|_| {
            ConfigError::invalid(
                format!("{key}_env"),
                format!("the environment variable {name:?} is not set"),
            )
        });
    }
    Ok(value)
}

/// Whether a listen address stays on this machine (loopback).
fn is_loopback(address: &str) -> bool {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// sqlmux does not start with its control plane open beyond loopback: the control API
/// without a token, or an admin port with the password `admin`.
fn refuse_open_control(
    listen: &ListenSettings,
    token: Option<&str>,
    admin: Option<&AdminSettings>,
) -> Result<(), ConfigError> {
    if let Some(http) = &listen.http {
        if !is_loopback(http) && token.is_none() {
            return Err(ConfigError::invalid(
                "listen.http",
                format!("{http} is reachable beyond this machine: set [control] token (or token_file / token_env)"),
            ));
        }
    }
    let admin_open = [&listen.admin_mysql, &listen.admin_postgres]
        .into_iter()
        .flatten()
        .find(|a| !is_loopback(a));
    if let (Some(address), Some(a)) = (admin_open, admin) {
        if a.password == "admin" {
            return Err(ConfigError::invalid(
                "admin.password",
                format!("the admin port {address} is reachable beyond this machine: choose another password than \"admin\""),
            ));
        }
    }
    Ok(())
}
