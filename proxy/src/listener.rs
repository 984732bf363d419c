//! The accept loop of the application endpoints (MySQL and PostgreSQL): each client goes to
//! a data-path worker, where its session runs until it ends or the proxy stops.

use crate::shared::Shared;
use crate::workers::{WorkerId, Workers};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections and serves each with `serve` on the least loaded worker.
pub async fn accept_loop<F, Fut>(
    shared: Arc<Shared>,
    listener: TcpListener,
    protocol: &'static str,
    workers: Arc<Workers>,
    serve: F,
) where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr, WorkerId) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let shared = shared.clone();
                workers.serve(tcp, peer, move |tcp, peer, worker| {
                    serve(shared, tcp, peer, worker)
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: keep serving, but do not spin.
                tracing::warn!(error = %e, protocol, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
