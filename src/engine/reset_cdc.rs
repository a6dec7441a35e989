//! Reset CDC (`sync_reset_cdc`): the snapshot becomes the model's current
//! (valid) result; nothing is planned or sent.

use super::run::{create_invalid_table, Materialized, Run};
use crate::catalog::{changelog, failures, runs};
use crate::error::Result;
use crate::postgres::spi;

pub fn reset_snapshot(run: &Run, materialized: &Materialized) -> Result<()> {
    let plan = &materialized.plan;
    spi::execute(&format!("TRUNCATE {}", plan.snapshot_table), &[])?;
    // Rows sharing a key are left out: they are invalid, and the next run
    // reports them.
    let kept = spi::execute(
        &format!(
            "INSERT INTO {snapshot} (row_id, row_hash, match_key, last_run_id)
             SELECT w.row_id, w.row_hash, w.match_key, $1 FROM {work} w
             WHERE w.row_id IN (SELECT row_id FROM {work} WHERE row_id IS NOT NULL GROUP BY row_id HAVING count(*) = 1)",
            snapshot = plan.snapshot_table,
            work = plan.work_table,
        ),
        &[run.id.into()],
    )?;
    let sync_id = run.request.sync_id;
    create_invalid_table(materialized)?;
    let duplicates = changelog::collect_duplicate_keys(plan, &materialized.owner)?;
    let null_keys = changelog::collect_null_keys(plan, &plan.work_table, &materialized.owner)?;
    changelog::record_invalid(plan, run.id, sync_id, materialized.changelog)?;
    // What the sync delivered is now the model's result: nothing fails but
    // the invalid rows.
    failures::forget(sync_id)?;
    failures::record_invalid(plan, sync_id, run.id)?;
    debug_assert_eq!(
        kept + duplicates + null_keys,
        materialized.rows_queried as u64
    );
    runs::set_rows_invalid(run.id, (duplicates + null_keys) as i64)
}
