-- Webhooks, their deliveries (persisted before any send) and every attempt.
-- The signing secret is needed to sign, so it is stored; it is returned by
-- the API only once, at creation.
CREATE TABLE IF NOT EXISTS webhooks (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    url          TEXT NOT NULL,
    event_filter TEXT NOT NULL,
    secret       TEXT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id                   TEXT PRIMARY KEY NOT NULL,
    webhook_id           TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event                TEXT NOT NULL,
    payload              TEXT NOT NULL,
    status               TEXT NOT NULL,
    attempts             BIGINT NOT NULL DEFAULT 0,
    last_status_code     BIGINT,
    last_error           TEXT,
    created_at           TEXT COLLATE "C" NOT NULL,
    created_ms           BIGINT NOT NULL,
    -- Insertion order, to list deliveries created in the same millisecond.
    seq                  BIGSERIAL,
    next_attempt_ms      BIGINT,
    next_attempt_at      TEXT,
    -- A lease: a claim that is not finished by then (crash) is claimed again.
    claimed_until_ms     BIGINT,
    delivered_at         TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_ms);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
