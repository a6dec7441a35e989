//! Checking a sync (or destination) configuration against the catalog and
//! the database before it is stored, and building the run-time pieces from
//! it: the destination and the plan of a run.

use super::model;
use crate::catalog::{self, DestinationRow, Model};
use crate::config::SyncConfig;
use crate::destinations::{self, BuildContext, Destination};
use crate::error::{Error, Result, SqlState};
use crate::plan::{hash_seed, ModelColumn, RunPlan};
use crate::postgres::Identity;
use pgrx::prelude::*;
use serde_json::Value;

/// Check a destination's connection settings for its kind, as `owner`'s
/// (whose secrets it may reference).
pub fn destination_config(kind: &str, config: &Value, owner: pg_sys::Oid) -> Result<()> {
    destinations::kind(kind)?.check_config(config, owner)
}

/// The names of `owner`'s destinations that reference secret `name`.
pub fn destinations_using_secret(owner: pg_sys::Oid, name: &str) -> Result<Vec<String>> {
    let mut users = Vec::new();
    for (destination, kind, config) in catalog::destinations::of_owner(owner)? {
        if destinations::kind(&kind)?
            .secret_names(&config)
            .iter()
            .any(|secret| secret == name)
        {
            users.push(format!("\"{destination}\""));
        }
    }
    Ok(users)
}

/// A sync's configuration, parsed and checked against its model and
/// destination as `owner` would run it.
pub struct ValidSync {
    pub sync_id: i64,
    pub config: SyncConfig,
    pub model: Model,
    pub model_columns: Vec<ModelColumn>,
    /// The columns a run materialises, in work-table order.
    pub sent_columns: Vec<ModelColumn>,
    pub destination: DestinationRow,
    pub target: Box<dyn Destination>,
}

/// The sync to check: its model, destination, configuration document, the
/// role that owns (or will own) it, its name and id (0 before it exists).
pub struct SyncDefinition<'a> {
    pub sync_id: i64,
    pub name: &'a str,
    pub model_id: i64,
    pub destination_id: i64,
    pub document: &'a Value,
    pub owner: pg_sys::Oid,
    /// Where names in the configuration (a table) are looked up: the
    /// caller's search_path when it is created or changed; None for a
    /// stored sync, whose names are schema-qualified (or, made before
    /// they were, looked up on its model's search_path).
    pub search_path: Option<&'a str>,
}

impl SyncDefinition<'_> {
    /// A stored sync, as a run (or a test of a row) checks it again.
    pub fn stored(sync: &catalog::SyncRow) -> SyncDefinition<'_> {
        SyncDefinition {
            sync_id: sync.id,
            name: &sync.name,
            model_id: sync.model_id,
            destination_id: sync.destination_id,
            document: &sync.config,
            owner: sync.owner,
            search_path: None,
        }
    }
}

/// Each channel a sync's alerts name exists and is the sync owner's to use.
fn alert_channels(names: &[String], owner: pg_sys::Oid) -> Result<()> {
    for (index, name) in names.iter().enumerate() {
        let field = format!("alerts.channels[{index}]");
        let channel = catalog::alerts::channel_named(name)?.ok_or_else(|| {
            Error::new(
                SqlState::UndefinedObject,
                format!("{field}: alert channel \"{name}\" does not exist"),
            )
        })?;
        catalog::authorize(catalog::Owned::AlertChannel, channel.id, owner)
            .map_err(|e| e.context(&field))?;
    }
    Ok(())
}

pub fn sync_config(sync: &SyncDefinition) -> Result<ValidSync> {
    let destination = catalog::load_destination(sync.destination_id)?;
    let kind = destinations::kind(&destination.kind)?;
    let config = SyncConfig::parse(sync.document, kind.sync_keys())?;
    destinations::check_supported(kind, &config)?;
    if let Some(alerts) = &config.alerts {
        alert_channels(&alerts.channels, sync.owner)?;
    }
    let model = catalog::load_model(sync.model_id)?;
    let model_columns = model::describe(&model.query, &model.search_path, sync.owner)
        .map_err(|e| e.context(format!("model \"{}\"", model.name)))?;
    model::check_primary_key(&model.primary_key, &model_columns)
        .map_err(|e| e.context(format!("model \"{}\"", model.name)))?;
    // The destination is resolved and checked as the sync's owner: its
    // tables, types, casts and checks are the owner's objects.
    let identity = Identity {
        role: sync.owner,
        search_path: sync.search_path.unwrap_or(&model.search_path).to_string(),
    };
    let context = BuildContext {
        destination: &destination,
        config: &config,
        model_columns: &model_columns,
        identity: &identity,
        sync_name: sync.name,
    };
    let mut target = identity.run(|| kind.build(&context))?;
    target.connect()?;
    let sent_columns = kind
        .sent_columns(&config, &model_columns)
        .iter()
        .filter_map(|name| model_columns.iter().find(|c| &c.name == name).cloned())
        .collect();
    Ok(ValidSync {
        sync_id: sync.sync_id,
        sent_columns,
        config,
        model,
        model_columns,
        destination,
        target,
    })
}

impl ValidSync {
    /// The configuration as stored: with every default written out, and
    /// what the destination resolved (a table, schema-qualified) so that
    /// runs do not depend on anyone's search_path.
    pub fn stored_config(&self) -> Value {
        let mut document = self.config.to_json();
        if let Value::Object(map) = &mut document {
            map.extend(self.target.resolved_config());
        }
        document
    }

    /// The plan of a run of this sync, over the given work and ops tables.
    pub fn plan(&self, work_table: String, ops_table: String) -> RunPlan {
        let match_column = self
            .config
            .record_match
            .as_ref()
            .and_then(|m| self.sent_columns.iter().position(|c| c.name == m.from));
        let key_columns = self
            .model
            .primary_key
            .iter()
            .filter(|key| !self.sent_columns.iter().any(|c| &c.name == *key))
            .filter_map(|key| self.model_columns.iter().find(|c| &c.name == key).cloned())
            .collect();
        RunPlan {
            query: self.model.query.clone(),
            primary_key: self.model.primary_key.clone(),
            columns: self.sent_columns.clone(),
            key_columns,
            match_column,
            hash_seed: hash_seed(&self.config),
            earlier_match: None,
            work_table,
            ops_table,
            snapshot_table: catalog::snapshot_table(self.sync_id),
        }
    }
}
