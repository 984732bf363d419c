//! `run(runtime, listeners, shutdown)`: the only entry point. No global state, so a test
//! can start many proxies in one process.

use sqlmux_config::{ListenSettings, Runtime};
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::workers::Workers;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {key} = {address}: {source}")]
    Bind {
        /// Config key.
        key: &'static str,
        /// Address.
        address: String,
        /// OS error.
        source: io::Error,
    },
    /// TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] sqlmux_proxy::tls::TlsError),
    /// The admin store could not be opened (or a saved store no longer validates).
    #[error(transparent)]
    Admin(#[from] sqlmux_admin::AdminError),
    /// The data-path threads could not be started.
    #[error("cannot start the data-path workers: {0}")]
    Workers(io::Error),
}

/// The bound sockets the proxy serves; bind them first (port 0 works), then `run`.
#[derive(Debug, Default)]
pub struct Listeners {
    /// MySQL application endpoint.
    pub mysql: Option<TcpListener>,
    /// PostgreSQL application endpoint.
    pub postgres: Option<TcpListener>,
    /// Control API (HTTP).
    pub http: Option<TcpListener>,
    /// Admin SQL interface, MySQL protocol.
    pub admin_mysql: Option<TcpListener>,
    /// Admin SQL interface, PostgreSQL protocol.
    pub admin_postgres: Option<TcpListener>,
}

impl Listeners {
    /// Binds every endpoint configured in `[listen]` that this build serves.
    pub async fn bind(settings: &ListenSettings) -> Result<Self, ServerError> {
        let mut listeners = Listeners::default();
        if let Some(address) = &settings.mysql {
            listeners.mysql = Some(bind("listen.mysql", address).await?);
        }
        if let Some(address) = &settings.postgres {
            listeners.postgres = Some(bind("listen.postgres", address).await?);
        }
        if let Some(address) = &settings.http {
            listeners.http = Some(bind("listen.http", address).await?);
        }
        if let Some(address) = &settings.admin_mysql {
            listeners.admin_mysql = Some(bind("listen.admin_mysql", address).await?);
        }
        if let Some(address) = &settings.admin_postgres {
            listeners.admin_postgres = Some(bind("listen.admin_postgres", address).await?);
        }
        Ok(listeners)
    }

    /// The bound admin (MySQL protocol) address.
    pub fn admin_mysql_addr(&self) -> Option<SocketAddr> {
        self.admin_mysql.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound admin (PostgreSQL protocol) address.
    pub fn admin_postgres_addr(&self) -> Option<SocketAddr> {
        self.admin_postgres
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound control API address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound MySQL address.
    pub fn mysql_addr(&self) -> Option<SocketAddr> {
        self.mysql.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound PostgreSQL address.
    pub fn postgres_addr(&self) -> Option<SocketAddr> {
        self.postgres.as_ref().and_then(|l| l.local_addr().ok())
    }
}

async fn bind(key: &'static str, address: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind {
            key,
            address: address.to_string(),
            source,
        })
}

/// Serves until `shutdown` completes.
pub async fn run(
    runtime: Runtime,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let (_keep, reloads) = tokio::sync::mpsc::channel(1);
    run_with_reloads(runtime, listeners, shutdown, reloads).await
}

/// Serves until `shutdown` completes; every runtime received on `reloads` (already
/// validated) replaces the running one without dropping client connections, and every
/// refused reading is counted.
pub async fn run_with_reloads(
    runtime: Runtime,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    reloads: tokio::sync::mpsc::Receiver<sqlmux_proxy::reload::Reload>,
) -> Result<(), ServerError> {
    let client_tls = runtime
        .tls
        .as_ref()
        .map(sqlmux_proxy::tls::acceptor)
        .transpose()?;
    let shared = Shared::new(runtime, client_tls);
    let mut tasks = tokio::task::JoinSet::new();
    // Before the data listeners: a saved admin store may replace the runtime.
    start_admin(
        &shared,
        &mut tasks,
        listeners.admin_mysql,
        listeners.admin_postgres,
    )?;
    let worker_count = shared
        .runtime
        .load()
        .listen
        .workers
        .unwrap_or_else(sqlmux_proxy::workers::default_count);
    let workers = Arc::new(Workers::start(worker_count).map_err(ServerError::Workers)?);
    tracing::info!(workers = worker_count, "data-path workers up");
    let _ = shared.stats.worker_sessions.set(workers.session_counters());
    // The accept loops apart: a shutdown stops them before the rest.
    let mut accepting = tokio::task::JoinSet::new();
    if let Some(l) = listeners.mysql {
        tracing::info!(address = ?l.local_addr().ok(), "mysql listener up");
        tasks.spawn(sqlmux_proxy::mysql::identity::learn(shared.clone()));
        accepting.spawn(sqlmux_proxy::listener::accept_loop(
            shared.clone(),
            l,
            "mysql",
            workers.clone(),
            sqlmux_proxy::mysql::session::serve,
        ));
    }
    if let Some(l) = listeners.postgres {
        tracing::info!(address = ?l.local_addr().ok(), "postgres listener up");
        accepting.spawn(sqlmux_proxy::listener::accept_loop(
            shared.clone(),
            l,
            "postgres",
            workers.clone(),
            sqlmux_proxy::pg::session::serve,
        ));
    }
    tasks.spawn(sqlmux_proxy::monitor::run(shared.clone(), probe_factory()));
    tasks.spawn(sqlmux_control::sources::run(shared.clone()));
    tasks.spawn(reap(shared.clone()));
    if let Some(l) = listeners.http {
        tracing::info!(address = ?l.local_addr().ok(), "control API up");
        // The token is read from the running runtime per request (it may be rotated).
        let settings = sqlmux_control::ControlSettings { token: None };
        tasks.spawn(sqlmux_control::serve(l, shared.clone(), settings));
    }
    tasks.spawn(follow_reloads(shared.clone(), reloads));
    shared
        .started
        .store(true, std::sync::atomic::Ordering::Release);
    shutdown.await;
    let settings = shared.runtime.load().shutdown.clone();
    tracing::info!(mode = ?settings.mode, timeout_ms = settings.timeout.as_millis() as u64, "shutting down: not ready any more, draining");
    let counters = workers.session_counters();
    let sessions = || {
        counters
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .sum::<usize>()
    };
    sqlmux_proxy::drain::run(&shared.drain, &settings, sessions, || accepting.shutdown()).await;
    tasks.shutdown().await;
    // The accept loops are gone: the workers are ours alone, and stopping them ends every
    // session (their backend leases are closed, not returned).
    if let Ok(workers) = Arc::try_unwrap(workers) {
        workers.stop().await;
    }
    Ok(())
}

/// Starts the admin store (when an admin endpoint or `[admin]` is configured) and its
/// listeners.
fn start_admin(
    shared: &Arc<Shared>,
    tasks: &mut tokio::task::JoinSet<()>,
    admin_mysql: Option<tokio::net::TcpListener>,
    admin_postgres: Option<tokio::net::TcpListener>,
) -> Result<(), ServerError> {
    if admin_mysql.is_some() || admin_postgres.is_some() || shared.runtime.load().admin.is_some() {
        let data_dir = shared
            .runtime
            .load()
            .admin
            .as_ref()
            .map(|a| std::path::PathBuf::from(&a.data_dir));
        let admin = std::sync::Arc::new(sqlmux_admin::Admin::new(shared.clone(), data_dir)?);
        if let Some(l) = admin_mysql {
            tracing::info!(address = ?l.local_addr().ok(), "admin (MySQL protocol) up");
            tasks.spawn(sqlmux_admin::serve_mysql(l, admin.clone()));
        }
        if let Some(l) = admin_postgres {
            tracing::info!(address = ?l.local_addr().ok(), "admin (PostgreSQL protocol) up");
            tasks.spawn(sqlmux_admin::serve_postgres(l, admin));
        }
    }
    Ok(())
}

/// Every second: idle connections past their timeouts closed, expired holds ended, sparse
/// session maps shrunk.
async fn reap(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let settings = shared.runtime.load().pool.clone();
        shared.mysql.pools.reap(&settings);
        shared.pg.pools.reap(&settings);
        shared.failover.expire_holds();
        shared.shrink_session_maps();
    }
}

/// Applies every runtime received on `reloads`; a refused reading is logged.
async fn follow_reloads(
    shared: Arc<Shared>,
    mut reloads: tokio::sync::mpsc::Receiver<sqlmux_proxy::reload::Reload>,
) {
    while let Some(reload) = reloads.recv().await {
        shared.reloads.count(&reload);
        match reload {
            sqlmux_proxy::reload::Reload::Apply(next) => apply_reload(&shared, *next),
            sqlmux_proxy::reload::Reload::Refused(why) => tracing::error!(
                error = %why,
                "reload refused, still running the previous configuration"
            ),
        }
    }
}

/// Swaps in a reloaded runtime. The topology is rebuilt from the file only when the file's
/// servers changed (a topology pushed through the control API is kept otherwise).
/// The monitor's checks: each protocol's own probe (the monitor itself speaks neither).
fn probe_factory() -> sqlmux_proxy::monitor::ProbeFactory {
    Arc::new(|shared, settings, address, tls, protocol| {
        let (tls, allow_cleartext) =
            shared
                .backend_tls
                .login_options(&shared.runtime, address, tls);
        let login = sqlmux_proxy::monitor::ProbeLogin::new(settings, address, tls, allow_cleartext);
        match protocol {
            sqlmux_config::Protocol::Mysql => {
                Box::new(sqlmux_proxy::mysql::monitor_probe::MysqlProbe::new(login))
            }
            sqlmux_config::Protocol::Postgres => Box::new(
                sqlmux_proxy::pg::monitor_probe::PgProbe::new(settings, login),
            ),
        }
    })
}

fn apply_reload(shared: &Shared, next: Runtime) {
    let current = shared.runtime.load_full();
    let servers_changed = current.servers != next.servers;
    if servers_changed {
        shared.replace_topology(|generation| {
            sqlmux_proxy::topology::Topology::from_runtime(&next, generation)
        });
    }
    shared.runtime.store(std::sync::Arc::new(next));
    tracing::info!(servers_changed, "configuration reloaded");
}
