//! Sync logs: what a sync keeps in `sync_changelog` (all, failures or
//! nothing) and for how long. Counts in `sync_runs` are always kept; old
//! changelog rows are removed in small batches, each its own transaction
//! where the caller runs outside one, so purging never holds up a run.

use crate::catalog::{self, changelog, runs};
use crate::config::{ChangelogLevel, Logs};
use crate::error::Result;

/// Changelog rows removed per statement.
pub const PURGE_BATCH: i64 = 10_000;

/// The sync's level, or the server's setting.
pub fn changelog_level(logs: &Logs) -> ChangelogLevel {
    logs.changelog.unwrap_or_else(crate::gucs::changelog)
}

/// The level of a stored sync, read from its configuration (for closing a
/// run without building the sync: recovery, a failed run).
pub fn stored_changelog_level(sync_id: i64) -> Result<ChangelogLevel> {
    let level = catalog::syncs::logged_changelog(sync_id)?
        .and_then(|text| ChangelogLevel::parse("logs.changelog", &text).ok());
    Ok(level.unwrap_or_else(crate::gucs::changelog))
}

/// Seconds changelog rows are kept (None: forever).
pub fn retention_seconds(logs: &Logs) -> Option<i64> {
    match &logs.retention {
        Some((_, seconds)) => Some(*seconds),
        None => crate::gucs::log_retention_seconds(),
    }
}

/// Statements that remove rows one purge may run: after a run (which holds
/// its sync's lock meanwhile) or per scheduler tick; the rest waits for the
/// next. Looking for a sync's expired runs (an index lookup) is not counted:
/// the scheduler looks at every sync each time, and with more syncs than
/// the budget it would otherwise never get past the first ones.
pub const PURGE_BUDGET: u32 = 50;

/// Remove the changelog of the sync's runs that ended more than
/// `older_than_seconds` ago, run by run, `PURGE_BATCH` rows a statement,
/// until `budget` removing statements have run (None: no limit); with `separately`
/// each statement is its own transaction (the caller is outside one).
/// Returns how many rows went, and whether some are left for later.
pub fn purge_sync(
    sync_id: i64,
    older_than_seconds: i64,
    separately: bool,
    budget: &mut Option<u32>,
) -> Result<(u64, bool)> {
    let mut removed = 0;
    let spend = |budget: &mut Option<u32>| match budget {
        Some(0) => false,
        Some(left) => {
            *left -= 1;
            true
        }
        None => true,
    };
    loop {
        let Some(run) = step(separately, || {
            runs::with_expired_changelog(sync_id, older_than_seconds)
        })?
        else {
            return Ok((removed, false));
        };
        loop {
            if !spend(budget) {
                return Ok((removed, true));
            }
            let (batch, left) = step(separately, || changelog::purge_run(run, PURGE_BATCH))?;
            removed += batch;
            if !left {
                break;
            }
        }
        step(separately, || runs::mark_changelog_purged(run))?;
    }
}

/// The scheduler's share: every sync's (and every dropped sync's kept)
/// changelog past its retention, within `PURGE_BUDGET` statements.
/// Returns whether some is left for the next tick.
pub fn purge_expired() -> Result<bool> {
    let mut budget = Some(PURGE_BUDGET);
    for (sync, retention) in step(true, catalog::syncs::retentions)? {
        let seconds = match retention {
            Some(text) => match crate::config::schedule::parse_duration("logs.retention", &text) {
                Ok(seconds) => Some(seconds),
                Err(_) => crate::gucs::log_retention_seconds(),
            },
            None => crate::gucs::log_retention_seconds(),
        };
        let Some(seconds) = seconds else { continue };
        let (_, more) = purge_sync(sync, seconds, true, &mut budget)?;
        if more {
            return Ok(true);
        }
    }
    Ok(false)
}

fn step<T>(separately: bool, body: impl FnOnce() -> Result<T>) -> Result<T> {
    if separately {
        crate::postgres::in_transaction(body)
    } else {
        body()
    }
}
