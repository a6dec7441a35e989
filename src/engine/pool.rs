//! Run workers kept warm between runs. Starting a process, connecting it
//! and filling its caches cost every run more than its own work on a small
//! model; so a run worker, once its run has ended, waits a moment
//! (`reverse_etl.worker_idle_timeout`) for another run to be handed to it.
//!
//! A warm worker only takes runs of its own kind: the same database, the
//! same extension owner it connected as, the same database and role
//! settings it connected with, and syncs of the same owner as the run it
//! has done. The code a sync's owner ran in it (its model, its triggers)
//! may have left session state that SQL cannot clear (a dblink
//! connection, a procedural language's session globals): only that owner's
//! runs may ever see it. What SQL can clear is cleared between runs, as
//! DISCARD ALL does.
//!
//! The slots' states and their changes are `Pool`'s methods (pure, unit
//! tested); the functions below take the lock around them and do what
//! touches the process (latches, signals, the session).
//!
//! The pool is a table in shared memory, so it exists only when the library
//! is in shared_preload_libraries; without it every run starts a worker of
//! its own, as before.

use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};
use std::time::{Duration, Instant};

/// Run workers that can be in the pool at once (each holds a background
/// worker slot while idle); a worker beyond them runs once and exits.
const MAX_WORKERS: usize = 512;

/// A worker's request as the launching session encoded it (bgw_extra's size).
const REQUEST_BYTES: usize = 128;

/// A warm worker runs at most this many runs, then exits: whatever a run
/// leaves in the process's memory cannot grow without bound.
const MAX_RUNS_PER_WORKER: u32 = 1000;

/// What a run needs of the worker that does it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    pub database: u32,
    pub extension_owner: u32,
    pub sync_owner: u32,
    /// A fingerprint of the database and role settings applied when the
    /// worker connected (ALTER DATABASE/ROLE … SET).
    pub settings: i64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Free,
    /// Doing `run_id`.
    Busy,
    /// Waiting for a run of its kind.
    Idle,
    /// Handed `run_id` (the request is in the slot), not yet taken.
    Handed,
}

#[derive(Copy, Clone, Debug)]
struct Slot {
    pid: i32,
    state: State,
    kind: Kind,
    run_id: i64,
    /// The process to wake when the run (and what follows it) is done.
    waiter: i32,
    /// Busy, but its run has ended (alerts, the session's reset): a cancel
    /// is no longer for it.
    ended: bool,
    request: [u8; REQUEST_BYTES],
    request_len: usize,
}

impl Slot {
    const FREE: Slot = Slot {
        pid: 0,
        state: State::Free,
        kind: Kind {
            database: 0,
            extension_owner: 0,
            sync_owner: 0,
            settings: 0,
        },
        run_id: 0,
        waiter: 0,
        ended: false,
        request: [0; REQUEST_BYTES],
        request_len: 0,
    };
}

#[derive(Copy, Clone, Debug)]
pub struct Pool {
    slots: [Slot; MAX_WORKERS],
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            slots: [Slot::FREE; MAX_WORKERS],
        }
    }
}

/// What an idle worker finds when it looks at its slot.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// A run handed to it, now taken: (run id, request, waiter).
    Run(i64, String, i32),
    /// Nothing yet.
    Wait,
    /// Its idle time is over, or it was dismissed: exit.
    Leave,
}

/// What a cancel of a run on worker `pid` should do.
#[derive(Debug, PartialEq, Eq)]
enum CancelTarget {
    /// The worker is on that run: signal it.
    Signal,
    /// The worker has moved on (or not yet taken it): nothing to cancel.
    Skip,
    /// Not a pooled worker: a worker of one run, signalled if it is alive.
    Outside,
}

impl Pool {
    fn of(&mut self, pid: i32) -> Option<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|slot| slot.state != State::Free && slot.pid == pid)
    }

    fn find(&self, pid: i32) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|slot| slot.state != State::Free && slot.pid == pid)
    }

    fn idle(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|slot| slot.state == State::Idle)
    }

    /// A new worker takes a free slot, busy with its first run, which
    /// `waiter` asked for.
    fn join(&mut self, pid: i32, run_id: i64, waiter: i32) -> bool {
        let Some(slot) = self.slots.iter_mut().find(|s| s.state == State::Free) else {
            return false;
        };
        *slot = Slot {
            pid,
            state: State::Busy,
            run_id,
            waiter,
            ..Slot::FREE
        };
        true
    }

    /// The worker's run has ended (recorded); it still holds it until its
    /// alerts are sent and its session reset, but cancels no longer reach it.
    fn end_run(&mut self, pid: i32) {
        if let Some(slot) = self.of(pid) {
            slot.ended = true;
        }
    }

    /// The worker leaves; the waiter of a run it had (handed or doing) is
    /// returned, to be woken.
    fn leave(&mut self, pid: i32) -> Option<i32> {
        let slot = self.of(pid)?;
        let waiter = matches!(slot.state, State::Handed | State::Busy).then_some(slot.waiter);
        *slot = Slot::FREE;
        waiter
    }

    /// After a run: the worker waits for runs of `kind` if it may stay and
    /// fewer than `max_idle` wait already; else it leaves. Whether it stays.
    fn settle(&mut self, pid: i32, kind: Kind, may_stay: bool, max_idle: usize) -> bool {
        let stay = may_stay && self.idle().count() < max_idle;
        if let Some(slot) = self.of(pid) {
            *slot = if stay {
                Slot {
                    pid,
                    state: State::Idle,
                    kind,
                    ..Slot::FREE
                }
            } else {
                Slot::FREE
            };
        }
        stay
    }

    /// An idle worker looks at its slot.
    fn look(&mut self, pid: i32, timed_out: bool) -> Look {
        let Some(slot) = self.of(pid) else {
            return Look::Leave;
        };
        match slot.state {
            State::Handed => {
                slot.state = State::Busy;
                let request = String::from_utf8_lossy(&slot.request[..slot.request_len]);
                Look::Run(slot.run_id, request.into_owned(), slot.waiter)
            }
            State::Idle if timed_out => {
                *slot = Slot::FREE;
                Look::Leave
            }
            _ => Look::Wait,
        }
    }

    /// Hand a run to an idle worker of `kind`; its pid.
    fn hand(&mut self, kind: Kind, run_id: i64, request: &str, waiter: i32) -> Option<i32> {
        if request.len() > REQUEST_BYTES {
            return None;
        }
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.state == State::Idle && s.kind == kind)?;
        slot.state = State::Handed;
        slot.run_id = run_id;
        slot.waiter = waiter;
        slot.request[..request.len()].copy_from_slice(request.as_bytes());
        slot.request_len = request.len();
        Some(slot.pid)
    }

    fn holds(&self, pid: i32, run_id: i64) -> bool {
        self.find(pid).is_some_and(|slot| {
            slot.run_id == run_id && matches!(slot.state, State::Busy | State::Handed)
        })
    }

    fn handed_state(&self, pid: i32, run_id: i64) -> HandedState {
        match self.find(pid) {
            Some(slot) if slot.state == State::Handed && slot.run_id == run_id => {
                HandedState::Waiting
            }
            Some(_) => HandedState::Taken,
            None => HandedState::Gone,
        }
    }

    fn take_back(&mut self, pid: i32, run_id: i64) -> bool {
        match self.of(pid) {
            Some(slot) if slot.state == State::Handed && slot.run_id == run_id => {
                slot.state = State::Idle;
                true
            }
            Some(_) => false,
            // Gone: it exited before taking it (see leave_at_exit).
            None => true,
        }
    }

    fn cancel_target(&self, pid: i32, run_id: i64) -> CancelTarget {
        match self.find(pid) {
            Some(slot) if slot.run_id == run_id && slot.state == State::Busy && !slot.ended => {
                CancelTarget::Signal
            }
            Some(_) => CancelTarget::Skip,
            None => CancelTarget::Outside,
        }
    }

    /// Every idle worker is let go; their pids, to be woken.
    fn dismiss_idle(&mut self) -> Vec<i32> {
        let mut dismissed = Vec::new();
        for slot in self.slots.iter_mut().filter(|s| s.state == State::Idle) {
            dismissed.push(slot.pid);
            *slot = Slot::FREE;
        }
        dismissed
    }
}

// SAFETY: plain Copy data without pointers.
unsafe impl PGRXSharedMemory for Pool {}

static POOL: PgLwLock<Pool> = unsafe { PgLwLock::new(c"pg_reverse_etl_run_workers") };

/// Called from _PG_init while shared_preload_libraries are loaded.
// pg_shmem_init! tests for feature pg13, which this crate does not have.
#[allow(unexpected_cfgs)]
pub fn init() {
    pg_shmem_init!(POOL);
}

fn in_use() -> bool {
    crate::schedule::registry::preloaded() && crate::gucs::worker_idle_timeout_ms() > 0
}

/// Set the latch of a live PostgreSQL process, if `pid` is one (a waiter
/// that has gone is not signalled: its pid may be another program's now).
pub fn wake(pid: i32) {
    if pid <= 0 {
        return;
    }
    // SAFETY: BackendPidGetProc takes ProcArrayLock itself and returns a
    // PGPROC in shared memory, or null; SetLatch is safe on any PGPROC's latch.
    unsafe {
        let process = pg_sys::BackendPidGetProc(pid);
        if !process.is_null() {
            pg_sys::SetLatch(&mut (*process).procLatch);
        }
    }
}

/// A new run worker joins the pool, busy with its first run. False when
/// there is no pool (or no room in it): the worker runs once.
pub fn join(run_id: i64, waiter: i32) -> bool {
    if !in_use() {
        return false;
    }
    if !POOL
        .exclusive()
        .join(unsafe { pg_sys::MyProcPid }, run_id, waiter)
    {
        return false;
    }
    // SAFETY: registering a callback with no argument, once per process.
    unsafe { pg_sys::before_shmem_exit(Some(leave_at_exit), pg_sys::Datum::from(0usize)) };
    true
}

/// However the worker ends (its idle time over, terminated, an ERROR), its
/// slot is freed and the waiter of its run, if it has one, is woken: a run
/// handed to it that it never took is then started in a worker of its own.
#[pg_guard]
unsafe extern "C-unwind" fn leave_at_exit(_code: i32, _argument: pg_sys::Datum) {
    let waiter = POOL.exclusive().leave(unsafe { pg_sys::MyProcPid });
    if let Some(waiter) = waiter {
        wake(waiter);
    }
}

/// The worker's run has ended and is recorded: from now on a cancel sent
/// for it is dropped (one already on its way is forgotten here, under the
/// lock it was sent under), so that it cannot interrupt the alerts or the
/// session's reset.
pub fn end_run() {
    if !crate::schedule::registry::preloaded() {
        return;
    }
    let mut pool = POOL.exclusive();
    pool.end_run(unsafe { pg_sys::MyProcPid });
    // SAFETY: this process's own flag.
    unsafe { pg_sys::QueryCancelPending = 0 };
}

/// A run handed to a warm worker.
pub struct Handed {
    pub run_id: i64,
    pub request: String,
    /// Woken when this run is done.
    pub waiter: i32,
}

/// Between runs: clear what the last run left in the session, tell its
/// waiter it is done, and wait for a run of `kind` until the idle timeout.
/// None: the worker should exit (no pool, timed out, asked to leave).
pub fn rest(kind: Kind, waiter: i32, runs_done: u32) -> Option<Handed> {
    let pid = unsafe { pg_sys::MyProcPid };
    reload_configuration_if_asked();
    // What the run changed reaches the statistics (and autovacuum) now,
    // not when the worker exits.
    // SAFETY: between transactions, as a backend does when it goes idle.
    unsafe { pg_sys::pgstat_report_stat(true) };
    let mut stay = in_use() && runs_done < MAX_RUNS_PER_WORKER;
    if stay {
        stay = match crate::postgres::in_transaction(clear_session_state) {
            Ok(()) => true,
            Err(error) => {
                pgrx::warning!("pg_reverse_etl: a run worker could not reset its session: {error}");
                false
            }
        };
    }
    // Idle workers hold background worker slots, which parallel query and
    // other extensions need too: no more of them than runs may go at once
    // on a schedule.
    let max_idle = crate::gucs::max_parallel_runs().max(1) as usize;
    stay = POOL.exclusive().settle(pid, kind, stay, max_idle);
    wake(waiter);
    if !stay {
        return None;
    }
    let deadline =
        Instant::now() + Duration::from_millis(crate::gucs::worker_idle_timeout_ms() as u64);
    loop {
        // Under the lock: a cancel is sent under it too, so one meant for
        // the run that ended cannot reach this one.
        let mut pool = POOL.exclusive();
        let look = pool.look(pid, Instant::now() >= deadline);
        if let Look::Run(..) = look {
            // SAFETY: this process's own flag.
            unsafe { pg_sys::QueryCancelPending = 0 };
        }
        drop(pool);
        match look {
            Look::Run(run_id, request, waiter) => {
                return Some(Handed {
                    run_id,
                    request,
                    waiter,
                });
            }
            Look::Leave => return None,
            Look::Wait => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: this process's own latch; WL_EXIT_ON_PM_DEATH exits if
        // the postmaster dies.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                left.as_millis().max(1) as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
            // A cancel meant for the run that ended is not this one's.
            pg_sys::QueryCancelPending = 0;
        }
        // Terminated: exits here (the slot is freed on the way out).
        pg_sys::check_for_interrupts!();
        reload_configuration_if_asked();
    }
}

/// After a SIGHUP (pg_reload_conf), read the configuration again: a warm
/// worker's next run sees what a new worker would.
fn reload_configuration_if_asked() {
    // SAFETY: this process's own flag, set by its SIGHUP handler; between
    // transactions, as a backend reloads when idle.
    unsafe {
        if pg_sys::ConfigReloadPending != 0 {
            pg_sys::ConfigReloadPending = 0;
            pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
        }
    }
}

/// What a run's code (the owner's, or code of other roles it ran as the
/// owner: a table's triggers) may have left in the session, cleared as
/// DISCARD ALL does: settings, temporary objects (PostgreSQL lets code in
/// a security-restricted operation make temporary functions, operators and
/// types), cached plans, sequences' currval, prepared statements and
/// session advisory locks (the sync's run lock among them).
fn clear_session_state() -> crate::error::Result<()> {
    for statement in [
        "RESET ALL",
        "DEALLOCATE ALL",
        "DISCARD TEMP",
        "DISCARD SEQUENCES",
        "DISCARD PLANS",
    ] {
        crate::postgres::spi::execute(statement, &[])?;
    }
    // SAFETY: what pg_advisory_unlock_all() does.
    unsafe { pg_sys::LockReleaseSession(pg_sys::USER_LOCKMETHOD as pg_sys::LOCKMETHODID) };
    Ok(())
}

/// Hand run `run_id` to an idle worker of `kind`; `waiter` is woken when it
/// is done. The worker's pid, or None when no such worker is idle.
pub fn hand(kind: Kind, run_id: i64, request: &str, waiter: i32) -> Option<i32> {
    if !in_use() {
        return None;
    }
    let pid = POOL.exclusive().hand(kind, run_id, request, waiter)?;
    wake(pid);
    Some(pid)
}

/// Whether the pooled worker `pid` still has run `run_id` (handed or
/// doing it, or what follows it: alerts). False for a worker outside the
/// pool.
pub fn holds(pid: i32, run_id: i64) -> bool {
    crate::schedule::registry::preloaded() && POOL.share().holds(pid, run_id)
}

/// Where a run handed to a warm worker is.
pub enum HandedState {
    Waiting,
    Taken,
    /// The worker has left the pool.
    Gone,
}

pub fn handed_state(pid: i32, run_id: i64) -> HandedState {
    POOL.share().handed_state(pid, run_id)
}

/// Take back run `run_id` handed to `pid` if the worker has not taken it
/// (it is slow to wake): true when taken back, so that it can be started
/// elsewhere without ever running twice.
pub fn take_back(pid: i32, run_id: i64) -> bool {
    POOL.exclusive().take_back(pid, run_id)
}

/// Whether `pid` is a worker in the pool.
pub fn pooled(pid: i32) -> bool {
    crate::schedule::registry::preloaded() && POOL.share().find(pid).is_some()
}

/// Cancel the statement of `pid` if it is still doing `run_id` (a pooled
/// worker may have moved on to another run), or if `pid` is a run worker
/// outside the pool (one run per process).
pub fn cancel(pid: i32, run_id: i64) {
    let signal = || {
        // Only a live PostgreSQL process (a pid that has gone may be
        // another program's by now).
        // SAFETY: SIGINT is a backend's query-cancel signal.
        if !unsafe { pg_sys::BackendPidGetProc(pid) }.is_null() {
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
    };
    if !crate::schedule::registry::preloaded() {
        signal();
        return;
    }
    // The signal is sent under the lock: the worker leaves the run under
    // it, so the signal cannot reach a later run (a late one is dropped
    // while the worker rests).
    let pool = POOL.share();
    match pool.cancel_target(pid, run_id) {
        CancelTarget::Signal | CancelTarget::Outside => signal(),
        CancelTarget::Skip => {}
    }
}

/// The pids of idle workers (not running anything).
pub fn idle_pids() -> Vec<i32> {
    if !crate::schedule::registry::preloaded() {
        return Vec::new();
    }
    POOL.share().idle().map(|slot| slot.pid).collect()
}

/// Ask every idle worker to exit (their background worker slots are
/// wanted); returns their pids.
pub fn dismiss_idle() -> Vec<i32> {
    if !crate::schedule::registry::preloaded() {
        return Vec::new();
    }
    let dismissed = POOL.exclusive().dismiss_idle();
    for pid in &dismissed {
        wake(*pid);
    }
    dismissed
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: Kind = Kind {
        database: 5,
        extension_owner: 10,
        sync_owner: 100,
        settings: 7,
    };
    const BEN: Kind = Kind {
        sync_owner: 200,
        ..ANN
    };

    fn empty_pool() -> Box<Pool> {
        Box::default()
    }

    #[test]
    fn a_run_goes_only_to_an_idle_worker_of_its_kind_and_is_taken_once() {
        let mut pool = empty_pool();
        assert!(pool.join(1001, 1, 9));
        assert_eq!(pool.hand(ANN, 2, "request", 9), None, "busy, not idle");
        assert!(pool.settle(1001, ANN, true, 8));
        assert_eq!(pool.hand(BEN, 2, "request", 9), None, "another owner's run");
        assert_eq!(pool.hand(ANN, 2, "request", 9), Some(1001));
        assert_eq!(pool.hand(ANN, 3, "other", 9), None, "handed already");
        assert!(pool.holds(1001, 2));
        assert!(matches!(pool.handed_state(1001, 2), HandedState::Waiting));
        assert_eq!(pool.look(1001, false), Look::Run(2, "request".into(), 9));
        assert!(matches!(pool.handed_state(1001, 2), HandedState::Taken));
        assert_eq!(pool.look(1001, false), Look::Wait, "taken once");
        assert!(!pool.take_back(1001, 2), "taken: too late to take back");
        assert_eq!(pool.cancel_target(1001, 2), CancelTarget::Signal);
        assert_eq!(
            pool.cancel_target(1001, 1),
            CancelTarget::Skip,
            "an earlier run"
        );
        assert_eq!(pool.cancel_target(4242, 2), CancelTarget::Outside);
    }

    #[test]
    fn a_run_not_taken_in_time_is_taken_back_and_never_runs_there() {
        let mut pool = empty_pool();
        pool.join(1001, 1, 9);
        pool.settle(1001, ANN, true, 8);
        pool.hand(ANN, 2, "request", 9);
        assert_eq!(
            pool.cancel_target(1001, 2),
            CancelTarget::Skip,
            "not started"
        );
        assert!(pool.take_back(1001, 2));
        assert_eq!(
            pool.look(1001, false),
            Look::Wait,
            "idle again, the run is gone"
        );
        assert!(!pool.holds(1001, 2));
        // A worker that exits with a run handed wakes its waiter; taking
        // back from a worker that is gone is always possible.
        pool.hand(ANN, 3, "request", 9);
        assert_eq!(pool.leave(1001), Some(9));
        assert!(matches!(pool.handed_state(1001, 3), HandedState::Gone));
        assert!(pool.take_back(1001, 3));
    }

    #[test]
    fn idle_workers_are_capped_time_out_and_can_be_dismissed() {
        let mut pool = empty_pool();
        for pid in [1, 2, 3] {
            pool.join(pid, i64::from(pid), 9);
        }
        assert!(pool.settle(1, ANN, true, 2));
        assert!(pool.settle(2, BEN, true, 2));
        assert!(!pool.settle(3, ANN, true, 2), "two idle already");
        assert!(pool.find(3).is_none(), "its slot is free");
        assert!(!pool.settle(9, ANN, false, 2), "may not stay");
        assert_eq!(pool.look(1, true), Look::Leave, "timed out");
        assert!(pool.find(1).is_none());
        assert_eq!(pool.dismiss_idle(), vec![2]);
        assert_eq!(pool.look(2, false), Look::Leave, "dismissed");
        assert_eq!(pool.leave(2), None);
    }

    #[test]
    fn a_busy_worker_that_exits_wakes_its_waiter_and_a_full_pool_takes_no_more() {
        let mut pool = empty_pool();
        pool.join(1, 1, 9);
        pool.settle(1, ANN, true, 8);
        pool.hand(ANN, 2, "request", 77);
        pool.look(1, false);
        assert_eq!(pool.leave(1), Some(77));
        let mut full = empty_pool();
        for pid in 0..MAX_WORKERS as i32 {
            assert!(full.join(pid + 1, 1, 9));
        }
        assert!(!full.join(99_999, 1, 9));
        assert_eq!(full.hand(ANN, 5, &"x".repeat(REQUEST_BYTES + 1), 1), None);
    }
}
