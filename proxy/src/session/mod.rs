//! What a client session is, independent of the wire protocol: the reasons it must keep
//! its backend connection (pins), the state it expects a backend to have (variables,
//! schema, user variables), and the values sqlmux answers itself (LAST_INSERT_ID, ROW_COUNT).
//!
//! - [`admission`]: the cap on client connections and the login deadline.
//! - `footprint` (tests): an idle session's memory held to bounds.
//! - [`held`]: the backend side of a session: the lent connection, the remembered pool,
//!   how a checkout picks its pool and waits through a failover hold.
//! - [`checkout`]: one checkout attempt: a lent idle connection or the protocol's login.
//! - [`control`]: reaching a session from outside (KILL by connection id).
//! - [`fault`]: the error core: a fault's kind, its side and what happens next.
//! - [`lost`]: a transaction lost with its backend stays lost until the client ends it.
//! - [`memo`]: the last statement text and its class and digest, derived once.
//! - [`pins`]: every reason multiplexing is off for a session, each with its release.
//! - [`state`]: session state, backend state, and the replay that makes them equal.
//! - [`tx_end`]: a COMMIT or ROLLBACK with no transaction to end is answered by sqlmux.
//! - [`watch`]: a running statement's KILL, query timeout and cancel.

pub mod admission;
pub mod checkout;
pub mod control;
pub mod fault;
mod footprint;
pub mod held;
pub mod lost;
pub mod memo;
pub mod pins;
pub mod state;
pub mod tx_end;
pub mod watch;

pub use control::{SessionControl, SessionControls};
pub use fault::{Fault, FaultKind, Next, Side};
pub use held::{hold_backend, BackendSession, Held, NotHeld, Picked};
pub use lost::{LostAnswer, LostTransaction, TxStatement};
pub use memo::StatementMemo;
pub use pins::{PinReason, Pins};
pub use state::{BackendState, Replay, SessionState};
