-- API keys. The plaintext is never stored: key_hash is `v1$<salt>$<hmac>`.
-- Scopes never change after issue, so is_admin is fixed at insert and the
-- lockout count is an index lookup.
CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    is_admin     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_live ON api_keys (revoked_at, is_admin);
