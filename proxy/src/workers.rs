//! The data path's threads. Each worker is one OS thread running a current-thread tokio
//! runtime, and every client session lives on one worker for its whole life (the model of
//! ProxySQL's `mysql-threads`). A statement's wakeups then stay on one thread: no work
//! stealing, no waking a sibling worker, no task moving between cores.
//!
//! Backend connections are pooled across workers. A connection's socket is registered with
//! the reactor of the worker that opened it (its [`WorkerId`] home); a session that borrows
//! one from another worker moves the socket to its own reactor first
//! ([`Rehome`]), and the pool prefers connections already at home.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Which worker a session runs on, and whose reactor a backend socket is registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerId(pub u16);

/// A pooled connection whose socket can move to the reactor of the worker that borrows it.
pub trait Rehome: Sized {
    /// Registers the connection's socket with the current runtime's reactor.
    fn rehome(self: Box<Self>) -> std::io::Result<Box<Self>>;
}

/// A pooled connection: it can move between workers, and tells when its server hung up.
pub trait Pooled: Rehome {
    /// Whether the server closed the connection (or sent something unasked) while it sat
    /// idle: such a connection is discarded before a byte of a statement is written to it.
    fn peer_closed(&self) -> bool;

    /// A duplicate of the connection's socket, made once when it was opened, so that a
    /// failover cut can shut the socket down under the session that has it lent (its
    /// statement then ends with an error instead of hanging).
    fn socket(&self) -> Option<CutHandle>;
}

/// A second descriptor of a backend socket: shutting it down ends the connection for
/// whoever uses the first.
pub type CutHandle = std::sync::Arc<std::os::fd::OwnedFd>;

/// One data-path thread.
struct Worker {
    handle: Handle,
    /// Sessions alive on this worker: a new client goes to the least loaded worker.
    sessions: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

/// The data-path threads of one proxy; stopped (their sessions dropped) by [`Workers::stop`]
/// or on drop.
pub struct Workers {
    workers: Vec<Worker>,
}

/// How many workers when the config does not say: half the CPUs, at least one (Odyssey's
/// `workers "auto"`). The proxy shares its host with the application or the database; on a
/// 2-core machine serving pgbench and PostgreSQL too, one worker spent 10-15% less CPU per
/// transaction than two.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

impl Workers {
    /// Starts `count` worker threads (at least one).
    pub fn start(count: usize) -> std::io::Result<Self> {
        let count = count.clamp(1, usize::from(u16::MAX));
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stop_rx) = oneshot::channel::<()>();
            let (stopped_tx, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("sqlmux-worker-{index}"))
                .spawn(move || {
                    // Ends when `stop` fires or its sender is dropped.
                    runtime.block_on(async move {
                        let _ = stop_rx.await;
                    });
                    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
                    let _ = stopped_tx.send(());
                })?;
            workers.push(Worker {
                handle,
                sessions: Arc::new(AtomicUsize::new(0)),
                stop: Some(stop),
                stopped: Some(stopped),
            });
        }
        Ok(Workers { workers })
    }

    /// The live-session counter of each worker (for the stats).
    pub fn session_counters(&self) -> Vec<Arc<AtomicUsize>> {
        self.workers.iter().map(|w| w.sessions.clone()).collect()
    }

    /// Moves an accepted client socket to the least loaded worker and serves it there.
    pub fn serve<F, Fut>(&self, tcp: TcpStream, peer: SocketAddr, serve: F)
    where
        F: FnOnce(TcpStream, SocketAddr, WorkerId) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some((index, worker)) = self
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.sessions.load(Ordering::Relaxed))
        else {
            return;
        };
        // The socket leaves the accepting runtime's reactor and joins the worker's.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the client to a worker");
                return;
            }
        };
        let live = SessionCount::enter(&worker.sessions);
        let id = WorkerId(index as u16);
        worker.handle.spawn(async move {
            let _live = live;
            match TcpStream::from_std(tcp) {
                Ok(tcp) => serve(tcp, peer, id).await,
                Err(e) => tracing::warn!(%peer, error = %e, "worker cannot take the client"),
            }
        });
    }

    /// Stops every worker and waits until their sessions are dropped.
    pub async fn stop(mut self) {
        let stopped: Vec<_> = self
            .workers
            .iter_mut()
            .filter_map(|w| {
                w.stop.take().map(|s| s.send(()));
                w.stopped.take()
            })
            .collect();
        for done in stopped {
            let _ = done.await;
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

/// One live session on a worker, counted until dropped.
struct SessionCount(Arc<AtomicUsize>);

impl SessionCount {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        SessionCount(count.clone())
    }
}

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_spread_over_workers_and_stop_ends_their_sessions() {
        let workers = Workers::start(2).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (tcp, peer) = listener.accept().await.unwrap();
            let seen = seen_tx.clone();
            workers.serve(tcp, peer, move |mut tcp, _, id| async move {
                let _ = seen.send((id, std::thread::current().name().map(String::from)));
                // A session that lives until its client closes.
                let mut byte = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut byte).await;
            });
        }
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (id, thread) = seen_rx.recv().await.unwrap();
            assert_eq!(thread, Some(format!("sqlmux-worker-{}", id.0)));
            ids.push(id.0);
        }
        ids.sort();
        assert_eq!(ids, vec![0, 0, 1, 1], "least loaded worker first");
        let live: Vec<usize> = workers
            .session_counters()
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        assert_eq!(live, vec![2, 2]);
        workers.stop().await;
        // The sessions were dropped with their worker: the clients see EOF.
        for mut c in clients {
            let mut byte = [0u8; 1];
            let n = tokio::io::AsyncReadExt::read(&mut c, &mut byte)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
    }
}
