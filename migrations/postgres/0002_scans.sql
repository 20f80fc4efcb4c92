-- Scans and their findings. Findings hold a redacted excerpt, never a secret.
CREATE TABLE IF NOT EXISTS scans (
    id             TEXT PRIMARY KEY NOT NULL,
    target_path    TEXT NOT NULL,
    scan_types     TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL,
    started_at     TEXT COLLATE "C",
    completed_at   TEXT COLLATE "C",
    error          TEXT,
    files_scanned  BIGINT NOT NULL DEFAULT 0,
    findings_count BIGINT NOT NULL DEFAULT 0,
    skipped        TEXT NOT NULL DEFAULT '[]',
    created_by     TEXT
);
CREATE INDEX IF NOT EXISTS scans_created ON scans (created_at);
CREATE TABLE IF NOT EXISTS findings (
    id        BIGSERIAL PRIMARY KEY,
    scan_id   TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    file      TEXT NOT NULL,
    line      BIGINT NOT NULL,
    rule      TEXT NOT NULL,
    severity  TEXT NOT NULL,
    excerpt   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_scan ON findings (scan_id);
