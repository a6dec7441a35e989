//! The run worker: what the launching session tells it, its entry point
//! and its signals. The run itself is `run::Run`.

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
        Ok(RunRequest {
            database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
            extension_owner: crate::catalog::extension_owner()?.to_u32(),
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

    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {}{}{}{}{} {} {}",
            self.database,
            self.extension_owner,
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
        let sync_id = parts.next()?.parse().ok()?;
        let flags = parts.next()?.as_bytes();
        if flags.len() != 5 {
            return None;
        }
        Some(RunRequest {
            database,
            extension_owner,
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
}

/// The worker's entry point; the argument is the run id.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn reverse_etl_run_worker(argument: pg_sys::Datum) {
    let run_id = argument.value() as i64;
    let Some(request) = RunRequest::decode(BackgroundWorker::get_extra()) else {
        pgrx::warning!("pg_reverse_etl: run {run_id}: malformed worker request");
        return;
    };
    // SIGINT already cancels the running statement (StatementCancelHandler).
    // SIGTERM must end the worker at a safe point, as for any backend: the
    // bgworker default exits inside the signal handler, even mid-commit.
    unsafe {
        pg_sys::pqsignal(libc::SIGTERM, Some(postgres_die));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(request.database)),
        Some(pg_sys::Oid::from(request.extension_owner)),
    );
    let mut run = Run::new(run_id, request);
    if run.request.preview {
        preview::preview(&mut run);
    } else {
        if let Err(error) = run.execute() {
            run.finish_with_error(&error);
        }
        super::alerts::after_run(run_id, run.request.sync_id);
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
