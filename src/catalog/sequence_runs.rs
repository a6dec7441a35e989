//! `sequence_runs` and `sequence_run_steps`: one row per sequence run and
//! one per step, with a named function for each change of state.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use serde_json::Value;

/// SQL condition: the sequence run `r` (a `sequence_runs` row) has a live worker.
pub const SEQUENCE_WORKER_ALIVE: &str = "(r.worker_pid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_get_activity(r.worker_pid) a \
     WHERE a.backend_type = 'pg_reverse_etl sequence'))";

/// A sequence run's id, reserved before its worker starts.
pub fn next_id() -> Result<i64> {
    spi::one("SELECT nextval('reverse_etl.sequence_runs_id_seq')", &[])?
        .ok_or_else(|| Error::new(SqlState::InternalError, "no sequence run id"))
}

/// The worker records its sequence run (queued) before taking the
/// sequence's lock.
pub fn record_queued(id: i64, sequence_id: i64, trigger: &str, due_ms: Option<i64>) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.sequence_runs (id, sequence_id, trigger, worker_pid, due_at) \
         VALUES ($1, $2, $3, pg_backend_pid(), to_timestamp($4::float8 / 1000))",
        &[id.into(), sequence_id.into(), trigger.into(), due_ms.into()],
    )?;
    Ok(())
}

pub fn mark_running(id: i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sequence_runs SET status = 'running', started_at = clock_timestamp() WHERE id = $1",
        &[id.into()],
    )?;
    Ok(())
}

/// The sequence's steps as stored (`[{"sync_id": …, "on_failure": …}]`).
pub fn steps(sequence_id: i64) -> Result<Value> {
    let steps: Option<pgrx::JsonB> = spi::one(
        "SELECT steps FROM reverse_etl.sequences WHERE id = $1",
        &[sequence_id.into()],
    )?;
    Ok(steps.map(|s| s.0).unwrap_or(Value::Null))
}

/// One step's outcome.
pub struct StepOutcome<'a> {
    pub position: i32,
    pub sync_id: i64,
    pub run_id: Option<i64>,
    /// succeeded | failed | failed_continued | skipped
    pub status: &'a str,
    pub reason: Option<&'a str>,
}

pub fn record_step(sequence_run: i64, step: &StepOutcome) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.sequence_run_steps (sequence_run_id, position, sync_id, run_id, status, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            sequence_run.into(),
            step.position.into(),
            step.sync_id.into(),
            step.run_id.into(),
            step.status.into(),
            step.reason.map(str::to_string).into(),
        ],
    )?;
    Ok(())
}

/// Every step has run (or was skipped): succeeded, or failed when one failed.
pub fn finish(id: i64, failed: bool) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sequence_runs SET status = $2, finished_at = clock_timestamp(), \
         error = CASE WHEN $2 = 'failed' THEN 'a step failed; see sequence_run_steps' END WHERE id = $1",
        &[id.into(), (if failed { "failed" } else { "succeeded" }).into()],
    )?;
    Ok(())
}

/// The sequence run itself could not go on (not a step's failure).
pub fn fail(id: i64, error: &str) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sequence_runs SET status = 'failed', error = $2, finished_at = clock_timestamp() WHERE id = $1",
        &[id.into(), error.into()],
    )?;
    Ok(())
}

/// How a sequence run ended, for the session that waited for it.
pub struct Outcome {
    pub sequence: String,
    pub status: String,
    pub error: Option<String>,
    /// The failed steps: position, sync name, reason.
    pub failed_steps: Vec<(i32, String, String)>,
}

impl Outcome {
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.error.iter().cloned().collect();
        for (position, sync, reason) in &self.failed_steps {
            parts.push(format!("step {position} (sync \"{sync}\"): {reason}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join("; "))
        }
    }
}

pub fn outcome(id: i64) -> Result<Option<Outcome>> {
    let failed_steps = spi::rows(
        "SELECT st.position, coalesce(s.name, st.sync_id::text), coalesce(st.reason, '') \
         FROM reverse_etl.sequence_run_steps st LEFT JOIN reverse_etl.syncs s ON s.id = st.sync_id \
         WHERE st.sequence_run_id = $1 AND st.status IN ('failed', 'failed_continued') ORDER BY st.position",
        &[id.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?, spi::get(row, 3)?)),
    )?;
    let rows = spi::rows(
        "SELECT q.name, r.status, r.error FROM reverse_etl.sequence_runs r \
         JOIN reverse_etl.sequences q ON q.id = r.sequence_id WHERE r.id = $1",
        &[id.into()],
        |row| {
            Ok(Outcome {
                sequence: spi::get(row, 1)?,
                status: spi::get(row, 2)?,
                error: row.get(3)?,
                failed_steps: Vec::new(),
            })
        },
    )?;
    Ok(rows.into_iter().next().map(|outcome| Outcome {
        failed_steps,
        ..outcome
    }))
}

/// A run of the sequence that is going (queued or running with a live worker).
pub fn going(sequence_id: i64) -> Result<Option<i64>> {
    spi::one(
        &format!(
            "SELECT r.id FROM reverse_etl.sequence_runs r \
             WHERE r.sequence_id = $1 AND r.status IN ('queued', 'running') AND {SEQUENCE_WORKER_ALIVE} \
             ORDER BY r.id LIMIT 1"
        ),
        &[sequence_id.into()],
    )
}
