//! The `sqlmux` binary: `sqlmux --config FILE`, `sqlmux check --config FILE`, `sqlmux --version`.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: sqlmux --config FILE\n       sqlmux check --config FILE\n       sqlmux --version"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let check = args.peek().is_some_and(|a| a == "check");
    if check {
        args.next();
    }
    let mut config: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--help" | "-h" => return usage(),
            "--version" | "-V" => {
                println!("sqlmux {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other if other.starts_with("--config=") => config = Some(PathBuf::from(&other[9..])),
            _ => return usage(),
        }
    }
    let Some(path) = config else {
        return usage();
    };
    if check {
        return match sqlmux_config::load(&path) {
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
        let listeners = sqlmux_proxy::Listeners::bind(&runtime.listen).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(sqlmux_proxy::reload::follow(
            path,
            runtime.secret_files.clone(),
            tx,
            sqlmux_proxy::reload::POLL,
        ));
        sqlmux_proxy::run_with_reloads(runtime, listeners, shutdown_signal(), rx).await
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
