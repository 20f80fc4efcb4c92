//! SecureScan auth server: the host side. The policy component decides; this
//! crate fetches facts and carries out effects.

pub mod app;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod event_log;
pub mod events;
pub mod http;
pub mod ids;
pub mod keys;
pub mod last_used;
pub mod logging;
pub mod policy;
pub mod policy_sync;
pub mod ratelimit;
pub mod scanner;
pub mod scans;
pub mod store;
pub mod webhooks;
