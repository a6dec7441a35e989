//! Sequences: syncs run one after another in a worker of their own, each
//! step's run recorded, a failing step stopping the sequence or not as its
//! policy says. A sequence never runs twice at once.

use super::launch::{self, RunOptions};
use crate::catalog::{runs, sequence_runs};
use crate::error::{Error, Result, SqlState};
use crate::postgres::{catch, in_transaction, spi};
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;

/// Advisory-lock class for "this sequence is running" (with the sequence id).
pub const SEQUENCE_LOCK_CLASS: i32 = 0x5245_5453; // "RETS"

/// The worker's entry point; the argument is the sequence run id, the
/// extra "<database oid> <extension owner oid> <sequence id> <due Unix ms
/// or -> <trigger>". It connects as the extension's owner: it only keeps
/// the sequence's records and starts its steps' runs.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_sequence_worker(argument: pg_sys::Datum) {
    let sequence_run = argument.value() as i64;
    let extra = BackgroundWorker::get_extra().to_string();
    let mut parts = extra.split(' ');
    let (Some(Ok(database)), Some(Ok(owner)), Some(Ok(sequence_id)), Some(due), Some(trigger)) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<i64>),
        parts.next().map(|due| due.parse::<i64>().ok()),
        parts.next(),
    ) else {
        pgrx::warning!("pg_reverse_etl: sequence run {sequence_run}: malformed worker request");
        return;
    };
    unsafe { pg_sys::BackgroundWorkerUnblockSignals() };
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(database)),
        Some(pg_sys::Oid::from(owner)),
    );
    let configured = in_transaction(super::run::configure_worker_session);
    if let Err(error) = configured.and_then(|_| execute(sequence_run, sequence_id, due, trigger)) {
        let recorded = in_transaction(|| sequence_runs::fail(sequence_run, &error.to_string()));
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
    let owner_of_sequence = in_transaction(|| crate::catalog::sequences::owner(sequence_id))?;
    in_transaction(|| sequence_runs::record_queued(sequence_run, sequence_id, trigger, due_ms))?;
    let steps = in_transaction(|| {
        spi::execute(
            "SELECT pg_advisory_lock($1, $2::int)",
            &[SEQUENCE_LOCK_CLASS.into(), (sequence_id as i32).into()],
        )?;
        sequence_runs::mark_running(sequence_run)?;
        Ok(sequence_runs::steps(sequence_id)?
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
        // The step's run: launched and waited for like sync_run does, if the
        // sequence's owner may still run that sync.
        let started = in_transaction(|| {
            let options = RunOptions {
                wait: true,
                ..Default::default()
            };
            catch(|| {
                crate::catalog::authorize(
                    crate::catalog::Owned::Sync,
                    step.sync_id,
                    owner_of_sequence,
                )?;
                launch::start_run(step.sync_id, &options, "sequence")
            })
            .and_then(|r| r)
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
    in_transaction(|| sequence_runs::finish(sequence_run, failed))
}

/// Why a step's run counts as failed, or None if it did not.
fn verdict(run_id: i64, max_rejected_share: Option<f64>) -> Result<Option<String>> {
    let Some(run) = runs::outcome(run_id)? else {
        return Ok(Some(format!("run {run_id} was not recorded")));
    };
    if matches!(run.status.as_str(), "failed" | "incomplete") {
        return Ok(Some(format!(
            "run {run_id} ended {}: {}",
            run.status, run.error
        )));
    }
    if let Some(share) = max_rejected_share {
        if run.planned > 0 && run.rejected as f64 / run.planned as f64 > share {
            return Ok(Some(format!(
                "run {run_id} rejected {} of {} operations, more than max_rejected_share {share}",
                run.rejected, run.planned
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
    in_transaction(|| {
        sequence_runs::record_step(
            sequence_run,
            &sequence_runs::StepOutcome {
                position,
                sync_id,
                run_id,
                status,
                reason,
            },
        )
    })
}

/// Start a sequence run in its own worker; with `wait`, return when it ended.
pub fn start(sequence_id: i64, wait: bool, raise_on_failure: bool) -> Result<i64> {
    if !crate::catalog::sequences::is_enabled(sequence_id)? {
        return Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            "sequence: the sequence is disabled",
        ));
    }
    let (id, worker, pid) = spawn(sequence_id, None, "manual")?;
    if wait {
        launch::wait_for_worker(worker, pid);
        if let Some(outcome) = sequence_runs::outcome(id)? {
            launch::conclude(
                &outcome.status,
                format!(
                    "sequence \"{}\" run {id} ended {}{}",
                    outcome.sequence,
                    outcome.status,
                    outcome.summary()
                ),
                format!(
                    "SELECT * FROM reverse_etl.sequence_run_details WHERE sequence_run_id = {id}"
                ),
                raise_on_failure,
            )?;
        }
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
    let id = sequence_runs::next_id()?;
    let extra = format!(
        "{} {} {sequence_id} {} {trigger}",
        unsafe { pg_sys::MyDatabaseId }.to_u32(),
        crate::catalog::extension_owner()?.to_u32(),
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
