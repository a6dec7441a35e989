//! `sync_runs`: one row per run, and one named function for each change of
//! its state. The run worker, the launching session, the scheduler and the
//! destinations read and write runs only through these.

use crate::error::{Error, Result, SqlState};
use crate::plan::Op;
use crate::postgres::spi;

/// SQL condition: the run `r` (a `sync_runs` row) has a live worker. A run
/// marked as going without one was interrupted (crash, restart, kill).
/// The activity of that one pid, not the pg_stat_activity view: planning
/// the view (its joins) cost every run ~0.7 ms in a fresh process.
pub const RUN_WORKER_ALIVE: &str = "(r.worker_pid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_get_activity(r.worker_pid) a \
     WHERE a.backend_type = 'pg_reverse_etl run'))";

/// Advisory-lock class for "a run of this sync is going" (with the sync id).
pub const RUN_LOCK_CLASS: i32 = 0x5245_544c; // "RETL"

/// Wait until no other run of the sync is going, then hold its run lock
/// for the rest of this session (the run worker's life).
pub fn lock_sync_runs(sync_id: i64) -> Result<()> {
    spi::execute(
        "SELECT pg_advisory_lock($1, $2::int)",
        &[RUN_LOCK_CLASS.into(), (sync_id as i32).into()],
    )?;
    Ok(())
}

/// Take a sync's run lock for the rest of this transaction, if free.
pub fn try_lock_sync_runs(sync_id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT pg_try_advisory_xact_lock($1, $2::int)",
        &[RUN_LOCK_CLASS.into(), (sync_id as i32).into()],
    )?
    .unwrap_or(false))
}

/// Statuses of a run that has not ended.
pub const GOING: &str = "('queued', 'querying', 'preparing', 'in_progress')";

/// A run's id, reserved before its worker starts.
pub fn next_id() -> Result<i64> {
    spi::one("SELECT nextval('reverse_etl.sync_runs_id_seq')", &[])?
        .ok_or_else(|| Error::new(SqlState::InternalError, "no run id"))
}

/// How a run was asked for, as its row records it.
pub struct NewRun<'a> {
    pub id: i64,
    pub sync_id: i64,
    pub trigger: &'a str,
    pub full_resync: bool,
    /// When the schedule said the run was due (Unix ms).
    pub due_at_ms: Option<i64>,
}

/// The worker records its run as queued (with its own pid) before it waits
/// for the sync's run lock.
pub fn record_queued(run: &NewRun) -> Result<()> {
    spi::execute(
        "INSERT INTO reverse_etl.sync_runs (id, sync_id, status, trigger, full_resync, worker_pid, due_at) \
         VALUES ($1, $2, 'queued', $3, $4, pg_backend_pid(), to_timestamp($5::float8 / 1000))",
        &[
            run.id.into(),
            run.sync_id.into(),
            run.trigger.into(),
            run.full_resync.into(),
            run.due_at_ms.into(),
        ],
    )?;
    Ok(())
}

/// The run holds the sync's lock and starts querying the model.
pub fn mark_querying(run_id: i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET status = 'querying', started_at = clock_timestamp() WHERE id = $1",
        &[run_id.into()],
    )?;
    Ok(())
}

/// The model's result is read (and compared with the snapshot): the plan
/// is made next. `querying_seconds`: how long reading it took.
pub fn mark_preparing(run_id: i64, rows_queried: i64, querying_seconds: f64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET rows_queried = $2, status = 'preparing', \
         phase_seconds = phase_seconds || jsonb_build_object('querying', $3::float8) WHERE id = $1",
        &[run_id.into(), rows_queried.into(), querying_seconds.into()],
    )?;
    Ok(())
}

/// How many rows the model returned, for a run that failed in the
/// transaction that read it (which recorded nothing).
pub fn record_rows_queried(run_id: i64, rows_queried: i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET rows_queried = $2 WHERE id = $1",
        &[run_id.into(), rows_queried.into()],
    )?;
    Ok(())
}

pub fn set_rows_invalid(run_id: i64, rows_invalid: i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET rows_invalid = $2 WHERE id = $1",
        &[run_id.into(), rows_invalid.into()],
    )?;
    Ok(())
}

/// How long a phase took, added to `phase_seconds`.
pub fn record_phase_seconds(run_id: i64, phase: &str, seconds: f64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET phase_seconds = phase_seconds || jsonb_build_object($2::text, $3::float8) WHERE id = $1",
        &[run_id.into(), phase.into(), seconds.into()],
    )?;
    Ok(())
}

/// The plan is made: delivery starts with these operations planned.
pub fn mark_in_progress(run_id: i64, planned: impl Fn(Op) -> i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET planned_added = $2, planned_changed = $3, planned_removed = $4, \
         status = 'in_progress' WHERE id = $1",
        &[
            run_id.into(),
            planned(Op::Added).into(),
            planned(Op::Changed).into(),
            planned(Op::Removed).into(),
        ],
    )?;
    Ok(())
}

/// A delivered window's operations of one kind: how many went, how many
/// the destination rejected, and which positions (`after < pos <= upto`,
/// but for `unattempted`) now have their outcome recorded.
pub struct WindowCounts<'a> {
    pub op: Op,
    pub succeeded: i64,
    pub rejected: i64,
    pub after: i64,
    pub upto: i64,
    pub unattempted: &'a [i64],
}

/// Count a window in the run's totals and mark its positions settled: what
/// is not settled when the run stops is aborted (see `changelog::record_aborted`).
pub fn add_window_counts(run_id: i64, counts: &WindowCounts) -> Result<()> {
    let op = counts.op.as_str();
    spi::execute(
        &format!(
            "UPDATE reverse_etl.sync_runs SET succeeded_{op} = succeeded_{op} + $2, \
             rejected_{op} = rejected_{op} + $3, \
             settled = settled + (pg_catalog.int8multirange(pg_catalog.int8range($4, $5, '(]')) \
                 - coalesce((SELECT pg_catalog.range_agg(pg_catalog.int8range(p, p, '[]')) \
                             FROM pg_catalog.unnest($6::bigint[]) AS p), '{{}}')) \
             WHERE id = $1"
        ),
        &[
            run_id.into(),
            counts.succeeded.into(),
            counts.rejected.into(),
            counts.after.into(),
            counts.upto.into(),
            counts.unattempted.to_vec().into(),
        ],
    )?;
    Ok(())
}

/// An advertising audience's match after the run: the sync's members (its
/// snapshot's rows) and how many of them the platform matched.
pub fn record_audience_match(run_id: i64, snapshot_table: &str, matched: i64) -> Result<()> {
    spi::execute(
        &format!(
            "WITH members AS (SELECT count(*) AS n FROM {snapshot_table}) \
             UPDATE reverse_etl.sync_runs SET audience_members = members.n, audience_matched = $2, \
             match_rate = CASE WHEN members.n > 0 THEN round($2::numeric / members.n, 4) END \
             FROM members WHERE id = $1"
        ),
        &[run_id.into(), matched.into()],
    )?;
    Ok(())
}

/// Whether someone asked (cancel_run) for the run to stop.
pub fn cancel_requested(run_id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT cancel_requested_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
    )?
    .unwrap_or(false))
}

/// Every operation has an outcome: the run ends succeeded, or warning when
/// the destination rejected some or the model had invalid rows (NULL or
/// duplicate keys, which were not sent).
pub fn finish(run_id: i64) -> Result<()> {
    spi::execute(
        &format!(
            "WITH ended AS (UPDATE reverse_etl.sync_runs SET finished_at = clock_timestamp(), \
             status = CASE WHEN rejected_added + rejected_changed + rejected_removed > 0 OR rows_invalid > 0 \
                           THEN 'warning' ELSE 'succeeded' END \
             WHERE id = $1 RETURNING id, sync_id, status) {NOTIFY_ENDED}"
        ),
        &[run_id.into()],
    )?;
    Ok(())
}

/// Appended to a `WITH ended AS (UPDATE … RETURNING id, sync_id, status)`:
/// tell listeners of `reverse_etl_runs` (when the transaction commits).
const NOTIFY_ENDED: &str =
    "SELECT pg_catalog.pg_notify('reverse_etl_runs', pg_catalog.json_build_object( \
     'run_id', e.id, 'sync_id', e.sync_id, 'sync', s.name, 'status', e.status)::text) \
     FROM ended e LEFT JOIN reverse_etl.syncs s ON s.id = e.sync_id";

/// A run that did not get through ends with `status` and `error`;
/// operations not attempted count as aborted, so the counts reconcile.
pub fn end_early(run_id: i64, status: &str, error: &str) -> Result<()> {
    // Only a run still marked as going: one its worker has just closed
    // keeps the outcome the worker recorded.
    spi::execute(
        &format!(
            "WITH ended AS (UPDATE reverse_etl.sync_runs SET status = $2, error = $3, finished_at = clock_timestamp(), \
             aborted_added = planned_added - succeeded_added - rejected_added, \
             aborted_changed = planned_changed - succeeded_changed - rejected_changed, \
             aborted_removed = planned_removed - succeeded_removed - rejected_removed \
             WHERE id = $1 AND status IN {GOING} RETURNING id, sync_id, status) {NOTIFY_ENDED}"
        ),
        &[run_id.into(), status.into(), error.into()],
    )?;
    Ok(())
}

/// A run still marked as going whose worker is gone: its sync, and whether
/// it was queued. Reads the current list of backends, not the one this
/// transaction saw first.
pub fn orphaned(run_id: i64) -> Result<Option<(i64, bool)>> {
    spi::execute("SELECT pg_catalog.pg_stat_clear_snapshot()", &[])?;
    let rows = spi::rows(
        &format!(
            "SELECT r.sync_id, r.status = 'queued' FROM reverse_etl.sync_runs r \
             WHERE r.id = $1 AND r.status IN {GOING} AND NOT {RUN_WORKER_ALIVE}"
        ),
        &[run_id.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )?;
    Ok(rows.into_iter().next())
}

/// Where a run stands, as the session waiting for it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    pub status: String,
    pub error: Option<String>,
    pub rejected: i64,
    pub invalid: i64,
}

impl RunState {
    pub fn ended(&self) -> bool {
        matches!(
            self.status.as_str(),
            "succeeded" | "warning" | "failed" | "incomplete"
        )
    }

    /// Why a run that did not simply succeed deserves a look, in a few words.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(error) = &self.error {
            parts.push(error.clone());
        }
        if self.rejected > 0 {
            parts.push(format!(
                "{} {} rejected by the destination",
                self.rejected,
                if self.rejected == 1 { "row" } else { "rows" }
            ));
        }
        if self.invalid > 0 {
            parts.push(format!(
                "{} invalid {} (NULL or duplicate primary key, not sent)",
                self.invalid,
                if self.invalid == 1 { "row" } else { "rows" }
            ));
        }
        let see = if self.rejected + self.invalid > 0 {
            "; see reverse_etl.sync_changelog"
        } else {
            ""
        };
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}{see}", parts.join("; "))
        }
    }
}

/// A run's state, None if there is no such run (yet).
pub fn status(run_id: i64) -> Result<Option<RunState>> {
    let rows = spi::rows(
        "SELECT status, error, rejected_added + rejected_changed + rejected_removed, rows_invalid \
         FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
        |row| {
            Ok(RunState {
                status: spi::get(row, 1)?,
                error: row.get(2)?,
                rejected: spi::get(row, 3)?,
                invalid: spi::get(row, 4)?,
            })
        },
    )?;
    Ok(rows.into_iter().next())
}

/// Whether a run's operations are planned: it got as far as delivering
/// (`in_progress`, with its `planned_*` counts). A first run's ops table
/// exists from the end of querying, but until then its operations count
/// as nothing, planned or aborted.
pub fn operations_planned(run_id: i64) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT status = 'in_progress' FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
    )?
    .unwrap_or(false))
}

/// What the sync's latest run that planned its operations had to send:
/// (rows added, rows changed, rows the model returned).
pub fn latest_planned(sync_id: i64) -> Result<Option<(i64, i64, i64)>> {
    let rows = spi::rows(
        "SELECT planned_added, planned_changed, rows_queried FROM reverse_etl.sync_runs \
         WHERE sync_id = $1 AND rows_queried IS NOT NULL \
           AND status NOT IN ('queued', 'querying', 'preparing') \
         ORDER BY id DESC LIMIT 1",
        &[sync_id.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?, spi::get(row, 3)?)),
    )?;
    Ok(rows.first().copied())
}

/// The sync's run waiting for the run lock, if there is one (and its worker lives).
pub fn queued_run(sync_id: i64) -> Result<Option<i64>> {
    spi::one(
        &format!(
            "SELECT r.id FROM reverse_etl.sync_runs r WHERE r.sync_id = $1 AND r.status = 'queued' \
               AND {RUN_WORKER_ALIVE} ORDER BY r.id LIMIT 1"
        ),
        &[sync_id.into()],
    )
}

/// What asking a run to stop found.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelRequest {
    NoSuchRun,
    /// The run had already ended.
    Ended,
    /// The run was going; its worker's pid, if it has one.
    Going(Option<i32>),
    /// The run is marked as going but its worker is gone (killed, restart).
    WorkerGone {
        sync_id: i64,
        queued: bool,
    },
}

/// Mark a going run as asked to stop (cancel_run).
pub fn request_cancel(run_id: i64) -> Result<CancelRequest> {
    let going = spi::rows(
        &format!(
            "UPDATE reverse_etl.sync_runs r SET cancel_requested_at = coalesce(cancel_requested_at, now()) \
             WHERE id = $1 AND status IN {GOING} \
             RETURNING r.worker_pid, {RUN_WORKER_ALIVE}, r.sync_id, r.status = 'queued'"
        ),
        &[run_id.into()],
        |row| {
            let pid = row.get::<i32>(1)?;
            Ok(if spi::get::<bool>(row, 2)? {
                CancelRequest::Going(pid)
            } else {
                CancelRequest::WorkerGone {
                    sync_id: spi::get(row, 3)?,
                    queued: spi::get(row, 4)?,
                }
            })
        },
    )?;
    if let Some(request) = going.into_iter().next() {
        return Ok(request);
    }
    let exists: Option<bool> = spi::one(
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.sync_runs WHERE id = $1)",
        &[run_id.into()],
    )?;
    Ok(if exists == Some(true) {
        CancelRequest::Ended
    } else {
        CancelRequest::NoSuchRun
    })
}

/// Runs of this sync marked as going whose worker is gone.
pub fn interrupted(sync_id: i64) -> Result<Vec<i64>> {
    spi::rows(
        &format!(
            "SELECT r.id FROM reverse_etl.sync_runs r \
             WHERE r.sync_id = $1 AND r.status IN {GOING} AND NOT {RUN_WORKER_ALIVE}"
        ),
        &[sync_id.into()],
        |row| spi::get(row, 1),
    )
}

/// How many runs are delivering to the destination of this sync now
/// (the destination's rate limit is shared among them).
pub fn delivering_to_same_destination(sync_id: i64) -> Result<i64> {
    Ok(spi::one::<i64>(
        "SELECT count(*) FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id \
         WHERE s.destination_id = (SELECT destination_id FROM reverse_etl.syncs WHERE id = $1) \
           AND r.status = 'in_progress'",
        &[sync_id.into()],
    )?
    .unwrap_or(1))
}

/// A finished run's outcome, as a sequence step judges it.
pub struct Outcome {
    pub status: String,
    pub error: String,
    pub planned: i64,
    pub rejected: i64,
}

pub fn outcome(run_id: i64) -> Result<Option<Outcome>> {
    let rows = spi::rows(
        "SELECT status, coalesce(error, ''), planned_added + planned_changed + planned_removed, \
                rejected_added + rejected_changed + rejected_removed \
         FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
        |row| {
            Ok(Outcome {
                status: spi::get(row, 1)?,
                error: spi::get(row, 2)?,
                planned: spi::get(row, 3)?,
                rejected: spi::get(row, 4)?,
            })
        },
    )?;
    Ok(rows.into_iter().next())
}

/// The sync a run belongs to.
pub fn sync_of(run_id: i64) -> Result<Option<i64>> {
    spi::one(
        "SELECT sync_id FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
    )
}

/// The runs of a sync marked as going: (run id, worker pid) for those whose
/// worker is alive; runs whose worker is gone are closed by `close_run`.
pub fn going(sync_id: i64) -> Result<Vec<(i64, Option<i32>)>> {
    spi::rows(
        &format!(
            "SELECT r.id, r.worker_pid FROM reverse_etl.sync_runs r \
             WHERE r.sync_id = $1 AND r.status IN {GOING} AND {RUN_WORKER_ALIVE} ORDER BY r.id"
        ),
        &[sync_id.into()],
        |row| Ok((spi::get(row, 1)?, row.get::<i32>(2)?)),
    )
}

/// A run of the sync that ended more than `older_than_seconds` ago and
/// whose changelog has not been removed yet (the oldest first).
pub fn with_expired_changelog(sync_id: i64, older_than_seconds: i64) -> Result<Option<i64>> {
    spi::one(
        "SELECT id FROM reverse_etl.sync_runs \
         WHERE sync_id = $1 AND changelog_purged_at IS NULL \
           AND finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $2) \
         ORDER BY id LIMIT 1",
        &[sync_id.into(), (older_than_seconds as f64).into()],
    )
}

pub fn mark_changelog_purged(run_id: i64) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET changelog_purged_at = clock_timestamp() WHERE id = $1",
        &[run_id.into()],
    )?;
    Ok(())
}
