//! Reading and writing the catalog tables. All catalog SQL lives here.

use crate::engine::plan::ModelColumn;
use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

pub mod schedules;

/// SQL condition: the run `r` (a `sync_runs` row) has a live worker. A run
/// marked as going without one was interrupted (crash, restart, kill).
pub const RUN_WORKER_ALIVE: &str = "EXISTS (SELECT 1 FROM pg_stat_activity a \
     WHERE a.pid = r.worker_pid AND a.backend_type = 'pg_reverse_etl run')";

/// The same for a sequence run `r` (a `sequence_runs` row).
pub const SEQUENCE_WORKER_ALIVE: &str = "EXISTS (SELECT 1 FROM pg_stat_activity a \
     WHERE a.pid = r.worker_pid AND a.backend_type = 'pg_reverse_etl sequence')";

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

#[derive(Debug, Clone)]
pub struct Model {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub primary_key: Vec<String>,
    pub search_path: String,
    pub columns: Vec<ModelColumn>,
}

#[derive(Debug, Clone)]
pub struct DestinationRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: Value,
}

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

pub fn model_id(reference: &ObjectRef) -> Result<i64> {
    lookup("models", "model", reference)
}

pub fn destination_id(reference: &ObjectRef) -> Result<i64> {
    lookup("destinations", "destination", reference)
}

pub fn sync_id(reference: &ObjectRef) -> Result<i64> {
    lookup("syncs", "sync", reference)
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
            format!("name: a {what} named \"{name}\" already exists"),
        ));
    }
    Ok(())
}

pub fn columns_to_json(columns: &[ModelColumn]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_sql}))
            .collect(),
    )
}

pub fn insert_model(
    name: &str,
    query: &str,
    primary_key: &[String],
    search_path: &str,
    columns: &[ModelColumn],
) -> Result<i64> {
    ensure_name_free("models", "model", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.models (name, query, primary_key, search_path, columns) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            name.into(),
            query.into(),
            primary_key.to_vec().into(),
            search_path.into(),
            JsonB(columns_to_json(columns)).into(),
        ],
    )
}

pub fn load_model(id: i64) -> Result<Model> {
    let mut rows = spi::rows(
        "SELECT id, name, query, primary_key, search_path, columns FROM reverse_etl.models WHERE id = $1",
        &[id.into()],
        |row| {
            let columns: JsonB = spi::get(row, 6)?;
            let columns = columns
                .0
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|c| ModelColumn {
                            name: c["name"].as_str().unwrap_or_default().to_string(),
                            type_sql: c["type"].as_str().unwrap_or_default().to_string(),
                            hashable: true,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Model {
                id: spi::get(row, 1)?,
                name: spi::get(row, 2)?,
                query: spi::get(row, 3)?,
                primary_key: spi::get(row, 4)?,
                search_path: spi::get(row, 5)?,
                columns,
            })
        },
    )?;
    rows.pop().ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("model {id} does not exist"),
        )
    })
}

pub fn insert_destination(name: &str, kind: &str, config: &Value) -> Result<i64> {
    ensure_name_free("destinations", "destination", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.destinations (name, kind, config) VALUES ($1, $2, $3) RETURNING id",
        &[name.into(), kind.into(), JsonB(config.clone()).into()],
        )
}

pub fn load_destination(id: i64) -> Result<DestinationRow> {
    let mut rows = spi::rows(
        "SELECT id, name, kind, config FROM reverse_etl.destinations WHERE id = $1",
        &[id.into()],
        |row| {
            Ok(DestinationRow {
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

pub fn insert_sync(name: &str, model_id: i64, destination_id: i64, config: &Value) -> Result<i64> {
    ensure_name_free("syncs", "sync", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.syncs (name, model_id, destination_id, config) \
         VALUES ($1, $2, $3, $4) RETURNING id",
        &[
            name.into(),
            model_id.into(),
            destination_id.into(),
            JsonB(config.clone()).into(),
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
pub fn record_activity(
    sync_id: i64,
    action: &str,
    old: Option<Value>,
    new: Option<Value>,
) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.sync_activity (sync_id, action, old_value, new_value) VALUES ($1, $2, $3, $4)",
        &[sync_id.into(), action.into(), old.map(JsonB).into(), new.map(JsonB).into()],
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

pub fn sequence_id(reference: &ObjectRef) -> Result<i64> {
    lookup("sequences", "sequence", reference)
}

/// Each step's sync resolved to its id; a sync may appear only once.
fn resolve_steps(steps: &[crate::config::sequence::Step]) -> Result<Vec<i64>> {
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
        let id = sync_id(&reference).map_err(|e| Error {
            message: format!("steps[{index}].sync: sync {reference} does not exist"),
            ..e
        })?;
        if let Some(first) = ids.iter().position(|i| *i == id) {
            return Err(Error::invalid(
                &format!("steps[{index}].sync"),
                format!(
                    "sync {reference} is already step {}; a sequence runs each sync once",
                    first + 1
                ),
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// A new sequence.
pub fn insert_sequence(
    name: &str,
    steps: &[crate::config::sequence::Step],
    schedule: &Value,
) -> Result<i64> {
    ensure_name_free("sequences", "sequence", name)?;
    let ids = resolve_steps(steps)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.sequences (name, steps, schedule) VALUES ($1, $2, $3) RETURNING id",
        &[name.into(), JsonB(crate::config::sequence::stored(steps, &ids)).into(), JsonB(schedule.clone()).into()],
        )
}

/// Change a sequence's steps and/or schedule (None: keep).
pub fn update_sequence(
    id: i64,
    steps: Option<&[crate::config::sequence::Step]>,
    schedule: Option<&Value>,
) -> Result<()> {
    let steps = match steps {
        Some(steps) => Some(JsonB(crate::config::sequence::stored(
            steps,
            &resolve_steps(steps)?,
        ))),
        None => None,
    };
    spi::execute(
        "UPDATE reverse_etl.sequences SET steps = coalesce($2, steps), schedule = coalesce($3, schedule), \
         updated_at = now() WHERE id = $1",
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

pub fn set_secret(name: &str, value: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", "a secret needs a name"));
    }
    spi::execute(
        "INSERT INTO reverse_etl._secrets (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        &[name.into(), value.into()],
    )?;
    Ok(())
}

fn extension_owner() -> Result<pg_sys::Oid> {
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

/// A secret's value, read as the extension's owner (no one else can read
/// the secrets table). Only destinations call this, to send it.
pub fn secret_value(field: &str, name: &str) -> Result<String> {
    let owner = extension_owner()?;
    crate::postgres::as_role(owner, || {
        spi::one::<String>(
            "SELECT value FROM reverse_etl._secrets WHERE name = $1",
            &[name.into()],
        )
    })?
    .ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("{field}: secret \"{name}\" does not exist"),
        )
        .with_hint(format!(
            "SELECT reverse_etl.set_secret('{}', '…')",
            name.replace('\'', "''")
        ))
    })
}

/// A plan preview's id, reserved before its worker starts.
pub fn next_preview_id() -> Result<i64> {
    crate::postgres::as_role(extension_owner()?, || {
        spi::one::<i64>("SELECT nextval('reverse_etl._plan_previews_id_seq')", &[])
    })?
    .ok_or_else(|| Error::new(SqlState::InternalError, "no preview id"))
}

pub fn save_preview(id: i64, sync_id: i64, result: Value) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl._plan_previews (id, sync_id, result) VALUES ($1, $2, $3)",
        &[id.into(), sync_id.into(), JsonB(result).into()],
    )?;
    Ok(())
}

/// Read and delete a preview (as the extension's owner: the table is private).
pub fn take_preview(id: i64) -> Result<Option<Value>> {
    let result: Option<JsonB> = crate::postgres::as_role(extension_owner()?, || {
        spi::one(
            "DELETE FROM reverse_etl._plan_previews WHERE id = $1 RETURNING result",
            &[id.into()],
        )
    })?;
    Ok(result.map(|j| j.0))
}

/// The per-sync snapshot: what was last delivered, per row id.
pub fn snapshot_table(sync_id: i64) -> String {
    format!("reverse_etl_state.snapshot_{sync_id}")
}

/// Created as the extension's owner (as a SECURITY DEFINER function would):
/// sync owners need no rights on reverse_etl_state, and cannot read snapshots.
pub fn create_snapshot_table(sync_id: i64) -> Result<()> {
    let extension_owner: pg_sys::Oid = spi::one(
        "SELECT extowner FROM pg_extension WHERE extname = 'pg_reverse_etl'",
        &[],
    )?
    .ok_or_else(|| {
        Error::new(
            SqlState::InternalError,
            "extension pg_reverse_etl not found",
        )
    })?;
    crate::postgres::as_role(extension_owner, || {
        spi::execute(
            &format!(
                "CREATE TABLE {} (row_id text PRIMARY KEY, row_hash bigint NOT NULL, match_key text)",
                snapshot_table(sync_id)
            ),
            &[],
        )
    })?;
    Ok(())
}
