//! The `sqlmux` binary: `sqlmux --config FILE`, `sqlmux check --config FILE`, `--help`,
//! `--version` (clap).

use clap::{Parser, Subcommand};

/// jemalloc, with a background thread that returns what departed sessions freed to the
/// system within about a second (`.cargo/config.toml` sets the decay; see the `load idle`
/// figures in the README).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// sqlmux: a multiplexing SQL proxy for MySQL/MariaDB and PostgreSQL.
#[derive(Parser)]
#[command(
    name = "sqlmux",
    version,
    about = "A multiplexing SQL proxy for MySQL/MariaDB and PostgreSQL",
    long_about = "A multiplexing SQL proxy for MySQL/MariaDB and PostgreSQL. Applications connect \
to it as if it were the database; it lends pooled backend connections per statement or \
transaction, routes reads and writes per hostgroup, and follows the topology an \
orchestrator (or Patroni) gives it.",
    after_long_help = "Running: `sqlmux --config sqlmux.toml` serves the [listen] endpoints until \
SIGTERM or SIGINT. The first signal drains ([shutdown]: /readyz turns 503, idle sessions \
close at their next statement), a second one exits at once. The config file and its secret \
files (password_file, token_file) are followed: SIGHUP, or a change of them, reloads; a file \
that does not validate is refused and the running configuration stays.\n\n\
Logging: [log] level and format in the file; RUST_LOG overrides the level.\n\n\
Exit status: 0 after a drain, 1 when the configuration is invalid or a listener cannot be \
bound, 2 for a command-line error."
)]
struct Cli {
    /// The configuration file (TOML) to run with.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of running the proxy.
#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and print what it resolves to (clusters, servers,
    /// users, endpoints; passwords hidden). Exit status 1 when it is invalid.
    Check {
        /// The configuration file (TOML) to check.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Check { config: path }) = &cli.command {
        return match sqlmux_config::load(path) {
            Ok(rt) => {
                println!("{}: valid", path.display());
                print!("{}", sqlmux_proxy::check::describe(&rt));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let Some(path) = cli.config else {
        eprintln!("sqlmux: no configuration file: sqlmux --config FILE (see sqlmux --help)");
        return ExitCode::from(2);
    };
    let runtime = match sqlmux_config::load(&path) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sqlmux: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&runtime.log_level));
    if runtime.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    // The accept loops, admin, control API and reaper; sessions run on the data-path workers
    // (`[listen] workers`).
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sqlmux: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio.block_on(async move {
        let listeners = sqlmux::Listeners::bind(&runtime.listen).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(sqlmux_proxy::reload::follow(
            path,
            runtime.secret_files.clone(),
            tx,
            sqlmux_proxy::reload::POLL,
        ));
        sqlmux::run_with_reloads(runtime, listeners, shutdown_signal(), rx).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlmux: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first SIGTERM or SIGINT starts the drain (`[shutdown]`); a second one exits at once.
async fn shutdown_signal() {
    signal().await;
    tracing::info!("signal received: draining (a second SIGTERM/SIGINT exits at once)");
    tokio::spawn(async {
        signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(0);
    });
}

/// The next SIGTERM or SIGINT.
async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
