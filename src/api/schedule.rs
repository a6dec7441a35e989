//! Schedules from SQL: when a schedule fires next (to check a cron
//! expression or time zone before using it), and the trigger hook that
//! tells the scheduler about changes.

use crate::config::due::next_due;
use crate::config::Schedule;
use crate::error::{Error, Result};
use crate::postgres::json_arg::JsonbArg;
use crate::postgres::OrRaise;
use chrono::{DateTime, TimeZone, Utc};
use pgrx::prelude::*;
use serde_json::Value;

/// PostgreSQL counts timestamps in microseconds from 2000-01-01.
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

fn to_chrono(at: TimestampWithTimeZone) -> Result<DateTime<Utc>> {
    let micros = pg_sys::TimestampTz::from(at);
    Utc.timestamp_micros(micros.saturating_add(POSTGRES_EPOCH_UNIX_MICROS))
        .single()
        .ok_or_else(|| Error::invalid("after", "is out of range"))
}

fn to_postgres(at: DateTime<Utc>) -> Result<TimestampWithTimeZone> {
    TimestampWithTimeZone::try_from(at.timestamp_micros() - POSTGRES_EPOCH_UNIX_MICROS)
        .map_err(|_| Error::invalid("schedule", "the next due time is out of range"))
}

fn next_runs(
    schedule: &Value,
    count: i32,
    after: TimestampWithTimeZone,
) -> Result<Vec<TimestampWithTimeZone>> {
    let schedule = Schedule::parse("schedule", schedule)?;
    if !(1..=1000).contains(&count) {
        return Err(Error::invalid("count", "must be between 1 and 1000"));
    }
    let mut at = to_chrono(after)?;
    let mut runs = Vec::new();
    while runs.len() < count as usize {
        let Some(due) = next_due(&schedule, at) else {
            break;
        };
        runs.push(to_postgres(due)?);
        at = due;
    }
    Ok(runs)
}

/// The next `count` times a schedule is due after `after`.
#[pg_extern(stable)]
fn schedule_next_runs(
    schedule: JsonbArg,
    count: default!(i32, 5),
    after: default!(TimestampWithTimeZone, "now()"),
) -> SetOfIterator<'static, TimestampWithTimeZone> {
    let runs = schedule
        .into_value("schedule")
        .and_then(|schedule| next_runs(&schedule, count, after));
    SetOfIterator::new(runs.or_raise())
}

/// When a schedule is next due after `after`; NULL for manual schedules or
/// past the end.
#[pg_extern(stable)]
fn schedule_next_run(
    schedule: Option<JsonbArg>,
    after: default!(TimestampWithTimeZone, "now()"),
) -> Option<TimestampWithTimeZone> {
    let runs = schedule?
        .into_value("schedule")
        .and_then(|schedule| next_runs(&schedule, 1, after));
    runs.or_raise().into_iter().next()
}

/// When a stored schedule is next due, for `sync_overview`: NULL for one
/// that does not parse (an older version's), so that one row cannot make
/// the overview fail for everyone.
#[pg_extern(stable)]
fn _next_run_at(schedule: Option<JsonbArg>) -> Option<TimestampWithTimeZone> {
    let schedule = schedule?.into_value("schedule").ok()?;
    let now =
        TimestampWithTimeZone::try_from(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() })
            .ok()?;
    next_runs(&schedule, 1, now).ok()?.into_iter().next()
}

/// Called by the catalog's triggers when syncs or sequences change.
#[pg_extern]
fn _wake_scheduler() {
    crate::schedule::registry::wake_scheduler_at_commit();
}

/// What the launcher knows, per database: its scheduler's pid while one
/// runs and when it next looks. Empty unless the library is preloaded.
// pgrx reads the column names from the return type, so it cannot be an alias.
#[allow(clippy::type_complexity)]
#[pg_extern]
fn scheduler_status() -> TableIterator<
    'static,
    (
        name!(launcher_pid, Option<i32>),
        name!(database, Option<String>),
        name!(scheduler_pid, Option<i32>),
        name!(next_check_at, Option<TimestampWithTimeZone>),
    ),
> {
    use crate::schedule::registry::{preloaded, NEVER, REGISTRY};
    if !preloaded() {
        return TableIterator::new(Vec::new());
    }
    let registry = *REGISTRY.share();
    let rows: Vec<_> = registry
        .slots
        .iter()
        .filter(|slot| slot.database != 0)
        .map(|slot| {
            let name = unsafe {
                let name = pg_sys::get_database_name(pg_sys::Oid::from(slot.database));
                (!name.is_null()).then(|| {
                    std::ffi::CStr::from_ptr(name)
                        .to_string_lossy()
                        .into_owned()
                })
            };
            let next = (slot.next_due_ms != NEVER)
                .then(|| Utc.timestamp_millis_opt(slot.next_due_ms).single())
                .flatten()
                .and_then(|at| to_postgres(at).ok());
            (
                Some(registry.launcher_pid),
                name,
                (slot.scheduler_pid != 0).then_some(slot.scheduler_pid),
                next,
            )
        })
        .collect();
    TableIterator::new(rows)
}
