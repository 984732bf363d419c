//! COM_STMT_*: client statement ids map to SQL texts; a statement is prepared lazily on
//! whichever backend runs it (bounded per connection), so prepared statements multiplex.

use super::super::error::SessionError;
use super::super::statements::{rewrite_execute, ClientStatement};
use super::execute::{FollowUp, Needs};
use super::Session;
use crate::router::is_plain_read;
use crate::session::PinReason;
use bytes::{Buf, BytesMut};
use sqlmux_protocol::dialect::mysql::{self, Flags};
use sqlmux_protocol::mysql::constants::{command, StatusFlags};
use sqlmux_protocol::mysql::packet::{encode, Frame};
use sqlmux_protocol::mysql::response::{err_packet, parse_err};
use sqlmux_protocol::mysql::scanner::{Expect, Progress, Scanner};
use std::sync::Arc;

fn statement_id(payload: &[u8]) -> Result<u32, SessionError> {
    payload
        .get(1..5)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| SessionError::Malformed("statement packet too short".into()))
}

fn unknown_statement(id: u32, command: &str) -> Vec<u8> {
    err_packet(
        1243,
        "HY000",
        &format!("Unknown prepared statement handler ({id}) given to {command}"),
    )
}

impl Session {
    /// COM_STMT_PREPARE: prepared on a backend now (for the metadata the client needs),
    /// answered with a session-local statement id.
    pub(super) async fn stmt_prepare(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let limit = self.shared.runtime.load().mysql.max_session_statements;
        if self.statements.len() >= limit {
            return Err(SessionError::TooManyStatements(limit));
        }
        let payload = frame.payload();
        let sql_text: Arc<[u8]> = Arc::from(&payload[1..]);
        let class = mysql::classify(&sql_text);
        let hostgroup = self.writer_hostgroup()?;
        self.acquire(hostgroup, Needs::default(), false).await?;
        let lease = self.held.leased()?;
        let conn = lease.conn();
        let mut response = prepare_on(
            conn,
            &frame.raw,
            self.capabilities
                .contains(sqlmux_protocol::mysql::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF),
        )
        .await?;
        let Some(prepared) = response.1 else {
            self.client.write_raw(&response.0).await?;
            self.client.flush_raw().await?;
            self.release_if_unpinned();
            return Ok(());
        };
        if let Some(old) = conn.statements.get(&sql_text).map(|s| s.id) {
            conn.statements.to_close.push(old);
        }
        conn.statements
            .insert(sql_text.clone(), prepared.statement_id);
        let client_id = self.next_statement_id;
        self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
        response.0[5..9].copy_from_slice(&client_id.to_le_bytes());
        self.statements.insert(
            client_id,
            ClientStatement {
                sql: sql_text,
                params: prepared.params,
                columns: prepared.columns,
                param_types: None,
                may_insert: class.flags.contains(Flags::MAY_INSERT)
                    || class.flags.contains(Flags::LAST_INSERT_ID_ARG),
                read_only: is_plain_read(&class),
                class,
            },
        );
        self.client.write_raw(&response.0).await?;
        self.client.flush_raw().await?;
        self.release_if_unpinned();
        Ok(())
    }

    /// Makes sure the held backend has `sql` prepared; returns its server-side id.
    async fn ensure_prepared(&mut self, client_id: u32) -> Result<Option<u32>, SessionError> {
        let Some(stmt) = self.statements.get(&client_id) else {
            return Ok(None);
        };
        let sql_text = stmt.sql.clone();
        let deprecate_eof = self
            .capabilities
            .contains(sqlmux_protocol::mysql::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(None);
        };
        let conn = lease.conn();
        if let Some(s) = conn.statements.get(&sql_text) {
            return Ok(Some(s.id));
        }
        let mut p = Vec::with_capacity(sql_text.len() + 1);
        p.push(command::STMT_PREPARE);
        p.extend_from_slice(&sql_text);
        let (bytes, prepared) = prepare_on(conn, &encode(0, &p), deprecate_eof).await?;
        let Some(prepared) = prepared else {
            let err = bytes.get(4..).and_then(parse_err);
            return Err(match err {
                Some(e) => SessionError::BackendRefused(e),
                None => SessionError::Malformed("prepare failed".into()),
            });
        };
        conn.statements.insert(sql_text, prepared.statement_id);
        Ok(Some(prepared.statement_id))
    }

    /// COM_STMT_EXECUTE: routed like its SQL, prepared on the backend if needed, with the
    /// statement id (and parameter types when the backend has not seen them) rewritten.
    pub(super) async fn stmt_execute(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let started = std::time::Instant::now();
        let pins_before = self.pins.clone();
        let payload = frame.payload();
        let id = statement_id(&payload)?;
        let Some(stmt) = self.statements.get(&id) else {
            self.client
                .send(
                    frame.last_seq.wrapping_add(1),
                    &unknown_statement(id, "mysqld_stmt_execute"),
                )
                .await?;
            return Ok(());
        };
        let (sql_text, params, may_insert, read_only, class) = (
            stmt.sql.clone(),
            stmt.params,
            stmt.may_insert,
            stmt.read_only,
            stmt.class,
        );
        let hostgroup = if read_only && !self.pins.is_pinned() {
            self.route(&sql_text, &class)?
        } else {
            self.writer_hostgroup()?
        };
        let needs = Needs {
            user_vars: false,
            last_insert_id: may_insert,
        };
        self.acquire(hostgroup, needs, false).await?;
        let Some(backend_id) = self.ensure_prepared(id).await? else {
            return Err(SessionError::Malformed("statement vanished".into()));
        };
        let (rewritten, sent_types) = {
            let client_types = self
                .statements
                .get(&id)
                .and_then(|s| s.param_types.as_deref());
            let backend_types = match self.held.lease.as_mut() {
                Some(l) => l
                    .conn()
                    .statements
                    .get(&sql_text)
                    .and_then(|s| s.types.clone()),
                None => None,
            };
            rewrite_execute(
                &payload,
                backend_id,
                params,
                client_types,
                backend_types.as_deref(),
            )
        };
        if let Some(types) = &sent_types {
            if let Some(s) = self.statements.get_mut(&id) {
                s.param_types = Some(types.clone());
            }
            if let Some(lease) = self.held.lease.as_mut() {
                if let Some(s) = lease.conn().statements.get(&sql_text) {
                    s.types = Some(types.clone());
                }
            }
        }
        let packet = encode(frame.first_seq, &rewritten);
        let follow_up = if may_insert {
            FollowUp::Pipelined
        } else {
            FollowUp::None
        };
        let outcome = self
            .run_command(&packet, Expect::Execute, follow_up)
            .await?;
        self.pins.set(PinReason::LongData, false);
        if outcome
            .scanner
            .status
            .contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS)
        {
            self.pins.set(PinReason::Cursor, true);
            self.cursor_statement = Some(id);
        }
        if may_insert && outcome.scanner.error.is_none() {
            self.state.last_write = Some(std::time::Instant::now());
        }
        self.finish(&outcome, false);
        self.record_statement(hostgroup, &sql_text, started, &outcome, &pins_before);
        Ok(())
    }

    /// COM_STMT_SEND_LONG_DATA: pins the backend until the execute.
    pub(super) async fn stmt_send_long_data(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let payload = frame.payload();
        let id = statement_id(&payload)?;
        if !self.statements.contains_key(&id) {
            return Ok(());
        }
        let hostgroup = self.writer_hostgroup()?;
        self.acquire(hostgroup, Needs::default(), false).await?;
        self.pins.set(PinReason::LongData, true);
        let Some(backend_id) = self.ensure_prepared(id).await? else {
            return Ok(());
        };
        let mut p = payload.into_owned();
        p[1..5].copy_from_slice(&backend_id.to_le_bytes());
        if let Some(lease) = self.held.lease.as_mut() {
            lease.conn().write_all(&encode(frame.first_seq, &p)).await?;
        }
        Ok(())
    }

    /// COM_STMT_CLOSE: forgets the client id; the backend statement stays cached. An open
    /// cursor on it is closed.
    pub(super) async fn stmt_close(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let id = statement_id(&frame.payload())?;
        if self.cursor_statement == Some(id) {
            self.close_cursor().await?;
        }
        self.statements.remove(&id);
        Ok(())
    }

    /// COM_STMT_RESET: clears long data and cursors; answered locally when the statement
    /// holds nothing on a backend.
    pub(super) async fn stmt_reset(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let id = statement_id(&frame.payload())?;
        let seq = frame.last_seq.wrapping_add(1);
        if !self.statements.contains_key(&id) {
            self.client
                .send(seq, &unknown_statement(id, "mysqld_stmt_reset"))
                .await?;
            return Ok(());
        }
        let holds = self.pins.has(PinReason::LongData) || self.cursor_statement == Some(id);
        if holds {
            self.close_cursor().await?;
            self.pins.set(PinReason::LongData, false);
            self.release_if_unpinned();
        }
        self.send_ok(seq).await?;
        Ok(())
    }

    /// Resets the statement with the open cursor on the pinned backend.
    async fn close_cursor(&mut self) -> Result<(), SessionError> {
        let Some(id) = self.cursor_statement.take() else {
            return Ok(());
        };
        self.pins.set(PinReason::Cursor, false);
        let sql_text = match self.statements.get(&id) {
            Some(s) => s.sql.clone(),
            None => return Ok(()),
        };
        if let Some(lease) = self.held.lease.as_mut() {
            let conn = lease.conn();
            if let Some(backend_id) = conn.statements.get(&sql_text).map(|s| s.id) {
                let mut p = vec![command::STMT_RESET];
                p.extend_from_slice(&backend_id.to_le_bytes());
                conn.simple_command(&p).await?;
            }
        }
        self.release_if_unpinned();
        Ok(())
    }

    /// COM_STMT_FETCH: only on the backend holding the cursor.
    pub(super) async fn stmt_fetch(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let payload = frame.payload();
        let id = statement_id(&payload)?;
        let seq = frame.last_seq.wrapping_add(1);
        let sql_text = match (self.cursor_statement == Some(id), self.statements.get(&id)) {
            (true, Some(s)) => s.sql.clone(),
            _ => {
                self.client
                    .send(seq, &unknown_statement(id, "mysqld_stmt_fetch"))
                    .await?;
                return Ok(());
            }
        };
        let Some(backend_id) = self
            .held
            .lease
            .as_mut()
            .and_then(|l| l.conn().statements.get(&sql_text).map(|s| s.id))
        else {
            self.client
                .send(seq, &unknown_statement(id, "mysqld_stmt_fetch"))
                .await?;
            return Ok(());
        };
        let mut p = payload.into_owned();
        p[1..5].copy_from_slice(&backend_id.to_le_bytes());
        let outcome = self
            .run_command(&encode(frame.first_seq, &p), Expect::Fetch, FollowUp::None)
            .await?;
        if outcome.scanner.error.is_some()
            || outcome
                .scanner
                .status
                .contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT)
        {
            self.cursor_statement = None;
            self.pins.set(PinReason::Cursor, false);
        }
        self.finish(&outcome, false);
        Ok(())
    }
}

/// The server's "Can't create more than max_prepared_stmt_count statements".
const TOO_MANY_STATEMENTS: u16 = 1461;

/// Sends a whole COM_STMT_PREPARE packet on `conn` and reads the response. While the
/// server refuses it for its statement limit (nothing ran), the least recently used half of
/// the connection's cached statements is closed and the prepare sent again (at most
/// log2(cached) + 1 times); the client sees the server's error only when none is left.
async fn prepare_on(
    conn: &mut super::super::backend::BackendConn,
    packet: &[u8],
    deprecate_eof: bool,
) -> Result<(BytesMut, Option<sqlmux_protocol::mysql::scanner::PrepareOk>), SessionError> {
    loop {
        conn.close_evicted().await?;
        conn.write_all(packet).await?;
        let response = read_prepare_response(conn, deprecate_eof).await?;
        let at_limit = response.1.is_none()
            && response
                .0
                .get(4..)
                .and_then(parse_err)
                .is_some_and(|e| e.code == TOO_MANY_STATEMENTS);
        if at_limit && conn.statements.evict_half() {
            continue;
        }
        return Ok(response);
    }
}

/// Reads a whole prepare response: its bytes, and the prepare-OK header unless it failed.
async fn read_prepare_response(
    conn: &mut super::super::backend::BackendConn,
    deprecate_eof: bool,
) -> Result<(BytesMut, Option<sqlmux_protocol::mysql::scanner::PrepareOk>), SessionError> {
    let mut scanner = Scanner::new(Expect::Prepare, deprecate_eof);
    let mut out = BytesMut::new();
    loop {
        let (n, progress) = scanner
            .scan(&conn.rbuf)
            .map_err(super::super::relay::RelayError::from)?;
        out.extend_from_slice(&conn.rbuf[..n]);
        conn.rbuf.advance(n);
        if progress == Progress::Done {
            return Ok((out, scanner.prepare.filter(|_| scanner.error.is_none())));
        }
        conn.fill().await?;
    }
}
