//! The `postgres` destination: a table in this database, or with a
//! `connection` a table on another server (`remote`). Each batch is one
//! set-based statement reading the run's ops table (or, remotely, a staging
//! table the batch was copied into); if it fails on a row's data, each row
//! is retried on its own so only the bad rows are rejected, with
//! PostgreSQL's own message.

mod delivery;
pub mod remote;
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
        &["connection"]
    }

    fn sync_keys(&self) -> &'static [&'static str] {
        SYNC_KEYS
    }

    /// The table is chosen per sync ("object"); the destination is this
    /// database, or the server its `connection` names.
    fn check_config(&self, config: &Value, owner: pgrx::pg_sys::Oid) -> Result<()> {
        ObjectReader::new("config", config)?.deny_unknown(&["connection"])?;
        let Some(settings) = remote::settings::RemoteSettings::parse(config)? else {
            return Ok(());
        };
        remote::connection::resolve_host(
            "config.connection.host",
            &settings,
            &crate::gucs::postgres_allowed_hosts(),
        )?;
        match &settings.password_secret {
            Some(name) => {
                crate::catalog::secret_value(owner, "config.connection.password", name)?;
            }
            // SAFETY: a catalog lookup.
            None if !unsafe { pgrx::pg_sys::superuser_arg(owner) } => {
                return Err(crate::error::Error::invalid(
                    "config.connection.password",
                    "is required: only a superuser's destinations may connect without a password",
                ))
            }
            None => {}
        }
        Ok(())
    }

    fn secret_names(&self, config: &Value) -> Vec<String> {
        remote::settings::RemoteSettings::parse(config)
            .ok()
            .flatten()
            .and_then(|settings| settings.password_secret)
            .into_iter()
            .collect()
    }

    fn support(&self) -> &'static [Support] {
        SUPPORT
    }

    fn can_clear_lists(&self) -> bool {
        true
    }

    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>> {
        if let Some(settings) =
            remote::settings::RemoteSettings::parse(&context.destination.config)?
        {
            // Checked over the connection, in `connect`.
            return Ok(Box::new(remote::RemoteTarget::new(
                settings,
                context.destination.owner,
                context.config,
                context.model_columns,
                context.identity,
            )));
        }
        Ok(Box::new(resolve(
            context.config,
            context.model_columns,
            context.identity,
        )?))
    }
}
