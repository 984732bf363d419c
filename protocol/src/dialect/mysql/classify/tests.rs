use super::*;

crate::lex::tests::classify_tests!();

#[test]
fn plain_reads_and_writes() {
    for sql in [
        "SELECT 'INSERT INTO t VALUES (1)'",
        "SELECT 'INSERT'",
        "-- DELETE\nSELECT 1",
        "# DELETE\nSELECT 1",
        "(SELECT 1) UNION (SELECT 2)",
    ] {
        assert_eq!(
            (c(sql).kind, flags(sql)),
            (Kind::Select, Flags::empty()),
            "{sql}"
        );
    }
    check_flags(&[
        ("UPDATE t SET a = 1", Flags::WRITE),
        ("INSERT INTO t VALUES (1)", Flags::WRITE | Flags::MAY_INSERT),
        ("WITH c AS (SELECT 1) DELETE FROM t", Flags::WRITE),
    ]);
}

#[test]
fn locking_reads() {
    check_locking(
        &[
            "select * from t for share",
            "SELECT * FROM t FOR UPDATE NOWAIT",
            "SELECT * FROM t FOR UPDATE OF t SKIP LOCKED",
            "SELECT * FROM t LOCK IN SHARE MODE",
            "/*!50000 SELECT * FROM t FOR UPDATE */",
            "SELECT * FROM t /*!50000 FOR UPDATE */",
        ],
        &[
            "SELECT `for` FROM t",
            "SELECT * FROM t /* FOR UPDATE */",
            "SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'",
            "LOCK TABLES t READ",
            "CREATE TRIGGER x BEFORE UPDATE ON t FOR EACH ROW SET @a = 1",
        ],
    );
}

#[test]
fn select_into_and_user_vars() {
    let (into, read, write) = (
        Flags::SELECT_INTO,
        Flags::USER_VAR_READ,
        Flags::USER_VAR_WRITE,
    );
    check_flags(&[
        ("SELECT a, b INTO @x, @y FROM t", into | write),
        ("SELECT * INTO OUTFILE '/tmp/x' FROM t", into),
        ("SELECT 1 INTO DUMPFILE '/tmp/x'", into),
        ("SELECT a FROM t WHERE b = @x INTO @y", into | read | write),
        (
            "INSERT INTO t VALUES (@x)",
            Flags::WRITE | Flags::MAY_INSERT | read,
        ),
        ("SELECT @x", read),
        ("SELECT @`x`, @'y'", read),
        ("SELECT @x := 1", write),
        ("SELECT @r := @r + 1 FROM t", write | read),
        ("SET @a = 1", write),
        ("SET @a = 1, @b := @a", write | read),
        ("SET sql_mode = @m", read),
        ("SELECT 'a@b', `@c`", Flags::empty()),
        // An account name is no variable.
        ("CREATE USER 'u'@'localhost'", Flags::WRITE),
    ]);
    assert!(flags("EXECUTE s USING @a").contains(read));
    assert!(
        flags("LOAD DATA INFILE 'f' INTO TABLE t (a, @b) SET c = @b")
            .contains(write | read | Flags::MAY_INSERT)
    );
}

#[test]
fn session_functions() {
    let lii = Flags::LAST_INSERT_ID;
    check_flags(&[
        ("SELECT LAST_INSERT_ID()", lii),
        ("select last_insert_id ( )", lii),
        ("SELECT @@identity", lii),
        ("SELECT @@SESSION.last_insert_id", lii),
        ("SELECT @@global.identity", Flags::empty()),
        (
            "UPDATE t SET id = LAST_INSERT_ID(id + 1)",
            Flags::WRITE | lii | Flags::LAST_INSERT_ID_ARG,
        ),
        (
            "SELECT LAST_INSERT_ID(/* c */ 5)",
            lii | Flags::LAST_INSERT_ID_ARG,
        ),
        ("SELECT LAST_INSERT_ID(/* c */)", lii),
        ("SELECT last_insert_id", Flags::empty()),
        ("SELECT db.last_insert_id()", Flags::empty()),
        ("SELECT `last_insert_id`()", Flags::empty()),
        ("SELECT 'LAST_INSERT_ID()'", Flags::empty()),
        ("SELECT connection_id ()", Flags::CONNECTION_ID),
        ("SELECT db.connection_id()", Flags::empty()),
        ("SELECT ROW_COUNT()", Flags::ROW_COUNT),
        (
            "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1",
            Flags::CALC_FOUND_ROWS,
        ),
        ("SELECT FOUND_ROWS()", Flags::FOUND_ROWS),
        ("SELECT GET_LOCK('a', 10)", Flags::GET_LOCK),
        ("DO get_lock('a', 10)", Flags::GET_LOCK),
        ("SELECT RELEASE_LOCK('a')", Flags::RELEASE_LOCK),
        ("SELECT RELEASE_ALL_LOCKS()", Flags::RELEASE_ALL_LOCKS),
        ("SELECT @@warning_count", Flags::WARNINGS_READ),
        ("SELECT @@session.error_count", Flags::WARNINGS_READ),
    ]);
}

#[test]
fn set_flags() {
    check_flags(&[
        ("SET sql_log_bin = 0", Flags::SQL_LOG_BIN),
        ("SET SESSION SQL_LOG_BIN=1", Flags::SQL_LOG_BIN),
        ("SET @@session.sql_log_bin = 0", Flags::SQL_LOG_BIN),
        ("SELECT @@sql_log_bin", Flags::empty()),
        ("SET autocommit = 0", Flags::empty()),
    ]);
}

#[test]
fn definitions_do_not_run_their_bodies() {
    let r = c(
        "CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (LAST_INSERT_ID()); \
               SELECT GET_LOCK('x', 1) FOR UPDATE; END",
    );
    assert_eq!(
        (r.kind, r.statements, r.flags),
        (Kind::Ddl, 1, Flags::WRITE)
    );
    let r = c("BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID(); END");
    assert_eq!(
        (r.kind, r.statements, r.flags),
        (Kind::Other, 1, Flags::WRITE | Flags::LAST_INSERT_ID)
    );
}

#[test]
fn multi_statements() {
    let r = c("SELECT 1; INSERT INTO t VALUES (1);; UPDATE t SET a = 2;");
    assert_eq!(r.flags, Flags::WRITE | Flags::MAY_INSERT);
    assert_eq!(flags("/* only */ ; -- comments\n"), Flags::empty());
    assert_eq!(c("/*!40101 SET NAMES utf8 */;").kind, Kind::Set);
}

#[test]
fn hints() {
    let text = "SELECT 1 /* sqlmux:hostgroup=x */ /* sqlmux:hostgroup=6 */";
    assert_eq!(c(text).hint_hostgroup, Some(6));
}

#[test]
fn interesting_words() {
    for k in [
        Kw::FOR,
        Kw::LOCK,
        Kw::INTO,
        Kw::GET_LOCK,
        Kw::ROW_COUNT,
        Kw::FOUND_ROWS,
        Kw::RELEASE_LOCK,
        Kw::LAST_INSERT_ID,
        Kw::RELEASE_ALL_LOCKS,
        Kw::SQL_CALC_FOUND_ROWS,
    ] {
        assert_eq!(interesting(k.name().as_bytes()), Some(k));
        assert_eq!(interesting(k.name().to_lowercase().as_bytes()), Some(k));
    }
    for w in [&b"fox"[..], b"from", b"", b"f", b"\xff"] {
        assert_eq!(interesting(w), None);
    }
}

#[test]
fn sys_var_names() {
    for (name, scope, rest) in [
        (&b"@@x"[..], None, &b"x"[..]),
        (b"@@SESSION.x", Some(false), b"x"),
        (b"@@local.x", Some(false), b"x"),
        (b"@@Global.x", Some(true), b"x"),
        (b"@@persist_only.x", Some(true), b"x"),
        (
            b"@@default.key_buffer_size",
            None,
            b"default.key_buffer_size",
        ),
        (b"@@", None, b""),
        (b"@", None, b""),
    ] {
        assert_eq!(sys_var(name), (scope, rest));
    }
}
