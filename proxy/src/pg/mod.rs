//! The PostgreSQL data path with transaction pooling.
//!
//! Walk: [`crate::listener`] -> [`auth`] (startup, TLS, SCRAM/md5) -> [`session`] (a backend per
//! transaction; extended protocol, COPY, pins, SET replay) -> [`backend`] -> relay back.
//!
//! - [`conn`]: a framed connection (both sides), with TLS upgrade.
//! - [`auth`]: the client-facing startup and authentication.
//! - [`backend`]: pooled backend connections: connect, authenticate, known state.
//! - [`statements`]: named prepared statements across pooled backends.
//! - [`cancel`]: sqlmux's own cancel keys and CancelRequest forwarding.
//! - [`startup_key`]: the BackendKeyData secret.
//! - [`error`]: session errors and the one place they become ErrorResponses.
//! - [`session`]: one client session.
//! - [`monitor_probe`]: the monitor's check of a server.
//! - [`shared`]: [`PgShared`], what the sessions of one proxy share.

pub mod auth;
pub mod backend;
pub mod cancel;
pub mod conn;
pub mod error;
pub mod monitor_probe;
pub mod session;
pub mod shared;
pub mod startup_key;
pub mod statements;

pub use shared::PgShared;
