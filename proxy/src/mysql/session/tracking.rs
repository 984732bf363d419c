//! What a response changed: session-state entries of OK packets, transaction status,
//! warnings, ROW_COUNT() and LAST_INSERT_ID().

use super::execute::Outcome;
use super::Session;
use crate::session::state::is_tracked;
use crate::session::PinReason;
use sqlmux_protocol::mysql::constants::StatusFlags;
use sqlmux_protocol::mysql::session_track::parse_changes;

/// Session-state changes gathered from the OK packets of one response.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// New schema.
    pub schema: Option<String>,
    /// Variables set, in order.
    pub vars: Vec<(String, String)>,
    /// The server flagged a change it did not describe.
    pub state_changed: bool,
}

impl Changes {
    /// Reads one OK payload.
    pub fn absorb(&mut self, ok: &[u8]) {
        let Some(c) = parse_changes(ok) else {
            return;
        };
        if let Some(s) = c.schema {
            self.schema = Some(String::from_utf8_lossy(s).into_owned());
        }
        for (name, value) in c.variables {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            self.vars
                .push((name, String::from_utf8_lossy(value).into_owned()));
        }
        self.state_changed |= c.state_changed;
    }
}

impl Session {
    /// Applies a response to the session and its backend, then releases the backend unless
    /// a pin holds. `holds_state` says the statement itself created state that pins.
    pub(super) fn finish(&mut self, outcome: &Outcome, explained: bool) {
        self.shared.stats.relayed(outcome.bytes);
        let changes = &outcome.changes;
        let scanner = &outcome.scanner;
        if let Some(lease) = self.held.lease.as_mut() {
            let conn = lease.conn();
            if let Some(schema) = &changes.schema {
                conn.state.schema = schema.clone();
                self.state.schema = Some(schema.clone());
            }
            for (name, value) in &changes.vars {
                if is_tracked(name) {
                    conn.state.vars.insert(name.clone(), value.clone());
                    self.state.vars.insert(name.clone(), value.clone());
                }
            }
            if let Some(id) = outcome.last_insert_id {
                conn.state.last_insert_id = id;
                self.state.last_insert_id = id;
            }
        }
        if changes.state_changed && !explained {
            self.pins.set(PinReason::UntrackedState, true);
        }
        let log_bin_off = self
            .state
            .vars
            .get("sql_log_bin")
            .is_some_and(|v| v == "0" || v.eq_ignore_ascii_case("OFF"));
        self.pins.set(PinReason::SqlLogBin, log_bin_off);
        if scanner.error.is_none() && scanner.saw_status {
            let in_trans = scanner.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
            if !in_trans && self.pins.has(PinReason::Transaction) {
                self.pins.set(PinReason::NextTransaction, false);
            }
            self.pins.set(PinReason::Transaction, in_trans);
        }
        self.state.row_count = match (&scanner.error, scanner.last_was_result_set, scanner.ok) {
            (Some(_), _, _) | (None, true, _) => -1,
            (None, false, Some(ok)) => ok.affected_rows as i64,
            (None, false, None) => 0,
        };
        self.warnings_hold =
            scanner.error.is_none() && scanner.warnings > 0 && !self.pins.is_pinned();
        self.release_if_unpinned();
        self.publish();
    }

    /// Counts a statement: its hostgroup, digest, time and affected rows; and the pins it
    /// started (compared with `pins_before`).
    pub(super) fn record_statement(
        &mut self,
        hostgroup: u32,
        sql: &[u8],
        started: std::time::Instant,
        outcome: &Outcome,
        pins_before: &crate::session::Pins,
    ) {
        let rows = outcome.scanner.ok.map(|o| o.affected_rows).unwrap_or(0);
        let micros = started.elapsed().as_micros() as u64;
        let digest = self
            .memo
            .digest(sql, sqlmux_protocol::dialect::mysql::digest_hash);
        self.shared.stats.statement(crate::stats::Statement {
            hostgroup,
            user: &self.user_name,
            digest,
            sql,
            micros,
            rows,
            started,
            digest_text: |sql| sqlmux_protocol::dialect::mysql::digest(sql).text,
            max_digests: self.shared.runtime.load().stats.max_digests,
        });
        for reason in self.pins.reasons() {
            if !pins_before.has(reason) {
                self.shared.stats.pin(reason.as_str());
            }
        }
    }
}
