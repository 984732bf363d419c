//! The simple query protocol (and FunctionCall): route, borrow, relay; SQL-level
//! PREPARE/EXECUTE checks; routing facts shared with the extended protocol.

use super::super::error::SessionError;
use super::relay::{Expect, Step};
use super::Session;
use crate::router::StatementFacts;
use crate::session::{LostAnswer, TxStatement};
use bytes::BytesMut;
use sqlmux_protocol::dialect::postgres::{self, Classification, Flags, Kind};
use sqlmux_protocol::postgres::backend as msg;
use sqlmux_protocol::postgres::frame::Message;
use sqlmux_protocol::postgres::frontend as fe;

/// A statement whose effect on the session applies once it completes.
pub(super) struct Effect {
    /// The lexer's view.
    pub class: Classification,
    /// The text.
    pub sql: bytes::Bytes,
}

/// Flags that keep a statement off the readers.
const NOT_READ: Flags = Flags(
    Flags::WRITE.0
        | Flags::LOCKING_READ.0
        | Flags::VOLATILE.0
        | Flags::NEXTVAL.0
        | Flags::ADVISORY_LOCK.0
        | Flags::ADVISORY_UNLOCK.0
        | Flags::ADVISORY_UNLOCK_ALL.0
        | Flags::TEMP_OBJECT.0
        | Flags::LISTEN.0
        | Flags::WITH_HOLD.0
        | Flags::SESSION_CHANGE.0,
);

/// Whether a statement only reads and may run on a hot standby.
pub(super) fn plain_read(class: &Classification) -> bool {
    let read_kind = matches!(class.kind, Kind::Select | Kind::Show | Kind::Explain)
        || (class.kind == Kind::Begin && class.flags.contains(Flags::READ_ONLY));
    read_kind && !class.flags.intersects(NOT_READ)
}

/// Routing facts of a statement.
pub(super) fn facts(class: &Classification) -> StatementFacts {
    StatementFacts {
        hint_hostgroup: class.hint_hostgroup,
        plain_read: plain_read(class),
    }
}

/// Why a statement turning `standard_conforming_strings` off is refused.
pub(super) const NONSTANDARD_STRINGS: &str = "sqlmux: standard_conforming_strings = off is not supported (sqlmux reads statements as the server does with it on)";

/// Whether a statement may turn `standard_conforming_strings` off (a SET, several
/// statements, or a session change such as `set_config`; then the text is looked at).
pub(super) fn turns_off_standard_strings(sql: &[u8], class: &Classification) -> bool {
    (class.kind == Kind::Set || class.statements > 1 || class.flags.contains(Flags::SESSION_CHANGE))
        && postgres::turns_off_standard_strings(sql)
}

impl Session {
    /// A Query message: borrow a backend, relay the answer, track what changed.
    pub(super) async fn simple_query(&mut self, m: Message) -> Result<(), SessionError> {
        let sql = fe::query_text(m.body())?;
        let (class, digest) =
            self.memo
                .class_and_digest(sql, postgres::classify, postgres::digest_hash);
        let statement = match (class.kind, class.statements == 1) {
            (Kind::Commit, true) => TxStatement::Commit,
            (Kind::Rollback, true) => TxStatement::Rollback,
            _ => TxStatement::Other,
        };
        // (A backend closed by the topology is reported first, by `acquire`.)
        if self.lost_tx.is_lost() && self.held.lost.is_none() {
            return self.answer_lost(statement).await;
        }
        if crate::session::tx_end::ends_nothing(statement, self.held.lease.is_some(), sql) {
            return self.answer_no_transaction(statement).await;
        }
        if let Some(local) = self.check_sql_prepared(sql, &class) {
            return self.reply_error(local.0, &local.1).await;
        }
        if turns_off_standard_strings(sql, &class) {
            return self.reply_error("0A000", NONSTANDARD_STRINGS).await;
        }
        let (rewritten, native_read) = if class.flags.contains(Flags::SEQUENCE_READ) {
            self.seq.rewrite(sql, self.seq.tx_native)
        } else {
            (None, false)
        };
        let hostgroup = if self.held.lease.is_none() {
            self.route(sql, facts(&class))?
        } else {
            0
        };
        self.acquire(hostgroup).await?;
        self.prepare_sql_statement(sql, &class).await?;
        let text = m.raw.slice(5..5 + sql.len());
        let autocommit =
            self.tx_status == b'I' && class.statements == 1 && class.kind != Kind::Begin;
        let seq_plan = self
            .plan_sequences(
                std::slice::from_ref(&text),
                &[class],
                native_read,
                autocommit,
            )
            .await?;
        let effect = Effect { class, sql: text };
        let started = std::time::Instant::now();
        let mut steps = self.take_steps();
        if seq_plan.is_empty() && rewritten.is_none() {
            // The common case: the client's message as it came.
            steps.push_back(Step::Forward(Expect::Query { effect: Some(0) }));
            self.send_to_backend(&m.raw).await?;
        } else {
            let mut out = BytesMut::new();
            seq_plan.prelude(&mut out, &mut steps);
            match &rewritten {
                Some(t) => out.extend_from_slice(&fe::query_bytes(t)),
                None => out.extend_from_slice(&m.raw),
            }
            steps.push_back(Step::Forward(Expect::Query { effect: Some(0) }));
            seq_plan.epilogue(&mut out, &mut steps);
            self.send_to_backend(&out).await?;
        }
        let outcome = self.relay(steps).await?;
        self.absorb_captures(&seq_plan, &outcome.captured);
        self.count_statement(hostgroup, &effect.sql, digest, started, outcome.bytes);
        self.after(outcome, std::slice::from_ref(&effect)).await
    }

    /// A FunctionCall: relayed to the writer (or the held backend).
    pub(super) async fn function_call(&mut self, m: Message) -> Result<(), SessionError> {
        let hostgroup = self.cluster()?.writer_hostgroup;
        self.acquire(hostgroup).await?;
        self.send_to_backend(&m.raw).await?;
        let mut steps = self.take_steps();
        steps.push_back(Step::Forward(Expect::Query { effect: None }));
        let outcome = self.relay(steps).await?;
        self.after(outcome, &[]).await
    }

    /// Counts a statement in the proxy's and its server's statistics.
    pub(super) fn count_statement(
        &self,
        hostgroup: u32,
        sql: &[u8],
        digest: u64,
        started: std::time::Instant,
        bytes: u64,
    ) {
        let stats = &self.shared.stats;
        let micros = started.elapsed().as_micros() as u64;
        stats.statement(crate::stats::Statement {
            hostgroup,
            user: self.partition.user(),
            digest,
            sql,
            micros,
            rows: 0,
            started,
            digest_text: postgres::digest,
            max_digests: self.shared.runtime.load().stats.max_digests,
        });
        stats.relayed(bytes);
        if let Some(lease) = &self.held.lease {
            lease.server_stats().statement(bytes, micros);
        }
    }

    /// Writes bytes to the held backend.
    pub(super) async fn send_to_backend(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let lease = self.held.leased()?;
        let (conn, address) = lease.conn_and_address();
        conn.conn
            .send(bytes)
            .await
            .map_err(|e| SessionError::Backend {
                address: address.to_string(),
                source: e.into(),
            })
    }

    /// An ErrorResponse sqlmux makes for a statement it refuses, then ReadyForQuery.
    /// A request while the session's transaction is lost with its backend, as a server
    /// answers in a failed transaction: refused with 25P02 (ReadyForQuery 'E'); COMMIT and
    /// ROLLBACK end it with "ROLLBACK".
    pub(super) async fn answer_lost(&mut self, statement: TxStatement) -> Result<(), SessionError> {
        match self.lost_tx.answer(statement) {
            LostAnswer::Serve => Ok(()),
            LostAnswer::Refuse { address } => {
                self.tx_status = b'E';
                Err(SessionError::TransactionLost(address))
            }
            LostAnswer::Ended { .. } => {
                self.tx_status = b'I';
                self.client.queue(&msg::command_complete("ROLLBACK"));
                self.client.queue(&msg::ready_for_query(b'I'));
                self.client.flush().await.map_err(SessionError::Client)
            }
        }
    }

    /// COMMIT or ROLLBACK with no transaction open: what the server answers.
    async fn answer_no_transaction(&mut self, statement: TxStatement) -> Result<(), SessionError> {
        let tag = if statement == TxStatement::Commit {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        self.client.queue(&msg::notice_response(
            "WARNING",
            "25P01",
            "there is no transaction in progress",
        ));
        self.client.queue(&msg::command_complete(tag));
        self.client.queue(&msg::ready_for_query(b'I'));
        self.client.flush().await.map_err(SessionError::Client)
    }

    pub(super) async fn reply_error(&mut self, code: &str, text: &str) -> Result<(), SessionError> {
        self.client.queue(&msg::error_response("ERROR", code, text));
        let status = if self.tx_status == b'T' {
            b'E'
        } else {
            self.tx_status
        };
        self.tx_status = status;
        self.client.queue(&msg::ready_for_query(status));
        self.client.flush().await.map_err(SessionError::Client)
    }

    /// SQL-level PREPARE/EXECUTE/DEALLOCATE checks against the session's own statements
    /// (a pooled backend may not have them, or have another session's under that name).
    fn check_sql_prepared(
        &self,
        sql: &[u8],
        class: &Classification,
    ) -> Option<(&'static str, String)> {
        if class.statements != 1
            || !matches!(class.kind, Kind::Prepare | Kind::Execute | Kind::Deallocate)
        {
            return None;
        }
        let name = postgres::statement_object(sql);
        match (class.kind, name) {
            (Kind::Prepare, Some(n)) if self.sql_prepared.contains_key(&n) => Some((
                "42P05",
                format!("prepared statement \"{n}\" already exists"),
            )),
            (Kind::Prepare, Some(_)) if self.sql_prepared.len() >= self.shared.runtime.load().postgres.max_session_statements => Some((
                "54000",
                format!("sqlmux: the session holds {} prepared statements already (postgres.max_session_statements); DEALLOCATE some first", self.sql_prepared.len()),
            )),
            (Kind::Execute | Kind::Deallocate, Some(n)) if !self.sql_prepared.contains_key(&n) => {
                Some((
                    "26000",
                    format!("prepared statement \"{n}\" does not exist"),
                ))
            }
            _ => None,
        }
    }

    /// Before PREPARE: frees the name on the backend. Before EXECUTE/DEALLOCATE: prepares the
    /// session's statement on the backend when it lacks it.
    async fn prepare_sql_statement(
        &mut self,
        sql: &[u8],
        class: &Classification,
    ) -> Result<(), SessionError> {
        if class.statements != 1
            || !matches!(class.kind, Kind::Prepare | Kind::Execute | Kind::Deallocate)
        {
            return Ok(());
        }
        let Some(name) = postgres::statement_object(sql) else {
            return Ok(());
        };
        let want = self.sql_prepared.get(&name).cloned();
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(());
        };
        let address = lease.address().to_string();
        let conn = lease.conn();
        let have = conn.sql_prepared.get(&name).cloned();
        let result = async {
            match class.kind {
                Kind::Prepare if have.is_some() => {
                    conn.simple(&format!("DEALLOCATE \"{}\"", name.replace('"', "\"\"")))
                        .await?;
                    conn.sql_prepared.remove(&name);
                }
                Kind::Execute | Kind::Deallocate if want.is_some() && have != want => {
                    if have.is_some() {
                        conn.simple(&format!("DEALLOCATE \"{}\"", name.replace('"', "\"\"")))
                            .await?;
                    }
                    if let Some(text) = &want {
                        conn.simple(text).await?;
                        conn.sql_prepared.insert(name.clone(), text.clone());
                    }
                }
                _ => {}
            }
            Ok(())
        }
        .await;
        result.map_err(|e| match e {
            super::super::backend::BackendError::Server(f) => SessionError::Replay(f),
            source => SessionError::Backend { address, source },
        })
    }
}
