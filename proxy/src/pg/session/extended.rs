//! Extended-protocol batches (Parse/Bind/Describe/Execute/Close up to Sync or Flush).
//! A client's named statements map to global `sqlmux_<id>` statements, prepared lazily on
//! the backend that runs them; a Parse the backend already has is answered by sqlmux.

use super::super::error::SessionError;
use super::super::statements::{backend_name, ClientStatement};
use super::relay::{Expect, Step};
use super::sequences::{may_advance, SequencePlan};
use super::simple::{facts, plain_read, Effect};
use super::Session;
use crate::router::StatementFacts;
use crate::session::PinReason;
use bytes::{Bytes, BytesMut};
use sqlmux_protocol::dialect::postgres::{self, Classification};
use sqlmux_protocol::postgres::backend as msg;
use sqlmux_protocol::postgres::frame::Message;
use sqlmux_protocol::postgres::frontend as fe;
use std::collections::VecDeque;
use std::sync::Arc;

/// The Flush message.
const FLUSH: &[u8] = b"H\0\0\0\x04";

/// What the backend is sent for a batch, and what to do with the answers.
#[derive(Default)]
struct Plan<'a> {
    out: BytesMut,
    steps: VecDeque<Step>,
    effects: Vec<Effect>,
    /// The unnamed statement was parsed (or re-sent) in this batch.
    unnamed_ready: bool,
    /// Portal names bound in this batch, with the index into `effects` of the statement
    /// bound (a later Bind of the same name comes later).
    portals: Vec<(&'a [u8], Option<usize>)>,
    /// sqlmux refused a message: the rest up to Sync is not sent.
    failed: bool,
    /// A lastval()/currval() call stays for the backend to answer.
    native_read: bool,
}

impl Plan<'_> {
    fn refuse(&mut self, code: &str, text: &str) {
        self.steps
            .push_back(Step::Inject(msg::error_response("ERROR", code, text)));
        self.failed = true;
    }
}

impl Session {
    /// Sends the pending batch and relays the answers (up to ReadyForQuery after a Sync).
    pub(super) async fn run_batch(&mut self) -> Result<(), SessionError> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if batch.is_empty() {
            // A Flush with nothing pending.
            return self.client.flush().await.map_err(SessionError::Client);
        }
        let synced = batch.last().is_some_and(|m| m.tag() == fe::SYNC);
        if self.lost_tx.is_lost() && self.held.lost.is_none() {
            // A failed transaction takes no extended request: the error, then (at the Sync)
            // ReadyForQuery 'E', as a server.
            self.awaiting_sync = !synced;
            return self.answer_lost(crate::session::TxStatement::Other).await;
        }
        let classes = self.classify_batch(&batch)?;
        self.awaiting_sync = !synced;
        let hostgroup = if self.held.lease.is_none() {
            let (sql, facts) = self.batch_facts(&batch, &classes)?;
            self.route(&sql, facts)?
        } else {
            0
        };
        self.acquire(hostgroup).await?;
        let started = std::time::Instant::now();
        let plan = self.plan(&batch, &classes)?;
        let Plan {
            out: body,
            steps: body_steps,
            mut effects,
            native_read,
            ..
        } = plan;
        let autocommit = synced
            && self.tx_status == b'I'
            && !effects
                .iter()
                .any(|e| e.class.kind == postgres::Kind::Begin);
        let seq_plan = if native_read || effects.iter().any(|e| may_advance(&e.class)) {
            let texts: Vec<Bytes> = effects.iter().map(|e| e.sql.clone()).collect();
            let classes: Vec<postgres::Classification> = effects.iter().map(|e| e.class).collect();
            self.plan_sequences(&texts, &classes, native_read, autocommit)
                .await?
        } else {
            SequencePlan::default()
        };
        self.pins.set(PinReason::PendingSync, !synced);
        let steps = if seq_plan.is_empty() && synced {
            // The common case: the batch as planned, without another copy.
            self.send_to_backend(&body).await?;
            self.spare_out = body;
            body_steps
        } else {
            let mut out = BytesMut::with_capacity(body.len() + 64);
            let mut steps = VecDeque::with_capacity(body_steps.len() + 2);
            seq_plan.prelude(&mut out, &mut steps);
            out.extend_from_slice(&body);
            steps.extend(body_steps);
            if !synced {
                out.extend_from_slice(FLUSH);
            }
            seq_plan.epilogue(&mut out, &mut steps);
            self.send_to_backend(&out).await?;
            steps
        };
        // A Bind or Describe that finds its backend statement stale is taken back and the
        // batch re-sent from it, when no transaction is open and nothing before it ran.
        self.retry_stale_plan = synced && seq_plan.is_empty() && self.tx_status == b'I';
        let mut outcome = self.relay(steps).await?;
        self.retry_stale_plan = false;
        if let Some(id) = outcome.stale_plan {
            let from = self.first_use_of(&batch, id)?;
            (outcome, effects) = self
                .rerun_stale(id, &batch[from..], &classes[from..], &outcome)
                .await?;
        }
        self.absorb_captures(&seq_plan, &outcome.captured);
        if !outcome.failed_parses.is_empty() {
            self.forget_failed(&outcome.failed_parses);
        }
        if let Some(e) = effects.first() {
            let digest = self.memo.digest(&e.sql, postgres::digest_hash);
            self.count_statement(hostgroup, &e.sql, digest, started, outcome.bytes);
        }
        // The next batch reuses this one's vectors.
        if self.batch.is_empty() {
            let mut batch = batch;
            batch.clear();
            self.batch = batch;
        }
        self.spare_classes = classes;
        let result = self.after(outcome, &effects).await;
        let mut effects = effects;
        effects.clear();
        self.spare_effects = effects;
        result
    }

    /// The class of each message of `batch`: each Parse's query is classified once, for
    /// routing and for the plan (other messages get the class of an empty text, unused);
    /// the batch's size is noted for the failover hold.
    fn classify_batch(
        &mut self,
        batch: &[Message],
    ) -> Result<Vec<postgres::Classification>, SessionError> {
        let memo = &mut self.memo;
        let empty = postgres::classify(b"");
        let mut classes = std::mem::take(&mut self.spare_classes);
        classes.clear();
        self.statement_bytes = 0;
        for m in batch {
            self.statement_bytes += m.raw.len() as u64;
            classes.push(match m.tag() {
                fe::PARSE => memo.class(fe::parse_view(m.body())?.query, postgres::classify),
                _ => empty,
            });
        }
        Ok(classes)
    }

    /// The index of the first Bind or statement Describe in `batch` of the global statement
    /// `id` (the message that found it stale).
    fn first_use_of(&self, batch: &[Message], id: u64) -> Result<usize, SessionError> {
        for (i, m) in batch.iter().enumerate() {
            let name = match m.tag() {
                fe::BIND => fe::bind_names(m.body())?.1,
                fe::DESCRIBE => match fe::target(m.body(), "Describe")? {
                    (b'S', name) => name,
                    _ => continue,
                },
                _ => continue,
            };
            if self.statements.get(name).is_some_and(|s| s.id == id) {
                return Ok(i);
            }
        }
        Err(SessionError::Malformed(
            "stale statement not found in its batch".into(),
        ))
    }

    /// A backend's statement `id` went stale under a Bind (its result type changed): it is
    /// closed and prepared again there, and the batch re-sent from that Bind, once.
    async fn rerun_stale(
        &mut self,
        id: u64,
        rest: &[Message],
        classes: &[Classification],
        first: &super::relay::Outcome,
    ) -> Result<(super::relay::Outcome, Vec<Effect>), SessionError> {
        tracing::debug!(statement = id, "backend statement stale; prepared again");
        if !first.failed_parses.is_empty() {
            self.forget_failed(&first.failed_parses);
        }
        let plan = self.plan(rest, classes)?;
        let mut out = BytesMut::with_capacity(plan.out.len() + 32);
        out.extend_from_slice(&fe::close(b'S', &backend_name(id)));
        out.extend_from_slice(&plan.out);
        let mut steps = VecDeque::with_capacity(plan.steps.len() + 1);
        steps.push_back(Step::Swallow(Expect::Close));
        steps.extend(plan.steps);
        self.send_to_backend(&out).await?;
        self.skip_parameter_description = first.stale_parameters_sent;
        let outcome = self.relay(steps).await;
        self.skip_parameter_description = false;
        Ok((outcome?, plan.effects))
    }

    /// The statement text that decides the route, and whether the batch only reads.
    fn batch_facts(
        &self,
        batch: &[Message],
        classes: &[Classification],
    ) -> Result<(Bytes, StatementFacts), SessionError> {
        let mut first: Option<(Bytes, StatementFacts)> = None;
        let mut all_read = true;
        // An unnamed Parse of this batch decides for the Binds of it that follow; without
        // one, they bind the client's last unnamed statement (tokio-postgres and JDBC send
        // Parse/Describe and Bind/Execute in two batches).
        let mut unnamed_parsed = false;
        for (m, class) in batch.iter().zip(classes) {
            let (sql, class): (Bytes, _) = match m.tag() {
                fe::PARSE => {
                    let v = fe::parse_view(m.body())?;
                    unnamed_parsed |= v.name.is_empty();
                    (query_bytes(m, &v), *class)
                }
                fe::BIND => {
                    let (_, name, _) = fe::bind_names(m.body())?;
                    if name.is_empty() {
                        match &self.unnamed {
                            Some(u) if !unnamed_parsed => (u.query.clone(), u.class),
                            _ => continue,
                        }
                    } else {
                        match self.statements.get(name) {
                            Some(s) => (s.query.clone(), s.class),
                            None => continue,
                        }
                    }
                }
                _ => continue,
            };
            all_read &= plain_read(&class);
            if first.is_none() {
                first = Some((sql, facts(&class)));
            }
        }
        let Some((sql, mut f)) = first else {
            // No statement runs (Close, Describe, Sync alone: a portal outside a pinned
            // transaction is gone), so a reader does as well as the writer, and a held
            // writer does not hold it (tokio-postgres closes dropped statements so).
            let nothing_runs = StatementFacts {
                hint_hostgroup: None,
                plain_read: true,
            };
            return Ok((Bytes::new(), nothing_runs));
        };
        f.plain_read = all_read && !sql.is_empty();
        Ok((sql, f))
    }

    /// Translates the client's messages for the held backend.
    fn plan<'a>(
        &mut self,
        batch: &'a [Message],
        classes: &[Classification],
    ) -> Result<Plan<'a>, SessionError> {
        let mut out = std::mem::take(&mut self.spare_out);
        out.clear();
        out.reserve(batch.iter().map(|m| m.raw.len()).sum::<usize>() + 64);
        let mut steps = self.take_steps();
        steps.reserve(batch.len() + 2);
        let mut plan = Plan {
            out,
            steps,
            // Kept empty by `run_batch`.
            effects: std::mem::take(&mut self.spare_effects),
            ..Plan::default()
        };
        for (m, class) in batch.iter().zip(classes) {
            if plan.failed && m.tag() != fe::SYNC {
                continue;
            }
            match m.tag() {
                fe::PARSE => self.plan_parse(m, *class, &mut plan)?,
                fe::BIND => self.plan_bind(m, &mut plan)?,
                fe::DESCRIBE => {
                    let (kind, name) = fe::target(m.body(), "Describe")?;
                    if kind == b'P' {
                        plan.out.extend_from_slice(&m.raw);
                        plan.steps.push_back(Step::Forward(Expect::DescribePortal));
                    } else if name.is_empty() {
                        self.resend_unnamed(&mut plan);
                        plan.out.extend_from_slice(&m.raw);
                        plan.steps
                            .push_back(Step::Forward(Expect::DescribeStatement {
                                statement: None,
                            }));
                    } else {
                        let Some(s) = self.statements.get(name).cloned() else {
                            plan.refuse("26000", &missing(name));
                            continue;
                        };
                        self.ensure_prepared(&s, &mut plan);
                        plan.out
                            .extend_from_slice(&fe::describe_statement(&backend_name(s.id)));
                        plan.steps
                            .push_back(Step::Forward(Expect::DescribeStatement {
                                statement: Some(s.id),
                            }));
                    }
                }
                fe::EXECUTE => {
                    let portal = fe::execute_portal(m.body())?;
                    let effect = plan
                        .portals
                        .iter()
                        .rev()
                        .find(|(name, _)| *name == portal)
                        .and_then(|(_, effect)| *effect);
                    plan.out.extend_from_slice(&m.raw);
                    plan.steps
                        .push_back(Step::Forward(Expect::Execute { effect }));
                }
                fe::CLOSE => {
                    let (kind, name) = fe::target(m.body(), "Close")?;
                    if kind == b'S' && !name.is_empty() {
                        // The backend keeps its statement for other sessions (bounded).
                        self.statements.remove(name);
                        plan.steps
                            .push_back(Step::Inject(msg::empty(msg::CLOSE_COMPLETE)));
                    } else {
                        plan.out.extend_from_slice(&m.raw);
                        plan.steps.push_back(Step::Forward(Expect::Close));
                    }
                }
                fe::SYNC => {
                    plan.out.extend_from_slice(&m.raw);
                    plan.steps.push_back(Step::Forward(Expect::Sync));
                    plan.failed = false;
                }
                other => return Err(SessionError::Unsupported(char::from(other))),
            }
        }
        Ok(plan)
    }

    fn plan_parse(
        &mut self,
        m: &Message,
        class: Classification,
        plan: &mut Plan,
    ) -> Result<(), SessionError> {
        let v = fe::parse_view(m.body())?;
        if super::simple::turns_off_standard_strings(v.query, &class) {
            plan.refuse("0A000", super::simple::NONSTANDARD_STRINGS);
            return Ok(());
        }
        if class.flags.contains(postgres::Flags::SEQUENCE_READ) {
            // A named statement runs many times: its text is not rewritten.
            let (rewritten, native) = if v.name.is_empty() {
                self.seq.rewrite(v.query, self.seq.tx_native)
            } else {
                (None, true)
            };
            plan.native_read |= native;
            if let Some(text) = rewritten {
                let after_query = v.after_name + v.query.len() + 1;
                let mut identity = text;
                identity.push(0);
                identity.extend_from_slice(&m.body()[after_query..]);
                let parse = fe::parse_named("", &identity);
                plan.out.extend_from_slice(&parse);
                plan.steps
                    .push_back(Step::Forward(Expect::Parse { id: None }));
                self.unnamed = Some(UnnamedStatement {
                    parse: Message { raw: parse },
                    class,
                    query: query_bytes(m, &v),
                });
                plan.unnamed_ready = true;
                return Ok(());
            }
        }
        if v.name.is_empty() {
            plan.out.extend_from_slice(&m.raw);
            plan.steps
                .push_back(Step::Forward(Expect::Parse { id: None }));
            self.unnamed = Some(UnnamedStatement {
                parse: m.clone(),
                class,
                query: query_bytes(m, &v),
            });
            plan.unnamed_ready = true;
            return Ok(());
        }
        if self.statements.contains_key(v.name) {
            plan.refuse(
                "42P05",
                &format!(
                    "prepared statement \"{}\" already exists",
                    String::from_utf8_lossy(v.name)
                ),
            );
            return Ok(());
        }
        let limit = self.snapshots.load().0.postgres.max_session_statements;
        if self.statements.len() >= limit {
            plan.refuse(
                "54000",
                &format!("sqlmux: the session holds {limit} prepared statements already (postgres.max_session_statements); close some first"),
            );
            return Ok(());
        }
        let identity = Bytes::copy_from_slice(&m.body()[v.after_name..]);
        let id = self.shared.pg.statements.id_of(&identity);
        let statement = Arc::new(ClientStatement {
            id,
            identity,
            plain_read: plain_read(&class),
            class,
            query: query_bytes(m, &v),
            parsed_at: std::time::Instant::now(),
        });
        self.statements.insert(v.name.to_vec(), statement.clone());
        let conn = self.held()?;
        if conn.statements.touch(id) {
            plan.steps
                .push_back(Step::Inject(msg::empty(msg::PARSE_COMPLETE)));
        } else {
            conn.statements.insert(id);
            plan.out
                .extend_from_slice(&fe::parse_named(&backend_name(id), &statement.identity));
            plan.steps
                .push_back(Step::Forward(Expect::Parse { id: Some(id) }));
        }
        Ok(())
    }

    fn plan_bind<'a>(&mut self, m: &'a Message, plan: &mut Plan<'a>) -> Result<(), SessionError> {
        let (portal, name, _) = fe::bind_names(m.body())?;
        if name.is_empty() {
            self.resend_unnamed(plan);
            plan.out.extend_from_slice(&m.raw);
            let effect = self.unnamed.as_ref().map(|u| Effect {
                class: u.class,
                sql: u.query.clone(),
            });
            let index = effect.map(|e| {
                plan.effects.push(e);
                plan.effects.len() - 1
            });
            plan.portals.push((portal, index));
        } else {
            let Some(s) = self.statements.get(name).cloned() else {
                plan.refuse("26000", &missing(name));
                return Ok(());
            };
            self.ensure_prepared(&s, plan);
            plan.out
                .extend_from_slice(&fe::bind_with_statement(m.body(), &backend_name(s.id))?);
            plan.effects.push(Effect {
                class: s.class,
                sql: s.query.clone(),
            });
            plan.portals.push((portal, Some(plan.effects.len() - 1)));
        }
        let statement = (!name.is_empty())
            .then(|| self.statements.get(name).map(|s| s.id))
            .flatten();
        plan.steps
            .push_back(Step::Forward(Expect::Bind { statement }));
        Ok(())
    }

    /// Prepares a client statement on the held backend first when it lacks it.
    fn ensure_prepared(&mut self, s: &ClientStatement, plan: &mut Plan) {
        let Ok(conn) = self.held() else {
            return;
        };
        if conn.statements.touch(s.id) {
            return;
        }
        conn.statements.insert(s.id);
        plan.out
            .extend_from_slice(&fe::parse_named(&backend_name(s.id), &s.identity));
        plan.steps
            .push_back(Step::Swallow(Expect::Parse { id: Some(s.id) }));
    }

    /// Re-sends the client's last unnamed Parse (the backend may be another one now).
    fn resend_unnamed(&mut self, plan: &mut Plan) {
        if plan.unnamed_ready {
            return;
        }
        if let Some(u) = &self.unnamed {
            plan.out.extend_from_slice(&u.parse.raw);
            plan.steps
                .push_back(Step::Swallow(Expect::Parse { id: None }));
        }
        plan.unnamed_ready = true;
    }

    fn held(&mut self) -> Result<&mut super::super::backend::BackendConn, SessionError> {
        match self.held.leased() {
            Ok(l) => Ok(l.conn()),
            Err(e) => Err(e.into()),
        }
    }

    /// Statements whose Parse failed exist neither on the backend nor for the client.
    /// (A statement prepared lazily stays the client's: its Parse once succeeded.)
    fn forget_failed(&mut self, failed: &[(u64, bool)]) {
        if let Some(lease) = self.held.lease.as_mut() {
            for (id, _) in failed {
                lease.conn().statements.remove(*id);
            }
        }
        self.statements.retain(|_, s| {
            !failed
                .iter()
                .any(|(id, by_client)| *by_client && *id == s.id)
        });
    }
}

/// The query text of a Parse message, sharing its bytes.
fn query_bytes(m: &Message, v: &fe::ParseView<'_>) -> Bytes {
    let start = 5 + v.after_name;
    m.raw.slice(start..start + v.query.len())
}

/// The client's last unnamed statement: re-sent when a Bind needs it on another backend.
pub(super) struct UnnamedStatement {
    /// The Parse message as sent to a backend.
    parse: Message,
    /// The lexer's view of its query.
    class: Classification,
    /// Its query text.
    query: Bytes,
}

fn missing(name: &[u8]) -> String {
    format!(
        "prepared statement \"{}\" does not exist",
        String::from_utf8_lossy(name)
    )
}
