//! [`PoolChoice`]: a session's remembered server pool for a hostgroup that has one ONLINE
//! server. Choosing a server looks the pool up in the shared pools map (a shard lock) and
//! clones its `Arc` (a reference count every session shares); both move cache lines between
//! cores on every transaction. While the topology snapshot stays the same, the session
//! keeps the pool's `Arc` itself and lends it to each lease in turn: checkout moves it into
//! the lease, checkin moves it back.

use super::{Pools, ServerPool};
use crate::topology::Topology;
use std::sync::{Arc, Weak};

impl<C> Pools<C> {
    /// The pool a checkout in `hostgroup` uses and whether its server takes TLS: the one
    /// `choice` remembers when it holds, else [`pick_pool`](Self::pick_pool)'s, remembered
    /// in `choice` for the next checkout. `None`: no server takes work.
    pub fn pick_remembered(
        &self,
        choice: &mut Option<PoolChoice<C>>,
        topology: &Arc<Topology>,
        hostgroup: u32,
    ) -> Option<(Arc<ServerPool<C>>, bool)> {
        if let Some(chosen) = choice.as_mut().and_then(|c| c.take(topology, hostgroup)) {
            return Some(chosen);
        }
        let (server, pool) = self.pick_pool(topology, hostgroup)?;
        if !choice
            .as_ref()
            .is_some_and(|c| c.is_for(topology, hostgroup))
        {
            *choice = PoolChoice::remember(topology, hostgroup, &pool, server.tls);
        }
        Some((pool, server.tls))
    }
}

/// One remembered choice: hostgroup, the snapshot it was made in, the pool when not lent.
pub struct PoolChoice<C> {
    hostgroup: u32,
    /// The snapshot the choice was made in (a `Weak`: its address is not reused while this
    /// lives, so comparing addresses is sound).
    topology: Weak<Topology>,
    /// The pool, when no lease holds it.
    pool: Option<Arc<ServerPool<C>>>,
    /// Which pool that is (to know it when a lease returns it).
    chosen: Weak<ServerPool<C>>,
    /// Whether connections to that server use TLS.
    tls: bool,
}

impl<C> PoolChoice<C> {
    /// Remembers `pool` (with its server's `tls`) for `hostgroup` in `topology`, when the
    /// hostgroup has exactly one ONLINE server (with several, each checkout chooses).
    pub fn remember(
        topology: &Arc<Topology>,
        hostgroup: u32,
        pool: &Arc<ServerPool<C>>,
        tls: bool,
    ) -> Option<Self> {
        let mut online = topology.online_in(hostgroup);
        let single = online.next().is_some() && online.next().is_none();
        single.then(|| Self {
            hostgroup,
            topology: Arc::downgrade(topology),
            pool: Some(pool.clone()),
            chosen: Arc::downgrade(pool),
            tls,
        })
    }

    /// The remembered pool and `tls`, taken out for a lease, when the choice holds for
    /// `hostgroup` in `topology` and the server is not SHUNNED.
    pub fn take(
        &mut self,
        topology: &Arc<Topology>,
        hostgroup: u32,
    ) -> Option<(Arc<ServerPool<C>>, bool)> {
        if !self.is_for(topology, hostgroup) {
            return None;
        }
        let writer = topology.is_writer(hostgroup);
        let pool = self.pool.take_if(|p| p.takes_work(writer))?;
        Some((pool, self.tls))
    }

    /// Takes back the pool a lease returned, when it is the remembered one.
    pub fn give_back(&mut self, pool: Arc<ServerPool<C>>) {
        if self.pool.is_none() && std::ptr::eq(self.chosen.as_ptr(), Arc::as_ptr(&pool)) {
            self.pool = Some(pool);
        }
    }

    /// Whether the choice was made for `hostgroup` in `topology` (whether or not it holds
    /// the pool now).
    pub fn is_for(&self, topology: &Arc<Topology>, hostgroup: u32) -> bool {
        self.hostgroup == hostgroup && std::ptr::eq(self.topology.as_ptr(), Arc::as_ptr(topology))
    }
}
