//! `syncs` and their activity log (`sync_activity`).

use super::{ensure_name_free, insert_returning_id, lookup, ObjectRef};
use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct SyncRow {
    pub id: i64,
    pub name: String,
    pub model_id: i64,
    pub destination_id: i64,
    pub config: Value,
    pub enabled: bool,
    pub owner: pg_sys::Oid,
}

pub fn sync_id(reference: &ObjectRef) -> Result<i64> {
    lookup("syncs", "sync", reference)
}

pub fn insert_sync(
    name: &str,
    model_id: i64,
    destination_id: i64,
    config: &Value,
    owner: pg_sys::Oid,
) -> Result<i64> {
    ensure_name_free("syncs", "sync", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.syncs (name, model_id, destination_id, config, owner, created_by) \
         VALUES ($1, $2, $3, $4, $5, pg_catalog.pg_get_userbyid($5))  RETURNING id",
        &[
            name.into(),
            model_id.into(),
            destination_id.into(),
            JsonB(config.clone()).into(),
            owner.into(),
        ],
    )
}

pub fn load_sync(id: i64) -> Result<SyncRow> {
    let mut rows = spi::rows(
        "SELECT id, name, model_id, destination_id, config, enabled, owner::oid FROM reverse_etl.syncs WHERE id = $1",
        &[id.into()],
        |row| {
            Ok(SyncRow {
                id: spi::get(row, 1)?,
                name: spi::get(row, 2)?,
                model_id: spi::get(row, 3)?,
                destination_id: spi::get(row, 4)?,
                config: spi::get::<JsonB>(row, 5)?.0,
                enabled: spi::get(row, 6)?,
                owner: spi::get(row, 7)?,
            })
        },
    )?;
    rows.pop().ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("sync {id} does not exist"),
        )
    })
}

pub fn update_sync_config(id: i64, config: &Value) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.syncs SET config = $2, updated_at = now() WHERE id = $1",
        &[id.into(), JsonB(config.clone()).into()],
    )?;
    Ok(())
}

pub fn set_sync_enabled(id: i64, enabled: bool) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.syncs SET enabled = $2, updated_at = now() WHERE id = $1",
        &[id.into(), enabled.into()],
    )?;
    Ok(())
}

/// Whether this transaction itself wrote the sync, its model or destination
/// and has not committed: a run worker (another transaction) cannot see them.
pub fn sync_written_by_this_transaction(sync_id: i64) -> Result<bool> {
    let writers: Vec<i64> = spi::rows(
        "SELECT x::text::bigint FROM ( \
             SELECT s.xmin AS x FROM reverse_etl.syncs s WHERE s.id = $1 \
             UNION ALL SELECT m.xmin FROM reverse_etl.models m JOIN reverse_etl.syncs s ON s.model_id = m.id WHERE s.id = $1 \
             UNION ALL SELECT d.xmin FROM reverse_etl.destinations d JOIN reverse_etl.syncs s ON s.destination_id = d.id WHERE s.id = $1) AS w",
        &[sync_id.into()],
        |row| spi::get(row, 1),
    )?;
    // SAFETY: a plain lookup in this backend's transaction state.
    Ok(writers.into_iter().any(|xid| unsafe {
        pg_sys::TransactionIdIsCurrentTransactionId(pg_sys::TransactionId::from(xid as u32))
    }))
}

/// One line of a sync's activity log.
/// `actor` is who made the change (the caller: current_user, after SET ROLE).
pub fn record_activity(
    sync_id: i64,
    actor: pg_sys::Oid,
    action: &str,
    old: Option<Value>,
    new: Option<Value>,
) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.sync_activity (sync_id, actor, action, old_value, new_value) \
         VALUES ($1, pg_catalog.pg_get_userbyid($2), $3, $4, $5)",
        &[
            sync_id.into(),
            actor.into(),
            action.into(),
            old.map(JsonB).into(),
            new.map(JsonB).into(),
        ],
    )?;
    Ok(())
}

pub fn set_sync_folder(id: i64, folder: Option<&str>) -> Result<Option<String>> {
    let old: Option<String> = spi::one(
        "SELECT folder FROM reverse_etl.syncs WHERE id = $1",
        &[id.into()],
    )?;
    spi::execute(
        "UPDATE reverse_etl.syncs SET folder = $2, updated_at = now() WHERE id = $1",
        &[id.into(), folder.map(str::to_string).into()],
    )?;
    Ok(old)
}

pub fn set_sync_labels(id: i64, labels: &[String]) -> Result<Vec<String>> {
    let old: Option<Vec<String>> = spi::one(
        "SELECT labels FROM reverse_etl.syncs WHERE id = $1",
        &[id.into()],
    )?;
    spi::execute(
        "UPDATE reverse_etl.syncs SET labels = $2, updated_at = now() WHERE id = $1",
        &[id.into(), labels.to_vec().into()],
    )?;
    Ok(old.unwrap_or_default())
}

/// The syncs (id, name) that send model `model_id`.
pub fn of_model(model_id: i64) -> Result<Vec<(i64, String)>> {
    using("model_id", model_id)
}

/// The syncs (id, name) that send to destination `destination_id`.
pub fn of_destination(destination_id: i64) -> Result<Vec<(i64, String)>> {
    using("destination_id", destination_id)
}

fn using(column: &str, id: i64) -> Result<Vec<(i64, String)>> {
    spi::rows(
        &format!("SELECT id, name FROM reverse_etl.syncs WHERE {column} = $1 ORDER BY name"),
        &[id.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )
}

/// The `logs.changelog` a sync's configuration names, if any.
pub fn logged_changelog(sync_id: i64) -> Result<Option<String>> {
    spi::one(
        "SELECT config->'logs'->>'changelog' FROM reverse_etl.syncs WHERE id = $1",
        &[sync_id.into()],
    )
}

/// The syncs `role` may use (its own, its roles', every one for a superuser),
/// and those dropped with their history kept.
pub fn usable_by(role: pg_sys::Oid) -> Result<Vec<i64>> {
    let all: Vec<(i64, pg_sys::Oid)> = spi::rows(
        "SELECT id, owner::oid FROM reverse_etl.syncs \
         UNION ALL SELECT id, owner::oid FROM reverse_etl.dropped_objects WHERE kind = 'sync' ORDER BY 1",
        &[],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )?;
    Ok(all
        .into_iter()
        .filter(|(_, owner)| crate::postgres::acts_for(role, *owner))
        .map(|(id, _)| id)
        .collect())
}

/// Every sync's `logs.retention` as written (None: the setting's), and
/// those of dropped syncs whose history was kept.
pub fn retentions() -> Result<Vec<(i64, Option<String>)>> {
    spi::rows(
        "SELECT id, config->'logs'->>'retention' FROM reverse_etl.syncs \
         UNION ALL SELECT id, definition->'config'->'logs'->>'retention' \
         FROM reverse_etl.dropped_objects WHERE kind = 'sync' ORDER BY 1",
        &[],
        |row| Ok((spi::get(row, 1)?, row.get::<String>(2)?)),
    )
}
