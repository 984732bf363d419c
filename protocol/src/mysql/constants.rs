//! Capability and status flags (from mysql_common) and command bytes.

pub use mysql_common::constants::{CapabilityFlags, StatusFlags};

/// Largest payload of one physical packet; a payload this long continues in the next packet.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// Command bytes (first byte of a command packet).
pub mod command {
    /// COM_QUIT.
    pub const QUIT: u8 = 0x01;
    /// COM_INIT_DB.
    pub const INIT_DB: u8 = 0x02;
    /// COM_QUERY.
    pub const QUERY: u8 = 0x03;
    /// COM_FIELD_LIST.
    pub const FIELD_LIST: u8 = 0x04;
    /// COM_STATISTICS.
    pub const STATISTICS: u8 = 0x09;
    /// COM_PING.
    pub const PING: u8 = 0x0e;
    /// COM_CHANGE_USER.
    pub const CHANGE_USER: u8 = 0x11;
    /// COM_STMT_PREPARE.
    pub const STMT_PREPARE: u8 = 0x16;
    /// COM_STMT_EXECUTE.
    pub const STMT_EXECUTE: u8 = 0x17;
    /// COM_STMT_SEND_LONG_DATA.
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// COM_STMT_CLOSE.
    pub const STMT_CLOSE: u8 = 0x19;
    /// COM_STMT_RESET.
    pub const STMT_RESET: u8 = 0x1a;
    /// COM_SET_OPTION.
    pub const SET_OPTION: u8 = 0x1b;
    /// COM_STMT_FETCH.
    pub const STMT_FETCH: u8 = 0x1c;
    /// COM_RESET_CONNECTION.
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Collation announced in the greeting: utf8mb4_general_ci, known to MySQL and MariaDB.
pub const DEFAULT_COLLATION: u8 = 45;

/// MariaDB's extended capabilities (the 4 bytes a MariaDB greeting and handshake response
/// carry where MySQL has filler, used when CLIENT_LONG_PASSWORD, "CLIENT_MYSQL", is clear).
pub mod mariadb {
    /// Column definitions carry extended type information (type name, format "json").
    pub const EXTENDED_METADATA: u32 = 1 << 3;
    /// The extended capabilities sqlmux can relay: the others change commands or packets
    /// it does not follow (progress reports, bulk execute, metadata caching).
    pub const RELAYED: u32 = EXTENDED_METADATA;
}
