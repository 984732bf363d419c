//! One checkout attempt, the same for both protocols: a lent idle connection, else a login
//! the protocol performs ([`checkout`]); a failed login counted against the server or not
//! ([`LoginError`]), and a server's refusal kept for the statement's error.

use super::Picked;
use crate::pool::{Failure, Lease, Partition, PoolError, Pools};
use crate::shared::Shared;
use crate::workers::{Pooled, WorkerId};
use sqlmux_config::PoolSettings;
use std::future::Future;
use std::sync::Arc;

/// What a protocol's backend login error tells a checkout.
pub trait LoginError: std::fmt::Display {
    /// The server's refusal of the login (MySQL's ERR packet, PostgreSQL's ErrorResponse).
    type Refusal;

    /// The server's refusal, when the login failed with one.
    fn refusal(self) -> Option<Self::Refusal>;

    /// Whether the server refused for the client's own reasons: the client hears it, and it
    /// never counts against the server.
    fn for_the_client(refusal: &Self::Refusal) -> bool;
}

/// What a protocol's login gets: where, and how the rules of `backend_tls` say to log in.
pub struct Login {
    /// The server's `host:port`.
    pub address: Arc<str>,
    /// The TLS connector, when the server is configured with TLS.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// Whether the password may go in clear over plain TCP.
    pub allow_cleartext: bool,
}

/// Where one checkout attempt goes.
pub struct Attempt<C> {
    /// The pool (see [`super::Held::pick`]).
    pub picked: Picked<C>,
    /// The hostgroup the statement goes to.
    pub hostgroup: u32,
    /// The session's partition of the pool.
    pub partition: Arc<Partition>,
    /// The data-path thread the session lives on.
    pub worker: WorkerId,
    /// The pool settings of the runtime snapshot.
    pub settings: PoolSettings,
}

/// A failed backend login as the pool counts it; a server's refusal is kept in `refused`
/// for the statement's error.
pub fn login_failure<E: LoginError>(e: E, refused: &mut Option<E::Refusal>) -> Failure {
    let reason = e.to_string();
    let refusal = e.refusal();
    let server_fault = refusal.as_ref().is_none_or(|r| !E::for_the_client(r));
    if let Some(refusal) = refusal {
        *refused = Some(refusal);
    }
    Failure {
        reason,
        server_fault,
    }
}

/// One checkout attempt: an idle connection of the session's partition, else one that
/// `login` opens. Fails with the pool's error, or with `refused(error, refusal)` when a
/// server refused the login.
pub async fn checkout<C, E, S, F, Fut>(
    shared: &Shared,
    pools: &Pools<C>,
    attempt: Attempt<C>,
    login: F,
    refused: impl FnOnce(PoolError, E::Refusal) -> S,
) -> Result<Lease<C>, S>
where
    C: Pooled + Send + 'static,
    E: LoginError,
    S: From<PoolError>,
    F: FnOnce(Login) -> Fut,
    Fut: Future<Output = Result<C, E>>,
{
    let Attempt {
        picked,
        hostgroup,
        partition,
        worker,
        settings,
    } = attempt;
    let (backend_tls, runtime, tls) = (&shared.backend_tls, &shared.runtime, picked.tls);
    let mut refusal = None;
    let slot = &mut refusal;
    let lease = pools
        .checkout(
            picked.pool,
            hostgroup,
            partition,
            worker,
            &settings,
            move |address| async move {
                // Looked up only when a connection is opened, not per checkout.
                let (tls, allow_cleartext) = backend_tls.login_options(runtime, &address, tls);
                let login = login(Login {
                    address,
                    tls,
                    allow_cleartext,
                });
                login.await.map_err(|e| login_failure(e, slot))
            },
        )
        .await;
    match (lease, refusal) {
        (Ok(lease), _) => Ok(lease),
        (Err(e), Some(refusal)) => Err(refused(e, refusal)),
        (Err(e), None) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login error: a server's refusal with its code, or a broken connection.
    enum Failed {
        Refused(u16),
        Broken,
    }

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Failed::Refused(code) => write!(f, "refused {code}"),
                Failed::Broken => f.write_str("broken"),
            }
        }
    }

    impl LoginError for Failed {
        type Refusal = u16;

        fn refusal(self) -> Option<u16> {
            match self {
                Failed::Refused(code) => Some(code),
                Failed::Broken => None,
            }
        }

        fn for_the_client(code: &u16) -> bool {
            *code == 1045
        }
    }

    #[test]
    fn a_refusal_is_kept_and_counts_against_the_server_unless_it_is_the_clients() {
        let mut refused = None;
        let failure = login_failure(Failed::Refused(1045), &mut refused);
        assert_eq!(failure.reason, "refused 1045");
        assert!(!failure.server_fault);
        assert_eq!(refused, Some(1045));
        let failure = login_failure(Failed::Refused(1040), &mut refused);
        assert!(failure.server_fault);
        assert_eq!(refused, Some(1040));
        let failure = login_failure(Failed::Broken, &mut refused);
        assert!(failure.server_fault && failure.reason == "broken");
        assert_eq!(
            refused,
            Some(1040),
            "a broken connection leaves the refusal"
        );
    }
}
