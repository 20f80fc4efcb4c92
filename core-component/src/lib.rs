//! SecureScan auth policy: every access decision, as pure functions.
//!
//! This crate is compiled twice: as a native `rlib` (unit tests, fuzzing,
//! differential checks) and as a `cdylib` for `wasm32-wasip2`, where
//! [`component`] exports the same functions through the WIT world in `wit/`.
//! Nothing here performs I/O, reads a clock or draws randomness: the host passes
//! those in. No float arithmetic is used in any decision.
//!
//! On wasm32 the crate is `no_std` (with `alloc`) so the component imports nothing at
//! all: no WASI interface, hence no way to reach a file, a clock or a socket.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;
#[cfg(test)]
extern crate std;

/// What every module uses from `alloc`.
mod prelude {
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    #[allow(unused_imports)]
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

pub mod authn;
pub mod ct;
pub mod info;
pub mod keys;
pub mod lifecycle;
pub mod policy;
pub mod ratelimit;
pub mod routes;
pub mod tokens;
pub mod types;

#[cfg(target_arch = "wasm32")]
mod component;

// A no_std cdylib brings its own allocator and panic handler. A panic is a
// trap: the host discards the instance and answers 503.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

pub use types::{Denial, Scope};
