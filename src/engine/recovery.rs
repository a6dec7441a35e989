//! Runs that did not get through: closed with their reason, what they
//! delivered kept, the rest counted as aborted, their work tables dropped.

use crate::catalog::{changelog, runs, state, state::WorkOf};
use crate::error::Result;

/// Why a run whose worker exited before it ended was closed.
pub const INTERRUPTED: &str = "interrupted: the run's worker exited before finishing (server restart, crash or terminated worker)";

/// Runs of this sync still marked as going whose worker is gone (killed,
/// server restarted) are closed as incomplete: what they delivered stays
/// recorded, the rest is aborted, and the next run resumes from the
/// snapshot. Called while holding the sync's run lock, so no live run is
/// touched.
pub fn close_interrupted_runs(sync_id: i64) -> Result<()> {
    for run_id in runs::interrupted(sync_id)? {
        close_run(run_id, sync_id, INTERRUPTED)?;
    }
    Ok(())
}

/// Close one run whose worker is gone as incomplete, with `reason`.
pub fn close_run(run_id: i64, sync_id: i64, reason: &str) -> Result<()> {
    if let Some(ops) = planned_operations(run_id)? {
        let reason = format!("not attempted: {reason}");
        changelog::record_aborted(
            &ops,
            run_id,
            sync_id,
            &reason,
            super::logs::stored_changelog_level(sync_id)?,
        )?;
        crate::catalog::failures::record_aborted(&ops, sync_id, run_id, &reason)?;
    }
    end_early(run_id, "incomplete", reason)
}

/// The ops table of a run whose operations were planned (see
/// `runs::operations_planned`): those not settled are aborted.
pub fn planned_operations(run_id: i64) -> Result<Option<String>> {
    let planned =
        runs::operations_planned(run_id)? && state::ops_table_exists(WorkOf::Run, run_id)?;
    Ok(planned.then(|| state::ops_table(WorkOf::Run, run_id)))
}

/// Close a run that did not get through: operations not attempted count as
/// aborted, so the counts reconcile; its work tables go.
pub fn end_early(run_id: i64, status: &str, error: &str) -> Result<()> {
    runs::end_early(run_id, status, error)?;
    state::drop_work_tables(WorkOf::Run, run_id)
}
