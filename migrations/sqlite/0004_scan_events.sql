-- Progress events, persisted so a stream survives the in-memory buffer (and
-- a restart) for the retention time. Ids are dense per scan.
CREATE TABLE IF NOT EXISTS scan_events (
    scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    id      INTEGER NOT NULL,
    name    TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (scan_id, id)
);
-- Renewed by the process running the scan (see the PostgreSQL schema).
ALTER TABLE scans ADD COLUMN lease_until_ms INTEGER;
