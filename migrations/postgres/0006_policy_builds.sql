-- Policy builds made active at runtime (upload, file reload, rollback) on
-- any instance, and which one is active: every instance adopts it (NOTIFY
-- wakes them; the generation says whether they already have it).
CREATE TABLE IF NOT EXISTS policy_builds (
    sha256    TEXT PRIMARY KEY NOT NULL,
    wasm      BYTEA NOT NULL,
    signature TEXT,
    source    TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_active (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sha256     TEXT NOT NULL REFERENCES policy_builds (sha256),
    generation BIGINT NOT NULL,
    source     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
