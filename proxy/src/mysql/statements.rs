//! Prepared statements: the session's client-side ids, and each backend connection's
//! bounded cache of server-side statements (closed on eviction, so the server's
//! `max_prepared_stmt_count` is never exhausted by the proxy).

use std::collections::HashMap;
use std::sync::Arc;

/// Server-side statements kept per backend connection unless configured
/// (`mysql.backend_statement_limit`).
pub const BACKEND_STATEMENT_LIMIT: usize = 128;

/// A statement as the client prepared it.
#[derive(Debug, Clone)]
pub struct ClientStatement {
    /// The SQL text.
    pub sql: Arc<[u8]>,
    /// Parameter count.
    pub params: u16,
    /// Result column count.
    pub columns: u16,
    /// Parameter types the client last sent (2 bytes each), re-sent to backends that did
    /// not see them.
    pub param_types: Option<Vec<u8>>,
    /// The statement may insert (LAST_INSERT_ID follow-up needed).
    pub may_insert: bool,
    /// The statement is a plain read (may go to a reader).
    pub read_only: bool,
    /// The lexer's view of the SQL (routing).
    pub class: sqlmux_protocol::dialect::mysql::Classification,
}

/// A statement prepared on one backend connection.
#[derive(Debug, Clone)]
pub struct BackendStatement {
    /// Server-side id.
    pub id: u32,
    /// Parameter types this server statement last received.
    pub types: Option<Vec<u8>>,
    last_used: u64,
}

/// The bounded per-connection cache, keyed by SQL text.
#[derive(Debug)]
pub struct BackendStatements {
    by_sql: HashMap<Arc<[u8]>, BackendStatement>,
    limit: usize,
    clock: u64,
    /// Server ids evicted and not yet closed on the server.
    pub to_close: Vec<u32>,
}

impl Default for BackendStatements {
    fn default() -> Self {
        Self::with_limit(BACKEND_STATEMENT_LIMIT)
    }
}

impl BackendStatements {
    /// An empty cache holding at most `limit` statements.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            by_sql: HashMap::new(),
            limit: limit.max(1),
            clock: 0,
            to_close: Vec::new(),
        }
    }

    /// Lowers the limit to the server's own (`max_prepared_stmt_count`).
    pub fn cap_limit(&mut self, server_limit: usize) {
        self.limit = self.limit.min(server_limit).max(1);
    }

    /// The server refused a prepare for its statement limit (1461): the least recently
    /// used half of the statements is evicted (closed before the next command) so that a
    /// prepare can be tried again. False when nothing is left to evict.
    pub fn evict_half(&mut self) -> bool {
        if self.by_sql.is_empty() {
            return false;
        }
        let mut by_age: Vec<(u64, Arc<[u8]>)> = self
            .by_sql
            .iter()
            .map(|(k, s)| (s.last_used, k.clone()))
            .collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        let n = by_age.len().div_ceil(2);
        for (_, sql) in by_age.into_iter().take(n) {
            if let Some(s) = self.by_sql.remove(&sql) {
                self.to_close.push(s.id);
            }
        }
        true
    }

    /// The statement for `sql`, if prepared here.
    pub fn get(&mut self, sql: &[u8]) -> Option<&mut BackendStatement> {
        self.clock += 1;
        let clock = self.clock;
        let s = self.by_sql.get_mut(sql)?;
        s.last_used = clock;
        Some(s)
    }

    /// Records a statement prepared here, evicting the least recently used beyond the limit.
    pub fn insert(&mut self, sql: Arc<[u8]>, id: u32) {
        self.clock += 1;
        if self.by_sql.len() >= self.limit {
            if let Some(victim) = self
                .by_sql
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                if let Some(old) = self.by_sql.remove(&victim) {
                    self.to_close.push(old.id);
                }
            }
        }
        self.by_sql.insert(
            sql,
            BackendStatement {
                id,
                types: None,
                last_used: self.clock,
            },
        );
    }

    /// Statements prepared here.
    pub fn len(&self) -> usize {
        self.by_sql.len()
    }

    /// True when none is prepared here.
    pub fn is_empty(&self) -> bool {
        self.by_sql.is_empty()
    }

    /// Forgets everything (after COM_RESET_CONNECTION, which closes them on the server).
    pub fn clear(&mut self) {
        self.by_sql.clear();
        self.to_close.clear();
    }
}

/// Where the parameter types sit in a COM_STMT_EXECUTE payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteLayout {
    /// Offset of the new-params-bound flag.
    pub bound_flag_at: usize,
    /// Whether types follow.
    pub bound: bool,
}

/// Finds the new-params-bound flag of an execute payload for a statement with `params`
/// parameters; `None` when there are no parameters or the packet is too short.
pub fn execute_layout(payload: &[u8], params: u16) -> Option<ExecuteLayout> {
    if params == 0 {
        return None;
    }
    let at = 1 + 4 + 1 + 4 + usize::from(params).div_ceil(8);
    let flag = *payload.get(at)?;
    Some(ExecuteLayout {
        bound_flag_at: at,
        bound: flag == 1,
    })
}

/// Rewrites an execute payload for a backend: its statement id, and the parameter types
/// when this backend statement has not seen the ones the client means.
pub fn rewrite_execute(
    payload: &[u8],
    backend_id: u32,
    params: u16,
    client_types: Option<&[u8]>,
    backend_types: Option<&[u8]>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = payload.to_vec();
    if out.len() >= 5 {
        out[1..5].copy_from_slice(&backend_id.to_le_bytes());
    }
    let Some(layout) = execute_layout(payload, params) else {
        return (out, None);
    };
    let n = usize::from(params) * 2;
    let types_at = layout.bound_flag_at + 1;
    if layout.bound {
        let sent = payload.get(types_at..types_at + n).map(<[u8]>::to_vec);
        return (out, sent);
    }
    match client_types {
        Some(types) if Some(types) != backend_types && types.len() == n => {
            let mut with_types = Vec::with_capacity(out.len() + n);
            with_types.extend_from_slice(&out[..layout.bound_flag_at]);
            with_types.push(1);
            with_types.extend_from_slice(types);
            with_types.extend_from_slice(&out[types_at..]);
            (with_types, Some(types.to_vec()))
        }
        _ => (out, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_and_queues_a_close() {
        let mut s = BackendStatements::default();
        for i in 0..BACKEND_STATEMENT_LIMIT as u32 {
            s.insert(Arc::from(format!("q{i}").as_bytes()), i);
        }
        assert!(s.get(b"q0").is_some(), "q0 is now recently used");
        s.insert(Arc::from(&b"new"[..]), 999);
        assert_eq!(s.len(), BACKEND_STATEMENT_LIMIT);
        assert_eq!(s.to_close, vec![1], "q1 was the least recently used");
        assert!(s.get(b"q1").is_none());
    }

    #[test]
    fn execute_rewrite_injects_types_once() {
        // stmt 7, flags 0, iteration 1, 2 params: null bitmap 1 byte, bound flag 0, values
        let mut p = vec![0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00];
        p.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
        let types = [3u8, 0, 3, 0];
        let (out, sent) = rewrite_execute(&p, 42, 2, Some(&types), None);
        assert_eq!(&out[1..5], &42u32.to_le_bytes());
        assert_eq!(out[11], 1, "types bound now");
        assert_eq!(&out[12..16], &types);
        assert_eq!(&out[16..], &p[12..]);
        assert_eq!(sent.as_deref(), Some(&types[..]));
        let (out, sent) = rewrite_execute(&p, 42, 2, Some(&types), Some(&types));
        assert_eq!(out.len(), p.len(), "the backend already knows the types");
        assert!(sent.is_none());
    }
}
