//! The run worker: what the launching session tells it, its entry point
//! and its signals. The run itself is `run::Run`.

use super::pool;
use super::preview;
use super::run::Run;
use crate::error::Result;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;

/// What the launching session tells the worker (through bgw_extra).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub database: u32,
    /// The worker connects as this role, the extension's owner: it does
    /// the catalog's bookkeeping, and nothing of a user's runs as it.
    pub extension_owner: u32,
    /// The sync's owner when the run was asked for: the only role whose
    /// code the run may execute (a warm worker serves one owner).
    pub sync_owner: u32,
    /// The database and role settings the worker connects with (see
    /// `pool::Kind`).
    pub settings: i64,
    pub sync_id: i64,
    pub full_resync: bool,
    /// Take the model's current result as the snapshot and send nothing.
    pub reset_cdc: bool,
    /// Let this run remove more than the sync's max_removed_share.
    pub allow_mass_removal: bool,
    /// Empty the destination's list before a full resync (clear and fill).
    pub clear_first: bool,
    /// Only work out what a run would do (sync_plan): nothing is sent or
    /// recorded; the result goes to reverse_etl._plan_previews.
    pub preview: bool,
    /// When the schedule said the run was due (Unix ms).
    pub due_at_ms: Option<i64>,
    pub trigger: String,
}

impl RunRequest {
    /// A plain run of `sync_id` in this database (every option off).
    pub fn new(sync_id: i64, trigger: &str) -> Result<RunRequest> {
        let database = unsafe { pg_sys::MyDatabaseId };
        let context = crate::catalog::run_context(sync_id, database)?;
        Ok(RunRequest {
            database: database.to_u32(),
            extension_owner: context.extension_owner.to_u32(),
            sync_owner: context.sync_owner.to_u32(),
            settings: context.settings,
            sync_id,
            full_resync: false,
            reset_cdc: false,
            allow_mass_removal: false,
            clear_first: false,
            preview: false,
            due_at_ms: None,
            trigger: trigger.to_string(),
        })
    }

    /// What a warm worker must be to take this run.
    pub fn worker_kind(&self) -> pool::Kind {
        pool::Kind {
            database: self.database,
            extension_owner: self.extension_owner,
            sync_owner: self.sync_owner,
            settings: self.settings,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {}{}{}{}{} {} {}",
            self.database,
            self.extension_owner,
            self.sync_owner,
            self.settings,
            self.sync_id,
            u8::from(self.full_resync),
            u8::from(self.reset_cdc),
            u8::from(self.allow_mass_removal),
            u8::from(self.clear_first),
            u8::from(self.preview),
            self.due_at_ms.map_or("-".to_string(), |ms| ms.to_string()),
            self.trigger
        )
    }

    pub fn decode(text: &str) -> Option<RunRequest> {
        let mut parts = text.split(' ');
        let database = parts.next()?.parse().ok()?;
        let extension_owner = parts.next()?.parse().ok()?;
        let sync_owner = parts.next()?.parse().ok()?;
        let settings = parts.next()?.parse().ok()?;
        let sync_id = parts.next()?.parse().ok()?;
        let flags = parts.next()?.as_bytes();
        if flags.len() != 5 {
            return None;
        }
        Some(RunRequest {
            database,
            extension_owner,
            sync_owner,
            settings,
            sync_id,
            full_resync: flags[0] == b'1',
            reset_cdc: flags[1] == b'1',
            allow_mass_removal: flags[2] == b'1',
            clear_first: flags[3] == b'1',
            preview: flags[4] == b'1',
            due_at_ms: match parts.next()? {
                "-" => None,
                ms => Some(ms.parse().ok()?),
            },
            trigger: parts.next()?.to_string(),
        })
    }
}

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (postgres.c).
    #[link_name = "die"]
    fn postgres_die(signal: std::ffi::c_int);
    /// Sets ConfigReloadPending and the latch (interrupt.c).
    #[link_name = "SignalHandlerForConfigReload"]
    fn config_reload_handler(signal: std::ffi::c_int);
}

/// The worker's entry point; the argument is the run id. After its run the
/// worker may stay, warm, for more runs of the same kind (see `pool`).
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_run_worker(argument: pg_sys::Datum) {
    let mut run_id = argument.value() as i64;
    let Some(mut request) = RunRequest::decode(BackgroundWorker::get_extra()) else {
        pgrx::warning!("pg_reverse_etl: run {run_id}: malformed worker request");
        return;
    };
    // SIGINT already cancels the running statement (StatementCancelHandler).
    // SIGTERM must end the worker at a safe point, as for any backend: the
    // bgworker default exits inside the signal handler, even mid-commit.
    // SIGHUP: a warm worker reads the configuration again between runs.
    unsafe {
        pg_sys::pqsignal(libc::SIGTERM, Some(postgres_die));
        pg_sys::pqsignal(libc::SIGHUP, Some(config_reload_handler));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(request.database)),
        Some(pg_sys::Oid::from(request.extension_owner)),
    );
    if request.preview {
        preview::preview(&mut Run::new(run_id, request));
        return;
    }
    // The session that started this worker; later, whoever handed a run.
    // SAFETY: set for every background worker before its entry point runs.
    let mut waiter = unsafe { (*pg_sys::MyBgworkerEntry).bgw_notify_pid };
    // The settings this worker connected with, read by itself: a change
    // since the run was asked for means it serves runs of the new ones.
    let connected_with = crate::postgres::in_transaction(|| {
        crate::catalog::run_context(request.sync_id, pg_sys::Oid::from(request.database))
    })
    .map(|context| context.settings)
    .ok();
    if connected_with.is_some() {
        pool::join(run_id, waiter);
    }
    let mut runs_done = 0;
    loop {
        let kind = pool::Kind {
            settings: connected_with.unwrap_or(request.settings),
            ..request.worker_kind()
        };
        let sync_id = request.sync_id;
        let mut run = Run::new(run_id, request);
        let recorded = match run.execute() {
            Ok(()) => true,
            Err(error) => run.finish_with_error(&error),
        };
        pool::end_run();
        super::alerts::after_run(run_id, sync_id);
        runs_done += 1;
        // A run whose end could not be recorded is closed as interrupted
        // once its worker is gone: this one must not stay.
        if !recorded {
            return;
        }
        let Some(handed) = pool::rest(kind, waiter, runs_done) else {
            return;
        };
        let Some(next) =
            RunRequest::decode(&handed.request).filter(|next| next.worker_kind() == kind)
        else {
            pgrx::warning!(
                "pg_reverse_etl: run {}: malformed worker request",
                handed.run_id
            );
            return;
        };
        run_id = handed.run_id;
        request = next;
        waiter = handed.waiter;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let request = RunRequest {
            database: 16384,
            extension_owner: 10,
            sync_owner: 16390,
            settings: -4_611_686_018_427_387_904,
            sync_id: 42,
            full_resync: true,
            reset_cdc: false,
            allow_mass_removal: true,
            clear_first: false,
            preview: false,
            due_at_ms: None,
            trigger: "manual".into(),
        };
        assert_eq!(RunRequest::decode(&request.encode()), Some(request.clone()));
        let scheduled = RunRequest {
            due_at_ms: Some(1_790_000_000_000),
            trigger: "schedule".into(),
            ..request
        };
        assert_eq!(RunRequest::decode(&scheduled.encode()), Some(scheduled));
        assert_eq!(RunRequest::decode("garbage"), None);
    }
}
