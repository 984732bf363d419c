//! sqlmux's data path: a multiplexing SQL proxy for MySQL/MariaDB and PostgreSQL, without
//! the control plane (the HTTP control API and the topology source clients are in
//! `sqlmux-control`, the admin SQL interface in `sqlmux-admin`, the process and its `run`
//! in `sqlmux`).
//!
//! Data path: [`listener`] -> [`workers`] -> [`mysql::session`] -> [`pool`] checkout ->
//! [`mysql::backend`] -> [`mysql::relay`] back to the client; likewise [`listener`] ->
//! [`workers`] -> [`pg::session`] -> [`pool`] -> [`pg::backend`].
//!
//! - [`check`]: `sqlmux check`: a config file's resolved contents, passwords hidden.
//! - [`reload`]: the config file followed (SIGHUP, or a change of it or its secret files).
//! - [`drain`]: what SIGTERM does: readiness off, serve on, then close idle sessions.
//! - [`listener`]: the accept loop of the application endpoints.
//! - [`shared`]: state shared by the sessions of one proxy (runtime snapshots, pools).
//! - [`stats`]: live counters for the admin tables and `/metrics`.
//! - [`session`]: pins and session state, independent of the protocol.
//! - [`router`]: statement -> hostgroup.
//! - [`topology`]: hostgroups, servers and status.
//! - [`failover`]: holding writer-bound statements while a cluster has no usable writer.
//! - [`monitor`]: sqlmux's own health checks of every server.
//! - [`sources`]: what is known of each topology source; a source's view published.
//! - [`pool`]: backend connection pools with bounded waits.
//! - [`mysql`]: the MySQL frontend and backend.
//! - [`pg`]: the PostgreSQL frontend and backend (transaction pooling).
//! - [`tls`]: rustls configuration for both sides.
//! - [`credentials`]: what a backend login may send of a password (never cleartext on TCP).
//! - [`stream`]: a socket that may be TLS.
//! - [`buffered`]: a stream with its buffers, what a MySQL client and a PostgreSQL connection share.
//! - [`workers`]: the data-path threads; each session lives on one.
//! - `test_fixtures`: config fragments the tests of this crate and the control and admin
//!   crates share.

pub mod buffered;
pub mod check;
pub mod credentials;
pub mod drain;
pub mod failover;
pub mod listener;
pub mod monitor;
pub mod mysql;
pub mod pg;
pub mod pool;
pub mod reload;
pub mod router;
pub mod session;
pub mod shared;
pub mod sources;
pub mod stats;
pub mod stream;
#[doc(hidden)]
pub mod test_fixtures;
pub mod tls;
pub mod topology;
pub mod workers;
