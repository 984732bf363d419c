//! The configuration model: a TOML file becomes a validated, compiled [`Runtime`].
//!
//! - [`file`]: the serde model of the TOML contract (`sqlmux.example.toml`), unknown keys refused.
//! - [`runtime`]: the compiled, validated form the proxy runs on.
//! - [`validate`]: the checks that turn a [`file::ConfigFile`] into a [`Runtime`].
//! - `sections`: the settings sections (`[pool]`, `[monitor]`, `[mysql]`, ...), each
//!   checked and given its defaults.
//! - [`error`]: [`ConfigError`], which names the offending key and the problem.

pub mod error;
pub mod file;
pub mod runtime;
mod sections;
pub mod validate;

pub use error::ConfigError;
pub use runtime::{
    AdminSettings, ClientLimits, Cluster, FailoverSettings, ListenSettings, MonitorSettings,
    MysqlSettings, PgAuthMethod, PoolSettings, PostgresSettings, Protocol, Rule, Runtime, Server,
    ServerStatus, ShutdownMode, ShutdownSettings, StatsSettings, TlsSettings, User,
};

use std::path::Path;

/// The config fuzz target's body (`fuzz/`, and the corpus replay in the tests): any text
/// is parsed to a runtime or an error, never a panic.
pub fn fuzz_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text);
    }
}

/// Parses and validates configuration text.
pub fn parse(text: &str) -> Result<Runtime, ConfigError> {
    let file: file::ConfigFile =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    validate::compile(file)
}

/// Reads, parses and validates a configuration file.
pub fn load(path: &Path) -> Result<Runtime, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse(&text)
}
