//! Protocol-level prepared statements across pooled backends: one global cache gives each
//! distinct statement (query text + parameter types) an id; a session maps its client
//! names to ids; each backend connection keeps a bounded set of `sqlmux_<id>` statements,
//! prepared lazily and closed when evicted.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Distinct statement identities remembered; past it the registry starts over (ids are
/// never reused, so a statement seen again simply gets a new id and is prepared again).
pub const REGISTRY_LIMIT: usize = 100_000;

/// Bytes of statement identities remembered; past it the registry starts over too.
pub const REGISTRY_BYTES: usize = 64 << 20;

/// The proxy-wide registry of statement identities.
#[derive(Default)]
pub struct StatementCache {
    ids: crate::shared::FastMap<Bytes, u64>,
    /// Bytes of the identities in `ids` (approximate under concurrent inserts).
    bytes: AtomicUsize,
    next: AtomicU64,
}

impl StatementCache {
    /// The id of a statement identity (the Parse body after the name).
    pub fn id_of(&self, identity: &[u8]) -> u64 {
        if let Some(id) = self.ids.get(identity) {
            return *id;
        }
        if self.ids.len() >= REGISTRY_LIMIT
            || self.bytes.load(Ordering::Relaxed) + identity.len() > REGISTRY_BYTES
        {
            self.ids.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        *self
            .ids
            .entry(Bytes::copy_from_slice(identity))
            .or_insert_with(|| {
                self.bytes.fetch_add(identity.len(), Ordering::Relaxed);
                self.next.fetch_add(1, Ordering::Relaxed) + 1
            })
    }

    /// Distinct statements seen.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no statement was seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The name a statement has on every backend.
pub fn backend_name(id: u64) -> String {
    format!("sqlmux_{id}")
}

/// A statement as a client prepared it under a name.
#[derive(Debug)]
pub struct ClientStatement {
    /// Global id.
    pub id: u64,
    /// The Parse body after the name (query, parameter types): re-sent to backends that
    /// lack the statement.
    pub identity: Bytes,
    /// The statement only reads (may go to a reader).
    pub plain_read: bool,
    /// The lexer's view of the query.
    pub class: sqlmux_protocol::dialect::postgres::Classification,
    /// The query text.
    pub query: Bytes,
    /// When the client's Parse came: a backend's copy prepared before it may have gone stale
    /// where the client's own Parse would not have.
    pub parsed_at: Instant,
}

/// The statements prepared on one backend connection, least recently used first out.
#[derive(Debug)]
pub struct BackendStatements {
    /// Statement id -> (last use on the clock, when it was prepared here).
    used: HashMap<u64, (u64, Instant)>,
    limit: usize,
    clock: u64,
    /// Evicted statements not yet closed on the server.
    pub to_close: Vec<u64>,
}

impl BackendStatements {
    /// An empty set holding at most `limit` statements.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            used: HashMap::new(),
            limit: limit.max(1),
            clock: 0,
            to_close: Vec::new(),
        }
    }

    /// Whether the statement is prepared here (and marks it used).
    pub fn touch(&mut self, id: u64) -> bool {
        self.clock += 1;
        match self.used.get_mut(&id) {
            Some((t, _)) => {
                *t = self.clock;
                true
            }
            None => false,
        }
    }

    /// Records a statement prepared here, evicting the least recently used beyond the limit
    /// (`keep` is never evicted: it is about to be used).
    pub fn insert(&mut self, id: u64) {
        self.clock += 1;
        self.used.insert(id, (self.clock, Instant::now()));
        while self.used.len() > self.limit {
            let Some((&old, _)) = self
                .used
                .iter()
                .filter(|(k, _)| **k != id)
                .min_by_key(|(_, (t, _))| *t)
            else {
                break;
            };
            self.used.remove(&old);
            self.to_close.push(old);
        }
    }

    /// When the statement was prepared here.
    pub fn prepared_at(&self, id: u64) -> Option<Instant> {
        self.used.get(&id).map(|(_, at)| *at)
    }

    /// Forgets a statement (its Parse failed, or it was closed).
    pub fn remove(&mut self, id: u64) {
        self.used.remove(&id);
    }

    /// Forgets everything (DISCARD ALL / DEALLOCATE ALL ran).
    pub fn clear(&mut self) {
        self.used.clear();
        self.to_close.clear();
    }

    /// Statements prepared here.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// True when none is prepared here.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shared_by_identity() {
        let c = StatementCache::default();
        let a = c.id_of(b"SELECT 1\0\0\0");
        assert_eq!(c.id_of(b"SELECT 1\0\0\0"), a);
        assert_ne!(c.id_of(b"SELECT 2\0\0\0"), a);
        assert_eq!(c.len(), 2);
        assert_eq!(backend_name(a), format!("sqlmux_{a}"));
    }

    #[test]
    fn the_registry_is_bounded_and_never_reuses_ids() {
        let c = StatementCache::default();
        let first = c.id_of(b"q0");
        for i in 1..=REGISTRY_LIMIT {
            c.id_of(format!("q{i}").as_bytes());
        }
        assert!(c.len() <= REGISTRY_LIMIT);
        assert!(
            c.id_of(b"q0") > first,
            "a forgotten statement gets a fresh id"
        );
    }

    #[test]
    fn backend_set_is_bounded_and_evicts_least_recent() {
        let mut s = BackendStatements::with_limit(2);
        s.insert(1);
        s.insert(2);
        assert!(s.touch(1));
        s.insert(3);
        assert_eq!(s.to_close, vec![2]);
        assert!(s.touch(1) && s.touch(3) && !s.touch(2));
        assert_eq!(s.len(), 2);
    }
}
