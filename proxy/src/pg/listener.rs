//! Accepts PostgreSQL clients until shutdown.

use crate::shared::Shared;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts connections and spawns a session task for each.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(super::session::serve(shared.clone(), tcp, peer));
            }
            Err(e) => {
                tracing::warn!(error = %e, "postgres accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
