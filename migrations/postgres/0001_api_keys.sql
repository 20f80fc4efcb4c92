-- API keys (PostgreSQL). Same shape as the SQLite schema. Timestamps are
-- fixed-width RFC 3339 UTC text, compared byte-wise (COLLATE "C"), exactly as
-- SQLite compares them, so both backends order and compare alike.
CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    is_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT COLLATE "C" NOT NULL,
    last_used_at TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX IF NOT EXISTS api_keys_live ON api_keys (revoked_at, is_admin);
