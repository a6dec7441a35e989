//! Dropping syncs, sequences, models and destinations from the catalog, and
//! what is kept of them: `dropped_objects` (tombstones whose history stays
//! readable) or nothing.

use crate::error::Result;
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

/// Which history-keeping object a tombstone is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstone {
    Sync,
    Sequence,
}

impl Tombstone {
    fn kind(self) -> &'static str {
        match self {
            Tombstone::Sync => "sync",
            Tombstone::Sequence => "sequence",
        }
    }
}

/// Keep a dropped object's history readable: the RLS policies of its runs,
/// changelog and activity let the same roles see them through the tombstone.
pub fn record_tombstone(
    of: Tombstone,
    id: i64,
    name: &str,
    owner: pg_sys::Oid,
    definition: Value,
    actor: pg_sys::Oid,
) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.dropped_objects (kind, id, name, owner, definition, dropped_by) \
         VALUES ($1, $2, $3, $4::oid::regrole, $5, pg_catalog.pg_get_userbyid($6))",
        &[
            of.kind().into(),
            id.into(),
            name.into(),
            owner.into(),
            JsonB(definition).into(),
            actor.into(),
        ],
    )?;
    Ok(())
}

/// What a tombstone says a sync was.
pub fn sync_definition(sync: &super::SyncRow) -> Result<Value> {
    let names: Vec<(Option<String>, Option<String>)> = spi::rows(
        "SELECT (SELECT name FROM reverse_etl.models WHERE id = $1), \
                (SELECT name FROM reverse_etl.destinations WHERE id = $2)",
        &[sync.model_id.into(), sync.destination_id.into()],
        |row| Ok((row.get::<String>(1)?, row.get::<String>(2)?)),
    )?;
    let (model, destination) = names.into_iter().next().unwrap_or_default();
    Ok(json!({
        "model_id": sync.model_id,
        "model": model,
        "destination_id": sync.destination_id,
        "destination": destination,
        "config": sync.config,
    }))
}

/// Remove a sync's row. Its runs, changelog and activity are kept (with a
/// tombstone) or removed by `forget_sync_history`.
pub fn delete_sync(id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl._plan_previews WHERE sync_id = $1",
        &[id.into()],
    )?;
    spi::execute("DELETE FROM reverse_etl.syncs WHERE id = $1", &[id.into()])?;
    Ok(())
}

/// Remove everything recorded about a sync's runs. The files it wrote stay
/// claimed (`_written_files`): they are still on disk, and no other sync
/// may overwrite them.
pub fn forget_sync_history(id: i64) -> Result<()> {
    for table in [
        "_changelog_entries",
        "_changelog_successes",
        "sync_activity",
        "sync_runs",
    ] {
        spi::execute(
            &format!("DELETE FROM reverse_etl.{table} WHERE sync_id = $1"),
            &[id.into()],
        )?;
    }
    Ok(())
}

pub fn delete_sequence(id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl.sequences WHERE id = $1",
        &[id.into()],
    )?;
    Ok(())
}

pub fn forget_sequence_history(id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl.sequence_run_steps WHERE sequence_run_id IN \
         (SELECT r.id FROM reverse_etl.sequence_runs r WHERE r.sequence_id = $1)",
        &[id.into()],
    )?;
    spi::execute(
        "DELETE FROM reverse_etl.sequence_runs WHERE sequence_id = $1",
        &[id.into()],
    )?;
    Ok(())
}

pub fn delete_model(id: i64) -> Result<()> {
    spi::execute("DELETE FROM reverse_etl.models WHERE id = $1", &[id.into()])?;
    Ok(())
}

pub fn delete_destination(id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl.destinations WHERE id = $1",
        &[id.into()],
    )?;
    Ok(())
}
