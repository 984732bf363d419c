//! MySQL frontend sessions and backend connections (speaks `sqlmux_protocol::mysql`).
//!
//! - [`client`]: the client socket: framed reads, writes, TLS upgrade.
//! - [`client_auth`]: greeting and authentication of clients.
//! - [`session`]: the command loop of one session.
//! - [`backend`]: connecting and authenticating to servers.
//! - [`relay`]: streaming a server's response back to the client.
//! - [`error`]: session errors and their ERR packets.
//! - [`local`]: result sets sqlmux answers itself.
//! - [`statements`]: prepared statements on both sides of the proxy.
//! - [`identity`]: what the servers are (their greetings), and what sqlmux announces.
//! - [`monitor_probe`]: the monitor's check of a server.
//! - [`shared`]: [`MysqlShared`], what the sessions of one proxy share.

pub mod backend;
pub mod client;
pub mod client_auth;
pub mod error;
pub mod identity;
pub mod local;
pub mod monitor_probe;
pub mod relay;
pub mod session;
pub mod shared;
pub mod statements;

pub use shared::MysqlShared;
