//! What a completed statement changes in the session: tracked parameters (SET/RESET),
//! SQL-level prepared statements, pins and their release, DISCARD ALL; and the end of an
//! answer: transaction status, re-reads at transaction end, giving the backend back.

use super::super::error::SessionError;
use super::simple::Effect;
use super::{vars, Session};
use crate::session::PinReason;
use sqlmux_protocol::dialect::postgres::{self, Flags, Kind};
use std::sync::Arc;

impl Session {
    /// After an answer: apply completed statements' effects, follow the transaction
    /// status, release pins that ended, give the backend back when nothing holds it.
    pub(super) async fn after(
        &mut self,
        mut outcome: super::relay::Outcome,
        effects: &[Effect],
    ) -> Result<(), SessionError> {
        let in_tx = self.tx_status != b'I' || outcome.status.is_some_and(|s| s != b'I');
        let mut recheck = Flags::empty();
        for i in &outcome.completed {
            if let Some(e) = effects.get(*i) {
                recheck = Flags(recheck.0 | self.apply_effect(e, in_tx).0);
            }
        }
        // The next answer reuses the vector.
        outcome.completed.clear();
        self.spare_completed = std::mem::take(&mut outcome.completed);
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
        if let Some(lease) = self.held.lease.as_mut() {
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
            for (kind, range) in postgres::statements(&e.sql) {
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
            self.shared.pg.seq_candidates.clear();
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
        let Some(cmd) = postgres::parse_set(sql) else {
            self.pin(PinReason::UntrackedState);
            return;
        };
        if in_tx {
            if let postgres::SetCommand::Set {
                local: false, name, ..
            }
            | postgres::SetCommand::Reset { name } = &cmd
            {
                self.tx_vars.push(name.clone());
            }
        }
        vars::apply(Arc::make_mut(&mut self.vars), &self.startup_vars, &cmd);
        if let Some(lease) = self.held.lease.as_mut() {
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
        let name = postgres::statement_object(&e.sql);
        let conn = self.held.lease.as_mut().map(|l| l.conn());
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
        if let Some(lease) = self.held.lease.as_mut() {
            lease.conn().forget_session_state();
        }
    }

    /// A transaction that ran SET ended (committed or not): read what the values are now.
    async fn resync_tx_vars(&mut self) -> Result<(), SessionError> {
        let names = std::mem::take(&mut self.tx_vars);
        let Some(lease) = self.held.lease.as_mut() else {
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
                    Arc::make_mut(&mut self.vars).insert(name, vars::literal(&v));
                }
                None => {
                    Arc::make_mut(&mut self.vars).remove(&name);
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
            let Some(lease) = self.held.lease.as_mut() else {
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
