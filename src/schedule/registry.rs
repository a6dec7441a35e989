//! What the launcher, the per-database schedulers and the sessions that
//! change schedules share: one slot per database in shared memory. It exists
//! only when the library is in shared_preload_libraries; without it every
//! function here does nothing.
//!
//! Wake-ups go by SIGUSR1, which sets the receiving process's latch, and
//! the `changed` flag says why: a scheduler clears it before reading the
//! catalog and, before it exits, checks under the lock that it is still
//! clear, so a change committed at any moment is never missed.

use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};
use std::sync::atomic::{AtomicBool, Ordering};

/// Databases served at once; more are ignored with a warning.
pub const MAX_DATABASES: usize = 256;

/// Nothing scheduled in this database.
pub const NEVER: i64 = i64::MAX;

#[derive(Copy, Clone, Debug)]
pub struct DatabaseSlot {
    /// Database oid; 0 marks a free slot.
    pub database: u32,
    /// The database's scheduler while it runs, else 0.
    pub scheduler_pid: i32,
    /// The launcher has asked for a scheduler that has not yet registered.
    pub starting: bool,
    /// Schedules changed since the scheduler last read them.
    pub changed: bool,
    /// When the scheduler must look again (Unix ms); NEVER when nothing is
    /// scheduled; 0 when the database has not been looked at yet.
    pub next_due_ms: i64,
}

impl DatabaseSlot {
    const FREE: DatabaseSlot = DatabaseSlot {
        database: 0,
        scheduler_pid: 0,
        starting: false,
        changed: false,
        next_due_ms: 0,
    };
}

#[derive(Copy, Clone, Debug)]
pub struct Registry {
    pub launcher_pid: i32,
    pub slots: [DatabaseSlot; MAX_DATABASES],
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            launcher_pid: 0,
            slots: [DatabaseSlot::FREE; MAX_DATABASES],
        }
    }
}

impl Registry {
    pub fn slot(&mut self, database: u32) -> Option<&mut DatabaseSlot> {
        self.slots.iter_mut().find(|s| s.database == database)
    }

    /// The database's slot, taken if it has none; None when all are in use.
    pub fn slot_or_new(&mut self, database: u32) -> Option<&mut DatabaseSlot> {
        let index = match self.slots.iter().position(|s| s.database == database) {
            Some(index) => index,
            None => {
                let free = self.slots.iter().position(|s| s.database == 0)?;
                self.slots[free] = DatabaseSlot {
                    database,
                    ..DatabaseSlot::FREE
                };
                free
            }
        };
        Some(&mut self.slots[index])
    }

    pub fn release(&mut self, database: u32) {
        if let Some(slot) = self.slot(database) {
            *slot = DatabaseSlot::FREE;
        }
    }
}

// SAFETY: plain Copy data without pointers.
unsafe impl PGRXSharedMemory for Registry {}

pub static REGISTRY: PgLwLock<Registry> = unsafe { PgLwLock::new(c"pg_reverse_etl_registry") };

/// Set in the postmaster when the library is preloaded; inherited by every
/// process it forks.
static PRELOADED: AtomicBool = AtomicBool::new(false);

pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Called from _PG_init while shared_preload_libraries are loaded.
// pg_shmem_init! tests for feature pg13, which this crate does not have.
#[allow(unexpected_cfgs)]
pub fn init() {
    pg_shmem_init!(REGISTRY);
    PRELOADED.store(true, Ordering::Relaxed);
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Set the latch of another PostgreSQL process (0: nobody).
pub fn signal(pid: i32) {
    if pid > 0 {
        // SAFETY: SIGUSR1 only sets the latch of a PostgreSQL process.
        unsafe { libc::kill(pid, libc::SIGUSR1) };
    }
}

/// Tell this database's scheduler (or the launcher, which starts one) that
/// schedules changed.
pub fn wake_scheduler(database: u32) {
    if !preloaded() {
        return;
    }
    let mut registry = REGISTRY.exclusive();
    let launcher = registry.launcher_pid;
    // The database's scheduler reads the change; without one, the launcher
    // starts one.
    let wake = registry.slot_or_new(database).map(|slot| {
        slot.changed = true;
        if slot.scheduler_pid != 0 {
            slot.scheduler_pid
        } else {
            launcher
        }
    });
    drop(registry);
    match wake {
        Some(pid) => signal(pid),
        None => pgrx::warning!(
            "pg_reverse_etl: more than {MAX_DATABASES} databases with schedules; database {database} is not served"
        ),
    }
}

static WAKE_AT_COMMIT: AtomicBool = AtomicBool::new(false);

/// Wake this database's scheduler once the current transaction commits
/// (before that it would read the old schedules). Once per transaction.
pub fn wake_scheduler_at_commit() {
    if !preloaded() || WAKE_AT_COMMIT.swap(true, Ordering::Relaxed) {
        return;
    }
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        WAKE_AT_COMMIT.store(false, Ordering::Relaxed);
        wake_scheduler(database);
    });
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, || {
        WAKE_AT_COMMIT.store(false, Ordering::Relaxed);
    });
}
