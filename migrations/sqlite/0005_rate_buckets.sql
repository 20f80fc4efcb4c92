-- Rate-limit buckets (same table as PostgreSQL; the server keeps SQLite
-- deployments' buckets in memory: one process). Level in 1/60000 units, as the
-- policy component computes it.
CREATE TABLE IF NOT EXISTS rate_buckets (
    subject    TEXT PRIMARY KEY NOT NULL,
    level      INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
