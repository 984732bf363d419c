//! [`Pools`]: every server's pool of one proxy: which server a checkout goes to, the
//! checkout itself, and what a new topology does to the pools.

use super::*;

/// All server pools of one proxy.
pub struct Pools<C> {
    servers: crate::shared::FastMap<Arc<str>, Arc<ServerPool<C>>>,
}

impl<C> Default for Pools<C> {
    fn default() -> Self {
        Self {
            servers: Default::default(),
        }
    }
}

impl<C> Pools<C> {
    /// The pool of one server, created on first use with its connection limit.
    pub fn server(&self, address: &Arc<str>, max_connections: u32) -> Arc<ServerPool<C>> {
        if let Some(p) = self.servers.get(address) {
            return p.clone();
        }
        self.servers
            .entry(address.clone())
            .or_insert_with(|| Arc::new(ServerPool::new(address.clone(), max_connections)))
            .clone()
    }

    /// The ONLINE server of `hostgroup` with the fewest statements outstanding per unit of
    /// weight (weight 0 only when nothing else is left).
    pub fn pick<'t>(
        &self,
        topology: &'t crate::topology::Topology,
        hostgroup: u32,
    ) -> Option<&'t crate::topology::ServerEntry> {
        self.choose(topology, hostgroup).map(|(s, _)| s)
    }

    /// [`pick`](Self::pick), with the chosen server's pool (created on first use).
    pub fn pick_pool<'t>(
        &self,
        topology: &'t crate::topology::Topology,
        hostgroup: u32,
    ) -> Option<(&'t crate::topology::ServerEntry, Arc<ServerPool<C>>)> {
        let (s, pool) = self.choose(topology, hostgroup)?;
        let pool = pool.unwrap_or_else(|| self.server(&s.address, s.max_connections));
        Some((s, pool))
    }

    /// The server `pick` chooses and its pool when it has one: one map lookup per server,
    /// shunned ones skipped, the first of the least loaded kept.
    fn choose<'t>(
        &self,
        topology: &'t crate::topology::Topology,
        hostgroup: u32,
    ) -> Option<(&'t crate::topology::ServerEntry, Option<Arc<ServerPool<C>>>)> {
        // (load, server, its pool)
        let mut best = None::<(
            u64,
            &crate::topology::ServerEntry,
            Option<Arc<ServerPool<C>>>,
        )>;
        let writer = topology.is_writer(hostgroup);
        for s in topology.online_in(hostgroup) {
            let pool = self.servers.get(&s.address);
            let outstanding = match &pool {
                Some(p) if !p.takes_work(writer) => continue,
                Some(p) => p.outstanding() as u64,
                None => 0,
            };
            let load = ((outstanding + 1) * 1_000_000)
                .checked_div(u64::from(s.weight))
                .unwrap_or(u64::MAX);
            if best.as_ref().is_none_or(|(least, _, _)| load < *least) {
                best = Some((load, s, pool.map(|p| p.value().clone())));
            }
        }
        best.map(|(_, s, pool)| (s, pool))
    }

    /// Why `pick` found nothing: every ONLINE server SHUNNED, or none ONLINE.
    pub fn no_server(&self, topology: &crate::topology::Topology, hostgroup: u32) -> PoolError {
        let retry = topology
            .online_in(hostgroup)
            .filter_map(|s| self.servers.get(&s.address).and_then(|p| p.shunned_for()))
            .min();
        match retry {
            Some(retry_ms) => PoolError::Shunned {
                hostgroup,
                retry_ms,
            },
            None => PoolError::NoServer { hostgroup },
        }
    }

    /// Applies a new topology: servers ONLINE somewhere stay open, OFFLINE_SOFT and SHUNNED
    /// ones drain, OFFLINE_HARD and removed ones are closed.
    pub fn apply_topology(&self, topology: &crate::topology::Topology) {
        use sqlmux_config::ServerStatus;
        for entry in self.servers.iter() {
            let statuses = topology
                .servers
                .iter()
                .filter(|s| s.address == *entry.key())
                .map(|s| s.status);
            let mut a = Availability::Closed;
            for status in statuses {
                let this = match status {
                    ServerStatus::Online => Availability::Open,
                    ServerStatus::OfflineSoft | ServerStatus::Shunned => Availability::Draining,
                    ServerStatus::OfflineHard => Availability::Closed,
                };
                if (this as u8) < (a as u8) {
                    a = this;
                }
            }
            entry.value().set_availability(a);
        }
    }

    /// The pool of a server, if one was created.
    pub fn get(&self, address: &Arc<str>) -> Option<Arc<ServerPool<C>>> {
        self.servers.get(address).map(|p| p.clone())
    }

    /// Every server pool.
    pub fn all(&self) -> Vec<Arc<ServerPool<C>>> {
        self.servers.iter().map(|e| e.value().clone()).collect()
    }

    /// Closes idle connections past their timeouts in every pool.
    pub fn reap(&self, settings: &PoolSettings) -> usize {
        self.all().iter().map(|p| p.reap(settings)).sum()
    }

    /// Lends a connection of `partition` on `server` to a session on `worker`, opening one
    /// with `connect` when none is idle and the server is below its limit; waits at most
    /// `settings.wait_timeout`.
    pub async fn checkout<F, Fut, E>(
        &self,
        server: Arc<ServerPool<C>>,
        hostgroup: u32,
        partition: Arc<Partition>,
        worker: WorkerId,
        settings: &PoolSettings,
        connect: F,
    ) -> Result<Lease<C>, PoolError>
    where
        C: Pooled + Send + 'static,
        F: FnOnce(Arc<str>) -> Fut,
        Fut: Future<Output = Result<C, E>>,
        E: ConnectFailure,
    {
        server.note_settings(settings);
        // An idle connection reads no clock; a slot or a wait is timed from here.
        let (permit, started) = match server.claim(&partition, worker, settings) {
            Claim::Idle(idle) => match idle.settle(worker, &server.stats) {
                Ok(idle) => return Ok(tracked(Lease::lend(server, idle, partition, None))),
                Err(permit) => (permit, Instant::now()),
            },
            Claim::Slot(permit) => (permit, Instant::now()),
            Claim::Queued { handoff, started } => match handoff.await {
                Ok(Handoff::Conn(idle)) => match idle.settle(worker, &server.stats) {
                    Ok(idle) => {
                        return Ok(tracked(Lease::lend(server, idle, partition, Some(started))))
                    }
                    Err(permit) => (permit, started),
                },
                Ok(Handoff::Slot(p)) => (p, started),
                // The server went DOWN while it waited: it never reached a server.
                Err(_) if server.is_down() => {
                    return Err(PoolError::Down {
                        address: server.address.to_string(),
                        hostgroup,
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
                // A waiter whose deadline passed is dropped by the expiry task.
                Err(_) => {
                    server.stats.wait_timeout();
                    return Err(PoolError::WaitTimeout {
                        hostgroup,
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
            },
        };
        // A SHUNNED server is tried by one checkout per probe interval; the others wait.
        if let Some(retry_ms) = server.shunned_for() {
            if !server.claim_probe() {
                server.release(permit);
                return Err(PoolError::Shunned {
                    hostgroup,
                    retry_ms,
                });
            }
        }
        let attempt =
            tokio::time::timeout(settings.connect_timeout, connect(server.address.clone())).await;
        let reason = match attempt {
            Ok(Ok(conn)) => return Ok(opened(server, conn, permit, partition, worker, started)),
            Ok(Err(e)) => (e.to_string(), e.server_fault()),
            Err(_) => (
                format!(
                    "timed out after {} ms",
                    settings.connect_timeout.as_millis()
                ),
                true,
            ),
        };
        let (reason, server_fault) = reason;
        // The slot goes to the next waiter, which tries again.
        server.release(permit);
        if server_fault {
            server.connect_failed(settings);
        } else {
            // The client's own error: counted, never towards SHUNNED.
            server.stats.connect_failed();
        }
        Err(PoolError::Connect {
            address: server.address.to_string(),
            hostgroup,
            reason,
        })
    }
}

/// The lease of a connection just opened on `server` with `permit`.
fn opened<C: Pooled>(
    server: Arc<ServerPool<C>>,
    conn: C,
    permit: OwnedSemaphorePermit,
    partition: Arc<Partition>,
    worker: WorkerId,
    started: Instant,
) -> Lease<C> {
    server.stats.connected();
    server.stats.checked_out(Some(started));
    server.connect_succeeded();
    server.lent();
    let id = server.next_lease.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    tracked(Lease {
        conn: Some(Box::new(conn)),
        permit: Some(permit),
        created: now,
        lent_at: now,
        partition,
        server: Some(server),
        home: worker,
        id,
    })
}

/// A lease whose socket its pool knows (for a failover cut).
fn tracked<C: Pooled>(lease: Lease<C>) -> Lease<C> {
    lease.pool().track_lent(lease.id, lease.conn_ref().socket());
    lease
}
