//! `sync_failures`: the rows of each sync that are failing now (rejected,
//! aborted or invalid at their latest run), whatever the changelog keeps.
//! `sync_snapshot` shows them beside the rows the sync delivered. A row
//! leaves this table when it is delivered, or when a run no longer plans
//! anything for it (it left the model, or is as delivered again).

use crate::error::Result;
use crate::plan::RunPlan;
use crate::postgres::spi;
use pgrx::JsonB;

/// Forget a sync's failing rows (its snapshot was emptied or reset).
pub fn forget(sync_id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl.sync_failures WHERE sync_id = $1",
        &[sync_id.into()],
    )?;
    Ok(())
}

/// After the diff: rows the run plans nothing for are not failing any
/// more; the run's invalid rows are (a NULL key has no row to name).
/// Returns whether the sync has failing rows now.
pub fn settle_plan(plan: &RunPlan, sync_id: i64, run_id: i64, has_invalid: bool) -> Result<bool> {
    spi::execute(
        &format!(
            "DELETE FROM reverse_etl.sync_failures f WHERE f.sync_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM {ops} o WHERE o.row_id = f.row_id)",
            ops = plan.ops_table
        ),
        &[sync_id.into()],
    )?;
    if has_invalid {
        record_invalid(plan, sync_id, run_id)?;
    }
    any(sync_id)
}

/// The run's invalid rows (one entry per row id) as failing.
pub fn record_invalid(plan: &RunPlan, sync_id: i64, run_id: i64) -> Result<()> {
    spi::execute(
        &format!(
            "INSERT INTO reverse_etl.sync_failures (sync_id, row_id, op, status, reason, fields, run_id) \
             SELECT DISTINCT ON (i.row_id) $1, i.row_id, NULL, 'invalid', i.reason, i.fields, $2 \
             FROM {} i WHERE i.row_id IS NOT NULL ORDER BY i.row_id \
             ON CONFLICT (sync_id, row_id) DO UPDATE SET op = EXCLUDED.op, status = EXCLUDED.status, \
                 reason = EXCLUDED.reason, fields = EXCLUDED.fields, payload = NULL, run_id = EXCLUDED.run_id, at = EXCLUDED.at",
            plan.invalid_table()
        ),
        &[sync_id.into(), run_id.into()],
    )?;
    Ok(())
}

fn any(sync_id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.sync_failures WHERE sync_id = $1)",
        &[sync_id.into()],
    )?
    .unwrap_or(false))
}

/// What became of a window, for the failing rows: the delivered ones are
/// not failing (looked for only when the sync `has_failures`), the
/// rejected ones are, with why and their fields.
pub struct WindowFailures<'a> {
    pub after: i64,
    pub upto: i64,
    pub not_delivered: &'a [i64],
    pub rejected: &'a [i64],
    pub reasons: &'a [String],
    pub payloads: &'a [Option<JsonB>],
    pub fields: &'a [JsonB],
}

/// Returns whether the sync has failing rows after the window.
pub fn record_window(
    plan: &RunPlan,
    sync_id: i64,
    run_id: i64,
    window: &WindowFailures,
    has_failures: bool,
) -> Result<bool> {
    if has_failures {
        spi::execute(
            &format!(
                "DELETE FROM reverse_etl.sync_failures f USING {ops} o \
                 WHERE f.sync_id = $1 AND o.pos > $2 AND o.pos <= $3 AND o.pos <> ALL($4::bigint[]) \
                 AND f.row_id = o.row_id",
                ops = plan.ops_table
            ),
            &[
                sync_id.into(),
                window.after.into(),
                window.upto.into(),
                window.not_delivered.to_vec().into(),
            ],
        )?;
    }
    if window.rejected.is_empty() {
        return Ok(has_failures && any(sync_id)?);
    }
    spi::execute(
        &format!(
            "INSERT INTO reverse_etl.sync_failures (sync_id, row_id, op, status, reason, fields, payload, run_id) \
             SELECT DISTINCT ON (o.row_id) $1, o.row_id, o.op, 'rejected', r.reason, r.fields, r.payload, $2 \
             FROM {ops} o \
             JOIN unnest($3::bigint[], $4::text[], $5::jsonb[], $6::jsonb[]) AS r(pos, reason, fields, payload) \
               ON r.pos = o.pos \
             ORDER BY o.row_id \
             ON CONFLICT (sync_id, row_id) DO UPDATE SET op = EXCLUDED.op, status = EXCLUDED.status, \
                 reason = EXCLUDED.reason, fields = EXCLUDED.fields, payload = EXCLUDED.payload, \
                 run_id = EXCLUDED.run_id, at = EXCLUDED.at",
            ops = plan.ops_table
        ),
        &[
            sync_id.into(),
            run_id.into(),
            window.rejected.to_vec().into(),
            window.reasons.to_vec().into(),
            window.fields.iter().map(|f| JsonB(f.0.clone())).collect::<Vec<_>>().into(),
            super::changelog::copies(window.payloads).into(),
        ],
    )?;
    Ok(true)
}

/// Operations a stopped run did not settle are failing as aborted.
pub fn record_aborted(ops_table: &str, sync_id: i64, run_id: i64, reason: &str) -> Result<()> {
    spi::execute(
        &format!(
            "INSERT INTO reverse_etl.sync_failures (sync_id, row_id, op, status, reason, run_id) \
             SELECT DISTINCT ON (o.row_id) $1, o.row_id, o.op, 'aborted', $3, $2 FROM {ops_table} o \
             WHERE o.op IN ('added', 'changed', 'removed') \
               AND NOT (SELECT r.settled FROM reverse_etl.sync_runs r WHERE r.id = $2) @> o.pos \
             ORDER BY o.row_id \
             ON CONFLICT (sync_id, row_id) DO UPDATE SET op = EXCLUDED.op, status = EXCLUDED.status, \
                 reason = EXCLUDED.reason, fields = NULL, payload = NULL, run_id = EXCLUDED.run_id, at = EXCLUDED.at"
        ),
        &[sync_id.into(), run_id.into(), reason.into()],
    )?;
    Ok(())
}
