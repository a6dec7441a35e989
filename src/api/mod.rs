//! The SQL interface. Each function only parses its arguments, calls the
//! catalog or engine, and turns an `Err` into a PostgreSQL ERROR; a failed
//! call changes nothing because the ERROR rolls its statement back.
//!
//! Syncs, models and destinations are taken by id (bigint) or name (text):
//! each such function exists twice, once per argument type.

mod schedule;

use crate::catalog::{self, ObjectRef};
use crate::engine::{launch, model, validate};
use crate::error::Result;
use crate::postgres::{current_user, OrRaise};
use pgrx::prelude::*;
use pgrx::JsonB;

fn current_search_path() -> Result<String> {
    Ok(
        crate::postgres::spi::one::<String>("SELECT current_setting('search_path')", &[])?
            .unwrap_or_default(),
    )
}

#[pg_extern]
fn create_model(name: &str, query: &str, primary_key: Vec<String>) -> i64 {
    (|| -> Result<i64> {
        let query = model::normalize_query(query)?;
        let search_path = current_search_path()?;
        let columns = model::describe(&query, &search_path, current_user())?;
        model::check_primary_key(&primary_key, &columns)?;
        catalog::insert_model(name, &query, &primary_key, &search_path, &columns)
    })()
    .or_raise()
}

#[pg_extern]
fn create_destination(name: &str, kind: &str, config: default!(JsonB, "'{}'")) -> i64 {
    (|| -> Result<i64> {
        validate::destination_config(kind, &config.0)?;
        catalog::insert_destination(name, kind, &config.0)
    })()
    .or_raise()
}

fn create_sync_impl(
    name: &str,
    model: ObjectRef,
    destination: ObjectRef,
    config: &JsonB,
) -> Result<i64> {
    let model_id = catalog::model_id(&model)?;
    let destination_id = catalog::destination_id(&destination)?;
    let valid = validate::sync_config(&validate::SyncDefinition {
        sync_id: 0,
        name,
        model_id,
        destination_id,
        document: &config.0,
        owner: current_user(),
    })?;
    let document = valid.config.to_json();
    let id = catalog::insert_sync(name, model_id, destination_id, &document)?;
    catalog::create_snapshot_table(id)?;
    catalog::record_activity(id, "created", None, Some(document))?;
    Ok(id)
}

#[pg_extern(name = "create_sync")]
fn create_sync_by_name(name: &str, model: &str, destination: &str, config: JsonB) -> i64 {
    create_sync_impl(
        name,
        ObjectRef::Name(model.into()),
        ObjectRef::Name(destination.into()),
        &config,
    )
    .or_raise()
}

#[pg_extern(name = "create_sync")]
fn create_sync_by_id(name: &str, model: i64, destination: i64, config: JsonB) -> i64 {
    create_sync_impl(
        name,
        ObjectRef::Id(model),
        ObjectRef::Id(destination),
        &config,
    )
    .or_raise()
}

fn sync_config_impl(sync: ObjectRef) -> Result<JsonB> {
    let id = catalog::sync_id(&sync)?;
    Ok(JsonB(catalog::load_sync(id)?.config))
}

#[pg_extern(name = "sync_config", stable)]
fn sync_config_by_name(sync: &str) -> JsonB {
    sync_config_impl(ObjectRef::Name(sync.into())).or_raise()
}

#[pg_extern(name = "sync_config", stable)]
fn sync_config_by_id(sync: i64) -> JsonB {
    sync_config_impl(ObjectRef::Id(sync)).or_raise()
}

fn update_sync_impl(sync: ObjectRef, config: &JsonB) -> Result<()> {
    let id = catalog::sync_id(&sync)?;
    let row = catalog::load_sync(id)?;
    let valid = validate::sync_config(&validate::SyncDefinition {
        document: &config.0,
        ..validate::SyncDefinition::stored(&row)
    })?;
    let document = valid.config.to_json();
    catalog::update_sync_config(id, &document)?;
    catalog::record_activity(id, "updated", Some(row.config), Some(document))
}

#[pg_extern(name = "update_sync")]
fn update_sync_by_name(sync: &str, config: JsonB) {
    update_sync_impl(ObjectRef::Name(sync.into()), &config).or_raise()
}

#[pg_extern(name = "update_sync")]
fn update_sync_by_id(sync: i64, config: JsonB) {
    update_sync_impl(ObjectRef::Id(sync), &config).or_raise()
}

fn set_enabled(sync: ObjectRef, enabled: bool) -> Result<()> {
    let id = catalog::sync_id(&sync)?;
    catalog::set_sync_enabled(id, enabled)?;
    catalog::record_activity(id, if enabled { "enabled" } else { "disabled" }, None, None)
}

fn set_folder(sync: ObjectRef, folder: Option<&str>) -> Result<()> {
    let id = catalog::sync_id(&sync)?;
    let folder = folder.map(str::trim).filter(|f| !f.is_empty());
    let old = catalog::set_sync_folder(id, folder)?;
    catalog::record_activity(
        id,
        "folder",
        Some(serde_json::json!(old)),
        Some(serde_json::json!(folder)),
    )
}

/// Put a sync in a folder (NULL or '' takes it out).
#[pg_extern(name = "set_sync_folder")]
fn set_sync_folder_by_name(sync: &str, folder: Option<&str>) {
    set_folder(ObjectRef::Name(sync.into()), folder).or_raise()
}

#[pg_extern(name = "set_sync_folder")]
fn set_sync_folder_by_id(sync: i64, folder: Option<&str>) {
    set_folder(ObjectRef::Id(sync), folder).or_raise()
}

/// NULL takes every label off (as NULL takes a sync out of its folder).
fn set_labels(sync: ObjectRef, labels: Option<Vec<Option<String>>>) -> Result<()> {
    let id = catalog::sync_id(&sync)?;
    let labels = labels
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, label)| {
            label.ok_or_else(|| {
                crate::error::Error::invalid(
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
        "labels",
        Some(serde_json::json!(old)),
        Some(serde_json::json!(labels)),
    )
}

/// Replace a sync's labels.
#[pg_extern(name = "set_sync_labels")]
fn set_sync_labels_by_name(sync: &str, labels: Option<Vec<Option<String>>>) {
    set_labels(ObjectRef::Name(sync.into()), labels).or_raise()
}

#[pg_extern(name = "set_sync_labels")]
fn set_sync_labels_by_id(sync: i64, labels: Option<Vec<Option<String>>>) {
    set_labels(ObjectRef::Id(sync), labels).or_raise()
}

#[pg_extern(name = "enable_sync")]
fn enable_sync_by_name(sync: &str) {
    set_enabled(ObjectRef::Name(sync.into()), true).or_raise()
}

#[pg_extern(name = "enable_sync")]
fn enable_sync_by_id(sync: i64) {
    set_enabled(ObjectRef::Id(sync), true).or_raise()
}

#[pg_extern(name = "disable_sync")]
fn disable_sync_by_name(sync: &str) {
    set_enabled(ObjectRef::Name(sync.into()), false).or_raise()
}

#[pg_extern(name = "disable_sync")]
fn disable_sync_by_id(sync: i64) {
    set_enabled(ObjectRef::Id(sync), false).or_raise()
}

fn sync_run_impl(sync: ObjectRef, options: launch::RunOptions) -> Result<i64> {
    let id = catalog::sync_id(&sync)?;
    launch::start_run(id, &options, "manual")
}

#[pg_extern(name = "sync_run")]
fn sync_run_by_name(
    sync: &str,
    full_resync: default!(bool, false),
    wait: default!(bool, true),
    allow_mass_removal: default!(bool, false),
) -> i64 {
    let options = launch::RunOptions {
        full_resync,
        wait,
        allow_mass_removal,
        ..Default::default()
    };
    sync_run_impl(ObjectRef::Name(sync.into()), options).or_raise()
}

#[pg_extern(name = "sync_run")]
fn sync_run_by_id(
    sync: i64,
    full_resync: default!(bool, false),
    wait: default!(bool, true),
    allow_mass_removal: default!(bool, false),
) -> i64 {
    let options = launch::RunOptions {
        full_resync,
        wait,
        allow_mass_removal,
        ..Default::default()
    };
    sync_run_impl(ObjectRef::Id(sync), options).or_raise()
}

/// Take the model's current result as what was sent, sending nothing: later
/// runs send only later changes. Runs like a sync run (recorded in
/// sync_runs with trigger 'reset_cdc'); returns its run id.
fn reset_cdc_impl(sync: ObjectRef) -> Result<i64> {
    let id = catalog::sync_id(&sync)?;
    let options = launch::RunOptions {
        reset_cdc: true,
        wait: true,
        ..Default::default()
    };
    let run_id = launch::start_run(id, &options, "reset_cdc")?;
    catalog::record_activity(id, "reset_cdc", None, None)?;
    Ok(run_id)
}

/// Clear and fill: empty the sync's list at the destination, then send
/// every current row (a full resync). Only list syncs to a postgres table.
fn clear_and_fill_impl(sync: ObjectRef) -> Result<i64> {
    let id = catalog::sync_id(&sync)?;
    let row = catalog::load_sync(id)?;
    let kind = catalog::load_destination(row.destination_id)?.kind;
    let clears_lists = crate::destinations::kind(&kind)?.can_clear_lists();
    if row.config.get("mode").and_then(|m| m.as_str()) == Some("remove") {
        return Err(crate::error::Error::new(
            crate::error::SqlState::FeatureNotSupported,
            format!(
                "mode: sync \"{}\" takes its model's rows off the list (mode \"remove\"); clear and fill, which empties the list and fills it with the model, has no meaning there",
                row.name
            ),
        ));
    }
    if row.config.get("type").and_then(|t| t.as_str()) != Some("list") || !clears_lists {
        return Err(crate::error::Error::new(
            crate::error::SqlState::FeatureNotSupported,
            format!("sync: clear and fill needs a list sync to a postgres destination; sync \"{}\" is a {} sync to a {kind} destination",
                row.name, row.config.get("type").and_then(|t| t.as_str()).unwrap_or("?")),
        ));
    }
    let options = launch::RunOptions {
        full_resync: true,
        clear_first: true,
        wait: true,
        ..Default::default()
    };
    let run_id = launch::start_run(id, &options, "clear_and_fill")?;
    catalog::record_activity(id, "clear_and_fill", None, None)?;
    Ok(run_id)
}

#[pg_extern(name = "sync_clear_and_fill")]
fn sync_clear_and_fill_by_name(sync: &str) -> i64 {
    clear_and_fill_impl(ObjectRef::Name(sync.into())).or_raise()
}

#[pg_extern(name = "sync_clear_and_fill")]
fn sync_clear_and_fill_by_id(sync: i64) -> i64 {
    clear_and_fill_impl(ObjectRef::Id(sync)).or_raise()
}

#[pg_extern(name = "sync_reset_cdc")]
fn sync_reset_cdc_by_name(sync: &str) -> i64 {
    reset_cdc_impl(ObjectRef::Name(sync.into())).or_raise()
}

#[pg_extern(name = "sync_reset_cdc")]
fn sync_reset_cdc_by_id(sync: i64) -> i64 {
    reset_cdc_impl(ObjectRef::Id(sync)).or_raise()
}

/// Returns true when the run was still going and has been asked to stop.
#[pg_extern]
fn cancel_run(run: i64) -> bool {
    launch::cancel_run(run).or_raise()
}

/// Write-only: the value can be used by destinations but never read back.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn set_secret(name: &str, value: &str) {
    catalog::set_secret(name, value).or_raise()
}

fn test_row_impl(
    sync: ObjectRef,
    row_id: &str,
    op: &str,
    values: Option<JsonB>,
    dry_run: bool,
) -> Result<JsonB> {
    let id = catalog::sync_id(&sync)?;
    crate::engine::test_row::test_row(id, row_id, op, values.as_ref().map(|v| &v.0), dry_run)
        .map(JsonB)
}

/// Send one row as a run would (op 'added', 'changed' or 'removed'),
/// optionally with `values` edited, and return the request and response
/// (secrets masked). `dry_run` returns the request without sending it.
#[pg_extern(name = "sync_test_row")]
fn sync_test_row_by_name(
    sync: &str,
    row_id: &str,
    op: default!(&str, "'added'"),
    values: default!(Option<JsonB>, NULL),
    dry_run: default!(bool, false),
) -> JsonB {
    test_row_impl(ObjectRef::Name(sync.into()), row_id, op, values, dry_run).or_raise()
}

#[pg_extern(name = "sync_test_row")]
fn sync_test_row_by_id(
    sync: i64,
    row_id: &str,
    op: default!(&str, "'added'"),
    values: default!(Option<JsonB>, NULL),
    dry_run: default!(bool, false),
) -> JsonB {
    test_row_impl(ObjectRef::Id(sync), row_id, op, values, dry_run).or_raise()
}

fn plan_impl(sync: ObjectRef) -> Result<JsonB> {
    let id = catalog::sync_id(&sync)?;
    launch::preview(id).map(JsonB)
}

/// What the next run would do: counts of added, changed and removed rows,
/// invalid rows, a sample of up to 10 rows of each kind, and whether the
/// removal guard would stop it. Nothing is sent or recorded.
#[pg_extern(name = "sync_plan")]
fn sync_plan_by_name(sync: &str) -> JsonB {
    plan_impl(ObjectRef::Name(sync.into())).or_raise()
}

#[pg_extern(name = "sync_plan")]
fn sync_plan_by_id(sync: i64) -> JsonB {
    plan_impl(ObjectRef::Id(sync)).or_raise()
}

/// A sequence: syncs run one after another. `steps` is a list of sync names
/// or ids, or objects `{"sync": …, "on_failure": "stop" | "continue",
/// "max_rejected_share": 0.1}`.
#[pg_extern]
fn create_sequence(
    name: &str,
    steps: JsonB,
    schedule: default!(JsonB, "'{\"manual\": true}'"),
) -> i64 {
    (|| -> Result<i64> {
        let parsed = crate::config::sequence::parse_steps(&steps.0)?;
        let schedule = crate::config::Schedule::parse("schedule", &schedule.0)?;
        catalog::insert_sequence(name, &parsed, &schedule.to_json())
    })()
    .or_raise()
}

fn sequence_run_impl(sequence: ObjectRef, wait: bool) -> Result<i64> {
    let id = catalog::sequence_id(&sequence)?;
    crate::engine::sequence::start(id, wait)
}

/// Run a sequence's syncs one after another; returns the sequence run id.
#[pg_extern(name = "sequence_run")]
fn sequence_run_by_name(sequence: &str, wait: default!(bool, true)) -> i64 {
    sequence_run_impl(ObjectRef::Name(sequence.into()), wait).or_raise()
}

#[pg_extern(name = "sequence_run")]
fn sequence_run_by_id(sequence: i64, wait: default!(bool, true)) -> i64 {
    sequence_run_impl(ObjectRef::Id(sequence), wait).or_raise()
}

fn update_sequence_impl(
    sequence: ObjectRef,
    steps: Option<JsonB>,
    schedule: Option<JsonB>,
) -> Result<()> {
    let id = catalog::sequence_id(&sequence)?;
    let steps = steps
        .map(|s| crate::config::sequence::parse_steps(&s.0))
        .transpose()?;
    let schedule = schedule
        .map(|s| crate::config::Schedule::parse("schedule", &s.0))
        .transpose()?;
    catalog::update_sequence(id, steps.as_deref(), schedule.map(|s| s.to_json()).as_ref())
}

/// Change a sequence's steps and/or schedule; a NULL argument keeps it.
#[pg_extern(name = "update_sequence")]
fn update_sequence_by_name(
    sequence: &str,
    steps: default!(Option<JsonB>, "NULL"),
    schedule: default!(Option<JsonB>, "NULL"),
) {
    update_sequence_impl(ObjectRef::Name(sequence.into()), steps, schedule).or_raise()
}

#[pg_extern(name = "update_sequence")]
fn update_sequence_by_id(
    sequence: i64,
    steps: default!(Option<JsonB>, "NULL"),
    schedule: default!(Option<JsonB>, "NULL"),
) {
    update_sequence_impl(ObjectRef::Id(sequence), steps, schedule).or_raise()
}

fn set_sequence_enabled(sequence: ObjectRef, enabled: bool) -> Result<()> {
    catalog::set_sequence_enabled(catalog::sequence_id(&sequence)?, enabled)
}

#[pg_extern(name = "enable_sequence")]
fn enable_sequence_by_name(sequence: &str) {
    set_sequence_enabled(ObjectRef::Name(sequence.into()), true).or_raise()
}

#[pg_extern(name = "enable_sequence")]
fn enable_sequence_by_id(sequence: i64) {
    set_sequence_enabled(ObjectRef::Id(sequence), true).or_raise()
}

#[pg_extern(name = "disable_sequence")]
fn disable_sequence_by_name(sequence: &str) {
    set_sequence_enabled(ObjectRef::Name(sequence.into()), false).or_raise()
}

#[pg_extern(name = "disable_sequence")]
fn disable_sequence_by_id(sequence: i64) {
    set_sequence_enabled(ObjectRef::Id(sequence), false).or_raise()
}
