//! Checking a sync (or destination) configuration against the catalog and
//! the database before it is stored, and building the run-time pieces from it.

use super::model;
use super::plan::ModelColumn;
use crate::catalog::{self, DestinationRow, Model};
use crate::config::json::ObjectReader;
use crate::config::SyncConfig;
use crate::destinations::{self, http, postgres, Destination};
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
        "file" => {
            destinations::file::check_directory(config, &crate::gucs::file_allowed_directories())?;
            Ok(())
        }
        "http" => {
            let connection = http::config::HttpConnection::parse(config)?;
            http::config::check_host(
                "config.url",
                &connection.url,
                &crate::gucs::http_allowed_hosts(),
            )?;
            for (field, secret) in connection.secret_names() {
                catalog::secret_value(&field, &secret)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Model columns the sync needs: the match and mapped columns, then any
/// column a template names.
fn sent_columns(config: &SyncConfig, model_columns: &[ModelColumn]) -> Vec<String> {
    let mut columns = config.source_columns();
    let mut texts: Vec<String> = config
        .mappings
        .iter()
        .filter_map(|m| match &m.source {
            crate::config::MappingSource::Template(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    if let Some(Value::Object(requests)) = config.destination_keys.get("requests") {
        for request in requests.values() {
            for key in ["path", "body"] {
                if let Some(Value::String(text)) = request.get(key) {
                    texts.push(text.clone());
                }
            }
        }
    }
    let all_text = texts.join("\n");
    for name in
        http::template::referenced_columns(&all_text, model_columns.iter().map(|c| c.name.as_str()))
    {
        if !columns.contains(&name) {
            columns.push(name);
        }
    }
    columns
}

/// A sync's configuration, parsed and checked against its model and
/// destination as `owner` would run it.
pub struct ValidSync {
    pub config: SyncConfig,
    pub model: Model,
    pub model_columns: Vec<ModelColumn>,
    /// The columns a run materialises, in work-table order.
    pub sent_columns: Vec<ModelColumn>,
    pub destination: DestinationRow,
    pub target: Box<dyn Destination>,
}

pub fn sync_config(
    model_id: i64,
    destination_id: i64,
    document: &Value,
    owner: pg_sys::Oid,
    sync_name: &str,
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
        "file" => {
            let directory = destinations::file::check_directory(
                &destination.config,
                &crate::gucs::file_allowed_directories(),
            )
            .map_err(|e| e.context(format!("destination \"{}\"", destination.name)))?;
            Box::new(destinations::file::FileDestination::new(
                directory,
                &config,
                &model_columns,
                sync_name,
            )?)
        }
        "http" => {
            let connection = http::config::HttpConnection::parse(&destination.config)
                .map_err(|e| e.context(format!("destination \"{}\"", destination.name)))?;
            Box::new(http::HttpDestination::new(
                connection,
                &config,
                &model_columns,
                sync_name,
            )?)
        }
        other => {
            return Err(destinations::kind_keys(other).err().unwrap_or_else(|| {
                Error::invalid(
                    "kind",
                    format!("destination kind \"{other}\" cannot deliver"),
                )
            }))
        }
    };
    // A file without mappings holds every column of the model.
    let wanted = if destination.kind == "file"
        && config.mappings.is_empty()
        && config.record_match.is_none()
    {
        model_columns.iter().map(|c| c.name.clone()).collect()
    } else {
        sent_columns(&config, &model_columns)
    };
    let sent_columns = wanted
        .iter()
        .filter_map(|name| model_columns.iter().find(|c| &c.name == name).cloned())
        .collect();
    Ok(ValidSync {
        sent_columns,
        config,
        model,
        model_columns,
        destination,
        target,
    })
}
