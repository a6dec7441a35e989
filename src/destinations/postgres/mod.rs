//! The `postgres` destination: a table in this database. Each batch is one
//! set-based statement reading the run's ops table; if it fails on a row's
//! data, each row is retried on its own so only the bad rows are rejected,
//! with PostgreSQL's own message.

mod delivery;
pub mod statements;
mod target;

use super::{BuildContext, Destination, DestinationKind, Support, ANY_DELETE_BEHAVIOR};
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
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::Upsert, SyncMode::Insert, SyncMode::Update],
        delete_behaviors: ANY_DELETE_BEHAVIOR,
    },
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::All],
        delete_behaviors: &[DeleteBehavior::Delete],
    },
    Support {
        sync_type: SyncType::Event,
        modes: &[SyncMode::Insert],
        delete_behaviors: &[DeleteBehavior::Nothing],
    },
    // A member leaving the model leaves the list (delete) or stays (nothing).
    Support {
        sync_type: SyncType::List,
        modes: &[SyncMode::Add],
        delete_behaviors: &[DeleteBehavior::Delete, DeleteBehavior::Nothing],
    },
    // The model's rows leave the list; rows leaving the model are not acted on.
    Support {
        sync_type: SyncType::List,
        modes: &[SyncMode::Remove],
        delete_behaviors: &[DeleteBehavior::Nothing],
    },
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
