//! Relaying a backend's answer raw, in step with what was sent: each message sent has a
//! [`Step`] saying whether the client gets the backend's answer, sqlmux drops it (a message
//! sqlmux added), or sqlmux answers in its place (a statement the backend already has).

mod answer;

use super::super::backend::BackendError;
use super::super::conn::{ConnError, PgConn, MAX_MESSAGE};
use super::super::error::SessionError;
use super::Session;
use answer::{internal, Answer, Progress};
use bytes::Bytes;
use sqlmux_protocol::postgres::backend as msg;
use sqlmux_protocol::postgres::frame;
use sqlmux_protocol::postgres::frontend as fe;
use std::collections::VecDeque;

/// The answer a message sent to the backend gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// ParseComplete; `id` is the global statement prepared by it.
    Parse { id: Option<u64> },
    /// BindComplete; `statement` is the global statement bound, when the client named one.
    Bind { statement: Option<u64> },
    /// ParameterDescription, then RowDescription or NoData; `statement` as for Bind.
    DescribeStatement { statement: Option<u64> },
    /// RowDescription or NoData.
    DescribePortal,
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended (or COPY).
    Execute { effect: Option<usize> },
    /// CloseComplete.
    Close,
    /// ReadyForQuery.
    Sync,
    /// Everything up to ReadyForQuery.
    Query { effect: Option<usize> },
}

/// What happens with the answer to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// The client sent it: relay the answer.
    Forward(Expect),
    /// sqlmux added it: drop the answer (errors still reach the client).
    Swallow(Expect),
    /// sqlmux answers the client's message itself, in order.
    Inject(Bytes),
    /// A Query sqlmux added: nothing reaches the client; the first column of its first row
    /// goes to `captured[slot]`.
    Internal {
        /// Where the answer goes.
        slot: Option<usize>,
    },
}

/// What the answer told sqlmux.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Status of the last ReadyForQuery.
    pub status: Option<u8>,
    /// An ErrorResponse came.
    pub error: bool,
    /// Effects (indexes) whose statement completed.
    pub completed: Vec<usize>,
    /// Statements whose Parse failed on the backend, and whether the client sent that
    /// Parse (rather than sqlmux preparing lazily).
    pub failed_parses: Vec<(u64, bool)>,
    /// Bytes relayed to the client.
    pub bytes: u64,
    /// Answers of [`Step::Internal`] queries, by slot.
    pub captured: Vec<Option<String>>,
    /// A Bind failed because the backend's statement went stale ("cached plan must not
    /// change result type"); nothing of it reached the client (see `retry_stale_plan`).
    pub stale_plan: Option<u64>,
    /// The stale statement's Describe had already passed its ParameterDescription on.
    pub stale_parameters_sent: bool,
}

/// Whether a message of type `tag` completes `expect` (ReadyForQuery aside); a completed
/// Execute's effect is noted in `out`.
fn completes(expect: Expect, tag: u8, out: &mut Outcome) -> bool {
    match expect {
        Expect::Parse { .. } => tag == msg::PARSE_COMPLETE,
        Expect::Bind { .. } => tag == msg::BIND_COMPLETE,
        Expect::DescribeStatement { .. } | Expect::DescribePortal => {
            tag == msg::ROW_DESCRIPTION || tag == msg::NO_DATA
        }
        Expect::Execute { effect } => {
            if tag == msg::COMMAND_COMPLETE {
                if let Some(i) = effect {
                    out.completed.push(i);
                }
            }
            matches!(
                tag,
                msg::COMMAND_COMPLETE | msg::EMPTY_QUERY_RESPONSE | msg::PORTAL_SUSPENDED
            )
        }
        Expect::Close => tag == msg::CLOSE_COMPLETE,
        Expect::Sync | Expect::Query { .. } => false,
    }
}

/// A ReadyForQuery answered `expect` with `status`: the transaction status, and a Query's
/// effect unless one of its statements failed.
fn ready(expect: Expect, status: u8, out: &mut Outcome, query_failed: &mut bool) {
    out.status = Some(status);
    if let Expect::Query { effect: Some(i) } = expect {
        if !*query_failed {
            out.completed.push(i);
        }
    }
    *query_failed = false;
}

/// How many leading bytes of the backend's buffered answer pass to the client as one block:
/// whole messages answering `Forward` steps whose handling is plain (not an error, notice,
/// parameter status or COPY IN/BOTH). Advances the steps and the outcome exactly as the
/// per-message path would; that path takes over at the first other message.
fn plain_run(
    buf: &[u8],
    steps: &mut VecDeque<Step>,
    out: &mut Outcome,
    query_failed: &mut bool,
) -> usize {
    let mut run = 0;
    for (tag, message) in frame::whole_messages(buf, MAX_MESSAGE) {
        let Some(Step::Forward(expect)) = steps.front() else {
            break;
        };
        let expect = *expect;
        let done = match tag {
            msg::NOTICE_RESPONSE
            | msg::NOTIFICATION_RESPONSE
            | msg::PARAMETER_STATUS
            | msg::ERROR_RESPONSE
            | msg::COPY_IN_RESPONSE
            | msg::COPY_BOTH_RESPONSE => break,
            msg::READY_FOR_QUERY => {
                let Ok(status) = msg::ready_status(&message[5..]) else {
                    break;
                };
                ready(expect, status, out, query_failed);
                true
            }
            _ => {
                out.bytes += message.len() as u64;
                completes(expect, tag, out)
            }
        };
        run += message.len();
        if done {
            steps.pop_front();
        }
    }
    run
}

/// The backend failed while answering: what was sent may or may not have run.
fn backend_err(address: &str, e: ConnError) -> SessionError {
    SessionError::Lost {
        address: address.to_string(),
        detail: BackendError::Conn(e).to_string(),
    }
}

/// A FATAL (or PANIC) ErrorResponse ends the backend's session, not the client's: it is
/// never relayed; the client gets the one "may or may not have run" error instead.
fn backend_fatal(address: &str, body: &[u8]) -> Option<SessionError> {
    let fields = sqlmux_protocol::postgres::backend::parse_error(body).ok()?;
    matches!(fields.severity.as_str(), "FATAL" | "PANIC").then(|| SessionError::Lost {
        address: address.to_string(),
        detail: format!("the backend said {fields}"),
    })
}

/// After an error in an extended batch the backend skips everything up to the Sync: so do
/// the steps (the failing one first); statements whose Parse was skipped are noted.
fn skip_to_sync(steps: &mut VecDeque<Step>, out: &mut Outcome) {
    steps.pop_front();
    while let Some(s) = steps.front() {
        match s {
            Step::Forward(Expect::Sync) | Step::Swallow(Expect::Sync) => break,
            Step::Forward(Expect::Parse { id: Some(id) }) => {
                out.failed_parses.push((*id, true));
                steps.pop_front();
            }
            Step::Swallow(Expect::Parse { id: Some(id) }) => {
                out.failed_parses.push((*id, false));
                steps.pop_front();
            }
            _ => {
                steps.pop_front();
            }
        }
    }
}

/// Whether an ErrorResponse says a prepared statement's result type changed under it
/// (0A000 "cached plan must not change result type", raised at Bind: nothing ran).
fn is_stale_plan(body: &[u8]) -> bool {
    sqlmux_protocol::postgres::backend::parse_error(body)
        .is_ok_and(|f| f.code == "0A000" && f.message == "cached plan must not change result type")
}

impl Session {
    /// Relays the backend's answers until every step is done, under the statement watch:
    /// past `pool.query_timeout_ms` the statement is cancelled, and a backend that does not
    /// answer the cancel is given up; a client that left cancels its statement.
    pub(super) async fn relay(&mut self, steps: VecDeque<Step>) -> Result<Outcome, SessionError> {
        let watch = crate::session::watch::Watch {
            timeout: self.snapshots.load().0.pool.query_timeout,
            control: None,
        };
        let cancel_target = watch.timeout.and_then(|_| self.cancel_target());
        let cancel = || {
            if let Some(t) = cancel_target.clone() {
                tokio::spawn(super::super::cancel::send_cancel(t));
            }
        };
        match watch.run(self.relay_answer(steps), cancel).await {
            Ok(Err(SessionError::Client(e))) => {
                // The client is gone (or failing): its statement stops with it.
                if let Some(t) = self.cancel_target() {
                    tokio::spawn(super::super::cancel::send_cancel(t));
                }
                Err(SessionError::Client(e))
            }
            Ok(answered) => answered,
            Err(unanswered) => Err(SessionError::QueryTimeout(
                unanswered.timeout.as_millis() as u64
            )),
        }
    }

    /// Where a cancel of the held backend's statement goes.
    fn cancel_target(&self) -> Option<super::super::cancel::CancelTarget> {
        self.held
            .lease
            .as_ref()
            .and_then(|l| l.conn_ref().cancel.as_ref())
            .and_then(|c| c.target())
    }

    /// Relays the backend's answers until every step is done.
    async fn relay_answer(&mut self, mut steps: VecDeque<Step>) -> Result<Outcome, SessionError> {
        let Session {
            client,
            held,
            params,
            spare_steps,
            spare_completed,
            retry_stale_plan,
            skip_parameter_description,
            statements,
            ..
        } = self;
        let lease = held.leased()?;
        let (conn, address) = lease.conn_and_address();
        let mut answer = Answer {
            client,
            conn,
            address,
            params,
            statements,
            retry_stale_plan,
            skip_parameter_description,
            progress: Progress {
                out: Outcome {
                    completed: std::mem::take(spare_completed),
                    ..Outcome::default()
                },
                ..Progress::default()
            },
        };
        loop {
            while let Some(Step::Inject(bytes)) = steps.front() {
                answer.client.queue(bytes);
                steps.pop_front();
            }
            // Plain answers (rows above all) pass as one block, without a copy each.
            // (Not while a ParameterDescription is to be dropped: that takes the slow path.)
            let run = if *answer.skip_parameter_description {
                0
            } else {
                let p = &mut answer.progress;
                answer.conn.conn.forward_buffered(answer.client, |buf| {
                    plain_run(buf, &mut steps, &mut p.out, &mut p.query_failed)
                })
            };
            if run > 0 {
                answer
                    .client
                    .flush_if_full()
                    .await
                    .map_err(SessionError::Client)?;
                continue;
            }
            let Some(head) = steps.front().cloned() else {
                break;
            };
            if answer.conn.conn.buffered() == 0 {
                // About to wait for the backend: let the client see what came so far.
                answer.client.flush().await.map_err(SessionError::Client)?;
            }
            // A client that hangs up while the statement runs ends it now.
            let m = tokio::select! {
                biased;
                m = answer.conn.conn.expect() => m.map_err(|e| backend_err(answer.address, e))?,
                () = answer.client.hung_up() => return Err(SessionError::Client(ConnError::Closed)),
            };
            let (swallow, expect) = match head {
                Step::Forward(e) => (false, e),
                Step::Swallow(e) => (true, e),
                Step::Inject(_) => unreachable!("injections were emitted above"),
                Step::Internal { slot } => {
                    internal(&m, slot, &mut answer.progress.out, answer.conn, &mut steps);
                    continue;
                }
            };
            answer.message(m, swallow, expect, &mut steps).await?;
        }
        answer.client.flush().await.map_err(SessionError::Client)?;
        // Empty now: the next answer reuses it.
        *spare_steps = steps;
        Ok(answer.progress.out)
    }

    /// An empty step queue (the last one's, when there was one).
    pub(super) fn take_steps(&mut self) -> VecDeque<Step> {
        let mut steps = std::mem::take(&mut self.spare_steps);
        steps.clear();
        steps
    }
}

enum CopyError {
    Client(ConnError),
    Backend(ConnError),
}

/// COPY FROM STDIN: the client's CopyData goes to the backend until CopyDone or CopyFail.
async fn copy_in(client: &mut PgConn, backend: &mut PgConn) -> Result<(), CopyError> {
    loop {
        let m = client.expect().await.map_err(CopyError::Client)?;
        backend.queue(&m.raw);
        match m.tag() {
            fe::COPY_DONE | fe::COPY_FAIL => {
                backend.flush().await.map_err(CopyError::Backend)?;
                return Ok(());
            }
            fe::SYNC | fe::FLUSH => backend.flush().await.map_err(CopyError::Backend)?,
            _ => backend.flush_if_full().await.map_err(CopyError::Backend)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARSE_COMPLETE: &[u8] = b"1\0\0\0\x04";
    const BIND_COMPLETE: &[u8] = b"2\0\0\0\x04";
    const ROW_DESCRIPTION: &[u8] = b"T\0\0\0\x06ab";
    const DATA_ROW: &[u8] = b"D\0\0\0\x05x";
    const COMMAND_COMPLETE: &[u8] = b"C\0\0\0\x0dSELECT 1\0";
    const READY_IDLE: &[u8] = b"Z\0\0\0\x05I";
    const ERROR: &[u8] = b"E\0\0\0\x08Mno\0";

    fn forward(expects: &[Expect]) -> VecDeque<Step> {
        expects.iter().map(|e| Step::Forward(*e)).collect()
    }

    #[test]
    fn a_plain_extended_answer_passes_as_one_block() {
        let buf = [
            PARSE_COMPLETE,
            BIND_COMPLETE,
            ROW_DESCRIPTION,
            DATA_ROW,
            COMMAND_COMPLETE,
            READY_IDLE,
        ]
        .concat();
        let mut steps = forward(&[
            Expect::Parse { id: None },
            Expect::Bind { statement: None },
            Expect::DescribePortal,
            Expect::Execute { effect: Some(0) },
            Expect::Sync,
        ]);
        let (mut out, mut failed) = (Outcome::default(), false);
        assert_eq!(
            plain_run(&buf, &mut steps, &mut out, &mut failed),
            buf.len()
        );
        assert!(steps.is_empty());
        assert_eq!(out.completed, vec![0]);
        assert_eq!(out.status, Some(b'I'));
        assert_eq!(out.bytes, (buf.len() - READY_IDLE.len()) as u64);
    }

    #[test]
    fn an_error_a_swallowed_step_or_half_a_message_stops_the_block() {
        let expects = [
            Expect::Parse { id: None },
            Expect::Bind { statement: None },
            Expect::Sync,
        ];
        let buf = [PARSE_COMPLETE, ERROR, READY_IDLE].concat();
        let mut steps = forward(&expects);
        let (mut out, mut failed) = (Outcome::default(), false);
        assert_eq!(plain_run(&buf, &mut steps, &mut out, &mut failed), 5);
        assert_eq!(
            steps.front(),
            Some(&Step::Forward(Expect::Bind { statement: None }))
        );

        let mut steps: VecDeque<Step> = [Step::Swallow(Expect::Parse { id: None })].into();
        assert_eq!(
            plain_run(PARSE_COMPLETE, &mut steps, &mut out, &mut failed),
            0
        );

        let mut steps = forward(&expects);
        let half = [PARSE_COMPLETE, &BIND_COMPLETE[..3]].concat();
        assert_eq!(plain_run(&half, &mut steps, &mut out, &mut failed), 5);
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn a_query_whose_statement_failed_completes_no_effect() {
        let buf = [COMMAND_COMPLETE, READY_IDLE].concat();
        let mut steps = forward(&[Expect::Query { effect: Some(3) }]);
        let (mut out, mut failed) = (Outcome::default(), true);
        assert_eq!(
            plain_run(&buf, &mut steps, &mut out, &mut failed),
            buf.len()
        );
        assert!(out.completed.is_empty());
        assert!(!failed, "the next Query starts clean");
        let mut steps = forward(&[Expect::Query { effect: Some(3) }]);
        assert_eq!(
            plain_run(&buf, &mut steps, &mut out, &mut failed),
            buf.len()
        );
        assert_eq!(out.completed, vec![3]);
    }
}
