-- Rate-limit buckets shared by every instance (the POST /scans limit holds
-- for the service, not per instance). Level in 1/60000 token units, as the
-- policy component computes it.
CREATE TABLE IF NOT EXISTS rate_buckets (
    subject    TEXT PRIMARY KEY NOT NULL,
    level      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
