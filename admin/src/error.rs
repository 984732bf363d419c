//! [`AdminError`]: every way an admin statement or connection fails, mapped to its MySQL
//! error (code, SQLSTATE, message) in one place: [`AdminError::mysql`].

use opensrv_mysql::ErrorKind;

/// Why an admin statement was refused (or the store could not be opened).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// SQLite refused the statement (syntax, unknown table or column, constraint, ...).
    #[error("sqlmux admin: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The statement writes a table that is not editable (`runtime_*`, `stats_*`).
    #[error("table '{table}' is read only: {hint}")]
    ReadOnly {
        /// The table.
        table: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// The statement is valid SQL that the admin interface does not run (DDL, transactions,
    /// ATTACH, PRAGMA writes, ...).
    #[error("{0} is not supported by the sqlmux admin interface")]
    Unsupported(String),
    /// A `LOAD ... TO RUNTIME` whose tables do not validate; nothing was changed.
    #[error("LOAD {what} TO RUNTIME refused, the runtime is unchanged: {problem}")]
    LoadRefused {
        /// What was loaded (`SERVERS`, `ALL`, ...).
        what: &'static str,
        /// The offending row and value.
        problem: String,
    },
    /// `SAVE ... TO DISK` / `LOAD ... FROM DISK` failed.
    #[error("{command} failed: {reason}")]
    Disk {
        /// The command.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// `... TO DISK` / `... FROM DISK` without a data directory.
    #[error("{0} needs a data directory ([admin] data_dir), and none is configured")]
    NoDataDir(String),
    /// The embedded store could not be created or the saved store could not be read.
    #[error("admin store {path}: {reason}")]
    Store {
        /// The file (or `:memory:`).
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The saved store (`<data_dir>/sqlmux.db`) does not validate with the configuration.
    #[error("saved admin store {path} is not a valid configuration: {problem}")]
    SavedStoreInvalid {
        /// The file.
        path: String,
        /// The offending row and value.
        problem: String,
    },
    /// An admin command (`LOAD`, `SAVE`, `SHOW`, `SET`) that does not parse.
    #[error("{0}")]
    BadCommand(String),
    /// `SELECT @@name` of a variable the admin interface does not know.
    #[error("Unknown system variable '{0}'")]
    UnknownVariable(String),
    /// An empty statement.
    #[error("Query was empty")]
    EmptyQuery,
    /// Wrong admin user or password.
    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        /// The user name the client gave.
        user: String,
        /// The client's IP address.
        host: String,
        /// Whether the client sent a password.
        using_password: bool,
    },
    /// A protocol command the admin interface does not implement.
    #[error("Unknown command (0x{0:02x}) not supported by the sqlmux admin interface")]
    UnknownCommand(u8),
    /// A command packet with no command byte.
    #[error("Malformed packet: empty command")]
    EmptyCommand,
    /// A command over 16 MiB (the admin interface takes single packets only).
    #[error("Got a packet bigger than 'max_allowed_packet' bytes")]
    PacketTooLarge,
    /// Statement text that is not UTF-8.
    #[error("Invalid utf8mb4 character string in the statement")]
    InvalidUtf8,
    /// `COM_STMT_PREPARE`: the admin interface has no prepared statements.
    #[error("Prepared statements are not supported by the sqlmux admin interface; use the text protocol")]
    PreparedStatements,
    /// `COM_STMT_EXECUTE` of a statement that was never prepared.
    #[error("Unknown prepared statement handler given to mysqld_stmt_execute")]
    UnknownStatement,
    /// A statement past the admin limits (rows, bytes or time of one statement).
    #[error("sqlmux admin: statement stopped: {0} (admin statements are limited to 100,000 rows, 64 MiB and 5 s)")]
    Limit(&'static str),
    /// A bug or an unexpected failure inside sqlmux (a worker task failed, ...).
    #[error("sqlmux admin internal error: {0}")]
    Internal(String),
}

impl AdminError {
    /// The MySQL error this becomes on the wire: the error kind (which carries the code and
    /// SQLSTATE) and the message.
    pub fn mysql(&self) -> (ErrorKind, String) {
        let kind = match self {
            AdminError::Sql(e) => sqlite_kind(e),
            AdminError::ReadOnly { .. } => ErrorKind::ER_OPEN_AS_READONLY,
            AdminError::Unsupported(_) => ErrorKind::ER_NOT_SUPPORTED_YET,
            AdminError::LoadRefused { .. }
            | AdminError::Disk { .. }
            | AdminError::NoDataDir(_)
            | AdminError::Store { .. }
            | AdminError::SavedStoreInvalid { .. }
            | AdminError::Internal(_) => ErrorKind::ER_UNKNOWN_ERROR,
            AdminError::BadCommand(_) => ErrorKind::ER_PARSE_ERROR,
            AdminError::UnknownVariable(_) => ErrorKind::ER_UNKNOWN_SYSTEM_VARIABLE,
            AdminError::EmptyQuery => ErrorKind::ER_EMPTY_QUERY,
            AdminError::AccessDenied { .. } => ErrorKind::ER_ACCESS_DENIED_ERROR,
            AdminError::UnknownCommand(_) | AdminError::EmptyCommand => {
                ErrorKind::ER_UNKNOWN_COM_ERROR
            }
            AdminError::PacketTooLarge => ErrorKind::ER_NET_PACKET_TOO_LARGE,
            AdminError::Limit(_) => ErrorKind::ER_QUERY_INTERRUPTED,
            AdminError::InvalidUtf8 => ErrorKind::ER_INVALID_CHARACTER_STRING,
            AdminError::PreparedStatements => ErrorKind::ER_UNSUPPORTED_PS,
            AdminError::UnknownStatement => ErrorKind::ER_UNKNOWN_STMT_HANDLER,
        };
        (kind, self.to_string())
    }

    /// The payload of the ERR packet (`0xFF`, code, `#`, SQLSTATE, message), for the places
    /// that write the packet themselves.
    pub fn err_payload(&self) -> Vec<u8> {
        let (kind, message) = self.mysql();
        let mut p = Vec::with_capacity(9 + message.len());
        p.push(0xFF);
        p.extend_from_slice(&(kind as u16).to_le_bytes());
        p.push(b'#');
        p.extend_from_slice(kind.sqlstate());
        p.extend_from_slice(message.as_bytes());
        p
    }
}

/// The closest MySQL error for a SQLite failure.
fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    let message = e.to_string();
    if message.starts_with("no such table") {
        ErrorKind::ER_NO_SUCH_TABLE
    } else if message.starts_with("no such column") {
        ErrorKind::ER_BAD_FIELD_ERROR
    } else if message.starts_with("UNIQUE constraint failed") {
        ErrorKind::ER_DUP_ENTRY
    } else if message.contains("syntax error") || message.contains("incomplete input") {
        ErrorKind::ER_PARSE_ERROR
    } else {
        ErrorKind::ER_UNKNOWN_ERROR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_is_1045_with_the_servers_text() {
        let e = AdminError::AccessDenied {
            user: "admin".into(),
            host: "127.0.0.1".into(),
            using_password: true,
        };
        let p = e.err_payload();
        assert_eq!(p[0], 0xFF);
        assert_eq!(u16::from_le_bytes([p[1], p[2]]), 1045);
        assert_eq!(&p[3..9], b"#28000");
        assert_eq!(
            std::str::from_utf8(&p[9..]).unwrap(),
            "Access denied for user 'admin'@'127.0.0.1' (using password: YES)"
        );
    }

    #[test]
    fn unknown_command_is_1047() {
        let (kind, message) = AdminError::UnknownCommand(0x1f).mysql();
        assert_eq!(kind as u16, 1047);
        assert!(message.contains("0x1f"), "{message}");
    }
}
