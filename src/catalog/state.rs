//! Private state: per-sync snapshot tables and plan previews.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::pg_sys;
use pgrx::JsonB;
use serde_json::Value;

/// A plan preview's id, reserved before its worker starts.
pub fn next_preview_id() -> Result<i64> {
    spi::one::<i64>("SELECT nextval('reverse_etl._plan_previews_id_seq')", &[])?
        .ok_or_else(|| Error::new(SqlState::InternalError, "no preview id"))
}

pub fn save_preview(id: i64, sync_id: i64, result: Value) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl._plan_previews (id, sync_id, result) VALUES ($1, $2, $3)",
        &[id.into(), sync_id.into(), JsonB(result).into()],
    )?;
    Ok(())
}

/// Read and delete a preview.
pub fn take_preview(id: i64) -> Result<Option<Value>> {
    let result: Option<JsonB> = spi::one(
        "DELETE FROM reverse_etl._plan_previews WHERE id = $1 RETURNING result",
        &[id.into()],
    )?;
    Ok(result.map(|j| j.0))
}

/// The per-sync snapshot: what was last delivered, per row id.
pub fn snapshot_table(sync_id: i64) -> String {
    format!("reverse_etl_state.snapshot_{sync_id}")
}

/// Created (like every catalog change, by the API as the extension's owner);
/// its owner may only read it (`grant_snapshot`).
/// `delivered_under` is NULL for rows delivered under the sync's current
/// configuration, else the `_earlier_configs` entry they were delivered
/// under (before `match` changed); `last_run_id` and `last_op` (`a`dded,
/// `c`hanged) say which run last sent the row, and how.
pub fn create_snapshot_table(sync_id: i64) -> Result<()> {
    spi::execute(
        &format!(
            "CREATE TABLE {} (row_id text PRIMARY KEY, row_hash bigint NOT NULL, match_key text, \
             delivered_under bigint, last_run_id bigint, last_op \"char\")",
            snapshot_table(sync_id)
        ),
        &[],
    )?;
    let (major, probe) = current_hashing()?;
    record_hashing(sync_id, major, probe)
}

/// The sync's owner may read its snapshot (what `sync_snapshot` shows):
/// row ids and hashes of its own rows, never ownership or writes.
pub fn grant_snapshot(sync_id: i64, owner: pgrx::pg_sys::Oid) -> Result<()> {
    grant_to_owner(&snapshot_table(sync_id), "SELECT", owner)
}

/// The sync's configuration changed how records are matched: what its
/// snapshot holds was delivered under `previous`, and its removals must act
/// on the records as they were matched then.
pub fn keep_earlier_config(sync_id: i64, previous: &Value) -> Result<()> {
    let snapshot = snapshot_table(sync_id);
    let delivered: Option<bool> = spi::one(
        &format!("SELECT EXISTS (SELECT 1 FROM {snapshot} WHERE delivered_under IS NULL)"),
        &[],
    )?;
    if delivered != Some(true) {
        return Ok(());
    }
    let id: Option<i64> = spi::one(
        "INSERT INTO reverse_etl._earlier_configs (sync_id, config) VALUES ($1, $2) RETURNING id",
        &[sync_id.into(), JsonB(previous.clone()).into()],
    )?;
    spi::execute(
        &format!("UPDATE {snapshot} SET delivered_under = $1 WHERE delivered_under IS NULL"),
        &[id.into()],
    )?;
    Ok(())
}

/// An earlier configuration of a sync (see `keep_earlier_config`).
pub fn earlier_config(id: i64) -> Result<Value> {
    spi::one::<JsonB>(
        "SELECT config FROM reverse_etl._earlier_configs WHERE id = $1",
        &[id.into()],
    )?
    .map(|config| config.0)
    .ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("earlier configuration {id} does not exist"),
        )
    })
}

/// Forget the earlier configurations no snapshot row was delivered under any more.
pub fn forget_unused_earlier_configs(sync_id: i64) -> Result<()> {
    spi::execute(
        &format!(
            "DELETE FROM reverse_etl._earlier_configs e WHERE e.sync_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM {} s WHERE s.delivered_under = e.id)",
            snapshot_table(sync_id)
        ),
        &[sync_id.into()],
    )?;
    Ok(())
}

/// This server's major version and probe hash (see `plan::HASH_PROBE`).
pub fn current_hashing() -> Result<(i32, i64)> {
    let rows = spi::rows(
        &format!(
            "SELECT pg_catalog.current_setting('server_version_num')::int / 10000, {}",
            crate::plan::HASH_PROBE
        ),
        &[],
        |row| Ok((spi::get::<i32>(row, 1)?, spi::get::<i64>(row, 2)?)),
    )?;
    rows.into_iter()
        .next()
        .ok_or_else(|| Error::new(SqlState::InternalError, "no server version"))
}

/// The server major and probe hash a sync's snapshot hashes were computed with.
pub fn stored_hashing(sync_id: i64) -> Result<Option<(i32, i64)>> {
    let rows = spi::rows(
        "SELECT server_major, probe FROM reverse_etl._snapshot_hashing WHERE sync_id = $1",
        &[sync_id.into()],
        |row| Ok((spi::get::<i32>(row, 1)?, spi::get::<i64>(row, 2)?)),
    )?;
    Ok(rows.into_iter().next())
}

pub fn record_hashing(sync_id: i64, major: i32, probe: i64) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl._snapshot_hashing (sync_id, server_major, probe) VALUES ($1, $2, $3) \
         ON CONFLICT (sync_id) DO UPDATE SET server_major = EXCLUDED.server_major, probe = EXCLUDED.probe",
        &[sync_id.into(), major.into(), probe.into()],
    )?;
    Ok(())
}

/// Take the rows present in the model and the snapshot as delivered, with
/// this server's hashes (after the hash function changed). Returns how many
/// rows took a new hash.
pub fn rebaseline_hashes(plan: &crate::plan::RunPlan) -> Result<u64> {
    spi::execute(
        &format!(
            "UPDATE {snapshot} s SET row_hash = w.row_hash FROM {work} w \
             WHERE w.row_id = s.row_id AND s.row_hash <> {resend} AND s.row_hash IS DISTINCT FROM w.row_hash",
            snapshot = plan.snapshot_table,
            work = plan.work_table,
            resend = crate::plan::RESEND_HASH
        ),
        &[],
    )
}

/// Whether a sync's snapshot has no rows (a first run, or after a reset).
pub fn snapshot_is_empty(snapshot_table: &str) -> Result<bool> {
    Ok(spi::one::<bool>(
        &format!("SELECT NOT EXISTS (SELECT 1 FROM {snapshot_table})"),
        &[],
    )?
    .unwrap_or(false))
}

/// Whether a sync's snapshot takes at most `bytes` on disk (a small
/// model's: read without scanning it).
pub fn snapshot_within(snapshot_table: &str, bytes: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT pg_catalog.pg_relation_size($1::regclass) <= $2",
        &[snapshot_table.into(), bytes.into()],
    )?
    .unwrap_or(false))
}

/// Rows inserted into `table` in this transaction by any statement (an
/// aborted subtransaction's too): the backend's own count, or, with
/// `track_counts` off, the rows it holds.
pub fn rows_inserted_in_transaction(table: &str) -> Result<i64> {
    let counted: Option<i64> = spi::one(
        "SELECT CASE WHEN pg_catalog.current_setting('track_counts')::bool \
         THEN pg_catalog.pg_stat_get_xact_tuples_inserted($1::regclass) END",
        &[table.into()],
    )?;
    match counted {
        Some(rows) => Ok(rows),
        None => Ok(spi::one(&format!("SELECT count(*) FROM {table}"), &[])?.unwrap_or(0)),
    }
}

/// Whose work tables: a run's, or a plan preview's (`sync_plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkOf {
    Run,
    Preview,
}

impl WorkOf {
    fn prefix(self) -> &'static str {
        match self {
            WorkOf::Run => "run",
            WorkOf::Preview => "preview",
        }
    }
}

/// The table a run materialises its model into (one row per model row).
/// Temporary: only the run's own worker reads it, and a temporary table
/// costs no WAL, no synced files and no shared buffers (creating an unlogged
/// one synced three init forks, a small run's largest cost); it goes with
/// the worker, however that ends.
pub fn work_table(of: WorkOf, id: i64) -> String {
    format!("pg_temp.{}_{id}_rows", of.prefix())
}

/// The table holding a run's planned operations (one row per operation).
pub fn ops_table(of: WorkOf, id: i64) -> String {
    format!("reverse_etl_state.{}_{id}_ops", of.prefix())
}

/// Where a run that finds nothing to do keeps its (empty) operations: a
/// temporary table costs no synced files, and with no operation there is
/// nothing to account for if the worker is killed.
pub fn temporary_ops_table(of: WorkOf, id: i64) -> String {
    format!("pg_temp.{}_{id}_ops", of.prefix())
}

/// Whether the run's ops table exists (it does from its diff until it ends).
pub fn ops_table_exists(of: WorkOf, id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT to_regclass($1) IS NOT NULL",
        &[ops_table(of, id).into()],
    )?
    .unwrap_or(false))
}

/// Drop a run's work tables. CASCADE: a sync's owner, who may read them,
/// could have made a view on one; that cannot keep them (or the run) alive.
pub fn drop_work_tables(of: WorkOf, id: i64) -> Result<()> {
    let prefix = format!("reverse_etl_state.{}_{id}", of.prefix());
    let mut names = vec![
        ops_table(of, id),
        format!("{prefix}_mirror"),
        format!("{prefix}_invalid"),
    ];
    // The model's copy is the run's worker's temporary table; a session
    // closing a run on behalf of a worker that is gone has none (its
    // pg_temp is its own).
    // SAFETY: a process-wide flag.
    if unsafe { pg_sys::IsBackgroundWorker } {
        let work = work_table(of, id);
        names.push(crate::plan::unnumbered_keyed_diff_table_of(&work));
        names.push(crate::plan::keyed_diff_table_of(&work));
        names.push(crate::plan::changed_values_table_of(&work));
        names.push(work);
        names.push(temporary_ops_table(of, id));
    }
    let existing: Option<String> = spi::one(
        "SELECT pg_catalog.string_agg(c::text, ', ') FROM pg_catalog.unnest($1::text[]) AS n, \
         pg_catalog.to_regclass(n) AS c WHERE c IS NOT NULL",
        &[names.into()],
    )?;
    if let Some(tables) = existing {
        drop_tables(&tables)?;
    }
    Ok(())
}

/// Drop tables of a run (a comma-separated list). CASCADE: a sync's owner,
/// who may read them, could have made a view on one; that cannot keep
/// them. What the owner's views were is not the caller's news.
pub fn drop_tables(tables: &str) -> Result<()> {
    crate::postgres::with_settings(&[("client_min_messages", "warning")], || {
        spi::execute(&format!("DROP TABLE {tables} CASCADE"), &[])
    })?;
    Ok(())
}

/// Let the sync's owner (`role`) do `privileges` on one of its run's work
/// tables, which belong to the extension's owner: never ownership, so the
/// owner can add no trigger, rule or policy to them.
pub fn grant_to_owner(table: &str, privileges: &str, role: pgrx::pg_sys::Oid) -> Result<()> {
    spi::execute(
        &format!("GRANT {privileges} ON {table} TO {}", role_name(role)?),
        &[],
    )?;
    Ok(())
}

/// Records a destination on another server holds (mirror mode), by match
/// value; those the model still has are left out by the diff.
pub fn add_mirror_records(plan: &crate::plan::RunPlan, keys: &[String]) -> Result<()> {
    spi::execute(
        &format!(
            "INSERT INTO {} (row_id, match_key) SELECT k, k FROM pg_catalog.unnest($1::text[]) AS k",
            plan.mirror_table()
        ),
        &[keys.to_vec().into()],
    )?;
    Ok(())
}

/// Whether `role` may read `table` (a sync's owner its snapshot, which
/// `grant_snapshot` gives it).
pub fn can_read(table: &str, role: pgrx::pg_sys::Oid) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT pg_catalog.has_table_privilege($1::oid, $2::regclass, 'SELECT')",
        &[role.into(), table.into()],
    )?
    .unwrap_or(false))
}

/// Take back what `grant_to_owner` gave once the run no longer needs it.
pub fn revoke_from_owner(table: &str, privileges: &str, role: pgrx::pg_sys::Oid) -> Result<()> {
    spi::execute(
        &format!("REVOKE {privileges} ON {table} FROM {}", role_name(role)?),
        &[],
    )?;
    Ok(())
}

/// A role's name as SQL writes it (quoted where needed).
fn role_name(role: pgrx::pg_sys::Oid) -> Result<String> {
    spi::one("SELECT $1::regrole::text", &[role.into()])?
        .ok_or_else(|| Error::new(SqlState::UndefinedObject, "the sync's owner does not exist"))
}

/// The match key the snapshot holds for a row (what a removal acts on).
pub fn snapshot_match_key(sync_id: i64, row_id: &str) -> Result<Option<String>> {
    spi::one(
        &format!(
            "SELECT match_key FROM {} WHERE row_id = $1",
            snapshot_table(sync_id)
        ),
        &[row_id.into()],
    )
}

/// Make the next run send a row again (its record was touched by
/// sync_test_row), by giving its snapshot entry a hash no row has.
pub fn mark_for_resend(sync_id: i64, row_id: &str) -> Result<()> {
    spi::execute(
        &format!(
            "UPDATE {} SET row_hash = $2 WHERE row_id = $1",
            snapshot_table(sync_id)
        ),
        &[row_id.into(), crate::plan::RESEND_HASH.into()],
    )?;
    Ok(())
}

/// Claim a file of a file destination for a sync: refused if another sync
/// wrote it, or if it `exists` without the extension having written it
/// (a sync never overwrites what is not its own).
pub fn claim_file(directory: &str, name: &str, sync_id: i64, exists: bool) -> Result<()> {
    let writer: Option<i64> = spi::one(
        "SELECT sync_id FROM reverse_etl._written_files WHERE directory = $1 AND name = $2",
        &[directory.into(), name.into()],
    )?;
    let refuse = |why: String| {
        Err(Error::new(
            SqlState::InsufficientPrivilege,
            format!("file: {name} in the destination's directory {why}; a sync writes only its own files"),
        )
        .with_hint("give this sync's files other names (the sync's \"file\" template)"))
    };
    match writer {
        Some(other) if other != sync_id => refuse(format!("was written by sync {other}")),
        None if exists => refuse("exists and was not written by pg_reverse_etl".into()),
        _ => {
            spi::execute(
                "INSERT INTO reverse_etl._written_files (directory, name, sync_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (directory, name) DO UPDATE SET written_at = now()",
                &[directory.into(), name.into(), sync_id.into()],
            )?;
            Ok(())
        }
    }
}

/// Drop a sync's snapshot and whatever work tables its runs left (a run
/// whose worker was killed leaves them until the sync's next run).
pub fn drop_sync_state(sync_id: i64) -> Result<()> {
    let leftover: Option<String> = spi::one(
        "SELECT pg_catalog.string_agg(c.oid::regclass::text, ', ') FROM pg_catalog.pg_class c \
         WHERE c.relnamespace = 'reverse_etl_state'::regnamespace AND c.relkind = 'r' AND ( \
             c.relname = 'snapshot_' || $1 \
             OR pg_catalog.substring(c.relname, '^run_([0-9]+)_')::bigint IN \
                (SELECT r.id FROM reverse_etl.sync_runs r WHERE r.sync_id = $1))",
        &[sync_id.into()],
    )?;
    if let Some(tables) = leftover {
        crate::postgres::with_settings(&[("client_min_messages", "warning")], || {
            spi::execute(&format!("DROP TABLE {tables} CASCADE"), &[])
        })?;
    }
    for table in ["_earlier_configs", "_snapshot_hashing", "sync_failures"] {
        spi::execute(
            &format!("DELETE FROM reverse_etl.{table} WHERE sync_id = $1"),
            &[sync_id.into()],
        )?;
    }
    Ok(())
}

/// Forget what a sync delivered: its next run sends every row as added.
pub fn clear_snapshot(sync_id: i64) -> Result<()> {
    spi::execute(&format!("TRUNCATE {}", snapshot_table(sync_id)), &[])?;
    super::failures::forget(sync_id)?;
    forget_unused_earlier_configs(sync_id)
}
