//! Runs: start, cancel and wait for them; test one row; preview a plan.

use super::{call, sync_ref, Caller};
use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::launch;
use crate::error::{Error, Result, SqlState};
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;
use pgrx::JsonB;

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

/// A run exists and is of one of the caller's syncs.
fn authorize_run(caller: &Caller, run: i64) -> Result<()> {
    let sync_id = catalog::runs::sync_of(run)?.ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("run: run {run} does not exist"),
        )
    })?;
    catalog::authorize(Owned::Sync, sync_id, caller.role)
}

/// Returns true when the run was still going and has been asked to stop.
#[pg_extern]
fn cancel_run(run: i64) -> bool {
    call(|caller| {
        authorize_run(caller, run)?;
        launch::cancel_run(run)
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
        authorize_run(caller, run)?;
        launch::wait_for_run(run, timeout)
    })
}

/// Private: the position of the next operation of a first run, called once
/// per model row by the run's own statement (see `engine::positions`).
#[pg_extern(volatile, parallel_unsafe)]
fn _next_position(invalid: bool) -> i64 {
    crate::engine::positions::next(invalid)
}
