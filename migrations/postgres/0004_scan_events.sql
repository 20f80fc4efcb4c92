-- Progress events, persisted so that any instance can stream any scan: the
-- table is the truth, NOTIFY only wakes listeners. Ids are dense per scan,
-- assigned by the one instance running the scan.
CREATE TABLE IF NOT EXISTS scan_events (
    scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    id      BIGINT NOT NULL,
    name    TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (scan_id, id)
);
-- The instance running a scan renews this lease; a pending or running scan
-- whose lease ran out lost its instance and is marked failed by any other.
ALTER TABLE scans ADD COLUMN IF NOT EXISTS lease_until_ms BIGINT;
