//! `sequences`: syncs run one after another.

use super::{ensure_name_free, insert_returning_id, lookup, ObjectRef};
use crate::error::{Error, Result};
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

pub fn sequence_id(reference: &ObjectRef) -> Result<i64> {
    lookup("sequences", "sequence", reference)
}

/// Each step's sync resolved to its id; a sync may appear only once, and
/// `caller` must be allowed to use each.
fn resolve_steps(steps: &[crate::config::sequence::Step], caller: pg_sys::Oid) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let reference = match &step.sync {
            Value::Number(n) => ObjectRef::Id(n.as_i64().unwrap_or(-1)),
            Value::String(s) => ObjectRef::Name(s.clone()),
            _ => {
                return Err(Error::invalid(
                    &format!("steps[{index}].sync"),
                    "must be a sync's name or id",
                ))
            }
        };
        let id = super::sync_id(&reference).map_err(|e| Error {
            message: format!("steps[{index}].sync: sync {reference} does not exist"),
            ..e
        })?;
        super::authorize(super::Owned::Sync, id, caller)
            .map_err(|e| e.context(format!("steps[{index}].sync")))?;
        if let Some(first) = ids.iter().position(|i| *i == id) {
            return Err(Error::invalid(
                &format!("steps[{index}].sync"),
                format!(
                    "sync {reference} is already steps[{first}]; a sequence runs each sync once"
                ),
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// A new sequence.
/// A new sequence of `owner`'s, whose steps must be syncs it may use.
pub fn insert_sequence(
    name: &str,
    steps: &[crate::config::sequence::Step],
    schedule: &Value,
    owner: pg_sys::Oid,
) -> Result<i64> {
    ensure_name_free("sequences", "sequence", name)?;
    let ids = resolve_steps(steps, owner)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.sequences (name, steps, schedule, owner, created_by) \
         VALUES ($1, $2, $3, $4, pg_catalog.pg_get_userbyid($4)) RETURNING id",
        &[
            name.into(),
            JsonB(crate::config::sequence::stored(steps, &ids)).into(),
            JsonB(schedule.clone()).into(),
            owner.into(),
        ],
    )
}

/// Change a sequence's steps and/or schedule (None: keep).
pub fn update_sequence(
    id: i64,
    steps: Option<&[crate::config::sequence::Step]>,
    schedule: Option<&Value>,
    caller: pg_sys::Oid,
) -> Result<()> {
    let steps = match steps {
        Some(steps) => Some(JsonB(crate::config::sequence::stored(
            steps,
            &resolve_steps(steps, caller)?,
        ))),
        None => None,
    };
    spi::execute(
        "UPDATE reverse_etl.sequences SET steps = coalesce($2, steps), schedule = coalesce($3, schedule), \
         updated_at = now() \
         WHERE id = $1 AND (steps IS DISTINCT FROM coalesce($2, steps) OR schedule IS DISTINCT FROM coalesce($3, schedule))",
        &[id.into(), steps.into(), schedule.map(|s| JsonB(s.clone())).into()],
    )?;
    Ok(())
}

pub fn set_sequence_enabled(id: i64, enabled: bool) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sequences SET enabled = $2, updated_at = now() WHERE id = $1",
        &[id.into(), enabled.into()],
    )?;
    Ok(())
}

pub fn is_enabled(id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT enabled FROM reverse_etl.sequences WHERE id = $1",
        &[id.into()],
    )?
    .unwrap_or(false))
}

/// The role a sequence belongs to (its steps run if it may run their syncs).
pub fn owner(id: i64) -> Result<pg_sys::Oid> {
    spi::one::<pg_sys::Oid>(
        "SELECT owner::oid FROM reverse_etl.sequences WHERE id = $1",
        &[id.into()],
    )?
    .ok_or_else(|| {
        Error::new(
            crate::error::SqlState::UndefinedObject,
            format!("sequence {id} does not exist"),
        )
    })
}

/// The sequences (id, name) with a step running sync `sync_id`.
pub fn using_sync(sync_id: i64) -> Result<Vec<(i64, String)>> {
    spi::rows(
        "SELECT id, name FROM reverse_etl.sequences \
         WHERE steps @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('sync_id', $1)) \
         ORDER BY name",
        &[sync_id.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )
}

/// A sequence as a tombstone records it: (name, owner, {steps, schedule}).
pub fn definition(id: i64) -> Result<(String, pg_sys::Oid, Value)> {
    let rows = spi::rows(
        "SELECT name, owner::oid, pg_catalog.jsonb_build_object('steps', steps, 'schedule', schedule) \
         FROM reverse_etl.sequences WHERE id = $1",
        &[id.into()],
        |row| {
            Ok((
                spi::get::<String>(row, 1)?,
                spi::get::<pg_sys::Oid>(row, 2)?,
                spi::get::<JsonB>(row, 3)?.0,
            ))
        },
    )?;
    rows.into_iter().next().ok_or_else(|| {
        Error::new(
            crate::error::SqlState::UndefinedObject,
            format!("sequence {id} does not exist"),
        )
    })
}
