//! Rows to records, once for both databases (the SQL differs, the columns
//! do not): text as `String`, integers as `i64` on SQLite and PostgreSQL.

use super::*;
use sqlx::{ColumnIndex, Decode, Row, Type};

/// What a row type must decode for the mappers below.
pub(super) trait Cells: Row + Sized
where
    for<'r> &'r str: ColumnIndex<Self>,
{
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
}

impl<R> Cells for R
where
    R: Row,
    for<'r> &'r str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(col)?)
    }
}

pub(super) fn key<R: Cells>(row: &R) -> Result<KeyRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(KeyRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        key_hash: row.text("key_hash")?,
        scopes: scopes_from_text(&row.text("scopes")?)?,
        created_at: row.text("created_at")?,
        last_used_at: row.opt_text("last_used_at")?,
        revoked_at: row.opt_text("revoked_at")?,
    })
}

pub(super) fn scan<R: Cells>(row: &R) -> Result<ScanRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(ScanRecord {
        id: row.text("id")?,
        target_path: row.text("target_path")?,
        scan_types: scopes_from_text(&row.text("scan_types")?)?,
        status: row.text("status")?,
        created_at: row.text("created_at")?,
        started_at: row.opt_text("started_at")?,
        completed_at: row.opt_text("completed_at")?,
        error: row.opt_text("error")?,
        files_scanned: row.int("files_scanned")?,
        findings_count: row.int("findings_count")?,
        skipped: serde_json::from_str(&row.text("skipped")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

pub(super) fn webhook<R: Cells>(row: &R) -> Result<WebhookRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(WebhookRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        url: row.text("url")?,
        event_filter: scopes_from_text(&row.text("event_filter")?)?,
        secret: row.text("secret")?,
        created_at: row.text("created_at")?,
    })
}

pub(super) fn finding<R: Cells>(row: &R) -> Result<FindingRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(FindingRecord {
        file: row.text("file")?,
        line: row.int("line")?,
        rule: row.text("rule")?,
        severity: row.text("severity")?,
        excerpt: row.text("excerpt")?,
    })
}

pub(super) fn event<R: Cells>(row: &R) -> Result<StoredEvent, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(StoredEvent {
        id: row.int("id")?.max(0) as u64,
        name: row.text("name")?,
        data: row.text("data")?,
    })
}

pub(super) fn attempt<R: Cells>(row: &R) -> Result<AttemptRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(AttemptRecord {
        attempt: row.int("attempt")?,
        status_code: row.opt_int("status_code")?,
        error: row.opt_text("error")?,
        at: row.text("at")?,
    })
}

pub(super) fn claimed<R: Cells>(row: &R) -> Result<ClaimedDelivery, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    Ok(ClaimedDelivery {
        id: row.text("id")?,
        webhook_id: row.text("webhook_id")?,
        event: row.text("event")?,
        payload: row.text("payload")?,
        attempts: row.int("attempts")?,
        created_at: row.text("created_at")?,
        created_ms: row.int("created_ms")?,
    })
}

/// A delivery row (and its attempts) as the API lists it.
pub(super) fn delivery<R: Cells>(
    row: &R,
    attempt_log: Vec<AttemptRecord>,
) -> Result<DeliveryRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    let status = row.text("status")?;
    Ok(DeliveryRecord {
        id: row.text("id")?,
        event: row.text("event")?,
        attempts: row.int("attempts")?,
        last_status_code: row.opt_int("last_status_code")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.text("created_at")?,
        // Only a pending delivery has a next attempt.
        next_attempt_at: if status == "pending" {
            row.opt_text("next_attempt_at")?
        } else {
            None
        },
        delivered_at: row.opt_text("delivered_at")?,
        status,
        attempt_log,
    })
}

/// Event ids are u64 in the API and i64 in SQL.
pub(super) fn event_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("event id {id} out of range")))
}
