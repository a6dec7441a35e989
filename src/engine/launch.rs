//! Starting a run: from the calling session, launch a dynamic background
//! worker for it and, if asked, wait until it has finished.

use super::pool;
use super::worker::RunRequest;
use crate::catalog::{self, runs};
use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::bgworkers::BackgroundWorkerBuilder;
use pgrx::prelude::*;
use std::time::{Duration, Instant};

/// pg_advisory_unlock(QUEUE_LOCK_CLASS, sync_id) without SQL, so that it
/// also works while an error is being raised.
fn release_queue_lock(sync_id: i64) {
    let tag = pg_sys::LOCKTAG {
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: QUEUE_LOCK_CLASS as u32,
        locktag_field3: sync_id as i32 as u32,
        locktag_field4: 2, // two int4 keys, as pg_advisory_lock(int, int)
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    };
    // SAFETY: releasing a session lock this backend took in start_run.
    unsafe { pg_sys::LockRelease(&tag, pg_sys::ExclusiveLock as i32, true) };
}

/// Advisory-lock class serialising "is a run queued? else start one" per sync.
const QUEUE_LOCK_CLASS: i32 = 0x5245_5451; // "RETQ"

enum Started {
    /// A run was already queued: this ask joins it.
    Joined(i64),
    New(i64, RunWorker),
}

/// The worker doing a run, as the session that asked for the run knows it.
struct RunWorker {
    pid: i32,
    /// For a worker this session started (None: a warm one was handed the run).
    handle: Option<pgrx::bgworkers::DynamicBackgroundWorker>,
}

/// How a run was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub full_resync: bool,
    pub reset_cdc: bool,
    pub allow_mass_removal: bool,
    pub clear_first: bool,
    pub wait: bool,
    /// With `wait`: a run that ends failed or incomplete is an error of the
    /// call (not only a WARNING), so a scheduler or orchestrator records it.
    pub raise_on_failure: bool,
}

/// The SQLSTATE of a waited-for run that ended failed (external_routine_exception:
/// the run is work done outside the calling statement).
const RUN_FAILED: SqlState = SqlState::Other(*b"38000");
/// The SQLSTATE (query_canceled) of a waited-for run that ended incomplete (cancelled, out
/// of time, the destination down: the next run resumes).
const RUN_INCOMPLETE: SqlState = SqlState::Other(*b"57014");

pub fn start_run(sync_id: i64, options: &RunOptions, trigger: &str) -> Result<i64> {
    let wait = options.wait;
    let sync = catalog::load_sync(sync_id)?;
    if !sync.enabled {
        return Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            format!("sync: sync \"{}\" is disabled", sync.name),
        )
        .with_hint(format!(
            "SELECT reverse_etl.enable_sync('{}')",
            sync.name.replace('\'', "''")
        )));
    }
    if catalog::sync_written_by_this_transaction(sync_id)? {
        return Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            format!(
                "sync: sync \"{}\" (or its model or destination) was created or changed in this transaction",
                sync.name
            ),
        )
        .with_hint("runs execute in a background worker, which only sees committed work: commit first"));
    }
    // A run asked for while one is waiting joins the waiting one. Checking
    // for a queued run and starting one is serialised per sync (a session
    // lock, held until the new run is recorded), so two asks at the same
    // instant cannot both start a run.
    let plain = !options.full_resync
        && !options.reset_cdc
        && !options.allow_mass_removal
        && !options.clear_first;
    let lock_args = || [QUEUE_LOCK_CLASS.into(), (sync_id as i32).into()];
    spi::execute("SELECT pg_advisory_lock($1, $2::int)", &lock_args())?;
    let started = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| -> Result<Started> {
        if let (Some(run_id), true) = (runs::queued_run(sync_id)?, plain) {
            return Ok(Started::Joined(run_id));
        }
        let run_id = runs::next_id()?;
        let request = RunRequest {
            full_resync: options.full_resync,
            reset_cdc: options.reset_cdc,
            allow_mass_removal: options.allow_mass_removal,
            clear_first: options.clear_first,
            ..RunRequest::new(sync_id, trigger)?
        };
        let worker = launch_worker(run_id, &request)?;
        wait_until_recorded(run_id);
        Ok(Started::New(run_id, worker))
    }))
    .finally(|| release_queue_lock(sync_id))
    .execute()?;
    let (run_id, worker) = match started {
        Started::Joined(run_id) => {
            if wait {
                wait_for_end(run_id, None)?;
                return report_outcome(&sync.name, run_id, options.raise_on_failure);
            }
            return Ok(run_id);
        }
        Started::New(run_id, worker) => (run_id, worker),
    };
    if !wait {
        return Ok(run_id);
    }
    wait_for_run_worker(run_id, worker);
    // A worker that died in the run left it marked as going: closed as
    // incomplete here, so that it is reported as such.
    wait_for_end(run_id, None)?;
    report_outcome(&sync.name, run_id, options.raise_on_failure)
}

/// What a run that was waited for came to: its id, or (when asked) an
/// error for a run that ended failed or incomplete.
fn report_outcome(sync_name: &str, run_id: i64, raise_on_failure: bool) -> Result<i64> {
    let Some(state) = runs::status(run_id)? else {
        return Err(Error::new(
            SqlState::InternalError,
            format!(
                "the worker of run {run_id} stopped before recording the run; see the server log"
            ),
        ));
    };
    conclude(
        &state.status,
        format!(
            "sync \"{sync_name}\" run {run_id} ended {}{}",
            state.status,
            state.summary()
        ),
        format!("SELECT * FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        raise_on_failure,
    )?;
    Ok(run_id)
}

/// How a waited-for run or sequence run ended, told to its caller: one
/// that failed or ended incomplete is an error when `raise_on_failure`;
/// otherwise any that did not simply succeed gets a WARNING.
pub fn conclude(status: &str, ended: String, hint: String, raise_on_failure: bool) -> Result<()> {
    let failure = match status {
        "failed" => Some(RUN_FAILED),
        "incomplete" => Some(RUN_INCOMPLETE),
        _ => None,
    };
    match failure {
        Some(code) if raise_on_failure => Err(Error::new(code, ended).with_hint(hint)),
        _ => {
            if status != "succeeded" {
                pgrx::warning!("{ended}");
            }
            Ok(())
        }
    }
}

/// Wait until a run has ended and return its status; with a timeout, the
/// status it has when the timeout passes.
pub fn wait_for_run(run_id: i64, timeout: Option<Duration>) -> Result<String> {
    wait_for_end(run_id, timeout)?;
    runs::status(run_id)?
        .map(|state| state.status)
        .ok_or_else(|| {
            Error::new(
                SqlState::UndefinedObject,
                format!("run: run {run_id} does not exist"),
            )
        })
}

fn spawn_worker(
    run_id: i64,
    request: &RunRequest,
) -> Result<(pgrx::bgworkers::DynamicBackgroundWorker, i32)> {
    spawn(
        WorkerKind::Run,
        &format!("pg_reverse_etl run {run_id}"),
        run_id,
        &request.encode(),
    )
}

/// Hand the run to a warm worker of its kind, or start a worker for it.
fn launch_worker(run_id: i64, request: &RunRequest) -> Result<RunWorker> {
    let me = unsafe { pg_sys::MyProcPid };
    if let Some(pid) = pool::hand(request.worker_kind(), run_id, &request.encode(), me) {
        if taken(run_id, pid) {
            return Ok(RunWorker { pid, handle: None });
        }
        // It exited (terminated, or its idle time ran out) before taking it.
    }
    let (handle, pid) = spawn_worker(run_id, request)?;
    Ok(RunWorker {
        pid,
        handle: Some(handle),
    })
}

/// Whether the warm worker `pid` took run `run_id` it was handed (it does
/// at once, unless it is exiting).
fn taken(run_id: i64, pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let waited = PgTryBuilder::new(|| {
        while Instant::now() < deadline {
            match pool::handed_state(pid, run_id) {
                pool::HandedState::Waiting => {}
                pool::HandedState::Taken => return Some(true),
                // Gone: it may have done the run (it takes milliseconds,
                // these checks are 0.2 ms apart) and exited since.
                pool::HandedState::Gone => {
                    return Some(matches!(runs::status(run_id), Ok(Some(_))));
                }
            }
            std::thread::sleep(Duration::from_micros(200));
            pg_sys::check_for_interrupts!();
        }
        None
    })
    // Cancelled meanwhile: the run is taken back, so that it does not go
    // on without its caller.
    .catch_others(|caught| {
        pool::take_back(pid, run_id);
        caught.rethrow()
    })
    .execute();
    // Not taken in time: taken back, unless it was taken just now.
    waited.unwrap_or_else(|| !pool::take_back(pid, run_id))
}

/// A run the schedule asked for: started, not waited for; returns the
/// worker's pid. The worker tells the scheduler (its waiter) when the run
/// is done, which frees a parallel slot.
pub fn start_scheduled_run(sync_id: i64, due_ms: i64) -> Result<i32> {
    let request = RunRequest {
        due_at_ms: Some(due_ms),
        ..RunRequest::new(sync_id, "schedule")?
    };
    Ok(launch_worker(runs::next_id()?, &request)?.pid)
}

/// The background workers of this extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    Run,
    Sequence,
    Scheduler,
}

impl WorkerKind {
    /// The entry point, and the backend_type shown in pg_stat_activity.
    fn function_and_type(self) -> (&'static str, &'static str) {
        match self {
            WorkerKind::Run => ("reverse_etl_run_worker", "pg_reverse_etl run"),
            WorkerKind::Sequence => ("reverse_etl_sequence_worker", "pg_reverse_etl sequence"),
            WorkerKind::Scheduler => ("reverse_etl_scheduler_main", "pg_reverse_etl scheduler"),
        }
    }
}

/// Start a dynamic worker with `argument` and `extra`; this process is told
/// (SIGUSR1) when it starts and ends.
pub fn spawn(
    kind: WorkerKind,
    name: &str,
    argument: i64,
    extra: &str,
) -> Result<(pgrx::bgworkers::DynamicBackgroundWorker, i32)> {
    let (function, worker_type) = kind.function_and_type();
    let start = || {
        BackgroundWorkerBuilder::new(name)
            .set_type(worker_type)
            .set_library("pg_reverse_etl")
            .set_function(function)
            .set_argument(argument.into_datum())
            .set_extra(extra)
            .enable_spi_access()
            .set_notify_pid(unsafe { pg_sys::MyProcPid })
            .load_dynamic()
    };
    let mut started = start();
    // Idle warm workers hold slots: they leave, and the slots they free
    // are taken as the postmaster reaps them.
    if started.is_err() && !pool::dismiss_idle().is_empty() {
        let deadline = Instant::now() + Duration::from_secs(2);
        while started.is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            pg_sys::check_for_interrupts!();
            started = start();
        }
    }
    let worker = started.map_err(|_| {
        Error::new(
            SqlState::InsufficientResources,
            "could not start a background worker: all background worker slots are in use",
        )
        .with_hint("raise max_worker_processes, or run fewer syncs at once")
    })?;
    let pid = worker.wait_for_startup().map_err(|status| {
        Error::new(
            SqlState::InsufficientResources,
            format!("the background worker did not start ({status:?})"),
        )
    })?;
    Ok((worker, pid))
}

/// Wait for a worker to end. A cancelled wait cancels the worker's run: it
/// gets a query cancel and stops at once, recording what it delivered.
pub fn wait_for_worker(worker: pgrx::bgworkers::DynamicBackgroundWorker, pid: i32) {
    PgTryBuilder::new(|| worker.wait_for_shutdown())
        .catch_others(move |caught| {
            // SAFETY: signalling our own worker; SIGINT is its query-cancel signal.
            unsafe { libc::kill(pid, libc::SIGINT) };
            caught.rethrow()
        })
        .execute()
        .ok();
}

/// Wait until a run's worker is done with it: the run has ended and what
/// follows it (alerts) is done. A cancelled wait cancels the run.
fn wait_for_run_worker(run_id: i64, worker: RunWorker) {
    let pid = worker.pid;
    if !pool::pooled(pid) {
        // A worker outside the pool: one run, then it exits.
        if let Some(handle) = worker.handle {
            wait_for_worker(handle, pid);
        }
        return;
    }
    PgTryBuilder::new(|| {
        while pool::holds(pid, run_id) {
            // The worker sets this latch when it is done (or exits); the
            // timeout only bounds a missed wake-up.
            // SAFETY: this process's own latch.
            unsafe {
                pg_sys::WaitLatch(
                    pg_sys::MyLatch,
                    (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH)
                        as i32,
                    1000,
                    pg_sys::PG_WAIT_EXTENSION,
                );
                pg_sys::ResetLatch(pg_sys::MyLatch);
            }
            pg_sys::check_for_interrupts!();
        }
    })
    .catch_others(move |caught| {
        pool::cancel(pid, run_id);
        caught.rethrow()
    })
    .execute();
}

/// What the next run of a sync would do, without sending or recording
/// anything: counts, a sample of rows per kind, the removal guard's verdict.
pub fn preview(sync_id: i64) -> Result<serde_json::Value> {
    if catalog::sync_written_by_this_transaction(sync_id)? {
        return Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            "sync: the sync (or its model or destination) was created or changed in this transaction",
        )
        .with_hint("the preview runs in a background worker, which only sees committed work: commit first"));
    }
    let id = catalog::next_preview_id()?;
    let request = RunRequest {
        preview: true,
        ..RunRequest::new(sync_id, "plan")?
    };
    let (worker, pid) = spawn_worker(id, &request)?;
    wait_for_worker(worker, pid);
    let result = catalog::take_preview(id)?.ok_or_else(|| {
        Error::new(
            SqlState::InternalError,
            "the plan preview worker stopped without a result; see the server log",
        )
    })?;
    if let Some(message) = result.get("error").and_then(|e| e.as_str()) {
        let code = result
            .get("sqlstate")
            .and_then(|c| c.as_str())
            .unwrap_or("XX000");
        let state = code
            .as_bytes()
            .try_into()
            .map(SqlState::Other)
            .unwrap_or(SqlState::InternalError);
        return Err(Error::new(state, message.to_string()));
    }
    Ok(result)
}

/// With wait => false, return once the run row is visible to the caller
/// (a moment after the worker starts), so its id can be looked up at once.
fn wait_until_recorded(run_id: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(runs::status(run_id), Ok(Some(_))) {
            return;
        }
        // The worker records the run a few milliseconds after it starts;
        // every sync_run waits here, so the check is frequent.
        std::thread::sleep(Duration::from_millis(1));
        pg_sys::check_for_interrupts!();
    }
}

/// Wait for a run started elsewhere (a queued run, another session's) to
/// end, or for `timeout`. Each check reads the run's latest committed state;
/// a run whose worker is gone (terminated, crashed) is closed as incomplete
/// rather than waited for forever.
fn wait_for_end(run_id: i64, timeout: Option<Duration>) -> Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut checks = 0u32;
    loop {
        match runs::status(run_id)? {
            Some(state) if state.ended() => return Ok(()),
            None => return Ok(()),
            Some(_) => {
                checks += 1;
                if checks.is_multiple_of(10) {
                    if let Some((sync_id, queued)) = runs::orphaned(run_id)? {
                        close_orphaned(run_id, sync_id, queued, super::recovery::INTERRUPTED)?;
                        continue;
                    }
                }
                if deadline.is_some_and(|at| Instant::now() >= at) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
                pg_sys::check_for_interrupts!();
            }
        }
    }
}

/// Close a run whose worker is gone, as incomplete. A live run of the sync
/// (holding its lock) closes it itself when it starts; a queued run never
/// started, so it can always be closed.
fn close_orphaned(run_id: i64, sync_id: i64, queued: bool, reason: &str) -> Result<()> {
    if runs::try_lock_sync_runs(sync_id)? {
        super::recovery::close_run(run_id, sync_id, reason)
    } else if queued {
        super::recovery::end_early(run_id, "incomplete", reason)
    } else {
        Ok(())
    }
}

/// Ask a run to stop: at once if it is querying or preparing, else at the
/// next batch boundary. Returns false when the run had already ended.
pub fn cancel_run(run_id: i64) -> Result<bool> {
    match runs::request_cancel(run_id)? {
        runs::CancelRequest::NoSuchRun => Err(Error::new(
            SqlState::UndefinedObject,
            format!("run: run {run_id} does not exist"),
        )),
        runs::CancelRequest::Ended => Ok(false),
        runs::CancelRequest::Going(Some(pid)) => {
            // Through the pool: a warm worker may be on another run by now.
            pool::cancel(pid, run_id);
            Ok(true)
        }
        runs::CancelRequest::Going(None) => Ok(true),
        runs::CancelRequest::WorkerGone { sync_id, queued } => {
            // Nobody will honour the request: close the run now.
            let reason = "cancelled by cancel_run: the run's worker had already exited (server restart, crash or terminated worker)";
            close_orphaned(run_id, sync_id, queued, reason)?;
            Ok(true)
        }
    }
}
