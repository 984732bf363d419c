//! One answer's messages as the relay handles them one by one: what reaches the client,
//! what the answer tells sqlmux, an error's consequences, sqlmux's own queries' answers.

use super::super::super::backend::BackendConn;
use super::super::super::statements::ClientStatement;
use super::*;
use std::collections::HashMap;

/// What a relay keeps between the messages of one answer.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) out: Outcome,
    /// Within a Query, completed statements count; an error cancels its effect.
    pub(super) query_failed: bool,
    /// An Execute (or Query) was answered: a later error may follow side effects.
    pub(super) executed: bool,
    /// The type of the last message passed on to the client.
    pub(super) last_forwarded: u8,
}

/// The parts of a session one answer's relay works with.
pub(super) struct Answer<'s> {
    pub(super) client: &'s mut PgConn,
    pub(super) conn: &'s mut BackendConn,
    pub(super) address: &'s str,
    pub(super) params: &'s mut std::sync::Arc<crate::shared::ParamSet>,
    pub(super) statements: &'s HashMap<Vec<u8>, std::sync::Arc<ClientStatement>>,
    pub(super) retry_stale_plan: &'s mut bool,
    pub(super) skip_parameter_description: &'s mut bool,
    pub(super) progress: Progress,
}

impl Answer<'_> {
    /// One message answering `expect` (`swallow`: one sqlmux sent): relayed or not, and
    /// what it tells noted.
    pub(super) async fn message(
        &mut self,
        m: frame::Message,
        swallow: bool,
        expect: Expect,
        steps: &mut VecDeque<Step>,
    ) -> Result<(), SessionError> {
        self.progress.executed |= matches!(expect, Expect::Execute { .. } | Expect::Query { .. });
        let tag = m.tag();
        match tag {
            msg::NOTICE_RESPONSE | msg::NOTIFICATION_RESPONSE => {
                // A backend may send any number (RAISE NOTICE in a loop): they wait in
                // the client's buffer only up to its flush size, like rows.
                self.client.queue(&m.raw);
                return self
                    .client
                    .flush_if_full()
                    .await
                    .map_err(SessionError::Client);
            }
            msg::PARAMETER_STATUS => {
                let (k, v) =
                    self.conn
                        .note_parameter(m.body())
                        .map_err(|e| SessionError::Backend {
                            address: self.address.to_string(),
                            source: e,
                        })?;
                std::sync::Arc::make_mut(self.params).insert(k, v);
                self.client.queue(&m.raw);
                return Ok(());
            }
            msg::ERROR_RESPONSE => return self.error(&m, swallow, expect, steps),
            msg::READY_FOR_QUERY => {
                let status = msg::ready_status(m.body()).map_err(|e| SessionError::Backend {
                    address: self.address.to_string(),
                    source: e.into(),
                })?;
                let p = &mut self.progress;
                ready(expect, status, &mut p.out, &mut p.query_failed);
                if !swallow {
                    self.client.queue(&m.raw);
                }
                steps.pop_front();
                return Ok(());
            }
            msg::COPY_IN_RESPONSE => {
                self.client.queue(&m.raw);
                self.client.flush().await.map_err(SessionError::Client)?;
                let address = self.address;
                return copy_in(self.client, &mut self.conn.conn)
                    .await
                    .map_err(|e| match e {
                        CopyError::Client(c) => SessionError::Client(c),
                        CopyError::Backend(b) => backend_err(address, b),
                    });
            }
            msg::COPY_BOTH_RESPONSE => {
                return Err(SessionError::Backend {
                    address: self.address.to_string(),
                    source: BackendError::Protocol("COPY BOTH (replication) is not proxied".into()),
                });
            }
            _ => {}
        }
        if tag == msg::PARAMETER_DESCRIPTION && std::mem::take(self.skip_parameter_description) {
            // Already sent before the statement was found stale and prepared again.
        } else if !swallow {
            self.progress.out.bytes += m.raw.len() as u64;
            self.client.queue(&m.raw);
            self.client
                .flush_if_full()
                .await
                .map_err(SessionError::Client)?;
            self.progress.last_forwarded = tag;
        }
        if completes(expect, tag, &mut self.progress.out) {
            steps.pop_front();
        }
        Ok(())
    }

    /// An ErrorResponse answering `expect`: a FATAL one loses the backend; a stale plan
    /// nothing ran on is taken back for a re-send unseen by the client; any other reaches
    /// the client and the batch is skipped to its Sync (a Query's effect cancelled).
    fn error(
        &mut self,
        m: &frame::Message,
        swallow: bool,
        expect: Expect,
        steps: &mut VecDeque<Step>,
    ) -> Result<(), SessionError> {
        if let Some(lost) = backend_fatal(self.address, m.body()) {
            return Err(lost);
        }
        if let Expect::Bind {
            statement: Some(id),
        }
        | Expect::DescribeStatement {
            statement: Some(id),
        } = expect
        {
            if is_stale_plan(m.body()) {
                let fresh = drop_stale_copy(self.conn, self.statements, id);
                if fresh && !self.progress.executed && std::mem::take(self.retry_stale_plan) {
                    let out = &mut self.progress.out;
                    out.stale_plan = Some(id);
                    out.stale_parameters_sent =
                        self.progress.last_forwarded == msg::PARAMETER_DESCRIPTION;
                    skip_to_sync(steps, out);
                    if let Some(sync) = steps.front_mut() {
                        *sync = Step::Swallow(Expect::Sync);
                    }
                    return Ok(());
                }
                self.conn.statements.to_close.push(id);
            }
        }
        self.progress.out.error = true;
        self.client.queue(&m.raw);
        match expect {
            Expect::Query { .. } => self.progress.query_failed = true,
            Expect::Sync => {}
            _ => {
                if let Expect::Parse { id: Some(id) } = expect {
                    self.progress.out.failed_parses.push((id, !swallow));
                }
                skip_to_sync(steps, &mut self.progress.out);
            }
        }
        Ok(())
    }
}

/// The backend's copy of statement `id` went stale: it goes. True when the client parsed
/// the statement after that copy was made: its own Parse would have planned afresh, so
/// nothing ran and the caller may prepare it again and re-send.
fn drop_stale_copy(
    conn: &mut BackendConn,
    statements: &HashMap<Vec<u8>, std::sync::Arc<ClientStatement>>,
    id: u64,
) -> bool {
    let client_parsed = statements
        .values()
        .filter(|s| s.id == id)
        .map(|s| s.parsed_at)
        .max();
    let fresh = client_parsed
        .zip(conn.statements.prepared_at(id))
        .is_some_and(|(client, copy)| client >= copy);
    conn.statements.remove(id);
    fresh
}

/// The answer to a Query sqlmux added ([`Step::Internal`]): the first column of its first
/// row goes to `captured[slot]`, a ParameterStatus is noted on the backend, ReadyForQuery
/// ends the step.
pub(super) fn internal(
    m: &frame::Message,
    slot: Option<usize>,
    out: &mut Outcome,
    conn: &mut BackendConn,
    steps: &mut VecDeque<Step>,
) {
    match m.tag() {
        msg::DATA_ROW => {
            if let Some(i) = slot {
                if out.captured.len() <= i {
                    out.captured.resize(i + 1, None);
                }
                if out.captured[i].is_none() {
                    out.captured[i] = crate::pg::backend::first_column(m.body());
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
}
