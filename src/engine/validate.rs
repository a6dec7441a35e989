//! Checking a sync (or destination) configuration against the catalog and
//! the database before it is stored, and building the run-time pieces from it.

use super::model;
use super::plan::ModelColumn;
use crate::catalog::{self, DestinationRow, Model};
use crate::config::json::ObjectReader;
use crate::config::SyncConfig;
use crate::destinations::{self, postgres, Destination};
use crate::error::{Error, Result};
use pgrx::prelude::*;
use serde_json::Value;

/// Check a destination's connection settings for its kind.
pub fn destination_config(kind: &str, config: &Value) -> Result<()> {
    destinations::kind_keys(kind)?;
    let reader = ObjectReader::new("config", config)?;
    match kind {
        // The table is chosen per sync ("object"); the destination is this database.
        "postgres" => reader.deny_unknown(&[]),
        _ => Ok(()),
    }
}

/// A sync's configuration, parsed and checked against its model and
/// destination as `owner` would run it.
pub struct ValidSync {
    pub config: SyncConfig,
    pub model: Model,
    pub model_columns: Vec<ModelColumn>,
    pub destination: DestinationRow,
    pub target: Box<dyn Destination>,
}

pub fn sync_config(
    model_id: i64,
    destination_id: i64,
    document: &Value,
    owner: pg_sys::Oid,
) -> Result<ValidSync> {
    let destination = catalog::load_destination(destination_id)?;
    let keys = destinations::kind_keys(&destination.kind)?;
    let config = SyncConfig::parse(document, keys)?;
    destinations::check_supported(&destination.kind, &config)?;
    let model = catalog::load_model(model_id)?;
    let model_columns = model::describe(&model.query, &model.search_path, owner)
        .map_err(|e| e.context(format!("model \"{}\"", model.name)))?;
    model::check_primary_key(&model.primary_key, &model_columns)
        .map_err(|e| e.context(format!("model \"{}\"", model.name)))?;
    let target: Box<dyn Destination> = match destination.kind.as_str() {
        "postgres" => Box::new(postgres::resolve(&config, &model_columns, owner)?),
        other => {
            return Err(destinations::kind_keys(other).err().unwrap_or_else(|| {
                Error::invalid(
                    "kind",
                    format!("destination kind \"{other}\" cannot deliver"),
                )
            }))
        }
    };
    Ok(ValidSync {
        config,
        model,
        model_columns,
        destination,
        target,
    })
}
