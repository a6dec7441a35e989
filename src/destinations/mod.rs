//! Destination kinds behind two traits. A `DestinationKind` is what a
//! kind is: its configuration keys, how a destination of it is checked, the
//! sync types and modes it supports, and how a sync's run-time destination
//! is built. A `Destination` is that run-time piece: it delivers one batch
//! of operations at a time and tells the engine which ones were rejected and
//! why. The registry (`KINDS`) is the only list of kinds: the rest of the
//! extension never matches on a kind's name.

pub mod file;
pub mod http;
pub mod hubspot;
pub mod mailchimp;
pub mod meta_audience;
pub mod named;
pub mod object_storage;
pub mod postgres;
pub mod rows;
pub mod salesforce;
pub mod slack;
pub mod template;

use crate::catalog::DestinationRow;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result, SqlState};
use crate::plan::{ModelColumn, Op, RunPlan};
use crate::postgres::Identity;
use pgrx::pg_sys;
use serde_json::{Map, Value};

/// Every kind this build knows. Adding a kind: one module, one line here.
static KINDS: &[&dyn DestinationKind] = &[
    &postgres::Postgres,
    &http::Http,
    &file::File,
    &hubspot::HubSpot,
    &mailchimp::Mailchimp,
    &slack::Slack,
    &salesforce::Salesforce,
    &meta_audience::MetaAudience,
];

/// The kind called `name`.
pub fn kind(name: &str) -> Result<&'static dyn DestinationKind> {
    KINDS
        .iter()
        .copied()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| {
            Error::invalid(
                "kind",
                format!(
                    "unknown destination kind \"{name}\" (expected one of: {})",
                    KINDS
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// One row of the support matrix: for a sync type, the modes a kind
/// supports and the delete behaviors allowed with them.
#[derive(Debug, Clone, Copy)]
pub struct Support {
    pub sync_type: SyncType,
    pub modes: &'static [SyncMode],
    pub delete_behaviors: &'static [DeleteBehavior],
}

/// Every delete behavior (the README writes "—" where they do not apply).
pub const ANY_DELETE_BEHAVIOR: &[DeleteBehavior] = DeleteBehavior::ALL;

/// Support rows shared by the kinds that edit records in place (tables and
/// APIs): each names the same behaviour wherever it is listed.
pub const RECORD_WRITES: Support = Support {
    sync_type: SyncType::Object,
    modes: &[SyncMode::Upsert, SyncMode::Insert, SyncMode::Update],
    delete_behaviors: ANY_DELETE_BEHAVIOR,
};

/// Events are sent once and never updated.
pub const EVENTS_INSERTED: Support = Support {
    sync_type: SyncType::Event,
    modes: &[SyncMode::Insert],
    delete_behaviors: &[DeleteBehavior::Nothing],
};

/// A member leaving the model leaves the list (delete) or stays (nothing).
pub const LIST_ADD: Support = Support {
    sync_type: SyncType::List,
    modes: &[SyncMode::Add],
    delete_behaviors: &[DeleteBehavior::Delete, DeleteBehavior::Nothing],
};

/// The model's rows leave the list; rows leaving the model are not acted on.
pub const LIST_REMOVE: Support = Support {
    sync_type: SyncType::List,
    modes: &[SyncMode::Remove],
    delete_behaviors: &[DeleteBehavior::Nothing],
};

/// What building a sync's run-time destination is given.
pub struct BuildContext<'a> {
    pub destination: &'a DestinationRow,
    pub config: &'a SyncConfig,
    /// Every column of the model's result.
    pub model_columns: &'a [ModelColumn],
    /// The sync's owner and search_path: every statement on the owner's
    /// objects (the table, reading the ops rows to send) runs as it.
    pub identity: &'a Identity,
    pub sync_name: &'a str,
}

/// A kind of destination: construction, validation and the support matrix.
pub trait DestinationKind: Sync {
    /// The name `create_destination` takes.
    fn name(&self) -> &'static str;

    /// Keys a destination of this kind has in its config (for hints).
    fn config_keys(&self) -> &'static [&'static str];

    /// Keys this kind adds to a sync's configuration.
    fn sync_keys(&self) -> &'static [&'static str];

    /// Check a destination's config (`create_destination`): keys, values,
    /// and what the admin allows (hosts, directories); secrets must be
    /// `owner`'s.
    fn check_config(&self, config: &Value, owner: pg_sys::Oid) -> Result<()>;

    /// The secrets a destination config references, by name.
    fn secret_names(&self, _config: &Value) -> Vec<String> {
        Vec::new()
    }

    /// The kind's rows of the support matrix.
    fn support(&self) -> &'static [Support];

    /// Whether a list sync to this kind can empty its list (clear and fill).
    fn can_clear_lists(&self) -> bool {
        false
    }

    /// Model columns a run materialises for this sync, in order. By
    /// default: the match column, the mapped columns, and any column a
    /// mapping template names.
    fn sent_columns(&self, config: &SyncConfig, model_columns: &[ModelColumn]) -> Vec<String> {
        columns_used(config, model_columns, &[])
    }

    /// Check a sync's configuration against this destination and the
    /// database, and build the run-time destination for it.
    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>>;
}

/// The match column, the mapped columns, then any column named in a
/// mapping template or in one of `more_templates`.
pub fn columns_used(
    config: &SyncConfig,
    model_columns: &[ModelColumn],
    more_templates: &[&str],
) -> Vec<String> {
    let mut columns = config.source_columns();
    let mut texts: Vec<&str> = config
        .mappings
        .iter()
        .filter_map(|m| match &m.source {
            crate::config::MappingSource::Template(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    texts.extend_from_slice(more_templates);
    let all_text = texts.join("\n");
    for name in
        template::referenced_columns(&all_text, model_columns.iter().map(|c| c.name.as_str()))
    {
        if !columns.contains(&name) {
            columns.push(name);
        }
    }
    columns
}

/// Which sync type × mode × delete behavior a kind supports (the README's
/// support matrix is the kinds' `support` tables).
pub fn check_supported(kind: &dyn DestinationKind, config: &SyncConfig) -> Result<()> {
    check_support_rows(kind.name(), kind.support(), config)
}

fn check_support_rows(name: &str, support: &[Support], config: &SyncConfig) -> Result<()> {
    let rows: Vec<&Support> = support
        .iter()
        .filter(|row| row.sync_type == config.sync_type)
        .collect();
    if rows.is_empty() {
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "type: sync type \"{}\" is not supported by destination kind \"{name}\"",
                config.sync_type
            ),
        ));
    }
    let Some(row) = rows.iter().find(|row| row.modes.contains(&config.mode)) else {
        let names: Vec<&str> = rows
            .iter()
            .flat_map(|row| row.modes.iter().map(|m| m.as_str()))
            .collect();
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "mode: sync mode \"{}\" is not supported for type \"{}\" on destination kind \"{name}\" (supported: {})",
                config.mode,
                config.sync_type,
                names.join(", ")
            ),
        ));
    };
    if !row.delete_behaviors.contains(&config.delete_behavior) {
        let names: Vec<&str> = row.delete_behaviors.iter().map(|d| d.as_str()).collect();
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "delete_behavior: \"{}\" does not apply to mode \"{}\" of type \"{}\" on destination kind \"{name}\" (allowed: {})",
                config.delete_behavior,
                config.mode,
                config.sync_type,
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

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
    /// What was sent for the row, as the destination saw it (a request's
    /// method, URL and body; never its headers, where secrets go).
    pub payload: Option<Value>,
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
    /// mode: a query of `(row_id text, match_key text)` that the engine runs
    /// as the sync's owner, or None.
    fn mirror_removals(&self, plan: &RunPlan) -> Option<String>;

    /// Called after the destination is built, as the extension's owner
    /// (secrets can be read): one on another server connects and checks
    /// its target there. At create_sync, at each run's start, and for
    /// previews and tests of a row.
    fn connect(&mut self) -> Result<()> {
        Ok(())
    }

    /// Mirror mode for records held on another server: their match values
    /// (as text), fetched in chunks into `sink`. Returns false if this
    /// destination has nothing to fetch (its `mirror_removals` query, if
    /// any, is used instead).
    fn fetch_records(&mut self, _sink: &mut dyn FnMut(Vec<String>) -> Result<()>) -> Result<bool> {
        Ok(false)
    }

    /// Called once at the start of a run (secrets are resolved here, never
    /// at create time, so they are read only to be sent).
    fn start_run(&mut self, _run_id: i64, _sync_id: i64) -> Result<()> {
        Ok(())
    }

    /// The run must end by `at` (its time limit): a destination that waits
    /// (on the network, a backoff) stops then with `reason`, settling what
    /// is in flight. By default the engine checks between windows.
    fn set_deadline(&mut self, _at: std::time::Instant, _reason: Error) {}

    /// How many operations one transaction delivers and records.
    fn rows_per_transaction(&self, batch_size: i64) -> i64 {
        batch_size
    }

    /// For a destination that holds a window's rows in memory: the most
    /// bytes of row values one window may hold (windows are cut shorter to
    /// stay within it). None for one that delivers in SQL.
    fn bytes_per_transaction(&self) -> Option<i64> {
        None
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

    /// Configuration keys the destination resolved when it was built (a
    /// table's schema-qualified name): stored with the sync.
    fn resolved_config(&self) -> Map<String, Value> {
        Map::new()
    }

    /// Whether operations act on records found by their match value (a
    /// table's rows, an API's records): then removals of rows delivered
    /// under an earlier match go through a destination built for it. False
    /// for one that writes the run's changes out as a whole (files).
    fn acts_on_records(&self) -> bool {
        true
    }

    /// Whether a window's delivery is part of the transaction that records
    /// it (a table in this database): a crash then loses both or neither,
    /// so that transaction need not wait for its commit to reach the disk.
    fn delivers_in_the_recording_transaction(&self) -> bool {
        false
    }

    /// Called once after the last batch (also when there was none).
    fn end_of_run(&mut self, _plan: &RunPlan) -> Result<()> {
        Ok(())
    }

    /// For an advertising audience: how many of its users the platform
    /// matched, asked once every row of the run was delivered (the run's
    /// match rate is this over the sync's members). None elsewhere.
    fn matched_audience(&mut self) -> Result<Option<i64>> {
        Ok(None)
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

/// A run's deadline (its time limit) and the error it ends with.
pub type Deadline = Option<(std::time::Instant, Error)>;

/// Whether a run waiting on a destination (the network, a backoff) must
/// stop: cancelled or terminated, or past its deadline. Called from the
/// run's own (main) thread between waits. A cancel or terminate is
/// honoured by the run itself: it stops sending, records what was sent and
/// ends incomplete. Process-signal barriers (another database's DROP
/// DATABASE … FORCE waits for every backend to absorb one) are absorbed
/// here, so no wait on the network holds them up.
pub fn interruption(deadline: &Deadline) -> Option<Error> {
    // SAFETY: this backend's interrupt flags, from its own (main) thread.
    unsafe {
        if pg_sys::ProcSignalBarrierPending != 0 {
            pg_sys::ProcessProcSignalBarrier();
        }
        if pg_sys::QueryCancelPending != 0 || pg_sys::ProcDiePending != 0 {
            // A run worker honours the signal itself (it records what was
            // sent). A user's session (create_sync, test a row connecting
            // to another server) keeps the flags, so the next check cancels
            // its statement or ends it as PostgreSQL would.
            if pg_sys::IsBackgroundWorker {
                pg_sys::QueryCancelPending = 0;
                pg_sys::ProcDiePending = 0;
            }
            return Some(Error::new(SqlState::Other(*b"57014"), "run cancelled"));
        }
    }
    match deadline {
        Some((at, reason)) if std::time::Instant::now() >= *at => Some(reason.clone()),
        _ => None,
    }
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

    /// The kinds' tables, without the kinds themselves (whose run-time
    /// code needs a server).
    fn check(kind_name: &str, document: serde_json::Value) -> Result<()> {
        let support = match kind_name {
            "postgres" => postgres::SUPPORT,
            "http" => http::SUPPORT,
            _ => file::SUPPORT,
        };
        check_support_rows(kind_name, support, &config(document))
    }

    #[test]
    fn the_support_matrix() {
        assert!(check("postgres", json!({"mode": "upsert"})).is_ok());
        assert!(check("postgres", json!({"mode": "all"})).is_ok());
        let error = check("postgres", json!({"mode": "add"})).unwrap_err();
        assert_eq!(error.state.code(), "0A000");
        assert!(error
            .message
            .starts_with("mode: sync mode \"add\" is not supported"));
        assert!(check("postgres", json!({"mode": "insert", "type": "event"})).is_ok());
        let error = check("http", json!({"mode": "upsert", "type": "event"})).unwrap_err();
        assert!(error
            .message
            .starts_with("mode: sync mode \"upsert\" is not supported for type \"event\""));
        assert!(check("http", json!({"mode": "remove", "type": "list"})).is_ok());
        let error = check("http", json!({"mode": "all"})).unwrap_err();
        assert!(error
            .message
            .starts_with("mode: sync mode \"all\" is not supported"));
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
