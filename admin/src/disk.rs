//! The saved store: `<data_dir>/sqlmux.db`, an SQLite file holding the configuration tables
//! (`SAVE ... TO DISK` writes it, `LOAD ... FROM DISK` and the start read it).

use super::schema::{self, Editable};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// File name of the saved store inside `admin.data_dir`.
pub(crate) const FILE_NAME: &str = "sqlmux.db";

/// The saved store's path.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Makes sure the store file exists readable by its owner only (mode 0600: it holds
/// passwords); SQLite gives its journal the same mode.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Runs `work` with the file at `path` attached as schema `disk`, detaching it afterwards
/// whatever happened.
fn with_attached<T>(
    conn: &Connection,
    path: &Path,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let name = path.to_string_lossy();
    conn.execute("ATTACH DATABASE ?1 AS disk", [name.as_ref()])?;
    let result = work(conn);
    let detached = conn.execute("DETACH DATABASE disk", []);
    let value = result?;
    detached?;
    Ok(value)
}

/// Runs `work` inside one transaction (rolled back on error).
fn in_transaction<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Writes `tables` of the in-memory store into the saved store (created with `data_dir` if
/// missing), replacing their saved rows, in one transaction.
pub(crate) fn save(
    conn: &Connection,
    data_dir: &Path,
    tables: &[&Editable],
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let path = path(data_dir);
    private_file(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    with_attached(conn, &path, |conn| {
        in_transaction(conn, |conn| {
            for t in tables {
                // Every row is replaced, so the table is made anew: a store saved by an
                // older sqlmux (fewer columns) takes today's columns.
                conn.execute_batch(&format!(
                    "DROP TABLE IF EXISTS disk.{name}; CREATE TABLE disk.{name} ({ddl}) STRICT",
                    name = t.name,
                    ddl = t.ddl
                ))?;
                let columns = schema::column_list(t.columns);
                conn.execute(
                    &format!(
                        "INSERT INTO disk.{name} ({columns}) SELECT {columns} FROM main.{name}",
                        name = t.name
                    ),
                    [],
                )?;
            }
            Ok(())
        })
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Replaces `tables` of the in-memory store with their saved rows; tables the saved store
/// does not have are left alone. Returns the names of the tables read.
pub(crate) fn load(
    conn: &Connection,
    path: &Path,
    tables: &[&Editable],
) -> Result<Vec<&'static str>, String> {
    if !path.exists() {
        return Err(format!(
            "{} does not exist (SAVE ... TO DISK first)",
            path.display()
        ));
    }
    with_attached(conn, path, |conn| {
        in_transaction(conn, |conn| {
            let mut read = Vec::new();
            for t in tables {
                let saved: bool = conn.query_row(
                    "SELECT count(*) > 0 FROM disk.sqlite_master WHERE type = 'table' AND name = ?1",
                    [t.name],
                    |r| r.get(0),
                )?;
                if !saved {
                    continue;
                }
                // A store saved by an older sqlmux lacks newer columns: they take their
                // defaults.
                let saved_columns: Vec<String> = conn
                    .prepare("SELECT name FROM pragma_table_info(?1, 'disk')")?
                    .query_map([t.name], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let known: Vec<&str> = t
                    .columns
                    .iter()
                    .copied()
                    .filter(|c| saved_columns.iter().any(|s| s == c))
                    .collect();
                let columns = schema::column_list(&known);
                conn.execute(&format!("DELETE FROM main.{}", t.name), [])?;
                conn.execute(
                    &format!(
                        "INSERT INTO main.{name} ({columns}) SELECT {columns} FROM disk.{name}",
                        name = t.name
                    ),
                    [],
                )?;
                read.push(t.name);
            }
            Ok(read)
        })
    })
    .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_saved_by_an_older_sqlmux_loads_and_saves_with_todays_columns() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(path(dir.path())).unwrap();
        old.execute_batch(
            "CREATE TABLE clusters (name TEXT NOT NULL PRIMARY KEY, protocol TEXT NOT NULL, \
             writer_hostgroup INTEGER NOT NULL, reader_hostgroup INTEGER NOT NULL) STRICT; \
             INSERT INTO clusters VALUES ('shop', 'mysql', 10, 20);",
        )
        .unwrap();
        drop(old);
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&schema::create_all()).unwrap();
        let read = load(&conn, &path(dir.path()), &[&schema::CLUSTERS]).unwrap();
        assert_eq!(read, ["clusters"]);
        let row: (String, i64, Option<i64>) = conn
            .query_row(
                "SELECT name, reader_hostgroup, max_replication_lag_ms FROM clusters",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("shop".to_string(), 20, None));
        conn.execute("UPDATE clusters SET max_replication_lag_ms = 1500", [])
            .unwrap();
        save(&conn, dir.path(), &[&schema::CLUSTERS]).unwrap();
        conn.execute("DELETE FROM clusters", []).unwrap();
        load(&conn, &path(dir.path()), &[&schema::CLUSTERS]).unwrap();
        let lag: i64 = conn
            .query_row("SELECT max_replication_lag_ms FROM clusters", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(lag, 1500);
    }

    #[test]
    fn the_saved_store_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&schema::create_all()).unwrap();
        let saved = save(&conn, dir.path(), &[&schema::USERS]).unwrap();
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}
