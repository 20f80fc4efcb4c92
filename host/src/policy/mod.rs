//! The policy runtime: one wasmtime `Engine` (pooling allocator, fuel), the
//! policy component compiled once, and a small pool of ready instances.
//!
//! Every access decision of the host is a call into the active build. A trap,
//! running out of fuel or memory, or a build that failed to load is a
//! [`PolicyError`], which the HTTP layer turns into 503: never an allow.

mod bindings;
pub mod invariants;
pub mod registry;
pub mod reload;
mod runtime;
pub mod signing;
pub mod wiring;

pub use bindings::wit;
pub use registry::{PolicyRegistry, Refusal, Source};
pub use runtime::{LoadFailure, PolicyBuild, PolicyError, Runtime, RuntimeOptions, BUILTIN_POLICY};
