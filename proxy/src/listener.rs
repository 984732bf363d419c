//! The accept loop of the application endpoints (MySQL and PostgreSQL): one task per
//! client session, running until shutdown.

use crate::shared::Shared;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections and spawns `serve` for each.
pub async fn accept_loop<F, Fut>(
    shared: Arc<Shared>,
    listener: TcpListener,
    protocol: &'static str,
    serve: F,
) where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(serve(shared.clone(), tcp, peer));
            }
            Err(e) => {
                // Out of file descriptors and the like: keep serving, but do not spin.
                tracing::warn!(error = %e, protocol, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
