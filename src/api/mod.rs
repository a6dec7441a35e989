//! The SQL interface. Each function only parses its arguments, calls the
//! catalog or engine through `call`, and turns an `Err` into a PostgreSQL
//! ERROR; a failed call changes nothing because the ERROR rolls its
//! statement back.
//!
//! `call` is what a SECURITY DEFINER function with a pinned search_path
//! would be, with the caller kept: the catalog is read and written as the
//! extension's owner, and every object a function touches is first checked
//! to be the caller's (`catalog::owned`). What touches the caller's own
//! objects (describing a query, resolving a table) runs as the object's
//! owner again, in a security-restricted operation.
//!
//! Syncs, models, destinations and sequences are taken by id (bigint) or
//! name (text): each such function exists twice, once per argument type.
//! The Rust names of these functions are C symbols of released install
//! scripts: never rename one.

mod schedule;

use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::{launch, model, validate};
use crate::error::{Error, Result, SqlState};
use crate::postgres::json_arg::JsonbArg;
use crate::postgres::{as_extension_owner, current_user, OrRaise};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

/// Who called: the current user (after SET ROLE, inside SECURITY DEFINER
/// functions: the user whose privileges the call has) and its search_path.
pub struct Caller {
    pub role: pg_sys::Oid,
    pub search_path: String,
}

/// Run an API function's body for its caller, as the extension's owner.
fn call<T>(body: impl FnOnce(&Caller) -> Result<T>) -> T {
    (|| -> Result<T> {
        let caller = Caller {
            role: current_user(),
            search_path: crate::postgres::spi::one::<String>(
                "SELECT pg_catalog.current_setting('search_path')",
                &[],
            )?
            .unwrap_or_default(),
        };
        let owner = catalog::extension_owner()?;
        as_extension_owner(owner, || body(&caller))
    })()
    .or_raise()
}

fn sync_ref(name: &str) -> ObjectRef {
    ObjectRef::Name(name.into())
}

#[pg_extern]
fn create_model(name: &str, query: &str, primary_key: Vec<Option<String>>) -> i64 {
    call(|caller| {
        let primary_key = primary_key
            .into_iter()
            .enumerate()
            .map(|(index, key)| {
                key.ok_or_else(|| {
                    Error::invalid(&format!("primary_key[{index}]"), "must not be null")
                })
            })
            .collect::<Result<Vec<String>>>()?;
        let query = model::normalize_query(query)?;
        model::check_single_statement(&query)?;
        let columns = model::describe(&query, &caller.search_path, caller.role)?;
        model::check_primary_key(&primary_key, &columns)?;
        catalog::insert_model(
            name,
            &query,
            &primary_key,
            &caller.search_path,
            &columns,
            caller.role,
        )
    })
}

#[pg_extern]
fn create_destination(name: &str, kind: &str, config: default!(JsonbArg, "'{}'")) -> i64 {
    call(|caller| {
        let config = config.into_value("config")?;
        validate::destination_config(kind, &config, caller.role)?;
        catalog::insert_destination(name, kind, &config, caller.role)
    })
}

fn create_sync_impl(
    caller: &Caller,
    name: &str,
    model: ObjectRef,
    destination: ObjectRef,
    config: JsonbArg,
) -> Result<i64> {
    let config = config.into_value("config")?;
    let model_id = catalog::owned(Owned::Model, &model, caller.role)?;
    let destination_id = catalog::owned(Owned::Destination, &destination, caller.role)?;
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
    catalog::record_activity(id, caller.role, "created", None, Some(document))?;
    Ok(id)
}

#[pg_extern(name = "create_sync")]
fn create_sync_by_name(name: &str, model: &str, destination: &str, config: JsonbArg) -> i64 {
    call(|caller| {
        create_sync_impl(
            caller,
            name,
            ObjectRef::Name(model.into()),
            ObjectRef::Name(destination.into()),
            config,
        )
    })
}

#[pg_extern(name = "create_sync")]
fn create_sync_by_id(name: &str, model: i64, destination: i64, config: JsonbArg) -> i64 {
    call(|caller| {
        create_sync_impl(
            caller,
            name,
            ObjectRef::Id(model),
            ObjectRef::Id(destination),
            config,
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
    let row = catalog::load_sync(id)?;
    // Checked as the sync's owner would run it; a table named in it is
    // found on the caller's search_path, as at create_sync.
    let valid = validate::sync_config(&validate::SyncDefinition {
        document: &config,
        search_path: Some(&caller.search_path),
        ..validate::SyncDefinition::stored(&row)
    })?;
    let document = valid.stored_config();
    catalog::update_sync_config(id, &document)?;
    catalog::record_activity(id, caller.role, "updated", Some(row.config), Some(document))
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

fn sync_run_impl(caller: &Caller, sync: ObjectRef, options: launch::RunOptions) -> Result<i64> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    launch::start_run(id, &options, "manual")
}

#[pg_extern(name = "sync_run")]
fn sync_run_by_name(
    sync: &str,
    full_resync: default!(bool, false),
    wait: default!(bool, true),
    allow_mass_removal: default!(bool, false),
    raise_on_failure: default!(bool, true),
) -> i64 {
    let options = launch::RunOptions {
        full_resync,
        wait,
        allow_mass_removal,
        raise_on_failure,
        ..Default::default()
    };
    call(|caller| sync_run_impl(caller, sync_ref(sync), options))
}

#[pg_extern(name = "sync_run")]
fn sync_run_by_id(
    sync: i64,
    full_resync: default!(bool, false),
    wait: default!(bool, true),
    allow_mass_removal: default!(bool, false),
    raise_on_failure: default!(bool, true),
) -> i64 {
    let options = launch::RunOptions {
        full_resync,
        wait,
        allow_mass_removal,
        raise_on_failure,
        ..Default::default()
    };
    call(|caller| sync_run_impl(caller, ObjectRef::Id(sync), options))
}

/// Take the model's current result as what was sent, sending nothing: later
/// runs send only later changes. Runs like a sync run (recorded in
/// sync_runs with trigger 'reset_cdc'); returns its run id.
fn reset_cdc_impl(caller: &Caller, sync: ObjectRef) -> Result<i64> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    let options = launch::RunOptions {
        reset_cdc: true,
        wait: true,
        raise_on_failure: true,
        ..Default::default()
    };
    let run_id = launch::start_run(id, &options, "reset_cdc")?;
    catalog::record_activity(id, caller.role, "reset_cdc", None, None)?;
    Ok(run_id)
}

/// Clear and fill: empty the sync's list at the destination, then send
/// every current row (a full resync). Only list syncs in mode add, to a
/// kind that can empty a list.
fn clear_and_fill_impl(caller: &Caller, sync: ObjectRef) -> Result<i64> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    let row = catalog::load_sync(id)?;
    let kind = catalog::load_destination(row.destination_id)?.kind;
    let clears_lists = crate::destinations::kind(&kind)?.can_clear_lists();
    if row.config.get("mode").and_then(|m| m.as_str()) == Some("remove") {
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!(
                "mode: sync \"{}\" takes its model's rows off the list (mode \"remove\"); clear and fill, which empties the list and fills it with the model, has no meaning there",
                row.name
            ),
        ));
    }
    if row.config.get("type").and_then(|t| t.as_str()) != Some("list") || !clears_lists {
        return Err(Error::new(
            SqlState::FeatureNotSupported,
            format!("sync: clear and fill needs a list sync to a postgres destination; sync \"{}\" is a {} sync to a {kind} destination",
                row.name, row.config.get("type").and_then(|t| t.as_str()).unwrap_or("?")),
        ));
    }
    let options = launch::RunOptions {
        full_resync: true,
        clear_first: true,
        wait: true,
        raise_on_failure: true,
        ..Default::default()
    };
    let run_id = launch::start_run(id, &options, "clear_and_fill")?;
    catalog::record_activity(id, caller.role, "clear_and_fill", None, None)?;
    Ok(run_id)
}

#[pg_extern(name = "sync_clear_and_fill")]
fn sync_clear_and_fill_by_name(sync: &str) -> i64 {
    call(|caller| clear_and_fill_impl(caller, sync_ref(sync)))
}

#[pg_extern(name = "sync_clear_and_fill")]
fn sync_clear_and_fill_by_id(sync: i64) -> i64 {
    call(|caller| clear_and_fill_impl(caller, ObjectRef::Id(sync)))
}

#[pg_extern(name = "sync_reset_cdc")]
fn sync_reset_cdc_by_name(sync: &str) -> i64 {
    call(|caller| reset_cdc_impl(caller, sync_ref(sync)))
}

#[pg_extern(name = "sync_reset_cdc")]
fn sync_reset_cdc_by_id(sync: i64) -> i64 {
    call(|caller| reset_cdc_impl(caller, ObjectRef::Id(sync)))
}

/// Returns true when the run was still going and has been asked to stop.
#[pg_extern]
fn cancel_run(run: i64) -> bool {
    call(|caller| {
        let sync_id = catalog::runs::sync_of(run)?.ok_or_else(|| {
            Error::new(
                SqlState::UndefinedObject,
                format!("run: run {run} does not exist"),
            )
        })?;
        catalog::authorize(Owned::Sync, sync_id, caller.role)?;
        launch::cancel_run(run)
    })
}

/// Write-only: the value can be used by the caller's destinations but never
/// read back.
#[pg_extern]
fn set_secret(name: &str, value: &str) {
    call(|caller| catalog::set_secret(caller.role, name, value))
}

/// Delete one of the caller's secrets (refused while a destination uses it).
#[pg_extern]
fn delete_secret(name: &str) {
    call(|caller| {
        let users = validate::destinations_using_secret(caller.role, name)?;
        catalog::delete_secret(caller.role, name, &users)
    })
}

fn test_row_impl(
    caller: &Caller,
    sync: ObjectRef,
    row_id: &str,
    op: &str,
    values: Option<JsonbArg>,
    dry_run: bool,
) -> Result<JsonB> {
    let values = values.map(|v| v.into_value("values")).transpose()?;
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    crate::engine::test_row::test_row(id, row_id, op, values.as_ref(), dry_run).map(JsonB)
}

/// Send one row as a run would (op 'added', 'changed' or 'removed'),
/// optionally with `values` edited, and return the request and response
/// (secrets masked). `dry_run` returns the request without sending it.
#[pg_extern(name = "sync_test_row")]
fn sync_test_row_by_name(
    sync: &str,
    row_id: &str,
    op: default!(&str, "'added'"),
    values: default!(Option<JsonbArg>, NULL),
    dry_run: default!(bool, false),
) -> JsonB {
    call(|caller| test_row_impl(caller, sync_ref(sync), row_id, op, values, dry_run))
}

#[pg_extern(name = "sync_test_row")]
fn sync_test_row_by_id(
    sync: i64,
    row_id: &str,
    op: default!(&str, "'added'"),
    values: default!(Option<JsonbArg>, NULL),
    dry_run: default!(bool, false),
) -> JsonB {
    call(|caller| test_row_impl(caller, ObjectRef::Id(sync), row_id, op, values, dry_run))
}

fn plan_impl(caller: &Caller, sync: ObjectRef) -> Result<JsonB> {
    let id = catalog::owned(Owned::Sync, &sync, caller.role)?;
    launch::preview(id).map(JsonB)
}

/// What the next run would do: counts of added, changed and removed rows,
/// invalid rows, a sample of up to 10 rows of each kind, and whether the
/// removal guard would stop it. Nothing is sent or recorded.
#[pg_extern(name = "sync_plan")]
fn sync_plan_by_name(sync: &str) -> JsonB {
    call(|caller| plan_impl(caller, sync_ref(sync)))
}

#[pg_extern(name = "sync_plan")]
fn sync_plan_by_id(sync: i64) -> JsonB {
    call(|caller| plan_impl(caller, ObjectRef::Id(sync)))
}

/// A sequence: syncs run one after another. `steps` is a list of sync names
/// or ids, or objects `{"sync": …, "on_failure": "stop" | "continue",
/// "max_rejected_share": 0.1}`.
#[pg_extern]
fn create_sequence(
    name: &str,
    steps: JsonbArg,
    schedule: default!(JsonbArg, "'{\"manual\": true}'"),
) -> i64 {
    call(|caller| {
        let parsed = crate::config::sequence::parse_steps(&steps.into_value("steps")?)?;
        let schedule =
            crate::config::Schedule::parse("schedule", &schedule.into_value("schedule")?)?;
        catalog::insert_sequence(name, &parsed, &schedule.to_json(), caller.role)
    })
}

fn sequence_run_impl(
    caller: &Caller,
    sequence: ObjectRef,
    wait: bool,
    raise_on_failure: bool,
) -> Result<i64> {
    let id = catalog::owned(Owned::Sequence, &sequence, caller.role)?;
    crate::engine::sequence::start(id, wait, raise_on_failure)
}

/// Run a sequence's syncs one after another; returns the sequence run id.
#[pg_extern(name = "sequence_run")]
fn sequence_run_by_name(
    sequence: &str,
    wait: default!(bool, true),
    raise_on_failure: default!(bool, true),
) -> i64 {
    call(|caller| {
        sequence_run_impl(
            caller,
            ObjectRef::Name(sequence.into()),
            wait,
            raise_on_failure,
        )
    })
}

#[pg_extern(name = "sequence_run")]
fn sequence_run_by_id(
    sequence: i64,
    wait: default!(bool, true),
    raise_on_failure: default!(bool, true),
) -> i64 {
    call(|caller| sequence_run_impl(caller, ObjectRef::Id(sequence), wait, raise_on_failure))
}

/// Wait until a run ends and return its status (succeeded, warning,
/// failed, incomplete); with a timeout, the status it has then.
#[pg_extern]
fn wait_for_run(
    run: Option<i64>,
    timeout: default!(Option<pgrx::datum::Interval>, NULL),
) -> String {
    call(|caller| {
        let run = run.ok_or_else(|| Error::invalid("run", "must not be NULL"))?;
        let timeout = timeout
            .map(|interval| {
                std::time::Duration::try_from(interval)
                    .map_err(|_| Error::invalid("timeout", "must not be negative"))
            })
            .transpose()?;
        let sync_id = catalog::runs::sync_of(run)?.ok_or_else(|| {
            Error::new(
                SqlState::UndefinedObject,
                format!("run: run {run} does not exist"),
            )
        })?;
        catalog::owned(Owned::Sync, &ObjectRef::Id(sync_id), caller.role)?;
        launch::wait_for_run(run, timeout)
    })
}

fn update_sequence_impl(
    caller: &Caller,
    sequence: ObjectRef,
    steps: Option<JsonbArg>,
    schedule: Option<JsonbArg>,
) -> Result<()> {
    let steps = steps.map(|s| s.into_value("steps")).transpose()?;
    let schedule = schedule.map(|s| s.into_value("schedule")).transpose()?;
    let id = catalog::owned(Owned::Sequence, &sequence, caller.role)?;
    let steps = steps
        .map(|s| crate::config::sequence::parse_steps(&s))
        .transpose()?;
    let schedule = schedule
        .map(|s| crate::config::Schedule::parse("schedule", &s))
        .transpose()?;
    catalog::update_sequence(
        id,
        steps.as_deref(),
        schedule.map(|s| s.to_json()).as_ref(),
        caller.role,
    )
}

/// Change a sequence's steps and/or schedule; a NULL argument keeps it.
#[pg_extern(name = "update_sequence")]
fn update_sequence_by_name(
    sequence: &str,
    steps: default!(Option<JsonbArg>, "NULL"),
    schedule: default!(Option<JsonbArg>, "NULL"),
) {
    call(|caller| update_sequence_impl(caller, ObjectRef::Name(sequence.into()), steps, schedule))
}

#[pg_extern(name = "update_sequence")]
fn update_sequence_by_id(
    sequence: i64,
    steps: default!(Option<JsonbArg>, "NULL"),
    schedule: default!(Option<JsonbArg>, "NULL"),
) {
    call(|caller| update_sequence_impl(caller, ObjectRef::Id(sequence), steps, schedule))
}

fn set_sequence_enabled(caller: &Caller, sequence: ObjectRef, enabled: bool) -> Result<()> {
    let id = catalog::owned(Owned::Sequence, &sequence, caller.role)?;
    catalog::set_sequence_enabled(id, enabled)
}

#[pg_extern(name = "enable_sequence")]
fn enable_sequence_by_name(sequence: &str) {
    call(|caller| set_sequence_enabled(caller, ObjectRef::Name(sequence.into()), true))
}

#[pg_extern(name = "enable_sequence")]
fn enable_sequence_by_id(sequence: i64) {
    call(|caller| set_sequence_enabled(caller, ObjectRef::Id(sequence), true))
}

#[pg_extern(name = "disable_sequence")]
fn disable_sequence_by_name(sequence: &str) {
    call(|caller| set_sequence_enabled(caller, ObjectRef::Name(sequence.into()), false))
}

#[pg_extern(name = "disable_sequence")]
fn disable_sequence_by_id(sequence: i64) {
    call(|caller| set_sequence_enabled(caller, ObjectRef::Id(sequence), false))
}
