//! COM_QUERY: answered locally when sqlmux knows the answer (LAST_INSERT_ID, ROW_COUNT),
//! otherwise routed, run on a borrowed backend, and the pins it starts or ends recorded.

use super::super::error::SessionError;
use super::super::local::{single_integer, ClientStyle};
use super::execute::{FollowUp, Needs, Outcome};
use super::Session;
use crate::router::{self, RouteContext};
use crate::session::{LostAnswer, PinReason, TxStatement};

/// sqlmux's error code for a statement in a transaction lost with its backend.
pub(super) const LOST_TRANSACTION: u16 = 9002;
use sqlmux_protocol::dialect::mysql::{
    self, Classification, Flags, Kind, LocalQuery, SetItem, SetValue,
};
use sqlmux_protocol::mysql::constants::mariadb;
use sqlmux_protocol::mysql::packet::{encode, Frame};
use sqlmux_protocol::mysql::scanner::Expect;
use std::borrow::Cow;
use std::time::Instant;

impl Session {
    /// Handles one COM_QUERY.
    pub(super) async fn query(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let started = Instant::now();
        let pins_before = self.pins.clone();
        let payload = frame.payload();
        let sql_text = &payload[1..];
        let class = self.memo.class(sql_text, mysql::classify);
        let statement = match (class.kind, class.statements <= 1) {
            (Kind::Commit, true) => TxStatement::Commit,
            (Kind::Rollback, true) => TxStatement::Rollback,
            _ => TxStatement::Other,
        };
        // (A backend closed by the topology is reported first, by `acquire`.)
        if self.lost_tx.is_lost() && self.held.lost.is_none() {
            return self
                .answer_lost(statement, frame.last_seq.wrapping_add(1))
                .await;
        }
        if crate::session::tx_end::ends_nothing(statement, self.held.lease.is_some(), sql_text) {
            // In autocommit with no transaction open, the server answers a plain OK.
            return self
                .send_ok(frame.last_seq.wrapping_add(1))
                .await
                .map_err(SessionError::Client);
        }
        // Only statements that name LAST_INSERT_ID / ROW_COUNT can be answered locally:
        // the flag check spares every other statement a second lexing pass.
        let functions =
            Flags(Flags::LAST_INSERT_ID.0 | Flags::ROW_COUNT.0 | Flags::CONNECTION_ID.0);
        if class.statements <= 1 && class.flags.intersects(functions) {
            if let Some(local) = mysql::local_query(sql_text) {
                return self
                    .answer_locally(local, frame.last_seq.wrapping_add(1))
                    .await;
            }
        }
        if class.kind == Kind::Other && class.statements <= 1 {
            if let Some(kill) = mysql::parse_kill(sql_text) {
                return self.kill(kill, frame.last_seq.wrapping_add(1)).await;
            }
        }
        let set_items = if class.kind == Kind::Set && class.statements <= 1 {
            mysql::parse_set(sql_text)
        } else {
            None
        };
        if class.kind == Kind::Set && set_items.is_none() {
            self.pins.set(PinReason::UnknownSet, true);
        }
        if let Some(items) = &set_items {
            self.before_set(items);
        }
        let rewritten = if class.flags.intersects(functions) {
            mysql::replace_session_functions(
                sql_text,
                self.state.last_insert_id,
                self.state.row_count,
                self.id,
            )
        } else {
            None
        };
        let packet: Cow<'_, [u8]> = match &rewritten {
            Some(text) => {
                let mut p = Vec::with_capacity(text.len() + 1);
                p.push(0x03);
                p.extend_from_slice(text);
                Cow::Owned(encode(0, &p).to_vec())
            }
            None => Cow::Borrowed(&frame.raw),
        };
        let hostgroup = self.route(sql_text, &class)?;
        let (needs, follow_up) = needs_of(&class);
        self.acquire(hostgroup, needs, class.flags.contains(Flags::WARNINGS_READ))
            .await?;
        let tracking_change = (class.kind == Kind::Set || class.statements > 1)
            && mentions(sql_text, b"session_track_");
        if tracking_change {
            self.widen_client_tracking(set_items.as_deref());
        }
        let outcome = self.run_command(&packet, Expect::Query, follow_up).await?;
        if tracking_change {
            self.follow_client_tracking(sql_text).await?;
        }
        let explained = self.after_statement(&class, set_items.as_deref(), &outcome);
        self.finish(&outcome, explained);
        self.record_statement(hostgroup, sql_text, started, &outcome, &pins_before);
        Ok(())
    }

    /// Where a statement goes when no pin decides.
    pub(super) fn route(
        &self,
        sql_text: &[u8],
        class: &Classification,
    ) -> Result<u32, SessionError> {
        let rt = self.shared.runtime.load();
        let topology = self.shared.topology.load();
        let cluster = rt
            .cluster(&self.user.cluster)
            .ok_or_else(|| SessionError::NoCluster(self.user.name.clone()))?;
        // A read within the read-your-writes window goes to the writer, unless the writer is
        // held: reads are never queued behind writes, so it goes to a usable reader then.
        let read_your_writes = self
            .user
            .read_your_writes
            .zip(self.state.last_write)
            .is_some_and(|(window, at)| at.elapsed() < window)
            && self.writer_usable_or_no_reader(&topology, cluster);
        // With autocommit off every statement opens a transaction: all go to the writer
        // (a read would open it on a reader, and the writes after it would fail there).
        let recent_write = self.autocommit_off() || read_your_writes;
        let ctx = RouteContext {
            cluster,
            user: &self.user.name,
            schema: self.state.schema.as_deref().unwrap_or(""),
            recent_write,
        };
        Ok(router::route(
            &rt,
            &topology,
            &ctx,
            sql_text,
            router::StatementFacts::mysql(class),
        )
        .hostgroup)
    }

    /// Before a SET of `session_track_*` runs: its own OK packet is reported under the old
    /// settings and the new ones together, as the server does.
    fn widen_client_tracking(&mut self, items: Option<&[SetItem]>) {
        let (Some(items), Some(lease)) = (items, self.held.lease.as_ref()) else {
            return;
        };
        let defaults = &lease.conn_ref().tracking_defaults;
        let Some(current) = self
            .tracking
            .get_or_insert_with(|| defaults.clone())
            .clone()
            .into_enabled()
        else {
            return;
        };
        let mut next = current.clone();
        for item in items {
            if let SetItem::Session { name, value } = item {
                next.set(name, value.text().as_deref(), defaults);
            }
        }
        self.tracking = Some(current.union(&next));
    }

    /// The client changed `session_track_*`: its OK packets follow its new settings from
    /// now on, and the backend goes back to tracking everything for sqlmux.
    async fn follow_client_tracking(&mut self, sql_text: &[u8]) -> Result<(), SessionError> {
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(());
        };
        let conn = lease.conn();
        let (now, _) = conn.tracking_settings().await?;
        conn.start_tracking().await?;
        let Some(tracking) = self.tracking.as_mut().filter(|t| t.enabled) else {
            return Ok(());
        };
        // The backend shows the client's value only for what the statement set; the rest
        // is sqlmux's own tracking.
        if mentions(sql_text, b"session_track_system_variables") {
            tracking.variables = now.variables;
        }
        if mentions(sql_text, b"session_track_schema") {
            tracking.schema = now.schema;
        }
        if mentions(sql_text, b"session_track_state_change") {
            tracking.state_change = now.state_change;
        }
        Ok(())
    }

    /// Whether the cluster's writer takes work now (not held, a server to pick), or no
    /// reader would take the statement instead.
    fn writer_usable_or_no_reader(
        &self,
        topology: &crate::topology::Topology,
        cluster: &sqlmux_config::Cluster,
    ) -> bool {
        let pools = &self.shared.mysql.pools;
        let writer = pools.pick(topology, cluster.writer_hostgroup).is_some()
            && !self
                .shared
                .failover
                .queue(cluster.writer_hostgroup)
                .explicitly_held();
        writer || pools.pick(topology, cluster.reader_hostgroup).is_none()
    }

    /// Session effects of a SET that must be known before it runs.
    fn before_set(&mut self, items: &[SetItem]) {
        for item in items {
            match item {
                SetItem::UserVar {
                    name,
                    value: SetValue::Literal(v),
                } => {
                    self.state.user_vars.insert(name.clone(), v.clone());
                }
                SetItem::UserVar { name, .. } => {
                    self.state.user_vars.insert(name.clone(), "NULL".into());
                }
                SetItem::Transaction {
                    next_only: true, ..
                } => self.pins.set(PinReason::NextTransaction, true),
                _ => {}
            }
        }
    }

    /// Pins a statement starts or ends; returns whether a server-reported state change is
    /// explained by what sqlmux understood of the statement.
    fn after_statement(
        &mut self,
        class: &Classification,
        set_items: Option<&[SetItem]>,
        outcome: &Outcome,
    ) -> bool {
        let ok = outcome.scanner.error.is_none();
        let f = class.flags;
        let mut explained =
            set_items.is_some() || class.kind == Kind::Use || class.kind.controls_transaction();
        if ok {
            match class.kind {
                Kind::LockTables | Kind::FlushTablesWithReadLock => {
                    self.pins.set(PinReason::TableLock, true)
                }
                Kind::UnlockTables => self.pins.set(PinReason::TableLock, false),
                Kind::Prepare => self.pins.add(PinReason::TextPrepare),
                Kind::Deallocate => self.pins.remove(PinReason::TextPrepare),
                _ => {}
            }
            if f.contains(Flags::GET_LOCK) {
                self.pins.add(PinReason::UserLock);
            }
            if f.contains(Flags::RELEASE_LOCK) {
                self.pins.remove(PinReason::UserLock);
            }
            if f.contains(Flags::RELEASE_ALL_LOCKS) {
                self.pins.clear(PinReason::UserLock);
            }
            if f.contains(Flags::TEMPORARY_TABLE) {
                self.pins.add(PinReason::TemporaryTable);
            }
            if f.contains(Flags::DROP_TEMPORARY) {
                self.pins.remove(PinReason::TemporaryTable);
            }
            if f.contains(Flags::CALC_FOUND_ROWS) {
                self.pins.set(PinReason::CalcFoundRows, true);
            } else if f.contains(Flags::FOUND_ROWS) {
                self.pins.set(PinReason::CalcFoundRows, false);
            }
            if f.contains(Flags::USER_VAR_WRITE) && class.kind != Kind::Set {
                self.pins.set(PinReason::UserVariable, true);
            }
            if let (Some(items), Some(lease)) = (set_items, self.held.lease.as_mut()) {
                let conn = lease.conn();
                for item in items {
                    if let SetItem::UserVar { name, .. } = item {
                        if let Some(v) = self.state.user_vars.get(name) {
                            conn.state.user_vars.insert(name.clone(), v.clone());
                        }
                    }
                }
            }
            if f.contains(Flags::WRITE) {
                self.state.last_write = Some(Instant::now());
            }
        }
        let pin_flags = Flags::TEMPORARY_TABLE.0
            | Flags::DROP_TEMPORARY.0
            | Flags::USER_VAR_WRITE.0
            | Flags::GET_LOCK.0
            | Flags::RELEASE_LOCK.0
            | Flags::RELEASE_ALL_LOCKS.0
            | Flags::CALC_FOUND_ROWS.0;
        explained |= f.0 & pin_flags != 0
            || matches!(
                class.kind,
                Kind::LockTables
                    | Kind::UnlockTables
                    | Kind::FlushTablesWithReadLock
                    | Kind::Prepare
                    | Kind::Deallocate
            );
        explained
    }

    /// A statement while the session's transaction is lost with its backend: refused, or
    /// the end of it (ROLLBACK answers OK, COMMIT fails: nothing was committed).
    pub(super) async fn answer_lost(
        &mut self,
        statement: TxStatement,
        seq: u8,
    ) -> Result<(), SessionError> {
        let (text, what) = match self.lost_tx.answer(statement) {
            LostAnswer::Serve => return Ok(()),
            LostAnswer::Ended { commit: false, .. } => return Ok(self.send_ok(seq).await?),
            LostAnswer::Ended {
                commit: true,
                address,
            } => (address, "COMMIT failed: nothing was committed"),
            LostAnswer::Refuse { address } => (
                address,
                "statements are refused until the client ends it with ROLLBACK",
            ),
        };
        let message = format!(
            "sqlmux: this session's transaction was lost with its backend {text} and rolled back; {what}"
        );
        let packet =
            sqlmux_protocol::mysql::response::err_packet(LOST_TRANSACTION, "40000", &message);
        Ok(self.client.send(seq, &packet).await?)
    }

    /// `KILL [QUERY] id` names a client session by the id of its handshake (sqlmux's, the
    /// one `CONNECTION_ID()` returns), never a backend thread: the session stops its running
    /// statement or ends, as the server would do for its own connection ids.
    async fn kill(&mut self, kill: mysql::Kill, seq: u8) -> Result<(), SessionError> {
        let target = u32::try_from(kill.id)
            .ok()
            .and_then(|id| self.shared.sessions.get(id));
        let refusal = match &target {
            None => Some((1094, format!("Unknown thread id: {}", kill.id))),
            Some(t) if *t.user() != *self.user_name => {
                Some((1095, format!("You are not owner of thread {}", kill.id)))
            }
            Some(_) if u64::from(self.id) == kill.id => Some(if kill.query_only {
                (1317, "Query execution was interrupted".to_string())
            } else {
                self.control.kill_session();
                (1927, "Connection was killed".to_string())
            }),
            Some(_) => None,
        };
        if let Some((code, message)) = refusal {
            let state = if matches!(code, 1317 | 1927) {
                "70100"
            } else {
                "HY000"
            };
            let packet = sqlmux_protocol::mysql::response::err_packet(code, state, &message);
            return Ok(self.client.send(seq, &packet).await?);
        }
        if let Some(t) = target {
            if kill.query_only {
                t.kill_statement();
            } else {
                t.kill_session();
            }
        }
        self.send_ok(seq).await?;
        Ok(())
    }

    /// Answers SELECT LAST_INSERT_ID() / ROW_COUNT() / CONNECTION_ID() from the session's
    /// own values.
    async fn answer_locally(&mut self, local: LocalQuery, seq: u8) -> Result<(), SessionError> {
        let (column, value, unsigned) = match &local {
            LocalQuery::LastInsertId { column } => {
                (column, self.state.last_insert_id.to_string(), true)
            }
            LocalQuery::RowCount { column } => (column, self.state.row_count.to_string(), false),
            LocalQuery::ConnectionId { column } => (column, self.id.to_string(), true),
        };
        let style = ClientStyle {
            caps: self.capabilities,
            extended_metadata: self.mariadb_caps & mariadb::EXTENDED_METADATA != 0,
            status: self.status(),
        };
        let bytes = single_integer(style, seq, column, &value, unsigned);
        self.client.write_raw(&bytes).await?;
        self.client.flush_raw().await?;
        self.state.row_count = -1;
        if self.warnings_hold {
            self.warnings_hold = false;
            self.release_if_unpinned();
        }
        Ok(())
    }
}

/// Whether a statement's text names `name` (ASCII, any case).
fn mentions(sql: &[u8], name: &[u8]) -> bool {
    sql.windows(name.len())
        .any(|w| w.eq_ignore_ascii_case(name))
}

/// What a statement needs on its backend (user variables, LAST_INSERT_ID), and whether
/// the session's LAST_INSERT_ID is read after it: pipelined with a lone statement, after
/// a multi-statement text or LOAD DATA.
fn needs_of(class: &Classification) -> (Needs, FollowUp) {
    let needs = Needs {
        user_vars: class.flags.contains(Flags::USER_VAR_READ),
        last_insert_id: class.flags.contains(Flags::MAY_INSERT)
            || class.flags.contains(Flags::LAST_INSERT_ID),
    };
    let follow_up = if class.flags.contains(Flags::MAY_INSERT)
        || class.flags.contains(Flags::LAST_INSERT_ID_ARG)
    {
        if class.statements <= 1 && class.kind != Kind::LoadData {
            FollowUp::Pipelined
        } else {
            FollowUp::After
        }
    } else {
        FollowUp::None
    };
    (needs, follow_up)
}
