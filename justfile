# Everyday recipes. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Start the server on the embedded SQLite default (./securescan.db).
run *ARGS:
    cargo run -p securescan -- serve {{ARGS}}

# Every test (unit, component, black-box), as CI runs them.
test:
    cargo test --workspace

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Build the policy component for a policy file: target/policies/<name>.wasm
component POLICY="policies/default.toml":
    #!/usr/bin/env bash
    set -euo pipefail
    name=$(basename "{{POLICY}}" .toml)
    rustup target add wasm32-wasip2 >/dev/null
    SECURESCAN_POLICY_FILE="$(realpath {{POLICY}})" cargo build -p securescan-core --lib \
        --target wasm32-wasip2 --profile component --target-dir "target/component-$name"
    mkdir -p target/policies
    cp "target/component-$name/wasm32-wasip2/component/securescan_core.wasm" "target/policies/$name.wasm"
    (cd target/policies && sha256sum "$name.wasm" | tee "$name.wasm.sha256")
    ls -l "target/policies/$name.wasm"

# Same as `component`: prints <name>.wasm and its sha256 (also in
# target/policies/<name>.wasm.sha256). Sign it with `securescan policy sign`.
policy POLICY="policies/default.toml": (component POLICY)

# Criterion: one decision native vs through the component.
bench-decision:
    cargo bench -p securescan --bench decision

# Load test: authenticated /api/v1/keys/me vs /health, 32 connections (needs wrk).
bench:
    bench/load.sh

# SSE fan-out: 1000 subscribers on one scan, every event in order; peak RSS.
sse-load SUBSCRIBERS="1000" FILES="2000":
    cargo build --release -p securescan
    cargo run --release -p securescan --example sse_load -- {{SUBSCRIBERS}} {{FILES}}

# Show the world of a built component (wasm-tools, through jco from npm).
wit WASM="target/component/wasm32-wasip2/component/securescan_core.wasm":
    npx --yes @bytecodealliance/jco wit {{WASM}}

# Fuzz one policy target for SECONDS (cargo-fuzz, stable, --sanitizer none).
# Targets: keys tokens routes authn ratelimit differential. See core-component/fuzz/.
fuzz TARGET SECONDS="600":
    core-component/fuzz/fuzz.sh run {{TARGET}} {{SECONDS}}

# Every fuzz target for a few seconds each, as CI does.
fuzz-smoke SECONDS="20":
    core-component/fuzz/fuzz.sh smoke {{SECONDS}}
