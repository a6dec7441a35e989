//! `sync_changelog`: one row per planned operation or invalid row of a run.
//! Every statement that writes it is here; they read the run's work and ops
//! tables, whose layout `plan::RunPlan` describes.
//!
//! The view reads two tables. Delivered rows are most of a changelog (all
//! of a first run), and an indexed row each cost more than the delivery
//! into a table did: `_changelog_successes` keeps them one row per window
//! and operation, with the row ids as an array. Every other outcome has a
//! row of its own, with its reason, in `_changelog_entries`.
//!
//! The fields a row's entry shows are the model's values as JSON, and
//! turning a value of a user's type into JSON may call that user's cast: so
//! the sync's owner (`reader`) builds them, into a work table or as values,
//! and the extension's owner only copies what was built into the log.

use crate::config::ChangelogLevel;
use crate::error::Result;
use crate::plan::RunPlan;
use crate::postgres::{spi, Identity};
use crate::sql::quote_literal;
use pgrx::JsonB;

/// Rows sharing a primary key with another row go to the run's invalid
/// table, with their fields and key. A full pass over the result: run only
/// when the cheap check (`RunPlan::duplicate_check`) says there are
/// duplicates. Returns how many.
pub fn collect_duplicate_keys(plan: &RunPlan, reader: &Identity) -> Result<u64> {
    reader.run(|| spi::execute(&duplicate_keys_sql(plan), &[]))
}

fn duplicate_keys_sql(plan: &RunPlan) -> String {
    format!(
        "WITH duplicates AS (
             SELECT row_id, count(*) AS copies FROM {work}
             WHERE row_id IS NOT NULL GROUP BY row_id HAVING count(*) > 1)
         INSERT INTO {invalid} (row_id, reason, fields)
         SELECT w.row_id, {reason} || d.copies || ' rows share it', {fields}
         FROM {work} w JOIN duplicates d ON d.row_id = w.row_id",
        work = plan.work_table,
        invalid = plan.invalid_table(),
        reason = quote_literal(&format!("duplicate primary key ({}): ", key_names(plan))),
        fields = plan.fields_and_key_json("w"),
    )
}

/// Rows whose primary key (or a part of it) is NULL go to the run's
/// invalid table, from `rows`: the model's copy (the work table), or a
/// first run's ops table, which has the same fields. Returns how many.
pub fn collect_null_keys(plan: &RunPlan, rows: &str, reader: &Identity) -> Result<u64> {
    reader.run(|| spi::execute(&null_keys_sql(plan, rows), &[]))
}

fn null_keys_sql(plan: &RunPlan, rows: &str) -> String {
    format!(
        "INSERT INTO {invalid} (row_id, reason, fields)
         SELECT NULL, {reason}, {fields} FROM {rows} w WHERE w.row_id IS NULL",
        invalid = plan.invalid_table(),
        reason = quote_literal(&format!("primary key ({}) is null", key_names(plan))),
        fields = plan.fields_and_key_json("w"),
    )
}

/// SQL: the row ids this run found invalid (to leave them out of a diff).
pub fn invalid_row_ids(plan: &RunPlan) -> String {
    format!(
        "SELECT i.row_id FROM {} i WHERE i.row_id IS NOT NULL",
        plan.invalid_table()
    )
}

/// The run's invalid rows, as collected, into the log (unless it keeps nothing).
pub fn record_invalid(
    plan: &RunPlan,
    run_id: i64,
    sync_id: i64,
    level: ChangelogLevel,
) -> Result<u64> {
    if level == ChangelogLevel::None {
        return Ok(0);
    }
    spi::execute(
        &format!(
            "INSERT INTO reverse_etl._changelog_entries (run_id, sync_id, row_id, op, status, reason, fields)
             SELECT $1, $2, i.row_id, NULL, 'invalid', i.reason, i.fields FROM {} i",
            plan.invalid_table()
        ),
        &[run_id.into(), sync_id.into()],
    )
}

/// What became of one delivered window of operations.
pub struct WindowOutcome<'a> {
    pub after: i64,
    pub upto: i64,
    /// Rejected positions and, in the same order, why and what was sent.
    pub rejected: &'a [i64],
    pub reasons: &'a [String],
    pub payloads: &'a [Option<JsonB>],
    /// Positions not attempted: logged as aborted when the run ends.
    pub unattempted: &'a [i64],
}

/// The fields (keyed by model column) of the window's rejected rows, in
/// the order of `rejected`, read as `reader`.
pub fn rejected_fields(plan: &RunPlan, rejected: &[i64], reader: &Identity) -> Result<Vec<JsonB>> {
    if rejected.is_empty() {
        return Ok(Vec::new());
    }
    let by_position: Vec<(i64, JsonB)> = reader.run(|| {
        spi::rows(
            &format!(
                "SELECT o.pos, {} FROM {} o WHERE o.pos = ANY($1)",
                plan.fields_json("o"),
                plan.ops_table
            ),
            &[rejected.to_vec().into()],
            |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
        )
    })?;
    Ok(rejected
        .iter()
        .map(|pos| {
            by_position
                .iter()
                .find(|(p, _)| p == pos)
                .map(|(_, f)| JsonB(f.0.clone()))
                .unwrap_or(JsonB(serde_json::Value::Null))
        })
        .collect())
}

/// The window's operations in the log: its delivered ones (at level `all`)
/// as one row per operation kind, and each rejected one with its reason,
/// `fields` (see `rejected_fields`) and payload (at `all` and `failures`).
pub fn record_window(
    plan: &RunPlan,
    run_id: i64,
    sync_id: i64,
    outcome: &WindowOutcome,
    fields: &[JsonB],
    level: ChangelogLevel,
) -> Result<()> {
    if level == ChangelogLevel::None {
        return Ok(());
    }
    if level == ChangelogLevel::All {
        spi::execute(
            &successes_sql(plan, run_id, sync_id),
            &[
                outcome.after.into(),
                outcome.upto.into(),
                outcome.rejected.to_vec().into(),
                outcome.unattempted.to_vec().into(),
            ],
        )?;
    }
    if !outcome.rejected.is_empty() {
        spi::execute(
            &rejected_sql(plan, run_id, sync_id),
            &[
                outcome.rejected.to_vec().into(),
                outcome.reasons.to_vec().into(),
                fields
                    .iter()
                    .map(|f| JsonB(f.0.clone()))
                    .collect::<Vec<_>>()
                    .into(),
                copies(outcome.payloads).into(),
                outcome.after.into(),
                outcome.upto.into(),
            ],
        )?;
    }
    Ok(())
}

fn successes_sql(plan: &RunPlan, run_id: i64, sync_id: i64) -> String {
    format!(
        "INSERT INTO reverse_etl._changelog_successes (run_id, sync_id, op, row_ids)
         SELECT {run_id}, {sync_id}, o.op, array_agg(o.row_id ORDER BY o.pos)
         FROM {ops} o
         WHERE o.pos > $1 AND o.pos <= $2
           AND o.pos <> ALL($3::bigint[]) AND o.pos <> ALL($4::bigint[])
         GROUP BY o.op",
        ops = plan.ops_table,
    )
}

fn rejected_sql(plan: &RunPlan, run_id: i64, sync_id: i64) -> String {
    format!(
        "INSERT INTO reverse_etl._changelog_entries (run_id, sync_id, row_id, op, status, reason, fields, payload)
         SELECT {run_id}, {sync_id}, o.row_id, o.op, 'rejected', r.reason, r.fields, r.payload
         FROM {ops} o
         JOIN unnest($1::bigint[], $2::text[], $3::jsonb[], $4::jsonb[]) AS r(pos, reason, fields, payload) ON r.pos = o.pos
         WHERE o.pos > $5 AND o.pos <= $6",
        ops = plan.ops_table,
    )
}

/// Operations of a run's ops table whose outcome is not recorded (not in
/// the run's `settled` positions) are aborted, with `reason` (logged
/// unless the sync keeps nothing; counted in `sync_runs` either way).
pub fn record_aborted(
    ops_table: &str,
    run_id: i64,
    sync_id: i64,
    reason: &str,
    level: ChangelogLevel,
) -> Result<u64> {
    if level == ChangelogLevel::None {
        return Ok(0);
    }
    spi::execute(&aborted_sql(ops_table, run_id, sync_id), &[reason.into()])
}

fn aborted_sql(ops_table: &str, run_id: i64, sync_id: i64) -> String {
    format!(
        "INSERT INTO reverse_etl._changelog_entries (run_id, sync_id, row_id, op, status, reason)
         SELECT {run_id}, {sync_id}, o.row_id, o.op, 'aborted', $1
         FROM {ops_table} o
         WHERE o.op IN ('added', 'changed', 'removed')
           AND NOT (SELECT r.settled FROM reverse_etl.sync_runs r WHERE r.id = {run_id}) @> o.pos"
    )
}

/// JSON values as SPI arguments (NULL where there is none).
pub fn copies(values: &[Option<JsonB>]) -> Vec<Option<JsonB>> {
    values
        .iter()
        .map(|v| v.as_ref().map(|j| JsonB(j.0.clone())))
        .collect()
}

/// Delivered windows a purge statement looks at: enough for `PURGE_BATCH`
/// rows at the usual window sizes, and a bound on what it reads.
const PURGE_WINDOWS: i64 = 100;

/// Remove up to `limit` changelog rows of a run, delivered ones counted
/// by their row ids: how many went, and whether some are left.
pub fn purge_run(run_id: i64, limit: i64) -> Result<(u64, bool)> {
    let entries = spi::execute(
        "DELETE FROM reverse_etl._changelog_entries WHERE ctid = ANY(ARRAY( \
             SELECT c.ctid FROM reverse_etl._changelog_entries c WHERE c.run_id = $1 LIMIT $2))",
        &[run_id.into(), limit.into()],
    )?;
    if entries as i64 >= limit {
        return Ok((entries, true));
    }
    // A window holds up to batch_size rows: of the first windows, those
    // whose rows stay within what is left of the limit, and always one.
    let rows = spi::rows(
        "WITH candidates AS (
             SELECT c.ctid, cardinality(c.row_ids) AS delivered
             FROM reverse_etl._changelog_successes c WHERE c.run_id = $1 LIMIT $3),
         windows AS (
             SELECT w.ctid, sum(w.delivered) OVER (ORDER BY w.ctid) AS upto FROM candidates w),
         gone AS (
             DELETE FROM reverse_etl._changelog_successes WHERE ctid = ANY(ARRAY(
                 SELECT w.ctid FROM windows w
                 WHERE w.upto <= $2 OR w.upto = (SELECT min(f.upto) FROM windows f)))
             RETURNING cardinality(row_ids) AS delivered)
         SELECT coalesce(sum(g.delivered), 0)::bigint, count(*), (SELECT count(*) FROM candidates)
         FROM gone g",
        &[
            run_id.into(),
            (limit - entries as i64).into(),
            PURGE_WINDOWS.into(),
        ],
        |row| {
            Ok((
                spi::get::<i64>(row, 1)?,
                spi::get::<i64>(row, 2)?,
                spi::get::<i64>(row, 3)?,
            ))
        },
    )?;
    let (delivered, windows_gone, candidates) = rows.into_iter().next().unwrap_or_default();
    let left = windows_gone < candidates || candidates == PURGE_WINDOWS;
    Ok((entries + delivered as u64, left))
}

/// The primary key's columns, as a reason names them.
fn key_names(plan: &RunPlan) -> String {
    plan.primary_key.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ModelColumn;

    fn plan() -> RunPlan {
        RunPlan {
            query: "SELECT 1".into(),
            primary_key: vec!["id".into(), "it's \\'".into()],
            columns: vec![ModelColumn {
                name: "email".into(),
                type_sql: "text".into(),
                hashable: true,
                type_oid: 0,
            }],
            key_columns: vec![],
            match_column: Some(0),
            hash_seed: 1,
            earlier_match: None,
            work_table: "w".into(),
            ops_table: "o_ops".into(),
            snapshot_table: "s".into(),
        }
    }

    #[test]
    fn invalid_rows_name_the_key_quoted_whatever_the_string_settings() {
        let sql = duplicate_keys_sql(&plan());
        // A backslash in a key's name makes it an E'' literal, so that
        // standard_conforming_strings off cannot turn \' into a quote.
        assert!(
            sql.contains(r"E'duplicate primary key (id, it''s \\''): '"),
            "{sql}"
        );
        assert!(sql.contains("jsonb_build_object('email', w.c1)"), "{sql}");
        assert!(sql.contains("INSERT INTO o_invalid (row_id, reason, fields)"));
    }

    #[test]
    fn null_keys_are_read_from_the_models_rows_with_the_key() {
        let sql = null_keys_sql(&plan(), "w");
        assert!(sql.contains("primary key (id, it''s"), "{sql}");
        assert!(sql.ends_with("FROM w w WHERE w.row_id IS NULL"), "{sql}");
        let first_run = null_keys_sql(&plan(), "o");
        assert!(
            first_run.ends_with("FROM o w WHERE w.row_id IS NULL"),
            "{first_run}"
        );
    }

    #[test]
    fn a_window_logs_its_deliveries_as_row_id_arrays_and_its_rejections_a_row_each() {
        let delivered = successes_sql(&plan(), 3, 4);
        assert!(delivered.contains("SELECT 3, 4, o.op, array_agg(o.row_id ORDER BY o.pos)"));
        assert!(delivered.contains("o.pos <> ALL($3::bigint[]) AND o.pos <> ALL($4::bigint[])"));
        assert!(delivered.contains("FROM o_ops o"));
        let rejected = rejected_sql(&plan(), 3, 4);
        assert!(rejected.contains("INSERT INTO reverse_etl._changelog_entries"));
        assert!(rejected.contains(
            "JOIN unnest($1::bigint[], $2::text[], $3::jsonb[], $4::jsonb[]) AS r(pos, reason, fields, payload)"
        ));
    }

    #[test]
    fn aborted_rows_are_those_without_an_outcome() {
        let sql = aborted_sql("o", 3, 4);
        assert!(sql.contains(
            "NOT (SELECT r.settled FROM reverse_etl.sync_runs r WHERE r.id = 3) @> o.pos"
        ));
    }
}
