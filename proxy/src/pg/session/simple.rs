//! The simple query protocol, and what a completed statement changes in the session:
//! tracked parameters, SQL-level prepared statements, pins and their release.

use super::super::error::SessionError;
use super::relay::{Expect, Step};
use super::{vars, Session};
use crate::router::StatementFacts;
use crate::session::PinReason;
use bytes::BytesMut;
use sqlmux_protocol::pg::backend as msg;
use sqlmux_protocol::pg::frame::Message;
use sqlmux_protocol::pg::frontend as fe;
use sqlmux_protocol::pgsql::{self, Classification, Flags, Kind};
use std::collections::VecDeque;
use std::sync::Arc;

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

impl Session {
    /// A Query message: borrow a backend, relay the answer, track what changed.
    pub(super) async fn simple_query(&mut self, m: Message) -> Result<(), SessionError> {
        let sql = fe::query_text(m.body())?;
        let class = pgsql::classify(sql);
        if let Some(local) = self.check_sql_prepared(sql, &class) {
            return self.reply_error(local.0, &local.1).await;
        }
        let (rewritten, native_read) = if class.flags.contains(Flags::SEQUENCE_READ) {
            self.seq.rewrite(sql, self.seq.tx_native)
        } else {
            (None, false)
        };
        let hostgroup = if self.backend.is_none() {
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
        let mut steps = VecDeque::with_capacity(1);
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
        self.count_statement(hostgroup, &effect.sql, started, outcome.bytes);
        self.after(outcome, vec![effect]).await
    }

    /// A FunctionCall: relayed to the writer (or the held backend).
    pub(super) async fn function_call(&mut self, m: Message) -> Result<(), SessionError> {
        let hostgroup = self.cluster()?.writer_hostgroup;
        self.acquire(hostgroup).await?;
        self.send_to_backend(&m.raw).await?;
        let outcome = self
            .relay(VecDeque::from([Step::Forward(Expect::Query {
                effect: None,
            })]))
            .await?;
        self.after(outcome, Vec::new()).await
    }

    /// Counts a statement in the proxy's and its server's statistics.
    pub(super) fn count_statement(
        &self,
        hostgroup: u32,
        sql: &[u8],
        started: std::time::Instant,
        bytes: u64,
    ) {
        let stats = &self.shared.stats;
        let micros = started.elapsed().as_micros() as u64;
        stats.statement(
            hostgroup,
            &self.user_name,
            pgsql::digest_hash(sql),
            sql,
            micros,
            0,
        );
        stats.relayed(bytes);
        if let Some(lease) = &self.backend {
            lease.server_stats().statement(bytes, micros);
        }
    }

    /// Writes bytes to the held backend.
    pub(super) async fn send_to_backend(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let Some(lease) = self.backend.as_mut() else {
            return Err(SessionError::NoCluster(self.user.name.clone()));
        };
        let address = lease.address().to_string();
        lease
            .conn()
            .conn
            .send(bytes)
            .await
            .map_err(|e| SessionError::Backend {
                address,
                source: e.into(),
            })
    }

    /// An ErrorResponse sqlmux makes for a statement it refuses, then ReadyForQuery.
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
        let name = pgsql::statement_object(sql);
        match (class.kind, name) {
            (Kind::Prepare, Some(n)) if self.sql_prepared.contains_key(&n) => Some((
                "42P05",
                format!("prepared statement \"{n}\" already exists"),
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
        let Some(name) = pgsql::statement_object(sql) else {
            return Ok(());
        };
        let want = self.sql_prepared.get(&name).cloned();
        let Some(lease) = self.backend.as_mut() else {
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

    /// After an answer: apply completed statements' effects, follow the transaction
    /// status, release pins that ended, give the backend back when nothing holds it.
    pub(super) async fn after(
        &mut self,
        outcome: super::relay::Outcome,
        effects: Vec<Effect>,
    ) -> Result<(), SessionError> {
        let in_tx = self.tx_status != b'I' || outcome.status.is_some_and(|s| s != b'I');
        let mut recheck = Flags::empty();
        for i in &outcome.completed {
            if let Some(e) = effects.get(*i) {
                recheck = Flags(recheck.0 | self.apply_effect(e, in_tx).0);
            }
        }
        if let Some(status) = outcome.status {
            let ended = self.tx_status != b'I' && status == b'I';
            self.tx_status = status;
            self.pins.set(PinReason::Transaction, status != b'I');
            if status == b'I' {
                self.pins.set(PinReason::PendingSync, false);
                self.capture_after_transaction().await?;
                if ended && !self.tx_vars.is_empty() {
                    self.resync_tx_vars().await?;
                }
                if ended || !recheck.is_empty() {
                    self.recheck_pins(ended, recheck).await?;
                }
            }
        }
        if let Some(lease) = self.backend.as_mut() {
            if self.pins.has(PinReason::UntrackedState) {
                lease.conn().dirty = true;
            }
        }
        self.release_if_unpinned().await;
        Ok(())
    }

    /// Applies one completed statement; returns flags of pins that may have ended.
    fn apply_effect(&mut self, e: &Effect, in_tx: bool) -> Flags {
        let f = e.class.flags;
        let single = e.class.statements == 1;
        if single {
            if matches!(e.class.kind, Kind::Set | Kind::Reset) {
                self.track_set(&e.sql, in_tx);
            }
        } else {
            for (kind, range) in pgsql::statements(&e.sql) {
                match kind {
                    Kind::Set | Kind::Reset => self.track_set(&e.sql[range], in_tx),
                    // Several statements in one Query: not tracked.
                    Kind::Prepare | Kind::Deallocate => self.pin(PinReason::UntrackedState),
                    _ => {}
                }
            }
        }
        if single {
            self.track_sql_prepared(e);
        }
        if e.class.kind == Kind::Ddl {
            // A table's sequences may have changed.
            self.shared.pg_seq_candidates.clear();
        }
        if f.contains(Flags::DISCARD_ALL) {
            self.discarded_all();
            return Flags::empty();
        }
        if f.contains(Flags::SESSION_CHANGE) {
            self.pin(PinReason::UntrackedState);
        }
        if f.contains(Flags::LISTEN) {
            self.pin(PinReason::Listen);
        }
        if f.contains(Flags::UNLISTEN_ALL) {
            self.pins.set(PinReason::Listen, false);
        }
        if f.contains(Flags::ADVISORY_LOCK) {
            self.pin(PinReason::AdvisoryLock);
        }
        if f.contains(Flags::ADVISORY_UNLOCK_ALL) {
            self.pins.set(PinReason::AdvisoryLock, false);
        }
        if f.contains(Flags::TEMP_OBJECT) {
            self.pin(PinReason::TemporaryTable);
        }
        if f.contains(Flags::WITH_HOLD) {
            self.pin(PinReason::Cursor);
        }
        let mut recheck = Flags(
            f.0 & (Flags::UNLISTEN.0
                | Flags::ADVISORY_UNLOCK.0
                | Flags::DROP_TABLE.0
                | Flags::DISCARD_TEMP.0
                | Flags::CLOSE_ALL.0),
        );
        if e.class.kind == Kind::Close {
            recheck = Flags(recheck.0 | Flags::CLOSE_ALL.0);
        }
        recheck
    }

    /// A completed SET or RESET: the session's parameters follow it (pinned when sqlmux
    /// cannot parse it).
    fn track_set(&mut self, sql: &[u8], in_tx: bool) {
        let Some(cmd) = pgsql::parse_set(sql) else {
            self.pin(PinReason::UntrackedState);
            return;
        };
        if in_tx {
            if let pgsql::SetCommand::Set {
                local: false, name, ..
            }
            | pgsql::SetCommand::Reset { name } = &cmd
            {
                self.tx_vars.push(name.clone());
            }
        }
        vars::apply(&mut self.vars, &self.startup_vars, &cmd);
        if let Some(lease) = self.backend.as_mut() {
            lease.conn().vars = self.vars.clone();
        }
    }

    fn pin(&mut self, reason: PinReason) {
        if !self.pins.has(reason) {
            self.shared.stats.pin(reason.as_str());
        }
        self.pins.set(reason, true);
    }

    /// PREPARE / DEALLOCATE that completed: the session's and the backend's lists.
    fn track_sql_prepared(&mut self, e: &Effect) {
        if !matches!(e.class.kind, Kind::Prepare | Kind::Deallocate) {
            return;
        }
        let name = pgsql::statement_object(&e.sql);
        let conn = self.backend.as_mut().map(|l| l.conn());
        match (e.class.kind, name) {
            (Kind::Prepare, Some(n)) => {
                let text: Arc<str> =
                    Arc::from(String::from_utf8_lossy(&e.sql).trim_end_matches([';', ' ', '\n']));
                self.sql_prepared.insert(n.clone(), text.clone());
                if let Some(c) = conn {
                    c.sql_prepared.insert(n, text);
                }
            }
            (Kind::Deallocate, Some(n)) => {
                self.sql_prepared.remove(&n);
                if let Some(c) = conn {
                    c.sql_prepared.remove(&n);
                }
            }
            (Kind::Deallocate, None) => {
                self.sql_prepared.clear();
                self.statements.clear();
                if let Some(c) = conn {
                    c.sql_prepared.clear();
                    c.statements.clear();
                }
            }
            _ => {}
        }
    }

    /// DISCARD ALL completed: the session starts over from its startup parameters.
    fn discarded_all(&mut self) {
        self.vars = self.startup_vars.clone();
        self.statements.clear();
        self.sql_prepared.clear();
        self.unnamed = None;
        let transaction = self.pins.has(PinReason::Transaction);
        self.pins.reset();
        self.pins.set(PinReason::Transaction, transaction);
        if let Some(lease) = self.backend.as_mut() {
            lease.conn().forget_session_state();
        }
    }

    /// A transaction that ran SET ended (committed or not): read what the values are now.
    async fn resync_tx_vars(&mut self) -> Result<(), SessionError> {
        let names = std::mem::take(&mut self.tx_vars);
        let Some(lease) = self.backend.as_mut() else {
            return Ok(());
        };
        let address = lease.address().to_string();
        let conn = lease.conn();
        for name in names {
            let q = format!("SELECT current_setting({}, true)", vars::literal(&name));
            let value = conn
                .simple(&q)
                .await
                .map_err(|source| SessionError::Backend {
                    address: address.clone(),
                    source,
                })?;
            match value {
                Some(v) => {
                    self.vars.insert(name, vars::literal(&v));
                }
                None => {
                    self.vars.remove(&name);
                }
            }
        }
        conn.vars = self.vars.clone();
        Ok(())
    }

    /// Asks the backend whether pins that may have ended still hold.
    async fn recheck_pins(&mut self, tx_ended: bool, flags: Flags) -> Result<(), SessionError> {
        let checks: [(PinReason, Flags, &str); 4] = [
            (PinReason::Listen, Flags::UNLISTEN, "SELECT count(*) FROM pg_listening_channels()"),
            (
                PinReason::AdvisoryLock,
                Flags::ADVISORY_UNLOCK,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            ),
            (
                PinReason::TemporaryTable,
                Flags(Flags::DROP_TABLE.0 | Flags::DISCARD_TEMP.0),
                "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()",
            ),
            (PinReason::Cursor, Flags::CLOSE_ALL, "SELECT count(*) FROM pg_cursors WHERE is_holdable"),
        ];
        for (reason, release, sql) in checks {
            if !self.pins.has(reason) || !(tx_ended || flags.intersects(release)) {
                continue;
            }
            let Some(lease) = self.backend.as_mut() else {
                return Ok(());
            };
            let address = lease.address().to_string();
            let count = lease
                .conn()
                .simple(sql)
                .await
                .map_err(|source| SessionError::Backend { address, source })?;
            if count.as_deref() == Some("0") {
                self.pins.set(reason, false);
            }
        }
        Ok(())
    }
}
