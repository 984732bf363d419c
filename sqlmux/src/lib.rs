//! The sqlmux process: the data path (`sqlmux-proxy`), the admin interface and the control
//! plane (`sqlmux-control`) assembled behind one entry point.
//!
//! - `server`: [`run`] `(runtime, listeners, shutdown)`, the only entry point; no global
//!   state, so a test can start many proxies in one process.

mod server;

pub use server::{run, run_with_reloads, Listeners, ServerError};
