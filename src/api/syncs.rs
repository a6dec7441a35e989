//! Syncs: create, read and change their configuration, enable, file and label them.

use super::{call, sync_ref, Caller};
use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::lifecycle::{self, Dropping};
use crate::engine::validate;
use crate::error::{Error, Result};
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

fn create_sync_impl(
    caller: &Caller,
    name: &str,
    model: ObjectRef,
    destination: ObjectRef,
    config: JsonbArg,
    replace: bool,
) -> Result<i64> {
    let config = config.into_value("config")?;
    let model_id = catalog::owned(Owned::Model, &model, caller.role)?;
    let destination_id = catalog::owned(Owned::Destination, &destination, caller.role)?;
    if let Some(id) = catalog::find(Owned::Sync, name)?.filter(|_| replace) {
        catalog::authorize(Owned::Sync, id, caller.role)?;
        let row = catalog::load_sync(id)?;
        // What a sync sends and where are what its snapshot means.
        let moved = if row.model_id != model_id {
            Some(("model", "sends another model"))
        } else if row.destination_id != destination_id {
            Some(("destination", "sends to another destination"))
        } else {
            None
        };
        if let Some((field, what)) = moved {
            return Err(Error::invalid(
                field,
                format!("sync \"{name}\" {what}; a sync's model and destination cannot change"),
            )
            .with_hint("drop the sync (drop_sync) and create it again, or give it another name"));
        }
        apply_config(caller, &row, &config)?;
        return Ok(id);
    }
    let valid = validate::sync_config(&validate::SyncDefinition {
        sync_id: 0,
        name,
        model_id,
        destination_id,
        document: &config,
        owner: caller.role,
        search_path: Some(&caller.search_path),
    })?;
    let document = valid.stored_config();
    let id = catalog::insert_sync(name, model_id, destination_id, &document, caller.role)?;
    catalog::create_snapshot_table(id)?;
    catalog::state::grant_snapshot(id, caller.role)?;
    catalog::record_activity(id, caller.role, "created", None, Some(document))?;
    Ok(id)
}

/// With `replace`, a sync of that name that is the caller's (sending the
/// same model to the same destination) takes the new configuration in
/// place: same id, history kept; an identical configuration changes nothing.
#[pg_extern(name = "create_sync")]
fn create_sync_by_name(
    name: &str,
    model: &str,
    destination: &str,
    config: JsonbArg,
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        create_sync_impl(
            caller,
            name,
            ObjectRef::Name(model.into()),
            ObjectRef::Name(destination.into()),
            config,
            replace,
        )
    })
}

#[pg_extern(name = "create_sync")]
fn create_sync_by_id(
    name: &str,
    model: i64,
    destination: i64,
    config: JsonbArg,
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        create_sync_impl(
            caller,
            name,
            ObjectRef::Id(model),
            ObjectRef::Id(destination),
            config,
            replace,
        )
    })
}

fn sync_config_impl(caller: &Caller, sync: ObjectRef) -> Result<JsonB> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    Ok(JsonB(catalog::load_sync(id)?.config))
}

#[pg_extern(name = "sync_config", stable)]
fn sync_config_by_name(sync: &str) -> JsonB {
    call(|caller| sync_config_impl(caller, sync_ref(sync)))
}

#[pg_extern(name = "sync_config", stable)]
fn sync_config_by_id(sync: i64) -> JsonB {
    call(|caller| sync_config_impl(caller, ObjectRef::Id(sync)))
}

fn update_sync_impl(caller: &Caller, sync: ObjectRef, config: JsonbArg) -> Result<()> {
    let config = config.into_value("config")?;
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    apply_config(caller, &catalog::load_sync(id)?, &config)
}

/// Validate and store a sync's new configuration; the same configuration
/// (defaults written out) changes nothing and logs nothing.
fn apply_config(caller: &Caller, row: &catalog::SyncRow, config: &serde_json::Value) -> Result<()> {
    // Checked as the sync's owner would run it; a table named in it is
    // found on the caller's search_path, as at create_sync.
    let valid = validate::sync_config(&validate::SyncDefinition {
        document: config,
        search_path: Some(&caller.search_path),
        ..validate::SyncDefinition::stored(row)
    })?;
    let document = valid.stored_config();
    if document == row.config {
        return Ok(());
    }
    if row.config.get("match").is_some() && row.config.get("match") != document.get("match") {
        catalog::state::keep_earlier_config(row.id, &row.config)?;
    }
    catalog::update_sync_config(row.id, &document)?;
    catalog::record_activity(
        row.id,
        caller.role,
        "updated",
        Some(row.config.clone()),
        Some(document),
    )
}

#[pg_extern(name = "update_sync")]
fn update_sync_by_name(sync: &str, config: JsonbArg) {
    call(|caller| update_sync_impl(caller, sync_ref(sync), config))
}

#[pg_extern(name = "update_sync")]
fn update_sync_by_id(sync: i64, config: JsonbArg) {
    call(|caller| update_sync_impl(caller, ObjectRef::Id(sync), config))
}

fn set_enabled(caller: &Caller, sync: ObjectRef, enabled: bool) -> Result<()> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    catalog::set_sync_enabled(id, enabled)?;
    let action = if enabled { "enabled" } else { "disabled" };
    catalog::record_activity(id, caller.role, action, None, None)
}

fn set_folder(caller: &Caller, sync: ObjectRef, folder: Option<&str>) -> Result<()> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    let folder = folder.map(str::trim).filter(|f| !f.is_empty());
    let old = catalog::set_sync_folder(id, folder)?;
    catalog::record_activity(
        id,
        caller.role,
        "folder",
        Some(json!(old)),
        Some(json!(folder)),
    )
}

/// Put a sync in a folder (NULL or '' takes it out).
#[pg_extern(name = "set_sync_folder")]
fn set_sync_folder_by_name(sync: &str, folder: Option<&str>) {
    call(|caller| set_folder(caller, sync_ref(sync), folder))
}

#[pg_extern(name = "set_sync_folder")]
fn set_sync_folder_by_id(sync: i64, folder: Option<&str>) {
    call(|caller| set_folder(caller, ObjectRef::Id(sync), folder))
}

/// NULL takes every label off (as NULL takes a sync out of its folder).
fn set_labels(caller: &Caller, sync: ObjectRef, labels: Option<Vec<Option<String>>>) -> Result<()> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    let labels = labels
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, label)| {
            label.ok_or_else(|| {
                Error::invalid(
                    &format!("labels[{index}]"),
                    "must not be null (a label is text)",
                )
            })
        })
        .collect::<Result<Vec<String>>>()?;
    let mut labels: Vec<String> = labels
        .into_iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    labels.sort();
    labels.dedup();
    let old = catalog::set_sync_labels(id, &labels)?;
    catalog::record_activity(
        id,
        caller.role,
        "labels",
        Some(json!(old)),
        Some(json!(labels)),
    )
}

/// Replace a sync's labels.
#[pg_extern(name = "set_sync_labels")]
fn set_sync_labels_by_name(sync: &str, labels: Option<Vec<Option<String>>>) {
    call(|caller| set_labels(caller, sync_ref(sync), labels))
}

#[pg_extern(name = "set_sync_labels")]
fn set_sync_labels_by_id(sync: i64, labels: Option<Vec<Option<String>>>) {
    call(|caller| set_labels(caller, ObjectRef::Id(sync), labels))
}

#[pg_extern(name = "enable_sync")]
fn enable_sync_by_name(sync: &str) {
    call(|caller| set_enabled(caller, sync_ref(sync), true))
}

#[pg_extern(name = "enable_sync")]
fn enable_sync_by_id(sync: i64) {
    call(|caller| set_enabled(caller, ObjectRef::Id(sync), true))
}

#[pg_extern(name = "disable_sync")]
fn disable_sync_by_name(sync: &str) {
    call(|caller| set_enabled(caller, sync_ref(sync), false))
}

#[pg_extern(name = "disable_sync")]
fn disable_sync_by_id(sync: i64) {
    call(|caller| set_enabled(caller, ObjectRef::Id(sync), false))
}

fn drop_sync_impl(caller: &Caller, sync: ObjectRef, how: Dropping) -> Result<()> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    lifecycle::drop_sync(id, how, caller.role)
}

/// Drop a sync: its going run is cancelled, its snapshot and schedule go;
/// its runs, changelog and activity stay unless keep_history is false.
#[pg_extern(name = "drop_sync")]
fn drop_sync_by_name(
    sync: &str,
    keep_history: default!(bool, true),
    cascade: default!(bool, false),
) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_sync_impl(caller, sync_ref(sync), how))
}

#[pg_extern(name = "drop_sync")]
fn drop_sync_by_id(sync: i64, keep_history: default!(bool, true), cascade: default!(bool, false)) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_sync_impl(caller, ObjectRef::Id(sync), how))
}
