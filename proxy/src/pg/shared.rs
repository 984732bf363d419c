//! [`PgShared`]: what the PostgreSQL sessions of one proxy share.

use crate::pool::Pools;
use crate::shared::{FastMap, ParamSet};
use std::sync::Arc;

/// The PostgreSQL part of the shared state.
pub struct PgShared {
    /// PostgreSQL backend pools.
    pub pools: Pools<super::backend::BackendConn>,
    /// Protocol-level statements known across sessions.
    pub statements: super::statements::StatementCache,
    /// Sequences an INSERT into a table may advance, by (database, search_path, table).
    pub seq_candidates: dashmap::DashMap<String, Arc<Vec<String>>>,
    /// ParameterStatus sets shared by the sessions whose clients know the same values
    /// (most do): an idle session holds a pointer, not its own map.
    pub param_sets: FastMap<ParamSet, Arc<ParamSet>>,
    /// Startup parameter sets shared by the sessions that start with them.
    pub startup_vars: FastMap<std::collections::BTreeMap<String, String>, super::session::Vars>,
    /// Sessions' cancel keys and the backends they use.
    pub cancel: Arc<super::cancel::CancelRegistry>,
    /// Per user: (password, salt, salted password) for SCRAM, computed once.
    pub scram_secrets: dashmap::DashMap<String, (String, Vec<u8>, Vec<u8>)>,
    /// SCRAM with the certificate's signature (channel binding) for TLS clients.
    pub scram_tls: Option<pgwire::api::auth::sasl::scram::ScramServerAuth>,
    /// A random key of this process: the SCRAM salt shown for an unknown user is derived
    /// from it and the name, so it is as stable as a real user's (names cannot be probed).
    pub scram_mock_key: [u8; 32],
}

impl PgShared {
    /// Empty, with SCRAM channel binding from `[tls]`'s certificate when it has one.
    pub fn new(runtime: &sqlmux_config::Runtime) -> Self {
        let scram_tls = runtime.tls.as_ref().and_then(|t| {
            let pem = std::fs::read(&t.cert).ok()?;
            let mut auth = pgwire::api::auth::sasl::scram::ScramServerAuth::new();
            match auth.configure_certificate(&pem) {
                Ok(()) => Some(auth),
                Err(e) => {
                    tracing::warn!(error = %e, "no SCRAM channel binding: certificate signature unsupported");
                    None
                }
            }
        });
        let mut scram_mock_key = [0u8; 32];
        let _ = getrandom::fill(&mut scram_mock_key);
        PgShared {
            pools: Pools::default(),
            statements: Default::default(),
            seq_candidates: dashmap::DashMap::new(),
            param_sets: Default::default(),
            startup_vars: Default::default(),
            cancel: Default::default(),
            scram_secrets: dashmap::DashMap::new(),
            scram_tls,
            scram_mock_key,
        }
    }
}
