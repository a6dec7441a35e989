//! Settings (GUCs) of the extension, registered when the library loads.

use crate::config::ChangelogLevel;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CString;

/// work_mem and maintenance_work_mem of run workers. Kept small by default
/// so that a run's memory does not grow with the model: hashes and sorts over
/// a large result spill to temporary files instead.
pub static RUN_WORK_MEM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"4MB"));

/// Hosts the http destination may reach (comma-separated `host`,
/// `host:port`, `*.suffix`, or `*`). None by default: an admin allows each.
pub static HTTP_ALLOWED_HOSTS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));
pub static POSTGRES_ALLOWED_HOSTS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));

/// Directories (and their subdirectories) file destinations may write to.
pub static FILE_ALLOWED_DIRECTORIES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));

/// How long (ms) a run worker stays, warm, after its run for another run
/// of the same owner; 0: each run starts a worker of its own.
pub static WORKER_IDLE_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(2_000);

/// Scheduled runs going at once, in the whole server.
pub static MAX_PARALLEL_RUNS: GucSetting<i32> = GucSetting::<i32>::new(8);

/// Operations a run holds in memory at once for destinations that send
/// from outside SQL (http, files): the window being delivered plus the
/// next one, whatever `batch_size` and `concurrency` say.
pub static MAX_ROWS_IN_FLIGHT: GucSetting<i32> = GucSetting::<i32>::new(8_000);

/// The same bound in kilobytes of the rows' values.
pub static MAX_KB_IN_FLIGHT: GucSetting<i32> = GucSetting::<i32>::new(32 * 1024);

/// A row whose values are larger (kilobytes) is rejected for that row
/// instead of being loaded.
pub static MAX_ROW_KB: GucSetting<i32> = GucSetting::<i32>::new(16 * 1024);

/// What syncs keep in `sync_changelog` unless their `logs` say otherwise.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChangelogSetting {
    #[name = c"all"]
    All,
    #[name = c"failures"]
    Failures,
    #[name = c"none"]
    None,
}

pub static CHANGELOG: GucSetting<ChangelogSetting> =
    GucSetting::<ChangelogSetting>::new(ChangelogSetting::All);

/// How long (minutes) changelog rows are kept unless a sync's `logs` say
/// otherwise; 0 keeps them.
pub static LOG_RETENTION_MINUTES: GucSetting<i32> = GucSetting::<i32>::new(30 * 24 * 60);

pub fn register() {
    GucRegistry::define_enum_guc(
        c"reverse_etl.changelog",
        c"What syncs keep in sync_changelog: all, failures (rejected, aborted and invalid rows) or none.",
        c"A sync's \"logs\": {\"changelog\": …} overrides it. Counts in sync_runs are always kept.",
        &CHANGELOG,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.log_retention",
        c"How long sync_changelog rows are kept (0: forever).",
        c"A sync's \"logs\": {\"retention\": …} overrides it. Older rows are removed after the sync's runs and by the scheduler; sync_runs rows are kept.",
        &LOG_RETENTION_MINUTES,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MIN,
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.max_rows_in_flight",
        c"Rows a run of an http or file destination holds in memory at once.",
        c"The window being delivered and the next one share it; a request never carries more than half of it, whatever batch_size says. Superuser: postgresql.conf, ALTER SYSTEM, or ALTER DATABASE/ROLE … SET.",
        &MAX_ROWS_IN_FLIGHT,
        2,
        10_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.max_bytes_in_flight",
        c"Size of the row values a run of an http or file destination holds in memory at once.",
        c"The window being delivered and the next one share it. The worker's memory for them is a small multiple of it (JSON text, parsed values, request bodies).",
        &MAX_KB_IN_FLIGHT,
        1024,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.max_row_bytes",
        c"A row whose values are larger is rejected for that row, not loaded (http and file destinations).",
        c"Capped at half of reverse_etl.max_bytes_in_flight.",
        &MAX_ROW_KB,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.max_parallel_runs",
        c"Scheduled sync runs going at once in the whole server.",
        c"Due runs beyond it wait for a run to end. Runs asked for with sync_run start at once.",
        &MAX_PARALLEL_RUNS,
        1,
        1024,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reverse_etl.worker_idle_timeout",
        c"How long a run worker stays after its run, ready for another run of a sync of the same owner (0: one run per worker).",
        c"A warm worker saves a run the start of a process (about 10 ms) and holds a background worker slot and a connection to its database meanwhile. Only with the library in shared_preload_libraries.",
        &WORKER_IDLE_TIMEOUT_MS,
        0,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"reverse_etl.file_allowed_directories",
        c"Directories file destinations may write to (comma-separated; empty: none).",
        c"Checked when a destination is created and when a run starts. Server-wide: postgresql.conf or ALTER SYSTEM, then reload.",
        &FILE_ALLOWED_DIRECTORIES,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"reverse_etl.http_allowed_hosts",
        c"Hosts that http destinations may send to: host, host:port, *.suffix or * (comma-separated; empty: none).",
        c"Checked when a destination is created and before every request. Server-wide: postgresql.conf or ALTER SYSTEM, then reload.",
        &HTTP_ALLOWED_HOSTS,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"reverse_etl.postgres_allowed_hosts",
        c"Servers that postgres destinations with a connection may connect to: host, host:port, *.suffix or * (comma-separated; empty: none).",
        c"Checked when a destination is created and whenever a connection is made. Server-wide: postgresql.conf or ALTER SYSTEM, then reload.",
        &POSTGRES_ALLOWED_HOSTS,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"reverse_etl.run_work_mem",
        c"work_mem and maintenance_work_mem of sync run workers.",
        c"Bounds the memory a run uses for its diff, whatever the size of the model.",
        &RUN_WORK_MEM,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

pub fn run_work_mem() -> String {
    RUN_WORK_MEM
        .get()
        .and_then(|value| value.into_string().ok())
        .unwrap_or_else(|| "4MB".to_string())
}

pub fn http_allowed_hosts() -> String {
    HTTP_ALLOWED_HOSTS
        .get()
        .and_then(|value| value.into_string().ok())
        .unwrap_or_default()
}

pub fn postgres_allowed_hosts() -> String {
    POSTGRES_ALLOWED_HOSTS
        .get()
        .and_then(|value| value.into_string().ok())
        .unwrap_or_default()
}

pub fn file_allowed_directories() -> String {
    FILE_ALLOWED_DIRECTORIES
        .get()
        .and_then(|value| value.into_string().ok())
        .unwrap_or_default()
}

pub fn worker_idle_timeout_ms() -> i32 {
    WORKER_IDLE_TIMEOUT_MS.get()
}

pub fn max_parallel_runs() -> i32 {
    MAX_PARALLEL_RUNS.get()
}

/// The bounds on what a run holds in memory, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub rows: i64,
    pub bytes: i64,
    pub row_bytes: i64,
}

pub fn in_flight() -> InFlight {
    let bytes = MAX_KB_IN_FLIGHT.get() as i64 * 1024;
    InFlight {
        rows: MAX_ROWS_IN_FLIGHT.get() as i64,
        bytes,
        row_bytes: (MAX_ROW_KB.get() as i64 * 1024).min(bytes / 2),
    }
}

pub fn changelog() -> ChangelogLevel {
    match CHANGELOG.get() {
        ChangelogSetting::All => ChangelogLevel::All,
        ChangelogSetting::Failures => ChangelogLevel::Failures,
        ChangelogSetting::None => ChangelogLevel::None,
    }
}

/// None: kept forever.
pub fn log_retention_seconds() -> Option<i64> {
    let minutes = LOG_RETENTION_MINUTES.get() as i64;
    (minutes > 0).then_some(minutes * 60)
}
