//! Throwaway-server test harness for sqlmux's end-to-end tests.
//!
//! Module map:
//! - [`binary`]: [`SqlmuxProcess`](binary::SqlmuxProcess), the real `sqlmux` binary on a config
//!   file of its own: signals, readiness, log, exit status.
//! - [`ports`]: pick a free TCP port on 127.0.0.1 ([`free_port`]).
//! - [`certs`]: a self-signed TLS certificate.
//! - [`cli`]: run the `mariadb` and `psql` command-line clients with a timeout and capture
//!   stdout/stderr/status ([`MariaDbCli`], [`Psql`], [`CliOutput`]).
//! - [`clients`]: PyMySQL, MySQLdb, PHP, sysbench, psycopg2 and pgbench runners, and
//!   parsers of sysbench's and pgbench's summaries.
//! - [`mariadb`]: [`MariaDb`], one `mariadbd` (`mariadb-install-db` + real auth, app user
//!   `app`/`apppw`, database `sqlmux_test`), and [`MariaDbPair`], binlog primary + GTID replica.
//! - [`postgres`]: [`Postgres`], one `postgres` (`initdb`, trust on the socket, SCRAM over
//!   TCP, role `ledger`/`ledgerpw`, databases `ledger` and `sqlmux_test`), and
//!   [`PostgresPair`], primary + streaming hot standby.
//! - [`pgbouncer`]: [`PgBouncer`](pgbouncer::PgBouncer), a throwaway `pgbouncer` (pool mode, pool size and client
//!   limit chosen by the test) in front of one [`Postgres`], for comparisons with sqlmux.
//! - [`haproxy`]: [`HaProxy`](haproxy::HaProxy), a throwaway `haproxy` in TCP mode (a plain
//!   byte forwarder), the load harness's floor for any user-space proxy.
//! - [`etcd`]: [`Etcd`](etcd::Etcd), a throwaway one-member etcd (v3), stopped and restarted
//!   on the same ports; a key watched with `etcdctl`.
//! - [`patroni`]: [`PatroniCluster`](patroni::PatroniCluster), PostgreSQL nodes managed by
//!   Patroni through one etcd: leader, members, `patronictl switchover`, a node killed.
//! - [`http`]: one blocking HTTP/1.1 request, with a control token when given.
//! - [`faults`]: real faults: SIGSTOP with a SIGCONT guard ([`faults::Frozen`]), kill -9 of
//!   a server's whole process tree.
//! - [`poll`]: waiting for a condition with a bound ([`poll::within`]).
//! - [`proxy`]: sqlmux in-process on port 0 ([`Proxy`]), and config text helpers.
//! - [`raw_mysql`]: a blocking raw-packet MySQL client for exact protocol tests.
//! - `process` (private): child lifetime (graceful signal, grace period, SIGKILL, reap),
//!   readiness polling, retry on a port race.
//! - `sys` (private): temp dirs under `/tmp`, uid and OS-user lookup, log tails.
//!
//! Every server runs in its own temp dir on its own free port with no global state, so tests
//! can run in parallel; dropping a server (or a failed start) stops it and removes its files.

pub mod binary;
pub mod certs;
pub mod cli;
pub mod clients;
pub mod etcd;
pub mod faults;
pub mod haproxy;
pub mod http;
pub mod mariadb;
pub mod patroni;
pub mod pgbouncer;
pub mod poll;
pub mod ports;
pub mod postgres;
mod process;
pub mod proxy;
pub mod raw_mysql;
mod sys;

pub use cli::{CliOutput, MariaDbCli, Psql};
pub use mariadb::{MariaDb, MariaDbOptions, MariaDbPair};
pub use ports::free_port;
pub use postgres::{Postgres, PostgresOptions, PostgresPair};
pub use proxy::{mysql_config, mysql_config_listening, with_control_api, Proxy};
