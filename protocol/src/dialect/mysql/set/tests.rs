//! Tests of `set`.

use super::*;

fn lit(s: &str) -> SetValue {
    SetValue::Literal(s.into())
}

fn session(name: &str, v: &str) -> SetItem {
    SetItem::Session {
        name: name.into(),
        value: lit(v),
    }
}

fn user(name: &str, v: &str) -> SetItem {
    SetItem::UserVar {
        name: name.into(),
        value: lit(v),
    }
}

fn global(name: &str) -> SetItem {
    SetItem::Global { name: name.into() }
}

fn set(sql: &str) -> Option<Vec<SetItem>> {
    parse_set(sql.as_bytes())
}

#[test]
fn session_variables() {
    for (sql, items) in [
        ("SET autocommit=0", vec![session("autocommit", "0")]),
        ("set AUTOCOMMIT = ON", vec![session("autocommit", "ON")]),
        (
            "SET @@session.sql_mode='ANSI', time_zone = '+00:00'",
            vec![
                session("sql_mode", "'ANSI'"),
                session("time_zone", "'+00:00'"),
            ],
        ),
        ("SET SESSION sql_mode = ''", vec![session("sql_mode", "''")]),
        (
            "SET LOCAL wait_timeout := 60",
            vec![session("wait_timeout", "60")],
        ),
        (
            "SET @@SQL_SELECT_LIMIT = DEFAULT",
            vec![SetItem::Session {
                name: "sql_select_limit".into(),
                value: SetValue::Default,
            }],
        ),
        ("SET @@local.x = -1", vec![session("x", "-1")]),
        ("SET x = - 1.5e3", vec![session("x", "-1.5e3")]),
        (
            "SET time_zone = SYSTEM",
            vec![session("time_zone", "SYSTEM")],
        ),
        (
            "SET time_zone = 'SYSTEM'",
            vec![session("time_zone", "'SYSTEM'")],
        ),
        (
            "SET tx_isolation = READ-COMMITTED",
            vec![session("tx_isolation", "READ-COMMITTED")],
        ),
        (
            "SET transaction_isolation = 'REPEATABLE-READ'",
            vec![session("transaction_isolation", "'REPEATABLE-READ'")],
        ),
        (
            "SET sql_mode = \"ANSI_QUOTES\"",
            vec![session("sql_mode", "\"ANSI_QUOTES\"")],
        ),
        ("SET x = NULL", vec![session("x", "NULL")]),
        ("SET x = true", vec![session("x", "true")]),
        ("SET x = 0x1F", vec![session("x", "0x1F")]),
        ("SET x = X'1F'", vec![session("x", "X'1F'")]),
        ("SET x = _utf8mb4'a'", vec![session("x", "_utf8mb4'a'")]),
        ("SET x = 'it''s'", vec![session("x", "'it''s'")]),
        ("SET `sql_mode` = ''", vec![session("sql_mode", "''")]),
        (
            "SET validate_password.length = 8",
            vec![session("validate_password.length", "8")],
        ),
        (
            "/* c */ SET character_set_client = utf8mb4 ; -- trailing\n",
            vec![session("character_set_client", "utf8mb4")],
        ),
        (
            "/*!40101 SET SQL_MODE='' */",
            vec![session("sql_mode", "''")],
        ),
        (
            "SET sql_log_bin = 0, foreign_key_checks = OFF",
            vec![
                session("sql_log_bin", "0"),
                session("foreign_key_checks", "OFF"),
            ],
        ),
    ] {
        assert_eq!(set(sql), Some(items), "{sql}");
    }
}

#[test]
fn scopes() {
    assert_eq!(
        set("SET GLOBAL max_connections = 10"),
        Some(vec![global("max_connections")])
    );
    assert_eq!(set("SET @@global.x = 1"), Some(vec![global("x")]));
    assert_eq!(set("SET PERSIST x = 1"), Some(vec![global("x")]));
    assert_eq!(set("SET @@persist_only.x = 1"), Some(vec![global("x")]));
    assert_eq!(
        set("SET GLOBAL a = 1, b = 2, SESSION c = 3, d = 4, @@global.e = 5, f = 6"),
        Some(vec![
            global("a"),
            global("b"),
            session("c", "3"),
            session("d", "4"),
            global("e"),
            session("f", "6"),
        ])
    );
    assert_eq!(
        set("SET GLOBAL a = 1, @@session.b = 2, @v = 3"),
        Some(vec![global("a"), session("b", "2"), user("v", "3")])
    );
    // A GLOBAL assignment's value is not kept, but it must still be a literal.
    assert_eq!(set("SET GLOBAL x = @@y"), None);
}

#[test]
fn user_variables() {
    assert_eq!(
        set("SET @a = 1, @b := 'x'"),
        Some(vec![user("a", "1"), user("b", "'x'")])
    );
    assert_eq!(set("SET @A = NULL"), Some(vec![user("a", "NULL")]));
    assert_eq!(set("SET @'My Var' = 2"), Some(vec![user("my var", "2")]));
    assert_eq!(set("SET @`b``q` = 2"), Some(vec![user("b`q", "2")]));
    assert_eq!(set("SET @\"d\" = -2"), Some(vec![user("d", "-2")]));
    assert_eq!(set("SET @x.y = 1"), Some(vec![user("x.y", "1")]));
    assert_eq!(set("SET @a = abc"), None);
    assert_eq!(set("SET @a = DEFAULT"), None);
    assert_eq!(set("SET @a = ON"), None);
}

#[test]
fn names_and_charsets() {
    assert_eq!(
        set("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"),
        Some(vec![SetItem::Names {
            charset: "utf8mb4".into(),
            collation: Some("utf8mb4_unicode_ci".into())
        }])
    );
    assert_eq!(
        set("SET NAMES 'UTF8MB4' collate 'utf8mb4_bin', autocommit = 1"),
        Some(vec![
            SetItem::Names {
                charset: "utf8mb4".into(),
                collation: Some("utf8mb4_bin".into())
            },
            session("autocommit", "1"),
        ])
    );
    assert_eq!(
        set("SET NAMES DEFAULT"),
        Some(vec![SetItem::Names {
            charset: "default".into(),
            collation: None
        }])
    );
    assert_eq!(
        set("SET NAMES latin1 COLLATE DEFAULT"),
        Some(vec![SetItem::Names {
            charset: "latin1".into(),
            collation: None
        }])
    );
    assert_eq!(
        set("SET CHARACTER SET utf8"),
        Some(vec![SetItem::CharacterSet {
            charset: "utf8".into()
        }])
    );
    assert_eq!(
        set("SET CHARSET 'latin1'"),
        Some(vec![SetItem::CharacterSet {
            charset: "latin1".into()
        }])
    );
    assert_eq!(set("SET NAMES"), None);
    assert_eq!(set("SET NAMES = utf8"), None);
    assert_eq!(set("SET NAMES utf8 COLLATE"), None);
    assert_eq!(set("SET NAMES 'a\\'b'"), None);
    assert_eq!(set("SET NAMES utf8 x"), None);
}

#[test]
fn transactions() {
    let tx = |isolation: Option<&str>, read_only, next_only| SetItem::Transaction {
        isolation: isolation.map(String::from),
        read_only,
        next_only,
    };
    for (sql, item) in [
        (
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            tx(Some("READ COMMITTED"), None, false),
        ),
        ("SET TRANSACTION READ ONLY", tx(None, Some(true), true)),
        ("set transaction read write", tx(None, Some(false), true)),
        (
            "SET TRANSACTION ISOLATION LEVEL serializable, READ ONLY",
            tx(Some("SERIALIZABLE"), Some(true), true),
        ),
        (
            "SET LOCAL TRANSACTION READ WRITE, ISOLATION LEVEL REPEATABLE READ",
            tx(Some("REPEATABLE READ"), Some(false), false),
        ),
        (
            "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;",
            tx(Some("READ UNCOMMITTED"), None, true),
        ),
    ] {
        assert_eq!(set(sql), Some(vec![item]), "{sql}");
    }
    assert_eq!(
        set("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"),
        Some(vec![
            global("transaction_isolation"),
            global("transaction_read_only")
        ])
    );
    for sql in [
        "SET TRANSACTION",
        "SET TRANSACTION ISOLATION LEVEL",
        "SET TRANSACTION ISOLATION LEVEL READ",
        "SET TRANSACTION ISOLATION LEVEL READ SOMETHING",
        "SET TRANSACTION READ",
        "SET TRANSACTION READ ONLY, autocommit = 1",
        "SET autocommit = 1, TRANSACTION READ ONLY",
    ] {
        assert_eq!(set(sql), None, "{sql}");
    }
}

#[test]
fn not_literal_or_not_assignments() {
    for sql in [
        "SET @a = (SELECT 1)",
        "SET sql_mode = CONCAT(@@sql_mode, ',X')",
        "SET @a = @b",
        "SET x = @@y",
        "SET x = 1 + 1",
        "SET x = y.z",
        "SET x = NOW()",
        "SET x = 'a' COLLATE utf8mb4_bin",
        "SET x = 'unterminated",
        "SET x = ?",
        "SET x",
        "SET x =",
        "SET = 1",
        "SET",
        "SET x = 1,",
        "SET x = 1; SELECT 1",
        "SET x = 1 SELECT",
        "SET PASSWORD = 'x'",
        "SET PASSWORD FOR u = 'x'",
        "SET ROLE r",
        "SET DEFAULT ROLE r TO u",
        "SET RESOURCE GROUP g",
        "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
        "SET @@ = 1",
        "SELECT 1",
        "",
    ] {
        assert_eq!(set(sql), None, "{sql}");
    }
}

#[test]
fn unquoting() {
    assert_eq!(unquote(b"'a''b'"), Some(b"a'b".to_vec()));
    assert_eq!(unquote(br"'a\nb\\'"), Some(b"a\nb\\".to_vec()));
    assert_eq!(unquote(b"`a``b`"), Some(b"a`b".to_vec()));
    assert_eq!(unquote(br"`a\b`"), Some(br"a\b".to_vec()));
    assert_eq!(unquote(b"'"), None);
    assert_eq!(unquote(b"'a"), None);
    assert_eq!(unquote(b""), None);
    assert_eq!(unquote(br"'a\'"), None);
}
