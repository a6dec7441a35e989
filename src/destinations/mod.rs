//! Destination kinds behind one trait. A kind validates its part of a sync's
//! configuration and delivers one batch of operations at a time, telling the
//! engine which operations the destination rejected and why.

pub mod file;
pub mod http;
pub mod postgres;

use crate::config::{SyncConfig, SyncMode, SyncType};
use crate::engine::plan::{Op, RunPlan};
use crate::error::{Error, Result, SqlState};

/// One batch: the operations of one kind at positions `after < pos <= upto`
/// of the run's ops table.
pub struct Batch<'a> {
    pub op: Op,
    pub after: i64,
    pub upto: i64,
    pub plan: &'a RunPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub pos: i64,
    pub reason: String,
}

/// One row for `sync_test_row`: its id, the kind of operation, the model's
/// values (only the match value for a removal) and the snapshot's match key.
#[derive(Debug, Clone)]
pub struct TestRow {
    pub row_id: String,
    pub op: Op,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub match_key: Option<String>,
}

/// What became of a batch: every operation not rejected and not unattempted
/// was delivered.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub rejections: Vec<Rejection>,
    /// Operations never sent, or whose outcome is unknown because the
    /// destination stayed down: recorded as aborted, retried next run.
    pub unattempted: Vec<i64>,
    /// Set when the run must stop after recording this batch (cancelled,
    /// destination unavailable).
    pub stop: Option<Error>,
}

pub trait Destination {
    /// Records the destination holds that the model no longer has, for mirror
    /// mode: a query of `(row_id text, match_key text)`, or None.
    fn mirror_removals(&self, plan: &RunPlan) -> Option<String>;

    /// Called once at the start of a run (secrets are resolved here, never
    /// at create time, so they are read only to be sent).
    fn start_run(&mut self, _run_id: i64, _sync_id: i64) -> Result<()> {
        Ok(())
    }

    /// How many operations one transaction delivers and records.
    fn rows_per_transaction(&self, batch_size: i64) -> i64 {
        batch_size
    }

    /// Start sending a batch without waiting for it, so that its requests
    /// overlap with recording the previous batch. Optional.
    fn submit(&mut self, _batch: &Batch) -> Result<()> {
        Ok(())
    }

    /// The run was cancelled between batches. Returns true if the
    /// destination has work in flight and will report the stop in the next
    /// `deliver`'s outcome (after settling what was sent); false if the
    /// engine can simply stop.
    fn cancel(&mut self, _reason: &Error) -> bool {
        false
    }

    /// Deliver one batch (or finish delivering a submitted one). `Err` means
    /// the destination itself failed (the run fails); recoverable stops come
    /// back in `BatchOutcome::stop`.
    fn deliver(&mut self, batch: &Batch) -> Result<BatchOutcome>;

    /// Build what a run would send for one row and, unless `dry_run`, send
    /// it; returns `{"requests": [...], "responses": [...]}` with secrets
    /// masked. Touches no snapshot and no run.
    fn test_row(
        &mut self,
        plan: &RunPlan,
        row: &TestRow,
        dry_run: bool,
    ) -> Result<serde_json::Value>;

    /// Called once after the last batch (also when there was none).
    fn end_of_run(&mut self, _plan: &RunPlan) -> Result<()> {
        Ok(())
    }

    /// Empty the list or audience the sync fills (clear and fill). Returns
    /// an error naming what is not possible where the destination cannot.
    fn clear(&mut self) -> Result<()> {
        Err(Error::new(
            SqlState::FeatureNotSupported,
            "sync: clear and fill needs a list sync to a destination that can empty the list",
        ))
    }
}

/// The destination kinds this build knows, and the sync config keys each adds.
pub fn kind_keys(kind: &str) -> Result<&'static [&'static str]> {
    match kind {
        "postgres" => Ok(postgres::SYNC_KEYS),
        "http" => Ok(http::SYNC_KEYS),
        "file" => Ok(file::SYNC_KEYS),
        other => Err(Error::invalid(
            "kind",
            format!("unknown destination kind \"{other}\" (expected one of: postgres, http, file)"),
        )),
    }
}

/// Which sync type × mode × delete behavior a kind supports (the README's
/// support matrix is this table).
pub fn check_supported(kind: &str, config: &SyncConfig) -> Result<()> {
    let modes: &[SyncMode] = match (kind, config.sync_type) {
        ("postgres", SyncType::Object) => &[
            SyncMode::Upsert,
            SyncMode::Insert,
            SyncMode::Update,
            SyncMode::All,
        ],
        ("http", SyncType::Object) => &[
            SyncMode::Upsert,
            SyncMode::Insert,
            SyncMode::Update,
            SyncMode::Archive,
        ],
        // Events are sent once and never updated.
        ("postgres" | "http", SyncType::Event) => &[SyncMode::Insert],
        ("postgres" | "http", SyncType::List) => &[SyncMode::Add, SyncMode::Remove],
        ("file", SyncType::Object | SyncType::Event) => &[SyncMode::Snapshot, SyncMode::Diff],
        _ => &[],
    };
    if modes.is_empty() {
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "type: sync type \"{}\" is not supported by destination kind \"{kind}\"",
                config.sync_type
            ),
        ));
    }
    if !modes.contains(&config.mode) {
        let names: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "mode: sync mode \"{}\" is not supported for type \"{}\" on destination kind \"{kind}\" (supported: {})",
                config.mode,
                config.sync_type,
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// SQLSTATE classes that describe a problem with one row's data (a bad
/// value, a constraint) rather than with the destination as a whole.
pub fn is_row_level_error(sqlstate: &str) -> bool {
    matches!(
        &sqlstate[..2.min(sqlstate.len())],
        "21" | "22" | "23" | "44" | "P0"
    )
}

/// SQLSTATE classes that say the run itself was interrupted or the server is
/// in trouble (cancel, shutdown, out of resources, serialization): never a
/// verdict on a row, so never recorded as a rejection.
pub fn is_interruption(sqlstate: &str) -> bool {
    matches!(
        &sqlstate[..2.min(sqlstate.len())],
        "08" | "40" | "53" | "57" | "58" | "XX"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(document: serde_json::Value) -> SyncConfig {
        SyncConfig::parse(&document, postgres::SYNC_KEYS).unwrap()
    }

    #[test]
    fn the_support_matrix() {
        assert!(check_supported("postgres", &config(json!({"mode": "upsert"}))).is_ok());
        assert!(check_supported("postgres", &config(json!({"mode": "all"}))).is_ok());
        let error = check_supported("postgres", &config(json!({"mode": "add"}))).unwrap_err();
        assert_eq!(error.state.code(), "0A000");
        assert!(error
            .message
            .starts_with("mode: sync mode \"add\" is not supported"));
        assert!(check_supported(
            "postgres",
            &config(json!({"mode": "insert", "type": "event"}))
        )
        .is_ok());
        let error = check_supported("http", &config(json!({"mode": "upsert", "type": "event"})))
            .unwrap_err();
        assert!(error
            .message
            .starts_with("mode: sync mode \"upsert\" is not supported for type \"event\""));
        assert!(
            check_supported("http", &config(json!({"mode": "remove", "type": "list"}))).is_ok()
        );
        let error = check_supported("http", &config(json!({"mode": "all"}))).unwrap_err();
        assert!(error
            .message
            .starts_with("mode: sync mode \"all\" is not supported"));
    }

    #[test]
    fn unknown_kinds_are_named() {
        assert!(kind_keys("postgres").is_ok());
        assert!(kind_keys("ftp")
            .unwrap_err()
            .message
            .contains("unknown destination kind \"ftp\""));
    }

    #[test]
    fn row_level_errors() {
        assert!(is_row_level_error("23505"));
        assert!(is_row_level_error("22P02"));
        assert!(!is_row_level_error("42P01"));
        assert!(!is_row_level_error("57014"));
        assert!(is_interruption("57014"));
        assert!(!is_interruption("23505"));
    }
}
