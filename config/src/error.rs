//! Configuration errors: each names the key and the problem.

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// Path of the file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// TOML syntax error, unknown key or wrong type (the message names the key).
    #[error("config: {0}")]
    Syntax(String),
    /// A key has a value that does not validate.
    #[error("config: {key}: {problem}")]
    Invalid {
        /// Dotted path of the key, e.g. `servers[2].address`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}
