//! Sequences: syncs run one after another.

use super::{call, Caller};
use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::lifecycle::{self, Dropping};
use crate::error::Result;
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;

/// A sequence: syncs run one after another. `steps` is a list of sync names
/// or ids, or objects `{"sync": …, "on_failure": "stop" | "continue",
/// "max_rejected_share": 0.1}`.
/// With `replace`, a sequence of that name that is the caller's takes the
/// new steps and schedule in place (unchanged when they are the same).
#[pg_extern]
fn create_sequence(
    name: &str,
    steps: JsonbArg,
    schedule: default!(JsonbArg, "'{\"manual\": true}'"),
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        let parsed = crate::config::sequence::parse_steps(&steps.into_value("steps")?)?;
        let schedule =
            crate::config::Schedule::parse("schedule", &schedule.into_value("schedule")?)?;
        if let Some(id) = catalog::find(Owned::Sequence, name)?.filter(|_| replace) {
            catalog::authorize(Owned::Sequence, id, caller.role)?;
            catalog::update_sequence(id, Some(&parsed), Some(&schedule.to_json()), caller.role)?;
            return Ok(id);
        }
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

fn drop_sequence_impl(caller: &Caller, sequence: ObjectRef, keep_history: bool) -> Result<()> {
    let id = catalog::owned(Owned::Sequence, &sequence, caller.role)?;
    let how = Dropping {
        cascade: false,
        keep_history,
    };
    lifecycle::drop_sequence(id, how, caller.role)
}

/// Drop a sequence (its syncs stay); its runs stay unless keep_history is false.
#[pg_extern(name = "drop_sequence")]
fn drop_sequence_by_name(sequence: &str, keep_history: default!(bool, true)) {
    call(|caller| drop_sequence_impl(caller, ObjectRef::Name(sequence.into()), keep_history))
}

#[pg_extern(name = "drop_sequence")]
fn drop_sequence_by_id(sequence: i64, keep_history: default!(bool, true)) {
    call(|caller| drop_sequence_impl(caller, ObjectRef::Id(sequence), keep_history))
}
