//! Connection recovery: when the connection is lost without the
//! application asking, the driver reconnects and restores what the
//! application had, behind the same handles.
//!
//! ```text
//!   Open ──loss (I/O, heartbeat, 320, 541)──> Lost: in-flight calls fail (ConnectionLost),
//!    ▲                                         unconfirmed publishes end in doubt,
//!    │                                         delivery tags so far become stale
//!    │                                           │ backoff (full jitter), next endpoint
//!    │                                           ▼
//!    └──── restore: channels, qos, confirm ◄── handshake ──403/530, attempts used up──> GaveUp
//!          exchanges, queues, bindings,
//!          consumers; then queued calls go on
//! ```
//!
//! - [`config`]: what the application configures ([`Recovery`], [`Endpoint`]).
//! - [`backoff`]: when to try again.
//! - [`topology`]: what was declared through the connection, to declare again.
//! - [`event`]: what the application is told.
//! - `restore` (in the driver): the order of restoration.

pub(crate) mod backoff;
pub(crate) mod config;
pub(crate) mod event;
pub(crate) mod replay;
pub(crate) mod topology;

pub use config::{
    Endpoint, EndpointOrder, Recovery, DEFAULT_RECOVERY_INITIAL_DELAY, DEFAULT_RECOVERY_MAX_DELAY,
    DEFAULT_RECOVERY_WAIT, REPUBLISHED_HEADER,
};
pub use event::ConnectionEvent;
