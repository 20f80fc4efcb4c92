#!/usr/bin/env bash
# Load benchmark: authenticated GET /api/v1/keys/me (DB key) vs GET /health,
# 32 connections, on a release build with a temporary SQLite database.
# Usage: bench/load.sh [seconds]   (needs wrk: apt-get install wrk)
# With BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/test the same runs on
# a fresh PostgreSQL database (created and dropped; needs psql).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
cargo build --release -p securescan
bin=target/release/securescan
dir=$(mktemp -d)
pid=
db=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    [ -n "$db" ] && psql -q "$BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    rm -rf "$dir"
}
trap cleanup EXIT
if [ -n "${BENCH_POSTGRES:-}" ]; then
    db="securescan_bench_$$"
    psql -q "$BENCH_POSTGRES" -c "CREATE DATABASE $db"
    export SECURESCAN_DATABASE_URL="${BENCH_POSTGRES%/*}/$db"
    echo "database: PostgreSQL ($db)"
else
    export SECURESCAN_DATABASE_URL="sqlite://$dir/bench.db?mode=rwc"
    echo "database: SQLite"
fi
export SECURESCAN_AUTH_REQUIRED=1
export SECURESCAN_EVENT_TOKEN_SECRET=bench-secret-bench-secret
key=$($bin keys create --name bench --scopes admin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
port=$((20000 + RANDOM % 20000))
$bin serve --port "$port" > "$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -sf -H "X-API-Key: $key" "http://127.0.0.1:$port/api/v1/keys/me" >/dev/null
echo "== GET /health"
wrk -t2 -c32 -d"${secs}s" --latency "http://127.0.0.1:$port/health" | grep -E "Requests/sec|99%|Non-2xx"
echo "== GET /api/v1/keys/me (authenticated, DB key)"
wrk -t2 -c32 -d"${secs}s" --latency -H "X-API-Key: $key" "http://127.0.0.1:$port/api/v1/keys/me" | grep -E "Requests/sec|99%|Non-2xx"
