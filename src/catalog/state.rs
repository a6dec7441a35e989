//! Private state: per-sync snapshot tables and plan previews.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::JsonB;
use serde_json::Value;

/// A plan preview's id, reserved before its worker starts.
pub fn next_preview_id() -> Result<i64> {
    crate::postgres::as_role(super::extension_owner()?, || {
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
    let result: Option<JsonB> = crate::postgres::as_role(super::extension_owner()?, || {
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
    crate::postgres::as_role(super::extension_owner()?, || {
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
pub fn work_table(of: WorkOf, id: i64) -> String {
    format!("reverse_etl_state.{}_{id}_rows", of.prefix())
}

/// The table holding a run's planned operations (one row per operation).
pub fn ops_table(of: WorkOf, id: i64) -> String {
    format!("reverse_etl_state.{}_{id}_ops", of.prefix())
}

/// Whether the run's ops table exists (it does from its diff until it ends).
pub fn ops_table_exists(of: WorkOf, id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT to_regclass($1) IS NOT NULL",
        &[ops_table(of, id).into()],
    )?
    .unwrap_or(false))
}

pub fn drop_work_tables(of: WorkOf, id: i64) -> Result<()> {
    spi::execute(
        &format!(
            "DROP TABLE IF EXISTS {}, {}",
            work_table(of, id),
            ops_table(of, id)
        ),
        &[],
    )?;
    Ok(())
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
    crate::postgres::as_role(super::extension_owner()?, || {
        spi::execute(
            &format!(
                "UPDATE {} SET row_hash = $2 WHERE row_id = $1",
                snapshot_table(sync_id)
            ),
            &[row_id.into(), crate::plan::RESEND_HASH.into()],
        )
    })?;
    Ok(())
}
