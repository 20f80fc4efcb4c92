//! Host bindings generated from `wit/policy.wit`.

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit",
    additional_derives: [PartialEq, Eq],
});

/// The exported interfaces' types, under one short name.
pub mod wit {
    pub use super::exports::securescan::auth::*;
    pub use super::{Policy, PolicyPre};
}
