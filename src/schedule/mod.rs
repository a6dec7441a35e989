//! Schedules: when syncs are due. The launcher worker that acts on them is
//! not built yet (issue 4); pg_cron can call sync_run meanwhile.

pub mod next;
