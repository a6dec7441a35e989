//! A database's scheduler: a dynamic worker the launcher starts when
//! something is due there (or schedules changed). It closes runs that a
//! restart or a killed worker left behind, starts the runs that are due,
//! records ticks that found a run still going as skipped, waits on its latch
//! while the next due time is near, and otherwise exits, leaving the next
//! due time with the launcher.

use super::registry::{now_ms, NEVER, REGISTRY};
use crate::catalog::schedules::{self, Kind, Scheduled};
use crate::config::due::next_due;
use crate::config::Schedule;
use crate::engine::{launch, sequence};
use crate::error::Result;
use crate::postgres::{in_subtransaction, in_transaction};
use chrono::{DateTime, TimeZone, Utc};
use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// The scheduler stays (holding a connection) while the next due time is
/// at most this far off; beyond it, the launcher starts it again in time.
const STAY_MS: i64 = super::launcher::START_AHEAD_MS + 3_000;
/// While due runs wait for the parallel-run cap, look again this often
/// (a run the scheduler started wakes it when it ends; others do not).
const BACKLOG_RECHECK_MS: i64 = 1_000;
/// How often the scheduler looks for slow runs and stale syncs.
const WATCH_EVERY_MS: i64 = 60_000;
/// How often the scheduler applies changelog retention.
const PURGE_EVERY_MS: i64 = 3_600_000;

enum Tick {
    NoExtension,
    /// The next due time (Unix ms, NEVER for none) and whether due runs are
    /// waiting for the parallel-run cap.
    Done {
        next_due_ms: i64,
        backlog: bool,
    },
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_scheduler_main(argument: pg_sys::Datum) {
    let database = argument.value() as u32;
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    {
        let mut shared = REGISTRY.exclusive();
        if let Some(slot) = shared.slot_or_new(database) {
            slot.scheduler_pid = unsafe { pg_sys::MyProcPid };
            slot.starting = false;
        }
    }
    let mut scheduler = Scheduler::default();
    loop {
        if let Some(slot) = REGISTRY.exclusive().slot(database) {
            slot.changed = false;
        }
        let (mut next_due_ms, backlog) = match in_transaction(|| scheduler.tick()) {
            Ok(Tick::NoExtension) => {
                sign_off(database, NEVER, true);
                return;
            }
            Ok(Tick::Done {
                next_due_ms,
                backlog,
            }) => (next_due_ms, backlog),
            Err(error) => {
                pgrx::warning!("pg_reverse_etl scheduler: {error}");
                (now_ms() + 30_000, false)
            }
        };
        // Changelog retention, between ticks, in small transactions.
        if scheduler.next_purge_ms <= now_ms() {
            match crate::engine::logs::purge_expired() {
                // More to remove: again in a moment, between due runs.
                Ok(true) => scheduler.next_purge_ms = now_ms() + BACKLOG_RECHECK_MS,
                Ok(false) => scheduler.next_purge_ms = now_ms() + PURGE_EVERY_MS,
                Err(error) => {
                    pgrx::warning!(
                        "pg_reverse_etl scheduler: old changelog rows not removed: {error}"
                    );
                    scheduler.next_purge_ms = now_ms() + PURGE_EVERY_MS;
                }
            }
        }
        next_due_ms = next_due_ms.min(scheduler.next_purge_ms);
        // Alerts between runs (slow, stale), and notifications that wait
        // for a retry; looked at least every minute while a sync has slow
        // or stale triggers.
        match crate::engine::alerts::watch() {
            Ok(true) => next_due_ms = next_due_ms.min(now_ms() + WATCH_EVERY_MS),
            Ok(false) => {}
            Err(error) => {
                // Looked at again soon, as while syncs are watched.
                pgrx::warning!("pg_reverse_etl scheduler: alerts not checked: {error}");
                next_due_ms = next_due_ms.min(now_ms() + WATCH_EVERY_MS);
            }
        }
        match in_transaction(crate::catalog::alerts::next_attempt_ms) {
            Ok(Some(at)) => next_due_ms = next_due_ms.min(at),
            Ok(None) => {}
            Err(error) => pgrx::warning!("pg_reverse_etl scheduler: {error}"),
        }
        let now = now_ms();
        // Runs waiting for a slot are looked at again soon, but never later
        // than the next due time.
        let wake_at = if backlog {
            next_due_ms.min(now + BACKLOG_RECHECK_MS)
        } else {
            next_due_ms
        };
        if wake_at.saturating_sub(now) > STAY_MS {
            if sign_off(database, next_due_ms, false) {
                return;
            }
            continue;
        }
        // Starting workers waits on this process's latch and can swallow a
        // wake-up: the flag in shared memory is what counts.
        if changed_meanwhile(database, next_due_ms) {
            continue;
        }
        let timeout = Duration::from_millis(wake_at.saturating_sub(now).max(1) as u64);
        if !BackgroundWorker::wait_latch(Some(timeout)) {
            sign_off(database, next_due_ms.min(now_ms()), true);
            return;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
    }
}

/// Publish the next due time; true if schedules changed since they were read.
fn changed_meanwhile(database: u32, next_due_ms: i64) -> bool {
    let mut shared = REGISTRY.exclusive();
    match shared.slot(database) {
        Some(slot) => {
            slot.next_due_ms = next_due_ms;
            slot.changed
        }
        None => false,
    }
}

/// Leave the next due time with the launcher and end, unless schedules
/// changed meanwhile (then returns false: read them again).
fn sign_off(database: u32, next_due_ms: i64, always: bool) -> bool {
    let mut shared = REGISTRY.exclusive();
    let launcher = shared.launcher_pid;
    let Some(slot) = shared.slot(database) else {
        return true;
    };
    if slot.changed && !always {
        return false;
    }
    slot.scheduler_pid = 0;
    slot.next_due_ms = next_due_ms;
    drop(shared);
    super::registry::signal(launcher);
    true
}

#[derive(Default)]
struct Scheduler {
    /// What this process has started or skipped: the catalog may not show a
    /// run until its worker has recorded it.
    settled: HashMap<(Kind, i64), i64>,
    /// Run workers this scheduler started that may still be going.
    started_workers: Vec<i32>,
    /// When changelog retention is next applied (0: at once).
    next_purge_ms: i64,
}

impl Scheduler {
    fn tick(&mut self) -> Result<Tick> {
        if !schedules::extension_installed()? {
            return Ok(Tick::NoExtension);
        }
        close_interrupted_runs()?;
        let now = now_ms();
        // A worker shows in pg_stat_activity only once it has connected,
        // so the ones this scheduler just started are counted by pid.
        // (Worker handles live in the transaction that started them.)
        // Warm workers waiting for a run are not running one (read after
        // the workers: one handed a run meanwhile counts as running).
        let mut running: std::collections::HashSet<i32> =
            schedules::running_run_workers()?.into_iter().collect();
        let idle = crate::engine::pool::idle_pids();
        // SAFETY: signal 0 only checks that the process exists.
        self.started_workers
            .retain(|pid| unsafe { libc::kill(*pid, 0) } == 0 && !idle.contains(pid));
        running.extend(self.started_workers.iter().copied());
        running.retain(|pid| !idle.contains(pid));
        let mut capacity = i64::from(crate::gucs::max_parallel_runs()) - running.len() as i64;
        let mut items: Vec<(i64, Schedule, Scheduled)> = Vec::new();
        let mut next_due_ms = NEVER;
        for item in schedules::load_scheduled()? {
            // The catalog only holds valid schedules; one that no longer
            // parses (an older version's) is left alone rather than guessed.
            let Ok(schedule) = Schedule::parse("schedule", &item.schedule) else {
                continue;
            };
            let settled = self
                .settled
                .get(&(item.kind, item.id))
                .copied()
                .unwrap_or(i64::MIN);
            let Some(due) = due_after(&schedule, settled.max(item.settled_until_ms)) else {
                continue;
            };
            if due > now {
                next_due_ms = next_due_ms.min(due);
            } else {
                items.push((due, schedule, item));
            }
        }
        items.sort_by_key(|(due, _, item)| (*due, item.id));
        let mut backlog = false;
        for (due, schedule, item) in items {
            if item.running.is_none() && item.kind == Kind::Sync && capacity <= 0 {
                backlog = true;
                continue;
            }
            // Each item in a subtransaction of its own: whatever goes wrong
            // with one sync or sequence is recorded on it, and the others
            // are still served.
            let started = in_subtransaction(|| match (item.running, item.kind) {
                (Some(running), _) => {
                    schedules::record_skipped(item.kind, item.id, due, running).map(|()| None)
                }
                (None, Kind::Sync) => launch::start_scheduled_run(item.id, due).map(Some),
                (None, Kind::Sequence) => sequence::start_scheduled(item.id, due).map(|_| None),
            });
            match started {
                Ok(worker) => {
                    if item.running.is_none() {
                        capacity -= 1;
                    }
                    self.started_workers.extend(worker);
                }
                Err(error) if error.is_out_of_workers() => {
                    backlog = true;
                    continue;
                }
                Err(error) => {
                    let message = error.to_string();
                    let recorded = in_subtransaction(|| {
                        schedules::record_start_failure(item.kind, item.id, due, &message)
                    });
                    if let Err(second) = recorded {
                        pgrx::warning!(
                            "pg_reverse_etl scheduler: could not start {:?} {} ({message}), nor record it: {second}",
                            item.kind,
                            item.id
                        );
                    }
                }
            }
            let settled = due.max(now);
            self.settled.insert((item.kind, item.id), settled);
            if let Some(following) = due_after(&schedule, settled) {
                next_due_ms = next_due_ms.min(following);
            }
        }
        Ok(Tick::Done {
            next_due_ms,
            backlog,
        })
    }
}

fn due_after(schedule: &Schedule, after_ms: i64) -> Option<i64> {
    let after: DateTime<Utc> = Utc
        .timestamp_millis_opt(after_ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    next_due(schedule, after).map(|due| due.timestamp_millis())
}

/// Runs that a restart or a killed worker left marked as going end
/// `incomplete`, each under its sync's run lock so a live run is never
/// touched; the next run resumes from the snapshot.
fn close_interrupted_runs() -> Result<()> {
    for sync_id in schedules::syncs_with_interrupted_runs()? {
        // One sync's trouble (a run it cannot close) is that sync's: the
        // others are still served; its next run tries again.
        let closed = crate::postgres::in_subtransaction(|| {
            if crate::catalog::runs::try_lock_sync_runs(sync_id)? {
                crate::engine::recovery::close_interrupted_runs(sync_id)?;
            }
            Ok(())
        });
        if let Err(error) = closed {
            pgrx::warning!("pg_reverse_etl scheduler: sync {sync_id}: {error}");
        }
    }
    schedules::close_interrupted_sequence_runs()?;
    Ok(())
}
