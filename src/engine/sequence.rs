//! Sequences: syncs run one after another in a worker of their own, each
//! step's run recorded, a failing step stopping the sequence or not as its
//! policy says. A sequence never runs twice at once.

use super::launch::{self, RunOptions};
use crate::error::{Error, Result, SqlState};
use crate::postgres::{catch, spi};
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use serde_json::Value;

/// Advisory-lock class for "this sequence is running" (with the sequence id).
pub const SEQUENCE_LOCK_CLASS: i32 = 0x5245_5453; // "RETS"

/// The worker's entry point; the argument is the sequence run id, the
/// extra "<database oid> <sequence id> <due Unix ms or -> <trigger>".
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_sequence_worker(argument: pg_sys::Datum) {
    let sequence_run = argument.value() as i64;
    let extra = BackgroundWorker::get_extra().to_string();
    let mut parts = extra.split(' ');
    let (Some(Ok(database)), Some(Ok(sequence_id)), Some(due), Some(trigger)) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<i64>),
        parts.next().map(|due| due.parse::<i64>().ok()),
        parts.next(),
    ) else {
        pgrx::warning!("pg_reverse_etl: sequence run {sequence_run}: malformed worker request");
        return;
    };
    unsafe { pg_sys::BackgroundWorkerUnblockSignals() };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    if let Err(error) = execute(sequence_run, sequence_id, due, trigger) {
        let recorded = super::run::in_transaction(|| {
            spi::execute(
                "UPDATE reverse_etl.sequence_runs SET status = 'failed', error = $2, finished_at = clock_timestamp() WHERE id = $1",
                &[sequence_run.into(), error.to_string().into()],
            )?;
            Ok(())
        });
        if let Err(second) = recorded {
            pgrx::warning!("pg_reverse_etl: sequence run {sequence_run} failed ({error}) and could not be recorded: {second}");
        }
    }
}

struct Step {
    sync_id: i64,
    stop_on_failure: bool,
    max_rejected_share: Option<f64>,
}

fn execute(sequence_run: i64, sequence_id: i64, due_ms: Option<i64>, trigger: &str) -> Result<()> {
    use super::run::in_transaction;
    in_transaction(|| {
        spi::execute(
            "INSERT INTO reverse_etl.sequence_runs (id, sequence_id, trigger, worker_pid, due_at) \
             VALUES ($1, $2, $3, pg_backend_pid(), to_timestamp($4::float8 / 1000))",
            &[
                sequence_run.into(),
                sequence_id.into(),
                trigger.into(),
                due_ms.into(),
            ],
        )?;
        Ok(())
    })?;
    let steps = in_transaction(|| {
        spi::execute(
            "SELECT pg_advisory_lock($1, $2::int)",
            &[SEQUENCE_LOCK_CLASS.into(), (sequence_id as i32).into()],
        )?;
        spi::execute(
            "UPDATE reverse_etl.sequence_runs SET status = 'running', started_at = clock_timestamp() WHERE id = $1",
            &[sequence_run.into()],
        )?;
        let steps: Option<pgrx::JsonB> = spi::one(
            "SELECT steps FROM reverse_etl.sequences WHERE id = $1",
            &[sequence_id.into()],
        )?;
        let steps = steps.map(|s| s.0).unwrap_or(Value::Null);
        Ok(steps
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|s| Step {
                        sync_id: s["sync_id"].as_i64().unwrap_or(0),
                        stop_on_failure: s["on_failure"] != "continue",
                        max_rejected_share: s["max_rejected_share"].as_f64(),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default())
    })?;
    let mut stopped = false;
    let mut failed = false;
    for (position, step) in steps.iter().enumerate() {
        let position = position as i32 + 1;
        if stopped {
            record_step(
                sequence_run,
                position,
                step.sync_id,
                None,
                "skipped",
                Some("an earlier step failed and its policy is stop"),
            )?;
            continue;
        }
        // The step's run: launched and waited for like sync_run does.
        let started = in_transaction(|| {
            let options = RunOptions {
                wait: true,
                ..Default::default()
            };
            catch(|| launch::start_run(step.sync_id, &options, "sequence")).and_then(|r| r)
        });
        let (run_id, verdict) = match started {
            Err(error) => (None, Some(error.to_string())),
            Ok(run_id) => (
                Some(run_id),
                in_transaction(|| verdict(run_id, step.max_rejected_share))?,
            ),
        };
        match verdict {
            None => record_step(
                sequence_run,
                position,
                step.sync_id,
                run_id,
                "succeeded",
                None,
            )?,
            Some(reason) => {
                failed = true;
                let status = if step.stop_on_failure {
                    "failed"
                } else {
                    "failed_continued"
                };
                record_step(
                    sequence_run,
                    position,
                    step.sync_id,
                    run_id,
                    status,
                    Some(&reason),
                )?;
                stopped = step.stop_on_failure;
            }
        }
    }
    in_transaction(|| {
        spi::execute(
            "UPDATE reverse_etl.sequence_runs SET status = $2, finished_at = clock_timestamp(), \
             error = CASE WHEN $2 = 'failed' THEN 'a step failed; see sequence_run_steps' END WHERE id = $1",
            &[sequence_run.into(), (if failed { "failed" } else { "succeeded" }).into()],
        )?;
        Ok(())
    })
}

/// Why a step's run counts as failed, or None if it did not.
fn verdict(run_id: i64, max_rejected_share: Option<f64>) -> Result<Option<String>> {
    let rows = spi::rows(
        "SELECT status, coalesce(error, ''), planned_added + planned_changed + planned_removed, \
                rejected_added + rejected_changed + rejected_removed \
         FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
        |row| {
            Ok((
                spi::get::<String>(row, 1)?,
                spi::get::<String>(row, 2)?,
                spi::get::<i64>(row, 3)?,
                spi::get::<i64>(row, 4)?,
            ))
        },
    )?;
    let Some((status, error, planned, rejected)) = rows.into_iter().next() else {
        return Ok(Some(format!("run {run_id} was not recorded")));
    };
    if matches!(status.as_str(), "failed" | "incomplete") {
        return Ok(Some(format!("run {run_id} ended {status}: {error}")));
    }
    if let Some(share) = max_rejected_share {
        if planned > 0 && rejected as f64 / planned as f64 > share {
            return Ok(Some(format!(
                "run {run_id} rejected {rejected} of {planned} operations, more than max_rejected_share {share}"
            )));
        }
    }
    Ok(None)
}

fn record_step(
    sequence_run: i64,
    position: i32,
    sync_id: i64,
    run_id: Option<i64>,
    status: &str,
    reason: Option<&str>,
) -> Result<()> {
    super::run::in_transaction(|| {
        spi::execute(
            "INSERT INTO reverse_etl.sequence_run_steps (sequence_run_id, position, sync_id, run_id, status, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[sequence_run.into(), position.into(), sync_id.into(), run_id.into(), status.into(), reason.map(str::to_string).into()],
        )?;
        Ok(())
    })
}

/// Start a sequence run in its own worker; with `wait`, return when it ended.
pub fn start(sequence_id: i64, wait: bool) -> Result<i64> {
    let enabled: Option<bool> = spi::one(
        "SELECT enabled FROM reverse_etl.sequences WHERE id = $1",
        &[sequence_id.into()],
    )?;
    if enabled != Some(true) {
        return Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            "sequence: the sequence is disabled",
        ));
    }
    let (id, worker, pid) = spawn(sequence_id, None, "manual")?;
    if wait {
        launch::wait_for_worker(worker, pid);
    }
    Ok(id)
}

/// A sequence run its schedule asked for: started, not waited for.
pub fn start_scheduled(sequence_id: i64, due_ms: i64) -> Result<i64> {
    spawn(sequence_id, Some(due_ms), "schedule").map(|(id, _, _)| id)
}

fn spawn(
    sequence_id: i64,
    due_ms: Option<i64>,
    trigger: &str,
) -> Result<(i64, pgrx::bgworkers::DynamicBackgroundWorker, i32)> {
    let id: i64 = spi::one("SELECT nextval('reverse_etl.sequence_runs_id_seq')", &[])?
        .ok_or_else(|| Error::new(SqlState::InternalError, "no sequence run id"))?;
    let extra = format!(
        "{} {sequence_id} {} {trigger}",
        unsafe { pg_sys::MyDatabaseId }.to_u32(),
        due_ms.map_or("-".to_string(), |ms| ms.to_string()),
    );
    let (worker, pid) = launch::spawn(
        launch::WorkerKind::Sequence,
        &format!("pg_reverse_etl sequence {id}"),
        id,
        &extra,
    )?;
    Ok((id, worker, pid))
}
