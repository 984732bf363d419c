//! What the admin tests of both protocols check alike, through either admin client: a bad
//! edit refused by LOAD with the runtime unchanged, and a JOIN over statistics.

use sqlmux_integration::{CliOutput, MariaDbCli, Psql};
use std::io;

/// An admin client of either protocol (the `mariadb` CLI or `psql`), as the shared checks
/// drive it.
pub trait AdminClient {
    /// The column separator of its output.
    const SEPARATOR: &'static str;
    /// What its error output says when LOAD SERVERS TO RUNTIME is refused.
    const REFUSED: &'static str;

    /// Runs `sql`: its output on success.
    fn sql(&self, sql: &str) -> io::Result<String>;

    /// Runs a bad edit (a server's address set to `nowhere`) and LOAD SERVERS TO RUNTIME.
    fn run_bad_edit(&self) -> CliOutput;
}

impl AdminClient for MariaDbCli {
    const SEPARATOR: &'static str = "\t";
    const REFUSED: &'static str = "ERROR 1105";

    fn sql(&self, sql: &str) -> io::Result<String> {
        self.query(sql)
    }

    fn run_bad_edit(&self) -> CliOutput {
        self.run("UPDATE servers SET address = 'nowhere'; LOAD SERVERS TO RUNTIME")
            .unwrap()
    }
}

impl AdminClient for Psql {
    const SEPARATOR: &'static str = "|";
    const REFUSED: &'static str = "ERROR:  22023: LOAD SERVERS TO RUNTIME refused";

    fn sql(&self, sql: &str) -> io::Result<String> {
        self.query(sql)
    }

    fn run_bad_edit(&self) -> CliOutput {
        self.clone()
            .arg("-v")
            .arg("VERBOSITY=verbose")
            .run("UPDATE servers SET address = 'nowhere';\nLOAD SERVERS TO RUNTIME;\n")
            .unwrap()
    }
}

/// A bad edit is refused by LOAD with an error naming the row; the runtime stays as it was
/// (`writer` at `weight`, generation 2), `app` is still served, and the edit is undone.
pub fn bad_edit_is_refused<A: AdminClient>(admin: &A, app: &MariaDbCli, writer: &str, weight: u32) {
    let refused = admin.run_bad_edit();
    assert!(!refused.success());
    assert!(
        refused.stderr.contains(A::REFUSED)
            && refused.stderr.contains("LOAD SERVERS TO RUNTIME refused")
            && refused.stderr.contains("address='nowhere'")
            && refused.stderr.contains("bad address"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        admin
            .sql("SELECT address, weight, generation FROM runtime_servers")
            .unwrap(),
        [writer, &weight.to_string(), "2"].join(A::SEPARATOR)
    );
    assert_eq!(admin.sql("SELECT address FROM servers").unwrap(), "nowhere");
    assert_eq!(app.query("SELECT 3").unwrap(), "3", "still served");
    admin
        .sql(&format!("UPDATE servers SET address = '{writer}'"))
        .unwrap();
}

/// Any SELECT over statistics and runtime tables (JOIN, WHERE, ORDER BY): the writer
/// (hostgroup 10) at `weight`, ONLINE, with connections made and none failed.
pub fn pool_join_shows_the_writer<A: AdminClient>(admin: &A, writer: &str, weight: u32) {
    let joined = admin
        .sql(
            "SELECT r.hostgroup, r.address, r.weight, p.status, p.used + p.free > 0, \
                    p.connections_ok > 0, p.connections_failed \
             FROM runtime_servers r \
             JOIN stats_connection_pool p ON p.address = r.address AND p.hostgroup = r.hostgroup \
             WHERE r.hostgroup = 10 ORDER BY r.hostgroup DESC, r.address",
        )
        .unwrap();
    let weight = weight.to_string();
    assert_eq!(
        joined,
        ["10", writer, &weight, "ONLINE", "1", "1", "0"].join(A::SEPARATOR)
    );
}
