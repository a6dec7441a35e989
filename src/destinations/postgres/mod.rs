//! The `postgres` destination: a table in this database. Each batch is one
//! set-based statement reading the run's ops table; if it fails on a row's
//! data, each row is retried on its own so only the bad rows are rejected,
//! with PostgreSQL's own message.

mod delivery;
pub mod statements;
mod target;

use super::{
    BuildContext, Destination, DestinationKind, Support, EVENTS_INSERTED, LIST_ADD, LIST_REMOVE,
    RECORD_WRITES,
};
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncMode, SyncType};
use crate::error::Result;
use serde_json::Value;

pub use statements::PostgresTarget;
pub use target::resolve;

/// Sync config keys of this kind: `object` is the target table; list syncs
/// name the list (`list`) and the column holding list names (`list_field`).
pub const SYNC_KEYS: &[&str] = &["object", "list", "list_field"];

/// This kind's rows of the support matrix.
pub const SUPPORT: &[Support] = &[
    RECORD_WRITES,
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::All],
        delete_behaviors: &[DeleteBehavior::Delete],
    },
    EVENTS_INSERTED,
    LIST_ADD,
    LIST_REMOVE,
];

/// The `postgres` kind.
pub struct Postgres;

impl DestinationKind for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn config_keys(&self) -> &'static [&'static str] {
        &[]
    }

    fn sync_keys(&self) -> &'static [&'static str] {
        SYNC_KEYS
    }

    /// The table is chosen per sync ("object"); the destination is this database.
    fn check_config(&self, config: &Value, _owner: pgrx::pg_sys::Oid) -> Result<()> {
        ObjectReader::new("config", config)?.deny_unknown(&[])
    }

    fn support(&self) -> &'static [Support] {
        SUPPORT
    }

    fn can_clear_lists(&self) -> bool {
        true
    }

    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>> {
        Ok(Box::new(resolve(
            context.config,
            context.model_columns,
            context.identity,
        )?))
    }
}
