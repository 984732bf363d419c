//! Relaying a backend's answer raw, in step with what was sent: each message sent has a
//! [`Step`] saying whether the client gets the backend's answer, sqlmux drops it (a message
//! sqlmux added), or sqlmux answers in its place (a statement the backend already has).

use super::super::backend::BackendError;
use super::super::conn::{ConnError, PgConn};
use super::super::error::SessionError;
use super::Session;
use bytes::Bytes;
use sqlmux_protocol::pg::backend as msg;
use sqlmux_protocol::pg::frontend as fe;
use std::collections::VecDeque;

/// The answer a message sent to the backend gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// ParseComplete; `id` is the global statement prepared by it.
    Parse { id: Option<u64> },
    /// BindComplete.
    Bind,
    /// ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
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
}

/// Message types relayed in bulk while `step` waits: DataRow and CopyData (and a Query's
/// RowDescription), which the per-message path would forward unchanged.
fn bulk_types(step: &Step) -> Option<fn(u8) -> bool> {
    match step {
        Step::Forward(Expect::Query { .. }) => {
            Some(|t| matches!(t, msg::DATA_ROW | msg::ROW_DESCRIPTION | msg::COPY_DATA))
        }
        Step::Forward(Expect::Execute { .. }) => {
            Some(|t| matches!(t, msg::DATA_ROW | msg::COPY_DATA))
        }
        _ => None,
    }
}

fn backend_err(address: &str, e: ConnError) -> SessionError {
    SessionError::Backend {
        address: address.to_string(),
        source: BackendError::Conn(e),
    }
}

impl Session {
    /// Relays the backend's answers until every step is done.
    pub(super) async fn relay(
        &mut self,
        mut steps: VecDeque<Step>,
    ) -> Result<Outcome, SessionError> {
        let Session {
            client,
            backend,
            params,
            spare_steps,
            ..
        } = self;
        let lease = backend
            .as_mut()
            .ok_or_else(|| SessionError::NoCluster("no backend held".into()))?;
        let (conn, address) = lease.conn_and_address();
        let mut out = Outcome::default();
        // Within a Query, completed statements count; an error cancels its effect.
        let mut query_failed = false;
        loop {
            while let Some(Step::Inject(bytes)) = steps.front() {
                client.queue(bytes);
                steps.pop_front();
            }
            let Some(head) = steps.front().cloned() else {
                break;
            };
            // Rows pass as one block, unread: they neither end nor change a step.
            if let Some(pass) = bulk_types(&head) {
                let run = conn.conn.relay_run(client, pass);
                if run > 0 {
                    out.bytes += run as u64;
                    client.flush_if_full().await.map_err(SessionError::Client)?;
                    continue;
                }
            }
            if conn.conn.buffered() == 0 {
                // About to wait for the backend: let the client see what came so far.
                client.flush().await.map_err(SessionError::Client)?;
            }
            let m = conn
                .conn
                .expect()
                .await
                .map_err(|e| backend_err(address, e))?;
            let (swallow, expect) = match head {
                Step::Forward(e) => (false, e),
                Step::Swallow(e) => (true, e),
                Step::Inject(_) => unreachable!("injections were emitted above"),
                Step::Internal { slot } => {
                    match m.tag() {
                        msg::DATA_ROW => {
                            if let Some(i) = slot {
                                if out.captured.len() <= i {
                                    out.captured.resize(i + 1, None);
                                }
                                if out.captured[i].is_none() {
                                    out.captured[i] = super::super::backend::first_column(m.body());
                                }
                            }
                        }
                        msg::PARAMETER_STATUS => {
                            let _ = conn.note_parameter(m.body());
                        }
                        msg::READY_FOR_QUERY => {
                            steps.pop_front();
                        }
                        _ => {}
                    }
                    continue;
                }
            };
            let tag = m.tag();
            match tag {
                msg::NOTICE_RESPONSE | msg::NOTIFICATION_RESPONSE => {
                    client.queue(&m.raw);
                    continue;
                }
                msg::PARAMETER_STATUS => {
                    let (k, v) =
                        conn.note_parameter(m.body())
                            .map_err(|e| SessionError::Backend {
                                address: address.to_string(),
                                source: e,
                            })?;
                    params.insert(k, v);
                    client.queue(&m.raw);
                    continue;
                }
                msg::ERROR_RESPONSE => {
                    out.error = true;
                    client.queue(&m.raw);
                    match expect {
                        Expect::Query { .. } => query_failed = true,
                        Expect::Sync => {}
                        _ => {
                            if let Expect::Parse { id: Some(id) } = expect {
                                out.failed_parses.push((id, !swallow));
                            }
                            // The backend skips everything up to the Sync.
                            steps.pop_front();
                            while let Some(s) = steps.front() {
                                match s {
                                    Step::Forward(Expect::Sync) | Step::Swallow(Expect::Sync) => {
                                        break
                                    }
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
                    }
                    continue;
                }
                msg::READY_FOR_QUERY => {
                    out.status =
                        Some(
                            msg::ready_status(m.body()).map_err(|e| SessionError::Backend {
                                address: address.to_string(),
                                source: e.into(),
                            })?,
                        );
                    if let Expect::Query { effect: Some(i) } = expect {
                        if !query_failed {
                            out.completed.push(i);
                        }
                    }
                    query_failed = false;
                    if !swallow {
                        client.queue(&m.raw);
                    }
                    steps.pop_front();
                    continue;
                }
                msg::COPY_IN_RESPONSE => {
                    client.queue(&m.raw);
                    client.flush().await.map_err(SessionError::Client)?;
                    copy_in(client, &mut conn.conn).await.map_err(|e| match e {
                        CopyError::Client(c) => SessionError::Client(c),
                        CopyError::Backend(b) => backend_err(address, b),
                    })?;
                    continue;
                }
                msg::COPY_BOTH_RESPONSE => {
                    return Err(SessionError::Backend {
                        address: address.to_string(),
                        source: BackendError::Protocol(
                            "COPY BOTH (replication) is not proxied".into(),
                        ),
                    });
                }
                _ => {}
            }
            if !swallow {
                out.bytes += m.raw.len() as u64;
                client.queue(&m.raw);
                client.flush_if_full().await.map_err(SessionError::Client)?;
            }
            let done = match expect {
                Expect::Parse { .. } => tag == msg::PARSE_COMPLETE,
                Expect::Bind => tag == msg::BIND_COMPLETE,
                Expect::DescribeStatement | Expect::DescribePortal => {
                    tag == msg::ROW_DESCRIPTION || tag == msg::NO_DATA
                }
                Expect::Execute { effect } => {
                    let done = matches!(
                        tag,
                        msg::COMMAND_COMPLETE | msg::EMPTY_QUERY_RESPONSE | msg::PORTAL_SUSPENDED
                    );
                    if tag == msg::COMMAND_COMPLETE {
                        if let Some(i) = effect {
                            out.completed.push(i);
                        }
                    }
                    done
                }
                Expect::Close => tag == msg::CLOSE_COMPLETE,
                Expect::Sync | Expect::Query { .. } => false,
            };
            if done {
                steps.pop_front();
            }
        }
        client.flush().await.map_err(SessionError::Client)?;
        // Empty now: the next answer reuses it.
        *spare_steps = steps;
        Ok(out)
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
