//! Tests of `postgres`.

use super::*;

#[test]
fn statements_split_at_top_level_semicolons() {
    assert_eq!(
        split_statements("UPDATE servers SET weight = 7; LOAD SERVERS TO RUNTIME;"),
        ["UPDATE servers SET weight = 7", "LOAD SERVERS TO RUNTIME"]
    );
    assert_eq!(
        split_statements("SELECT ';' AS \"a;b\" -- c;d\n; /* x; /* y; */ z; */ SELECT 2"),
        ["SELECT ';' AS \"a;b\" -- c;d", "SELECT 2"]
    );
    assert_eq!(
        split_statements("SELECT 'it''s; ok'"),
        ["SELECT 'it''s; ok'"]
    );
    assert!(split_statements(" ;; -- only a comment\n /* and this */ ").is_empty());
    assert_eq!(split_statements("SELECT 'open; "), ["SELECT 'open;"]);
    assert_eq!(split_statements("-- c\nSHOW TABLES"), ["SHOW TABLES"]);
    // Multi-byte text is cut on character boundaries (only ASCII bytes split).
    assert_eq!(
        split_statements("SELECT 'é';SELECT 1"),
        ["SELECT 'é'", "SELECT 1"]
    );
}

#[test]
fn command_tags() {
    assert_eq!(command_tag("update servers set weight = 1", 2), "UPDATE 2");
    assert_eq!(command_tag("INSERT INTO users VALUES (1)", 1), "INSERT 0 1");
    assert_eq!(command_tag("DELETE FROM servers", 0), "DELETE 0");
    assert_eq!(command_tag("load servers to runtime", 0), "LOAD");
    assert_eq!(command_tag("SAVE ALL TO DISK", 0), "SAVE");
    assert_eq!(command_tag("SET NAMES utf8", 0), "SET");
    assert_eq!(command_tag("(weird)", 0), "OK");
}

#[test]
fn admin_errors_have_sqlstates() {
    assert_eq!(sqlstate(&AdminError::BadCommand("x".into())), "42601");
    assert_eq!(
        sqlstate(&AdminError::AccessDenied {
            user: "a".into(),
            host: "h".into(),
            using_password: true
        }),
        "28P01"
    );
    assert_eq!(sqlstate(&AdminError::Internal("x".into())), "XX000");
    assert_eq!(
        sqlstate(&AdminError::LoadRefused {
            what: "SERVERS",
            problem: "p".into()
        }),
        "22023"
    );
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let sql_state = |sql: &str| sqlstate(&AdminError::Sql(conn.execute(sql, []).unwrap_err()));
    assert_eq!(sql_state("SELEC 1"), "42601");
    assert_eq!(sql_state("SELECT * FROM nowhere"), "42P01");
    assert_eq!(sql_state("SELECT missing_column"), "42703");
}

#[test]
fn rows_are_text_columns_with_nulls() {
    let (description, rows) =
        encode_rows(&["a".into(), "b".into()], &[vec![Some("1".into()), None]]).unwrap();
    assert_eq!(description.fields.len(), 2);
    assert!(description.fields.iter().all(|f| f.type_id == TEXT_OID));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].field_count, 2);
    assert_eq!(
        &rows[0].data[..],
        &[0, 0, 0, 1, b'1', 0xff, 0xff, 0xff, 0xff]
    );
    assert!(encode_rows(&["a".into()], &[vec![]]).is_err());
}
