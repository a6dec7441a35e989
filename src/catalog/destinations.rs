//! `destinations`: a kind and its connection settings.

use super::{ensure_name_free, insert_returning_id, lookup, ObjectRef};
use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct DestinationRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: Value,
    /// Its secrets are this role's.
    pub owner: pg_sys::Oid,
}

pub fn destination_id(reference: &ObjectRef) -> Result<i64> {
    lookup("destinations", "destination", reference)
}

pub fn insert_destination(
    name: &str,
    kind: &str,
    config: &Value,
    owner: pg_sys::Oid,
) -> Result<i64> {
    ensure_name_free("destinations", "destination", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.destinations (name, kind, config, owner) VALUES ($1, $2, $3, $4) RETURNING id",
        &[name.into(), kind.into(), JsonB(config.clone()).into(), owner.into()],
    )
}

pub fn load_destination(id: i64) -> Result<DestinationRow> {
    let mut rows = spi::rows(
        "SELECT id, name, kind, config, owner::oid FROM reverse_etl.destinations WHERE id = $1",
        &[id.into()],
        |row| {
            Ok(DestinationRow {
                owner: spi::get(row, 5)?,
                id: spi::get(row, 1)?,
                name: spi::get(row, 2)?,
                kind: spi::get(row, 3)?,
                config: spi::get::<JsonB>(row, 4)?.0,
            })
        },
    )?;
    rows.pop().ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("destination {id} does not exist"),
        )
    })
}

/// The destinations of `owner`: (name, kind, config).
pub fn of_owner(owner: pg_sys::Oid) -> Result<Vec<(String, String, Value)>> {
    spi::rows(
        "SELECT name, kind, config FROM reverse_etl.destinations WHERE owner = $1 ORDER BY name",
        &[owner.into()],
        |row| {
            Ok((
                spi::get(row, 1)?,
                spi::get(row, 2)?,
                spi::get::<JsonB>(row, 3)?.0,
            ))
        },
    )
}

/// Replace a destination's config (same id and kind).
pub fn update_destination_config(id: i64, config: &Value) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.destinations SET config = $2, updated_at = now() WHERE id = $1",
        &[id.into(), JsonB(config.clone()).into()],
    )?;
    Ok(())
}
