//! The accept loop both admin ports share: a bounded number of connections, each a task of
//! the loop's future (dropping it closes them all), back-off on accept errors.

use std::future::Future;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Admin connections served at once per port; more wait in the listen backlog.
pub(super) const MAX_CONNECTIONS: usize = 64;

/// Accepts connections on `listener` and serves each with `serve` until dropped.
pub(super) async fn accept_bounded<F, Fut>(listener: TcpListener, port: &'static str, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        if connections.len() >= MAX_CONNECTIONS {
            connections.join_next().await;
            continue;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve(stream, peer));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, port, "admin: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
