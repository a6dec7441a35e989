//! What the scheduler reads and writes: scheduled syncs and sequences, the
//! runs a schedule tick skipped, and runs a restart left behind.

use super::runs::RUN_WORKER_ALIVE;
use super::sequence_runs::SEQUENCE_WORKER_ALIVE;
use crate::error::Result;
use crate::postgres::spi;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sync,
    Sequence,
}

/// A sync or sequence that runs on a schedule.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub kind: Kind,
    pub id: i64,
    pub schedule: Value,
    /// Due times up to here are settled (Unix ms): the last scheduled run
    /// was asked for then, or the schedule was last edited then.
    pub settled_until_ms: i64,
    /// A run of it that is going now (its worker alive).
    pub running: Option<i64>,
}

pub fn extension_installed() -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_reverse_etl')",
        &[],
    )?
    .unwrap_or(false))
}

/// SQL: a timestamptz expression as Unix milliseconds.
fn epoch_ms(expression: &str) -> String {
    format!("(extract(epoch FROM {expression})::float8 * 1000)::int8")
}

/// Enabled syncs and sequences whose schedule is not manual.
pub fn load_scheduled() -> Result<Vec<Scheduled>> {
    let syncs = format!(
        "SELECT s.id, s.config->'schedule', {settled}, \
           (SELECT r.id FROM reverse_etl.sync_runs r \
             WHERE r.sync_id = s.id AND r.status IN ('queued', 'querying', 'preparing', 'in_progress') \
               AND {RUN_WORKER_ALIVE} \
             ORDER BY r.id DESC LIMIT 1) \
         FROM reverse_etl.syncs s \
         WHERE s.enabled AND s.config ? 'schedule' AND NOT s.config->'schedule' ? 'manual'",
        settled = epoch_ms(
            "greatest(s.updated_at, (SELECT max(r.queued_at) FROM reverse_etl.sync_runs r \
               WHERE r.sync_id = s.id AND r.due_at IS NOT NULL))"
        ),
    );
    let sequences = format!(
        "SELECT q.id, q.schedule, {settled}, \
           (SELECT r.id FROM reverse_etl.sequence_runs r \
             WHERE r.sequence_id = q.id AND r.status IN ('queued', 'running') \
               AND {SEQUENCE_WORKER_ALIVE} \
             ORDER BY r.id DESC LIMIT 1) \
         FROM reverse_etl.sequences q \
         WHERE q.enabled AND NOT q.schedule ? 'manual'",
        settled = epoch_ms(
            "greatest(q.updated_at, (SELECT max(r.queued_at) FROM reverse_etl.sequence_runs r \
               WHERE r.sequence_id = q.id AND r.due_at IS NOT NULL))"
        ),
    );
    let mut scheduled = Vec::new();
    for (kind, sql) in [(Kind::Sync, syncs), (Kind::Sequence, sequences)] {
        scheduled.extend(spi::rows(&sql, &[], |row| {
            Ok(Scheduled {
                kind,
                id: spi::get(row, 1)?,
                schedule: spi::get::<pgrx::JsonB>(row, 2)?.0,
                settled_until_ms: spi::get(row, 3)?,
                running: row.get(4)?,
            })
        })?);
    }
    Ok(scheduled)
}

/// Pids of the run workers going now, in every database.
pub fn running_run_workers() -> Result<Vec<i32>> {
    spi::rows(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_reverse_etl run'",
        &[],
        |row| spi::get(row, 1),
    )
}

/// A schedule tick that found the sync or sequence still running.
pub fn record_skipped(kind: Kind, id: i64, due_ms: i64, running: i64) -> Result<()> {
    let sql = match kind {
        Kind::Sync => {
            "INSERT INTO reverse_etl.sync_runs (sync_id, status, trigger, due_at, finished_at, error) \
             VALUES ($1, 'skipped', 'schedule', to_timestamp($2::float8 / 1000), now(), \
                     format('skipped: run %s was still going', $3::int8))"
        }
        Kind::Sequence => {
            "INSERT INTO reverse_etl.sequence_runs (sequence_id, status, trigger, due_at, finished_at, error) \
             VALUES ($1, 'skipped', 'schedule', to_timestamp($2::float8 / 1000), now(), \
                     format('skipped: sequence run %s was still going', $3::int8))"
        }
    };
    spi::execute(sql, &[id.into(), due_ms.into(), running.into()])?;
    Ok(())
}

/// A due run the scheduler could not start, recorded on its sync or
/// sequence as a failed run with the reason (the scheduler goes on with
/// the others and tries again at the next due time).
pub fn record_start_failure(kind: Kind, id: i64, due_ms: i64, error: &str) -> Result<()> {
    let sql = match kind {
        Kind::Sync => {
            "INSERT INTO reverse_etl.sync_runs (sync_id, status, trigger, due_at, finished_at, error) \
             VALUES ($1, 'failed', 'schedule', to_timestamp($2::float8 / 1000), now(), \
                     'the scheduler could not start this run: ' || $3)"
        }
        Kind::Sequence => {
            "INSERT INTO reverse_etl.sequence_runs (sequence_id, status, trigger, due_at, finished_at, error) \
             VALUES ($1, 'failed', 'schedule', to_timestamp($2::float8 / 1000), now(), \
                     'the scheduler could not start this run: ' || $3)"
        }
    };
    spi::execute(sql, &[id.into(), due_ms.into(), error.into()])?;
    Ok(())
}

/// Syncs with a run marked as going whose worker is gone.
pub fn syncs_with_interrupted_runs() -> Result<Vec<i64>> {
    spi::rows(
        &format!(
            "SELECT DISTINCT r.sync_id FROM reverse_etl.sync_runs r \
             WHERE r.status IN ('queued', 'querying', 'preparing', 'in_progress') \
               AND NOT {RUN_WORKER_ALIVE}"
        ),
        &[],
        |row| spi::get(row, 1),
    )
}

/// Sequence runs marked as going whose worker is gone end `incomplete`.
pub fn close_interrupted_sequence_runs() -> Result<u64> {
    spi::execute(
        &format!(
            "UPDATE reverse_etl.sequence_runs r SET status = 'incomplete', finished_at = clock_timestamp(), \
               error = 'interrupted: the sequence''s worker exited before finishing (server restart, crash or terminated worker)' \
             WHERE r.status IN ('queued', 'running') AND NOT {SEQUENCE_WORKER_ALIVE}"
        ),
        &[],
    )
}
