//! psql's habits on the PostgreSQL admin port: `\dt`, `\d`, `\d TABLE` and `\l` send
//! queries of the PostgreSQL catalog, which the SQLite store does not have. The few queries
//! psql sends for them are recognized and answered from the store's own schema (a table's
//! oid is 16384 + its `sqlite_master` rowid); other catalog queries keep their clear error.

use super::{AdminError, Outcome};
use rusqlite::Connection;

/// The first oid of a table (PostgreSQL's first user oid).
const FIRST_OID: i64 = 16384;

/// A catalog query psql sends, as far as the answer needs to know.
#[derive(Debug, PartialEq)]
pub(crate) enum PsqlQuery {
    /// `\l`: the databases.
    Databases,
    /// `\dt`, `\d` (and `\dv`, ... where `tables` is false): relations whose name matches.
    Relations {
        /// Tables were asked for (`'r'` among the kinds).
        tables: bool,
        /// psql's anchored regular expression for a name pattern, if one was given.
        pattern: Option<String>,
    },
    /// `\d NAME`, first step: the oid of the relation named so.
    Lookup {
        /// psql's anchored regular expression.
        pattern: String,
    },
    /// `\d NAME`, second step: what kind of relation the oid is.
    Relation(i64),
    /// `\d NAME`, third step: its columns.
    Columns(i64),
    /// The footers of `\d NAME` (indexes, policies, publications, inheritance, ...): none.
    Footer,
}

/// The text between `start` and the next `end` in `s`, after the first `start`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// The oid in `... = '16385'`, after `marker`.
fn oid_after(s: &str, marker: &str) -> Option<i64> {
    between(s, marker, "'")?.parse().ok()
}

/// Recognizes psql's catalog queries in a statement normalized to lower case with single
/// spaces.
pub(crate) fn recognize(normalized: &str) -> Option<PsqlQuery> {
    let s = normalized;
    let name_pattern = || between(s, "c.relname operator(pg_catalog.~) '", "'").map(str::to_string);
    if s.contains("from pg_catalog.pg_database d") {
        return Some(PsqlQuery::Databases);
    }
    if s.starts_with("select c.oid, n.nspname, c.relname from pg_catalog.pg_class c") {
        return name_pattern().map(|pattern| PsqlQuery::Lookup { pattern });
    }
    if s.contains("from pg_catalog.pg_class c") && s.contains("pg_get_userbyid(c.relowner)") {
        let kinds = between(s, "c.relkind in (", ")").unwrap_or("");
        return Some(PsqlQuery::Relations {
            tables: kinds.contains("'r'"),
            pattern: name_pattern(),
        });
    }
    if s.starts_with("select c.relchecks, c.relkind") {
        return oid_after(s, "where c.oid = '").map(PsqlQuery::Relation);
    }
    if s.contains("from pg_catalog.pg_attribute a") && s.contains("a.attrelid = '") {
        return oid_after(s, "a.attrelid = '").map(PsqlQuery::Columns);
    }
    const FOOTERS: [&str; 8] = [
        "pg_catalog.pg_policy",
        "pg_catalog.pg_statistic_ext",
        "pg_catalog.pg_publication",
        "pg_catalog.pg_inherits",
        "pg_catalog.pg_trigger",
        "pg_catalog.pg_constraint",
        "pg_catalog.pg_index",
        "pg_catalog.pg_rewrite",
    ];
    FOOTERS
        .iter()
        .any(|f| s.contains(f))
        .then_some(PsqlQuery::Footer)
}

/// The store's tables: (oid, name), by name.
fn tables(conn: &Connection) -> Result<Vec<(i64, String)>, AdminError> {
    let mut stmt =
        conn.prepare("SELECT rowid, name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((FIRST_OID + r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether `name` matches psql's pattern (an anchored regular expression).
fn matches(pattern: Option<&str>, name: &str) -> bool {
    match pattern {
        None => true,
        Some(p) => regex::Regex::new(p).is_ok_and(|re| re.is_match(name)),
    }
}

fn rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Outcome {
    Outcome::Rows {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
    }
}

fn text(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// The answer to a recognized query; `user` owns everything, `database` is the only one.
pub(crate) fn answer(
    conn: &Connection,
    query: &PsqlQuery,
    user: &str,
    database: &str,
) -> Result<Outcome, AdminError> {
    Ok(match query {
        PsqlQuery::Databases => rows(
            &[
                "Name",
                "Owner",
                "Encoding",
                "Collate",
                "Ctype",
                "Access privileges",
            ],
            vec![vec![
                text(database),
                text(user),
                text("UTF8"),
                text("C"),
                text("C"),
                None,
            ]],
        ),
        PsqlQuery::Relations {
            tables: wanted,
            pattern,
        } => {
            let found = if *wanted { tables(conn)? } else { Vec::new() };
            rows(
                &["Schema", "Name", "Type", "Owner"],
                found
                    .into_iter()
                    .filter(|(_, name)| matches(pattern.as_deref(), name))
                    .map(|(_, name)| vec![text("main"), Some(name), text("table"), text(user)])
                    .collect(),
            )
        }
        PsqlQuery::Lookup { pattern } => rows(
            &["oid", "nspname", "relname"],
            tables(conn)?
                .into_iter()
                .filter(|(_, name)| matches(Some(pattern), name))
                .map(|(oid, name)| vec![Some(oid.to_string()), text("main"), Some(name)])
                .collect(),
        ),
        // The columns psql 15 reads, in its order: a plain table with nothing attached.
        PsqlQuery::Relation(oid) => relation(conn, *oid)?,
        PsqlQuery::Columns(oid) => columns(conn, *oid)?,
        PsqlQuery::Footer => rows(&["none"], Vec::new()),
    })
}

/// The columns psql 15 reads of relation `oid`, in its order: a plain table with nothing
/// attached (no row for an unknown oid).
fn relation(conn: &Connection, oid: i64) -> Result<Outcome, AdminError> {
    let known = tables(conn)?.iter().any(|(o, _)| *o == oid);
    Ok(rows(
        &[
            "relchecks",
            "relkind",
            "relhasindex",
            "relhasrules",
            "relhastriggers",
            "relrowsecurity",
            "relforcerowsecurity",
            "relhasoids",
            "relispartition",
            "reloptions",
            "reltablespace",
            "reloftype",
            "relpersistence",
            "relreplident",
            "amname",
        ],
        if known {
            vec![[
                "0", "r", "f", "f", "f", "f", "f", "f", "f", "", "0", "", "p", "d", "",
            ]
            .iter()
            .map(|v| text(v))
            .collect()]
        } else {
            Vec::new()
        },
    ))
}

/// The columns of the table `oid`, as psql's `\d TABLE` reads them.
fn columns(conn: &Connection, oid: i64) -> Result<Outcome, AdminError> {
    let Some((_, table)) = tables(conn)?.into_iter().find(|(o, _)| *o == oid) else {
        return Ok(rows(&["attname"], Vec::new()));
    };
    let mut stmt = conn.prepare(
        "SELECT name, lower(type), dflt_value, \"notnull\" FROM pragma_table_info(?1) \
         ORDER BY cid",
    )?;
    let columns = stmt
        .query_map([&table], |r| {
            Ok(vec![
                Some(r.get::<_, String>(0)?),
                Some(match r.get::<_, String>(1)? {
                    t if t.is_empty() => "any".to_string(),
                    t => t,
                }),
                r.get::<_, Option<String>>(2)?,
                text(if r.get::<_, i64>(3)? != 0 { "t" } else { "f" }),
                None,
                text(""),
                text(""),
            ])
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows(
        &[
            "attname",
            "format_type",
            "default",
            "attnotnull",
            "attcollation",
            "attidentity",
            "attgenerated",
        ],
        columns,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psqls_queries_are_recognized() {
        let dt = "select n.nspname as \"schema\", c.relname as \"name\" from pg_catalog.pg_class c left join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p','') and pg_catalog.pg_get_userbyid(c.relowner) as \"owner\"";
        assert_eq!(
            recognize(dt),
            Some(PsqlQuery::Relations {
                tables: true,
                pattern: None
            })
        );
        let lookup = "select c.oid, n.nspname, c.relname from pg_catalog.pg_class c left join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relname operator(pg_catalog.~) '^(servers)$' collate pg_catalog.default";
        assert_eq!(
            recognize(lookup),
            Some(PsqlQuery::Lookup {
                pattern: "^(servers)$".into()
            })
        );
        assert_eq!(
            recognize("select c.relchecks, c.relkind, c.relhasindex from pg_catalog.pg_class c where c.oid = '16390';"),
            Some(PsqlQuery::Relation(16390))
        );
        assert_eq!(
            recognize("select a.attname from pg_catalog.pg_attribute a where a.attrelid = '16390' and a.attnum > 0"),
            Some(PsqlQuery::Columns(16390))
        );
        assert_eq!(
            recognize("select d.datname as \"name\" from pg_catalog.pg_database d order by 1;"),
            Some(PsqlQuery::Databases)
        );
        assert_eq!(recognize("select * from pg_catalog.pg_stat_activity"), None);
    }
}
