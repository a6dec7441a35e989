//! `sync_plan`: query and diff as a run would, then describe the plan
//! (counts, a sample of rows per kind, whether the removal guard would stop
//! it) instead of delivering. Writes nothing but the result, which the
//! waiting session reads and deletes.

use super::decisions::Removal;
use super::run::{self, Materialized, Run};
use crate::catalog::{self, state::WorkOf};
use crate::error::Result;
use crate::plan::Op;
use crate::postgres::{in_transaction, spi};
use serde_json::{json, Map, Value};

/// Rows of each kind shown in a preview.
const SAMPLE: i64 = 10;

pub fn preview(run: &mut Run) {
    let outcome = in_transaction(run::configure_worker_session)
        .and_then(|_| in_transaction(|| run.query_model()))
        .and_then(|mut materialized| in_transaction(|| describe_plan(run, &mut materialized)));
    let result = outcome.unwrap_or_else(
        |error| json!({"error": error.to_string(), "sqlstate": error.state.code()}),
    );
    let (preview_id, sync_id) = (run.id, run.request.sync_id);
    let saved = in_transaction(|| {
        catalog::state::drop_work_tables(WorkOf::Preview, preview_id)?;
        catalog::save_preview(preview_id, sync_id, result.clone())
    });
    if let Err(error) = saved {
        pgrx::warning!("pg_reverse_etl: plan preview {preview_id} could not be saved: {error}");
    }
}

fn describe_plan(run: &Run, materialized: &mut Materialized) -> Result<Value> {
    let diff = run::diff(materialized)?.counts;
    run::let_owner_read_ops(materialized)?;
    let plan = &materialized.plan;
    let duplicates = if diff.has_duplicates(materialized.rows_queried) {
        spi::one::<i64>(
            &format!(
                "SELECT coalesce(sum(copies), 0)::bigint FROM (SELECT count(*) AS copies FROM {} \
                 WHERE row_id IS NOT NULL GROUP BY row_id HAVING count(*) > 1) d",
                plan.work_table
            ),
            &[],
        )?
        .unwrap_or(0)
    } else {
        0
    };
    let ranges = run::op_ranges(plan)?;
    let count = |op: Op| ranges.get(&op).map_or(0, |r| r.count);
    let guard = materialized
        .guard
        .check(
            Removal {
                removed: count(Op::Removed),
                snapshot_rows: diff.snapshot_rows,
                rows_queried: materialized.rows_queried,
            },
            run.removal_waived(),
        )
        .err()
        .map(|e| e.message);
    let mut sample = Map::new();
    for op in Op::DELIVERY_ORDER {
        // The rows' fields as JSON: as the owner, whose types they may be.
        let rows = materialized.owner.run(|| spi::rows(
            &format!(
                "SELECT jsonb_build_object('row_id', o.row_id, 'fields', CASE WHEN o.op = 'removed' THEN jsonb_build_object('match_key', o.match_key) ELSE {} END) \
                 FROM {} o WHERE o.op = $1 ORDER BY o.pos LIMIT {SAMPLE}",
                plan.fields_json("o"),
                plan.ops_table
            ),
            &[op.as_str().into()],
            |row| Ok(spi::get::<pgrx::JsonB>(row, 1)?.0),
        ))?;
        sample.insert(op.as_str().into(), Value::Array(rows));
    }
    Ok(json!({
        "rows_queried": materialized.rows_queried,
        "invalid_rows": diff.null_keys + duplicates,
        "added": count(Op::Added),
        "changed": count(Op::Changed),
        "removed": count(Op::Removed),
        "removal_guard": guard,
        "sample": sample,
        "note": if duplicates > 0 { "rows sharing a key are counted above; the run will leave them out as invalid" } else { "" },
    }))
}
