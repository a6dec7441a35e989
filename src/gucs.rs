//! Settings (GUCs) of the extension, registered when the library loads.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
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

/// Directories (and their subdirectories) file destinations may write to.
pub static FILE_ALLOWED_DIRECTORIES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));

/// Scheduled runs going at once, in the whole server.
pub static MAX_PARALLEL_RUNS: GucSetting<i32> = GucSetting::<i32>::new(8);

pub fn register() {
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

pub fn file_allowed_directories() -> String {
    FILE_ALLOWED_DIRECTORIES
        .get()
        .and_then(|value| value.into_string().ok())
        .unwrap_or_default()
}

pub fn max_parallel_runs() -> i32 {
    MAX_PARALLEL_RUNS.get()
}
