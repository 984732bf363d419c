//! `lastval()` and `currval('seq')` across pooled backends. After a statement that may call
//! nextval (an INSERT into a table with serial/identity/nextval defaults, or an explicit
//! nextval/setval) sqlmux reads the backend's `currval` of those sequences and `lastval()`,
//! pipelined right behind it (or when its transaction ends). Later `lastval()` and
//! `currval('seq')` in the session's statements are replaced by those values, so they
//! return what one direct connection returns whichever backend runs them. A backend's own
//! sequence state is disposable (every session's values are already read out): it is
//! cleared with `DISCARD SEQUENCES` before a statement that may touch it.

use super::super::error::SessionError;
use super::relay::Step;
use super::vars::literal;
use super::Session;
use bytes::{Bytes, BytesMut};
use sqlmux_protocol::dialect::postgres::{self, Classification, Flags, Kind};
use sqlmux_protocol::postgres::frontend as fe;
use std::collections::HashMap;
use std::sync::Arc;

/// Tables whose sequences are remembered (by database, search_path and name); past it the
/// lookups start over.
pub(crate) const SEQ_CANDIDATES_LIMIT: usize = 10_000;

/// What a session knows of its own sequence values.
#[derive(Debug, Default)]
pub(super) struct SequenceState {
    /// `lastval()`, when a nextval ran in the session.
    pub lastval: Option<String>,
    /// `currval` per sequence, under its qualified and its bare name (normalized).
    pub values: HashMap<String, String>,
    /// Sequences a nextval may have touched in the open transaction (read at its end).
    pub tx_touched: Vec<String>,
    /// A statement of the open transaction may have called nextval: reads stay native.
    pub tx_native: bool,
}

/// Normalizes a sequence name as written (`public."Seq"`, `items_id_seq`) to the key form:
/// quoted parts kept, unquoted parts lower-cased.
pub(super) fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut chars = name.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(q) = chars.next() {
                    if q == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            out.push('"');
                        } else {
                            break;
                        }
                    } else {
                        out.push(q);
                    }
                }
            }
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// A regclass input text that names `table` exactly (each dotted part quoted).
fn regclass_of(table: &str) -> String {
    let quoted: Vec<String> = table
        .split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect();
    literal(&quoted.join("."))
}

/// The query listing the sequences an INSERT into `table` may advance: serial and identity
/// sequences it owns, and sequences its column defaults call.
pub(super) fn candidates_query(table: &str) -> String {
    let t = regclass_of(table);
    format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname) FROM pg_class s \
         JOIN pg_namespace n ON n.oid = s.relnamespace WHERE s.relkind = 'S' AND s.oid IN (\
         SELECT d.objid FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
         AND d.refclassid = 'pg_class'::regclass AND d.refobjid = {t}::regclass AND d.deptype IN ('a', 'i') \
         UNION SELECT d.refobjid FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid \
         WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass \
         AND ad.adrelid = {t}::regclass)"
    )
}

/// The query reading one sequence's currval with its qualified name (`name value`); it
/// fails when the session never advanced it.
pub(super) fn currval_query(sequence: &str) -> String {
    format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ' || currval(c.oid) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = {}::regclass",
        literal(sequence)
    )
}

/// Reads lastval().
pub(super) const LASTVAL_QUERY: &str = "SELECT lastval()";

/// Whether a statement may call nextval (defaults of an INSERT/MERGE/COPY, explicit calls).
pub(super) fn may_advance(class: &Classification) -> bool {
    matches!(class.kind, Kind::Insert | Kind::Merge | Kind::Copy)
        || class.flags.contains(Flags::NEXTVAL)
}

impl SequenceState {
    /// Records a captured `currval` answer (`qualified value`).
    pub fn record_currval(&mut self, answer: &str) {
        let Some((name, value)) = answer.rsplit_once(' ') else {
            return;
        };
        let qualified = normalize(name);
        if let Some((_, bare)) = qualified.split_once('.') {
            self.values.insert(bare.to_string(), value.to_string());
        }
        self.values.insert(qualified, value.to_string());
    }

    /// Replaces `lastval()` / `currval('seq')` by the session's values. Returns the new text
    /// when something was replaced, and whether a call stays native (its value is not
    /// known, so the backend must answer as a fresh session would: with an error).
    pub fn rewrite(&self, sql: &[u8], touched_in_tx: bool) -> (Option<Vec<u8>>, bool) {
        let calls = postgres::sequence_calls(sql);
        let mut native = postgres::has_unrewritable_sequence_read(sql);
        if calls.is_empty() {
            return (None, native);
        }
        let mut out = Vec::with_capacity(sql.len() + 16);
        let mut at = 0;
        let mut replaced = false;
        for call in calls {
            let value = if touched_in_tx {
                None
            } else {
                match &call.sequence {
                    None => self.lastval.clone(),
                    Some(s) => self.values.get(&normalize(s)).cloned(),
                }
            };
            out.extend_from_slice(&sql[at..call.range.start]);
            match value {
                Some(v) => {
                    out.extend_from_slice(format!("('{v}'::bigint)").as_bytes());
                    replaced = true;
                }
                None => {
                    out.extend_from_slice(&sql[call.range.clone()]);
                    native = true;
                }
            }
            at = call.range.end;
        }
        out.extend_from_slice(&sql[at..]);
        (replaced.then_some(out), native)
    }
}

/// The messages sqlmux adds around a request for sequence tracking.
#[derive(Debug, Default)]
pub(super) struct SequencePlan {
    /// Sent before the request: clears the backend's sequence state.
    pub before: Option<Bytes>,
    /// Sent right behind the request: one capture query per candidate, then lastval().
    pub after: Vec<Bytes>,
    /// The candidates read by `after` (in order; lastval last).
    pub captured: Vec<String>,
}

impl SequencePlan {
    /// Nothing is added around the request.
    pub fn is_empty(&self) -> bool {
        self.before.is_none() && self.after.is_empty()
    }

    /// Bytes to send before the request, with the step that swallows their answer.
    pub fn prelude(&self, out: &mut BytesMut, steps: &mut std::collections::VecDeque<Step>) {
        if let Some(b) = &self.before {
            out.extend_from_slice(b);
            steps.push_back(Step::Internal { slot: None });
        }
    }

    /// Bytes to send after the request, with the steps that read their answers.
    pub fn epilogue(&self, out: &mut BytesMut, steps: &mut std::collections::VecDeque<Step>) {
        for (i, b) in self.after.iter().enumerate() {
            out.extend_from_slice(b);
            steps.push_back(Step::Internal { slot: Some(i) });
        }
    }
}

impl Session {
    /// The sequences statements may advance: explicit nextval/setval arguments, and the
    /// serial/identity/default sequences of an INSERT's table (looked up once, cached).
    async fn sequence_candidates(&mut self, texts: &[Bytes]) -> Result<Vec<String>, SessionError> {
        let mut out: Vec<String> = Vec::new();
        for sql in texts {
            out.extend(postgres::nextval_sequences(sql));
            let Some(table) = postgres::insert_table(sql) else {
                continue;
            };
            let key = format!(
                "{}\0{}\0{}",
                self.partition.schema(),
                self.vars
                    .get("search_path")
                    .map(String::as_str)
                    .unwrap_or(""),
                table
            );
            if let Some(c) = self.shared.pg.seq_candidates.get(&key) {
                out.extend(c.iter().cloned());
                continue;
            }
            let Some(lease) = self.held.lease.as_mut() else {
                continue;
            };
            let address = lease.address().to_string();
            match lease.conn().simple_column(&candidates_query(&table)).await {
                Ok(found) => {
                    let found: Vec<String> = found.into_iter().flatten().collect();
                    out.extend(found.iter().cloned());
                    let candidates = &self.shared.pg.seq_candidates;
                    if candidates.len() >= SEQ_CANDIDATES_LIMIT {
                        // Clients can name any number of tables and search paths.
                        candidates.clear();
                    }
                    candidates.insert(key, Arc::new(found));
                }
                Err(super::super::backend::BackendError::Server(_)) => {}
                Err(source) => return Err(SessionError::Backend { address, source }),
            }
        }
        out.dedup();
        Ok(out)
    }

    /// Plans sequence tracking for a request made of `texts` (their lexer views in
    /// `classes`), `native_read` when a lastval()/currval() stays unrewritten.
    pub(super) async fn plan_sequences(
        &mut self,
        texts: &[Bytes],
        classes: &[Classification],
        native_read: bool,
        autocommit: bool,
    ) -> Result<SequencePlan, SessionError> {
        let candidates = if classes.iter().any(may_advance) {
            self.sequence_candidates(texts).await?
        } else {
            Vec::new()
        };
        // Only a known sequence can advance (nextval inside functions or triggers is not
        // seen).
        let advance = !candidates.is_empty();
        let mut plan = SequencePlan::default();
        if !advance && !native_read {
            return Ok(plan);
        }
        let in_own_tx = self.seq.tx_native;
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(plan);
        };
        let conn = lease.conn();
        if conn.seq_dirty && !in_own_tx {
            plan.before = Some(fe::query("DISCARD SEQUENCES"));
            conn.seq_dirty = false;
        }
        if !advance {
            return Ok(plan);
        }
        conn.seq_dirty = true;
        if autocommit {
            for c in &candidates {
                plan.after.push(fe::query(&currval_query(c)));
            }
            plan.after.push(fe::query(LASTVAL_QUERY));
            plan.captured = candidates;
        } else {
            self.seq.tx_native = true;
            self.seq.tx_touched.extend(candidates);
        }
        Ok(plan)
    }

    /// Takes in the answers of the capture queries sent behind a request.
    pub(super) fn absorb_captures(&mut self, plan: &SequencePlan, answers: &[Option<String>]) {
        if plan.after.is_empty() {
            return;
        }
        for a in answers.iter().take(plan.captured.len()).flatten() {
            self.seq.record_currval(a);
        }
        if let Some(Some(v)) = answers.get(plan.captured.len()) {
            self.seq.lastval = Some(v.clone());
        }
    }

    /// The transaction that advanced sequences ended: read their values now (outside any
    /// transaction, so a sequence it did not advance only fails its own query).
    pub(super) async fn capture_after_transaction(&mut self) -> Result<(), SessionError> {
        if !self.seq.tx_native {
            return Ok(());
        }
        self.seq.tx_native = false;
        let touched = std::mem::take(&mut self.seq.tx_touched);
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(());
        };
        let address = lease.address().to_string();
        let conn = lease.conn();
        let mut answers = Vec::new();
        for c in touched
            .iter()
            .map(|c| currval_query(c))
            .chain([LASTVAL_QUERY.to_string()])
        {
            match conn.simple(&c).await {
                Ok(v) => answers.push(v),
                Err(super::super::backend::BackendError::Server(_)) => answers.push(None),
                Err(source) => return Err(SessionError::Backend { address, source }),
            }
        }
        let lastval = answers.pop().flatten();
        for a in answers.iter().flatten() {
            self.seq.record_currval(a);
        }
        if lastval.is_some() {
            self.seq.lastval = lastval;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_like_postgres_identifiers() {
        assert_eq!(normalize("Items_ID_seq"), "items_id_seq");
        assert_eq!(normalize("public.\"My Seq\""), "public.My Seq");
        assert_eq!(normalize("\"a\"\"b\""), "a\"b");
    }

    #[test]
    fn reads_are_replaced_by_known_values() {
        let mut s = SequenceState::default();
        s.record_currval("public.items_id_seq 41");
        s.lastval = Some("41".into());
        let (text, native) = s.rewrite(
            b"SELECT currval('items_id_seq'), lastval(), currval('other')",
            false,
        );
        assert_eq!(
            String::from_utf8(text.unwrap()).unwrap(),
            "SELECT ('41'::bigint), ('41'::bigint), currval('other')"
        );
        assert!(native, "an unknown sequence stays native");
        let (text, native) = s.rewrite(b"SELECT currval('public.items_id_seq')", false);
        assert!(text.is_some() && !native);
        assert_eq!(s.rewrite(b"SELECT 1", false), (None, false));
        assert!(s.rewrite(b"SELECT lastval()", true).1);
    }

    #[test]
    fn queries_quote_names() {
        assert!(candidates_query("public.Items").contains("'\"public\".\"Items\"'::regclass"));
        assert!(currval_query("it's").contains("'it''s'::regclass"));
    }
}
