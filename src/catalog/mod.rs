//! Reading and writing the catalog tables. All catalog SQL lives in this
//! module, one submodule per table (or family of tables), each with a named
//! function for every read and state change.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;

pub mod alerts;
pub mod changelog;
pub mod destinations;
pub mod dropped;
pub mod failures;
pub mod models;
pub mod runs;
pub mod schedules;
pub mod secrets;
pub mod sequence_runs;
pub mod sequences;
pub mod state;
pub mod syncs;

pub use destinations::{destination_id, insert_destination, load_destination, DestinationRow};
pub use models::{columns_to_json, insert_model, load_model, model_id, Model};
pub use secrets::{delete_secret, secret_value, set_secret};
pub use sequences::{insert_sequence, sequence_id, set_sequence_enabled, update_sequence};
pub use state::{
    create_snapshot_table, next_preview_id, save_preview, snapshot_table, take_preview,
};
pub use syncs::{
    insert_sync, load_sync, record_activity, set_sync_enabled, set_sync_folder, set_sync_labels,
    sync_id, sync_written_by_this_transaction, update_sync_config, SyncRow,
};

/// How a user names a model, destination or sync: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRef {
    Id(i64),
    Name(String),
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectRef::Id(id) => write!(f, "{id}"),
            ObjectRef::Name(name) => write!(f, "\"{name}\""),
        }
    }
}

/// Objects that have an owner, who alone (with the owner role's members and
/// superusers) may read, change, run or drop them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    Model,
    Destination,
    Sync,
    Sequence,
    AlertChannel,
}

impl Owned {
    fn table(self) -> &'static str {
        match self {
            Owned::Model => "models",
            Owned::Destination => "destinations",
            Owned::Sync => "syncs",
            Owned::Sequence => "sequences",
            Owned::AlertChannel => "alert_channels",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Owned::Model => "model",
            Owned::Destination => "destination",
            Owned::Sync => "sync",
            Owned::Sequence => "sequence",
            Owned::AlertChannel => "alert channel",
        }
    }
}

/// The object `reference` names, if `caller` may use it; 42704 if there is
/// no such object, 42501 naming it if it is another role's.
pub fn owned(kind: Owned, reference: &ObjectRef, caller: pg_sys::Oid) -> Result<i64> {
    let id = lookup(kind.table(), kind.what(), reference)?;
    authorize(kind, id, caller)?;
    Ok(id)
}

/// `caller` may use the object: it is its owner, a member of the owner
/// role, or a superuser. Anyone else gets SQLSTATE 42501 naming it.
pub fn authorize(kind: Owned, id: i64, caller: pg_sys::Oid) -> Result<()> {
    let rows = spi::rows(
        &format!(
            "SELECT name, owner::oid, owner::text FROM reverse_etl.{} WHERE id = $1",
            kind.table()
        ),
        &[id.into()],
        |row| {
            Ok((
                spi::get::<String>(row, 1)?,
                spi::get::<pg_sys::Oid>(row, 2)?,
                spi::get::<String>(row, 3)?,
            ))
        },
    )?;
    let Some((name, owner, owner_name)) = rows.into_iter().next() else {
        return Err(Error::new(
            SqlState::UndefinedObject,
            format!("{0}: {0} {id} does not exist", kind.what()),
        ));
    };
    if crate::postgres::acts_for(caller, owner) {
        return Ok(());
    }
    Err(Error::new(
        SqlState::InsufficientPrivilege,
        format!(
            "{0}: permission denied for {0} \"{name}\" (owner {owner_name})",
            kind.what()
        ),
    )
    .with_hint(format!(
        "only its owner, a member of role {owner_name}, or a superuser may use it"
    )))
}

/// The id of the object named `name`, if there is one (whoever owns it).
pub fn find(kind: Owned, name: &str) -> Result<Option<i64>> {
    spi::one::<i64>(
        &format!(
            "SELECT id FROM reverse_etl.{} WHERE name = $1",
            kind.table()
        ),
        &[name.into()],
    )
}

fn lookup(table: &str, what: &str, reference: &ObjectRef) -> Result<i64> {
    let id = match reference {
        ObjectRef::Id(id) => spi::one::<i64>(
            &format!("SELECT id FROM reverse_etl.{table} WHERE id = $1"),
            &[(*id).into()],
        )?,
        ObjectRef::Name(name) => spi::one::<i64>(
            &format!("SELECT id FROM reverse_etl.{table} WHERE name = $1"),
            &[name.as_str().into()],
        )?,
    };
    id.ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("{what}: {what} {reference} does not exist"),
        )
    })
}

/// Run an INSERT … RETURNING id.
fn insert_returning_id(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<i64> {
    spi::one::<i64>(sql, args)?
        .ok_or_else(|| Error::new(SqlState::InternalError, format!("no id returned by: {sql}")))
}

fn ensure_name_free(table: &str, what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", format!("a {what} needs a name")));
    }
    let taken: Option<bool> = spi::one(
        &format!("SELECT EXISTS (SELECT 1 FROM reverse_etl.{table} WHERE name = $1)"),
        &[name.into()],
    )?;
    if taken == Some(true) {
        return Err(Error::new(
            SqlState::DuplicateObject,
            format!(
                "name: {} {what} named \"{name}\" already exists",
                if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            ),
        ));
    }
    Ok(())
}

/// Who and what a run worker of a sync connects as: the extension's
/// owner, the sync's owner, and a fingerprint of the database and role
/// settings it will be given (a warm worker serves only runs that would
/// get the same).
pub struct RunContext {
    pub extension_owner: pg_sys::Oid,
    pub sync_owner: pg_sys::Oid,
    pub settings: i64,
}

pub fn run_context(sync_id: i64, database: pg_sys::Oid) -> Result<RunContext> {
    let mut rows = spi::rows(
        "SELECT e.extowner, s.owner::oid, \
                (SELECT coalesce(pg_catalog.hashtextextended(pg_catalog.string_agg( \
                            d.setdatabase::text || '/' || d.setrole::text || '/' || pg_catalog.array_to_string(d.setconfig, E'\\n'), \
                            E'\\n' ORDER BY d.setdatabase, d.setrole), 0), 0) \
                   FROM pg_catalog.pg_db_role_setting d \
                  WHERE d.setdatabase IN (0, $2) AND d.setrole IN (0, e.extowner)) \
           FROM pg_catalog.pg_extension e LEFT JOIN reverse_etl.syncs s ON s.id = $1 \
          WHERE e.extname = 'pg_reverse_etl'",
        &[sync_id.into(), database.into()],
        |row| {
            Ok(RunContext {
                extension_owner: spi::get(row, 1)?,
                sync_owner: row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::Oid::INVALID),
                settings: spi::get(row, 3)?,
            })
        },
    )?;
    rows.pop().ok_or_else(|| {
        Error::new(
            SqlState::InternalError,
            "extension pg_reverse_etl not found",
        )
    })
}

/// The role that owns the extension (and its private tables).
pub fn extension_owner() -> Result<pg_sys::Oid> {
    spi::one(
        "SELECT extowner FROM pg_extension WHERE extname = 'pg_reverse_etl'",
        &[],
    )?
    .ok_or_else(|| {
        Error::new(
            SqlState::InternalError,
            "extension pg_reverse_etl not found",
        )
    })
}
