//! The launcher: one background worker for the whole server (registered
//! when the library is preloaded). It connects to no database; it keeps one
//! registry slot per database and starts that database's scheduler when
//! something is due there or its schedules changed. Schedulers exit when
//! nothing is due soon, so a database holds no connection between runs.

use super::registry::{self, now_ms, NEVER, REGISTRY};
use crate::engine::launch;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use std::collections::HashMap;
use std::time::Duration;

/// A scheduler is started this long before its due time, so that the start
/// of the process is not part of a run's lateness.
pub const START_AHEAD_MS: i64 = 2_000;
/// New databases (CREATE DATABASE from a template that has schedules) are
/// noticed this often; everything else wakes the launcher directly.
const DATABASE_SCAN_MS: i64 = 60_000;
/// After a scheduler failed, wait this long before starting another.
const RETRY_AFTER_FAILURE_MS: i64 = 30_000;

/// Register the launcher; called from _PG_init in the postmaster.
pub fn register() {
    BackgroundWorkerBuilder::new("pg_reverse_etl launcher")
        .set_type("pg_reverse_etl launcher")
        .set_library("pg_reverse_etl")
        .set_function("reverse_etl_launcher_main")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

struct Scheduler {
    worker: DynamicBackgroundWorker,
    pid: i32,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_launcher_main(_argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // Shared catalogs only: enough to list the databases.
    BackgroundWorker::connect_worker_to_spi(None, None);
    {
        let mut shared = REGISTRY.exclusive();
        shared.launcher_pid = unsafe { pg_sys::MyProcPid };
        // A restarted launcher knows nothing of running schedulers: they
        // finish on their own and the slots are looked at afresh.
        for slot in shared.slots.iter_mut() {
            slot.next_due_ms = slot.next_due_ms.min(0);
        }
    }
    let mut schedulers: HashMap<u32, Scheduler> = HashMap::new();
    let mut next_scan = 0;
    loop {
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let now = now_ms();
        if now >= next_scan {
            add_new_databases();
            next_scan = now + DATABASE_SCAN_MS;
        }
        reap(&mut schedulers);
        // Starting a worker waits on the latch and can swallow a wake-up,
        // so look again until there is nothing left to start.
        let wake_at = loop {
            let (wake_at, started) = start_due(&mut schedulers);
            if !started {
                break wake_at.min(next_scan);
            }
        };
        let timeout = Duration::from_millis((wake_at - now_ms()).clamp(1, DATABASE_SCAN_MS) as u64);
        if !BackgroundWorker::wait_latch(Some(timeout)) {
            break;
        }
    }
    REGISTRY.exclusive().launcher_pid = 0;
}

/// Give every connectable database a slot; a database not seen before is
/// looked at at once (its scheduler also closes runs a restart interrupted).
fn add_new_databases() {
    let databases = list_databases();
    let mut shared = REGISTRY.exclusive();
    let mut full = false;
    for &database in &databases {
        full |= shared.slot_or_new(database).is_none();
    }
    for index in 0..shared.slots.len() {
        let slot = shared.slots[index];
        if slot.database != 0
            && !databases.contains(&slot.database)
            && slot.scheduler_pid == 0
            && !slot.starting
        {
            shared.release(slot.database);
        }
    }
    drop(shared);
    if full {
        pgrx::warning!(
            "pg_reverse_etl: more than {} databases; schedules in the others do not run",
            registry::MAX_DATABASES
        );
    }
}

/// Forget schedulers that ended; one that ended without signing off failed
/// and is retried later.
fn reap(schedulers: &mut HashMap<u32, Scheduler>) {
    // Schedulers started by an earlier launcher (it restarted) have no
    // handle here: a pid that is gone is enough to know they ended.
    {
        let mut shared = REGISTRY.exclusive();
        for slot in shared.slots.iter_mut() {
            let orphan = slot.scheduler_pid != 0 && !schedulers.contains_key(&slot.database);
            // SAFETY: signal 0 only checks that the process exists.
            if orphan && unsafe { libc::kill(slot.scheduler_pid, 0) } != 0 {
                slot.scheduler_pid = 0;
                slot.next_due_ms = 0;
            }
        }
    }
    let ended: Vec<u32> = schedulers
        .iter()
        .filter(|(_, s)| s.worker.pid().is_err())
        .map(|(database, _)| *database)
        .collect();
    for database in ended {
        let Some(scheduler) = schedulers.remove(&database) else {
            continue;
        };
        let mut shared = REGISTRY.exclusive();
        if let Some(slot) = shared.slot(database) {
            if slot.starting || slot.scheduler_pid == scheduler.pid {
                slot.starting = false;
                slot.scheduler_pid = 0;
                slot.next_due_ms = now_ms() + RETRY_AFTER_FAILURE_MS;
                slot.changed = false;
            }
        }
    }
}

/// Start the schedulers that are due; returns when to wake next and whether
/// any was started.
fn start_due(schedulers: &mut HashMap<u32, Scheduler>) -> (i64, bool) {
    let now = now_ms();
    let mut wake_at = NEVER;
    let mut to_start = Vec::new();
    {
        let mut shared = REGISTRY.exclusive();
        for slot in shared.slots.iter_mut() {
            if slot.database == 0 || slot.scheduler_pid != 0 || slot.starting {
                continue;
            }
            let start_at = slot.next_due_ms.saturating_sub(START_AHEAD_MS);
            if slot.changed || start_at <= now {
                slot.starting = true;
                to_start.push(slot.database);
            } else {
                wake_at = wake_at.min(start_at);
            }
        }
    }
    let started = !to_start.is_empty();
    for database in to_start {
        // The worker's handle must outlive this loop: keep it in the
        // process's top memory context.
        // SAFETY: nothing allocated here is freed while the launcher lives.
        let spawned = unsafe {
            PgMemoryContexts::TopMemoryContext.switch_to(|_| {
                launch::spawn(
                    launch::WorkerKind::Scheduler,
                    &format!("pg_reverse_etl scheduler {database}"),
                    i64::from(database),
                    "",
                )
            })
        };
        match spawned {
            Ok((worker, pid)) => {
                schedulers.insert(database, Scheduler { worker, pid });
            }
            Err(error) => {
                pgrx::warning!(
                    "pg_reverse_etl: could not start the scheduler of database {database}: {error}"
                );
                let mut shared = REGISTRY.exclusive();
                if let Some(slot) = shared.slot(database) {
                    slot.starting = false;
                    slot.next_due_ms = now + RETRY_AFTER_FAILURE_MS;
                }
                wake_at = wake_at.min(now + RETRY_AFTER_FAILURE_MS);
            }
        }
    }
    (wake_at, started)
}

/// Oids of the databases that accept connections (templates excluded),
/// read from pg_database as autovacuum's launcher does.
fn list_databases() -> Vec<u32> {
    let mut databases = Vec::new();
    // SAFETY: a catalog scan in a transaction of its own; pg_database is a
    // shared catalog, readable without a database connection.
    unsafe {
        pg_sys::StartTransactionCommand();
        pg_sys::GetTransactionSnapshot();
        let relation =
            pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as i32);
        let scan = pg_sys::table_beginscan_catalog(relation, 0, std::ptr::null_mut());
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let row = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple);
            if row.datallowconn && !row.datistemplate {
                databases.push(row.oid.to_u32());
            }
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(relation, pg_sys::AccessShareLock as i32);
        pg_sys::CommitTransactionCommand();
    }
    databases
}
