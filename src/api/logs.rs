//! Sync logs: removing old changelog rows by hand.

use super::call;
use crate::catalog;
use crate::engine::logs;
use crate::error::Error;
use pgrx::prelude::*;

/// Remove the changelog of runs (of the syncs you may use) that ended
/// more than `older_than` ago; returns how many rows went. Runs' counts
/// stay in sync_runs.
#[pg_extern]
fn purge_logs(older_than: pgrx::datum::Interval) -> i64 {
    call(|caller| {
        let older_than = std::time::Duration::try_from(older_than)
            .map_err(|_| Error::invalid("older_than", "must not be negative"))?;
        let mut removed = 0;
        for sync in catalog::syncs::usable_by(caller.role)? {
            removed += logs::purge_sync(sync, older_than.as_secs() as i64, false, &mut None)?.0;
        }
        Ok(removed as i64)
    })
}
