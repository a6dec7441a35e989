//! One run of a sync, executed in its own background worker so that it can
//! commit batch by batch and outlive the session that asked for it.
//!
//! Phases, committed one after the other so that progress is visible live:
//! queued → querying (materialise the model, and diff it in the same
//! transaction) → preparing (check and log what the diff found) →
//! in_progress (one transaction per batch) → succeeded | warning | failed |
//! incomplete.

use super::decisions::{self, DiffCounts, OpRange, Removal, RemovalGuard, Window, WindowCursor};
use super::recovery::close_interrupted_runs;
use super::validate::{self, SyncDefinition};
use super::worker::RunRequest;
use crate::catalog::{self, changelog, failures, runs, state::WorkOf};
use crate::config::{ChangelogLevel, DeleteBehavior, ReadModel, SyncMode, SyncType};
use crate::destinations::{rows, Batch, Destination, Rejection};
use crate::error::{Error, Result, SqlState};
use crate::plan::{Diff, Op, RunPlan};
use crate::postgres::{
    in_subtransaction_even_if_cancelled, in_transaction, spi, with_settings, Identity,
};
use std::cell::Cell;
use std::collections::HashMap;
use std::time::Instant;

/// A copy of the model this large is emptied once the ops table is built.
const RELEASE_WORK_TABLE_BYTES: i64 = 64 * 1024 * 1024;

/// A run's operations are read by position with a scan, not an index, up
/// to this many (and within one window).
const SCANNED_OPERATIONS: i64 = 1000;

pub struct Run {
    pub id: i64,
    pub request: RunRequest,
    /// When the run got its sync's lock (its time limit counts from here).
    started: Instant,
    /// How many rows the model returned, once read: a run that fails later
    /// in the transaction that read it still records the count.
    rows_queried: Cell<Option<i64>>,
}

/// When the sync's time limit runs out, and the limit as written.
pub struct Deadline {
    at: Instant,
    limit: String,
}

impl Deadline {
    /// What ends a run that reached its limit: an interruption (57014), so
    /// the run ends incomplete and the next one resumes.
    fn stop(&self) -> Error {
        Error::new(
            SqlState::Other(*b"57014"),
            format!("time limit of {} reached", self.limit),
        )
    }
}

/// The model of a run, materialised: everything the later phases work on.
pub struct Materialized {
    pub model_name: String,
    /// The model was read straight into the ops table (a first run; see
    /// `Run::reads_model_into_ops`): it has no copy, and nothing to diff.
    pub model_in_ops: bool,
    /// The model's keys and hashes were diffed as they were read, without
    /// a copy (see `Run::reads_keys_first`): the changed rows' fields are
    /// read after the diff.
    pub keys_first: bool,
    /// How the snapshot's hashes compare with this server's.
    pub hashing: decisions::HashingState,
    pub plan: RunPlan,
    pub destination: Box<dyn Destination>,
    pub batch_size: i64,
    pub mode: SyncMode,
    /// Whether rows leaving the model are operations (events: never).
    pub acts_on_removals: bool,
    pub rows_queried: i64,
    pub guard: RemovalGuard,
    pub deadline: Option<Deadline>,
    /// The sync's owner, on the model's search_path: what touches the
    /// owner's objects or values of its types runs as it.
    pub owner: Identity,
    /// What the run keeps in the changelog.
    pub changelog: ChangelogLevel,
    /// How long the sync's changelog is kept (None: forever).
    pub retention_seconds: Option<i64>,
    /// Whether the sync has failing rows (`sync_failures`) a delivered
    /// row may have to leave.
    pub has_failures: bool,
    /// Where each op's positions lie in the ops table (read once, when
    /// the diff is done).
    pub ranges: HashMap<Op, OpRange>,
}

impl Materialized {
    /// What reads the model again, as the run's first read did.
    fn model_reader(&self) -> ModelReader<'_> {
        ModelReader {
            plan: &self.plan,
            owner: &self.owner,
            name: &self.model_name,
            deadline: self.deadline.as_ref(),
        }
    }
}

/// Run `body` and say how long it took, in seconds to the millisecond (what
/// `sync_runs.phase_seconds` shows).
fn timed<T>(body: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let value = body()?;
    Ok((value, to_the_millisecond(start.elapsed().as_secs_f64())))
}

fn to_the_millisecond(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

impl Run {
    pub fn new(id: i64, request: RunRequest) -> Run {
        Run {
            id,
            request,
            started: Instant::now(),
            rows_queried: Cell::new(None),
        }
    }

    fn work_of(&self) -> WorkOf {
        if self.request.preview {
            WorkOf::Preview
        } else {
            WorkOf::Run
        }
    }

    pub fn execute(&mut self) -> Result<()> {
        let run_id = self.id;
        let sync_id = self.request.sync_id;
        in_transaction(|| {
            configure_worker_session()?;
            runs::record_queued(&runs::NewRun {
                id: run_id,
                sync_id,
                trigger: &self.request.trigger,
                full_resync: self.request.full_resync,
                due_at_ms: self.request.due_at_ms,
            })
        })?;
        // Never two runs of one sync at once: wait here, queued, for the other.
        in_transaction(|| {
            runs::lock_sync_runs(sync_id)?;
            self.started = Instant::now();
            runs::mark_querying(run_id)
        })?;
        in_transaction(|| close_interrupted_runs(sync_id))?;
        // The model is read and compared with the snapshot in one
        // transaction: the diff reads the model's copy as this
        // transaction's own rows. Read after a commit, each row of the copy
        // would first be marked as committed (its hint bits), which writes
        // the whole copy out once more (60–130 ms per million rows). So the
        // status says `querying` until the diff is done; `phase_seconds`
        // still tells the two apart.
        let (mut run, compared) = in_transaction(|| {
            let (mut run, querying) = timed(|| self.query_model())?;
            self.rows_queried.set(Some(run.rows_queried));
            if self.request.reset_cdc {
                runs::mark_preparing(run_id, run.rows_queried, querying)?;
                super::reset_cdc::reset_snapshot(self, &run)?;
                return Ok((run, None));
            }
            let compared = timed(|| self.compare(&mut run))?;
            self.rows_queried.set(Some(run.rows_queried));
            runs::mark_preparing(run_id, run.rows_queried, querying)?;
            Ok((run, Some(compared)))
        })?;
        let Some((compared, comparing)) = compared else {
            return in_transaction(|| self.finish());
        };
        in_transaction(|| {
            let ((), rest) = timed(|| self.prepare(&mut run, compared))?;
            runs::record_phase_seconds(run_id, "preparing", to_the_millisecond(comparing + rest))
        })?;
        let ((), delivering) = timed(|| self.deliver_all(&mut run))?;
        in_transaction(|| {
            runs::record_phase_seconds(run_id, "delivering", delivering)?;
            self.finish()
        })?;
        // Retention, once the run is recorded: never the run's failure.
        if let Some(retention) = run.retention_seconds {
            let mut budget = Some(super::logs::PURGE_BUDGET);
            if let Err(error) = super::logs::purge_sync(sync_id, retention, true, &mut budget) {
                pgrx::warning!(
                    "pg_reverse_etl: sync {sync_id}: old changelog rows not removed: {error}"
                );
            }
        }
        Ok(())
    }

    /// Querying: materialise the model once, as the sync's owner.
    pub fn query_model(&self) -> Result<Materialized> {
        let sync = catalog::load_sync(self.request.sync_id)?;
        // The worker may be a warm one that has run this owner's code only.
        if sync.owner.to_u32() != self.request.sync_owner {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "sync \"{}\": its owner changed after the run was asked for; run it again",
                    sync.name
                ),
            ));
        }
        let valid = validate::sync_config(&SyncDefinition::stored(&sync))
            .map_err(|e| e.context(format!("sync \"{}\"", sync.name)))?;
        let plan = valid.plan(
            catalog::state::work_table(self.work_of(), self.id),
            catalog::state::ops_table(self.work_of(), self.id),
        );
        let deadline = valid
            .config
            .time_limit
            .as_ref()
            .map(|(text, seconds)| Deadline {
                at: self.started + std::time::Duration::from_secs(*seconds as u64),
                limit: text.clone(),
            });
        // The model runs as the sync's owner, on the model's search_path,
        // into a work table the extension owns and the owner may fill.
        let owner = Identity {
            role: sync.owner,
            search_path: valid.model.search_path.clone(),
        };
        // A model read once per run goes into a copy: reading it into the
        // ops table reads it again when keys repeat, and reading its keys
        // first reads it again when rows changed.
        let read_once = valid.config.read_model == ReadModel::Once;
        let hashing = decisions::HashingState {
            stored: catalog::state::stored_hashing(sync.id)?,
            current: catalog::state::current_hashing()?,
        };
        let model_in_ops = !read_once && self.reads_model_into_ops(valid.config.mode, &plan)?;
        let keys_first = !read_once
            && !model_in_ops
            && self.reads_keys_first(valid.config.mode, &plan, hashing.decision())?;
        let model = ModelReader {
            plan: &plan,
            owner: &owner,
            name: &valid.model.name,
            deadline: deadline.as_ref(),
        };
        let acts_on_removals = valid.config.sync_type != SyncType::Event;
        let rows_queried = if model_in_ops {
            model.fill_ops_table()?
        } else if keys_first {
            model.diff_keys_as_read(&Diff::new(valid.config.mode, acts_on_removals))?
        } else {
            model.fill_work_table()?
        };
        let mut destination = valid.target;
        destination.start_run(self.id, sync.id)?;
        if let Some(deadline) = &deadline {
            destination.set_deadline(deadline.at, deadline.stop());
        }
        Ok(Materialized {
            model_name: valid.model.name.clone(),
            model_in_ops,
            keys_first,
            hashing,
            plan,
            destination,
            batch_size: valid.config.batch_size,
            mode: valid.config.mode,
            acts_on_removals,
            rows_queried,
            guard: RemovalGuard {
                max_removed_share: valid.config.max_removed_share,
                allow_empty_model: valid.config.allow_empty_model,
                removes_records: valid.config.delete_behavior != DeleteBehavior::Nothing,
            },
            deadline,
            owner,
            changelog: super::logs::changelog_level(&valid.config.logs),
            retention_seconds: super::logs::retention_seconds(&valid.config.logs),
            has_failures: true,
            ranges: HashMap::new(),
        })
    }

    /// Whether the model goes straight into the ops table: against an
    /// empty snapshot (a first run, a full resync) every keyed row is
    /// added, so there is nothing to diff and a copy of the model would
    /// only be copied again. Not for a preview or a CDC reset, which read
    /// that copy, nor in mirror mode (`all`), which compares the
    /// destination's records with it.
    fn reads_model_into_ops(&self, mode: SyncMode, plan: &RunPlan) -> Result<bool> {
        if self.request.preview || self.request.reset_cdc || mode == SyncMode::All {
            return Ok(false);
        }
        Ok(self.request.full_resync || catalog::state::snapshot_is_empty(&plan.snapshot_table)?)
    }

    /// Whether a rerun diffs its model's keys and hashes against the
    /// snapshot as it reads them, and reads the fields of the rows that
    /// changed afterwards (see `compare_keys_first`) instead of copying
    /// every row's fields: when changes are tracked against a snapshot of
    /// more than a few thousand rows (below that the extra statements cost
    /// more than the copy), outside mirror mode (which compares the
    /// destination's records with the copy), and when the key's values can
    /// be compared for equality, unless the sync's latest run sent more
    /// than a tenth of its rows. Not for a preview or a CDC reset, which
    /// read the copy, nor when the snapshot's hashes must first be made
    /// comparable with this server's (`compare_hashing` reads the copy).
    fn reads_keys_first(
        &self,
        mode: SyncMode,
        plan: &RunPlan,
        hashing: decisions::Hashing,
    ) -> Result<bool> {
        if self.request.preview
            || self.request.reset_cdc
            || self.request.clear_first
            || !mode.uses_cdc()
            || mode == SyncMode::All
            || !plan.can_read_keys_first()
        {
            return Ok(false);
        }
        Ok(hashing != decisions::Hashing::Rebaseline
            && !catalog::state::snapshot_within(&plan.snapshot_table, SMALL_SNAPSHOT_BYTES)?
            && decisions::reads_keys_first_after(runs::latest_planned(self.request.sync_id)?))
    }

    /// The diff of a model read keys first, and the fields of the rows it
    /// finds added or changed, read from the model again by their keys;
    /// None when the run must copy the model as any other run does: rows
    /// with a NULL or repeated key (their log needs their fields, and the
    /// exact pass over the copy), more than a tenth of the rows to send
    /// (reading them by key would cost more than the copy), or a second
    /// read that does not give each of those rows exactly once (the model
    /// changed in between, or is not deterministic).
    fn compare_keys_first(&self, run: &mut Materialized) -> Result<Option<Compared>> {
        let plan = &run.plan;
        spi::execute(&plan.create_keyed_diff_table(), &[])?;
        catalog::state::drop_tables(&plan.unnumbered_keyed_diff_table())?;
        let counts = read_counts(&plan.duplicate_check_of(&plan.keyed_diff_table()))?;
        let to_send = keyed_diff_rows_to_send(plan)?;
        let usable = counts.null_keys == 0
            && !counts.has_duplicates(run.rows_queried)
            && decisions::worth_reading_by_key(to_send, run.rows_queried);
        if usable {
            if to_send == 0 {
                spi::execute(&plan.create_changed_values_table(), &[])?;
            } else {
                run.model_reader().fill_changed_values()?;
                spi::execute(&plan.index_changed_values(), &[])?;
            }
            let (values, found_once) = spi::rows(&plan.count_changed_values(), &[], |row| {
                Ok((spi::get::<i64>(row, 1)?, spi::get::<i64>(row, 2)?))
            })?
            .first()
            .copied()
            .unwrap_or((-1, -1));
            if values == to_send && found_once == to_send {
                spi::execute(&plan.create_ops_table_from_changed_values(), &[])?;
                catalog::state::drop_tables(&format!(
                    "{}, {}",
                    plan.keyed_diff_table(),
                    plan.changed_values_table()
                ))?;
                return Ok(Some(Compared {
                    mirror: false,
                    counts,
                }));
            }
        }
        let mut tables = vec![plan.keyed_diff_table()];
        if usable {
            tables.push(plan.changed_values_table());
        }
        catalog::state::drop_tables(&tables.join(", "))?;
        run.keys_first = false;
        Ok(None)
    }

    /// The counts of a first run whose model went into its ops table (no
    /// diff: mirror removals never apply). When they do not add up, the
    /// operations cannot be used as the model wrote them: keys shared by
    /// several rows (which rows, only grouping the whole result says) or
    /// rows the model's own code put in the table. The model is then read
    /// again, into a copy, and diffed as any run's.
    fn first_run_counts(&self, run: &mut Materialized) -> Result<Compared> {
        let counts = read_diff_counts(&run.plan)?;
        if !counts.has_duplicates(run.rows_queried) {
            return Ok(Compared {
                mirror: false,
                counts,
            });
        }
        catalog::state::drop_tables(&run.plan.ops_table)?;
        run.rows_queried = run.model_reader().fill_work_table()?;
        run.model_in_ops = false;
        diff(run)
    }

    /// Whether this run may remove anything (the guard is waived).
    pub fn removal_waived(&self) -> bool {
        self.request.allow_mass_removal || self.request.full_resync
    }

    /// Comparing, in the transaction that read the model: one set-based
    /// diff against the snapshot writes the ops table (a first run's
    /// model is in it already: its rows are only counted).
    fn compare(&self, run: &mut Materialized) -> Result<Compared> {
        if self.request.full_resync {
            // Every current row is sent as added; rows gone from the model are
            // forgotten, not removed (a full resync does not delete).
            spi::execute(&format!("TRUNCATE {}", run.plan.snapshot_table), &[])?;
        }
        if self.request.clear_first {
            run.destination.clear()?;
        }
        compare_hashing(self.request.sync_id, run)?;
        if run.model_in_ops {
            return self.first_run_counts(run);
        }
        if run.keys_first {
            if let Some(compared) = self.compare_keys_first(run)? {
                return Ok(compared);
            }
            run.rows_queried = run.model_reader().fill_work_table()?;
        }
        if finds_nothing_to_do(run)? {
            run.plan.ops_table = catalog::state::temporary_ops_table(self.work_of(), self.id);
        }
        diff(run)
    }

    /// Preparing: what the diff found is checked and its invalid rows
    /// logged; the ops table gets its key and the owner may read it.
    fn prepare(&self, run: &mut Materialized, compared: Compared) -> Result<()> {
        let sync_id = self.request.sync_id;
        let Compared { mirror, counts } = compared;
        let plan = &run.plan;
        let mut duplicates = 0;
        if counts.has_duplicates(run.rows_queried) {
            create_invalid_table(run)?;
            duplicates = changelog::collect_duplicate_keys(plan, &run.owner)? as i64;
            catalog::state::drop_tables(&plan.ops_table)?;
            spi::execute(
                &plan.create_ops_table(&Diff {
                    excluded_row_ids: Some(&changelog::invalid_row_ids(plan)),
                    mirror,
                    snapshot_empty: counts.snapshot_rows == 0,
                    ..Diff::new(run.mode, run.acts_on_removals)
                }),
                &[],
            )?;
        }
        // The owner reads the operations from here on (the rows to log or
        // send, as JSON or into its table): granted in the transaction that
        // gives the table its key, so no session of the owner's holds a
        // lock on it before then.
        let_owner_read_ops(run)?;
        if run.guard.removes_records {
            let all_removed: i64 = spi::one(
                &format!(
                    "SELECT count(*) FROM {} WHERE op = 'removed'",
                    plan.ops_table
                ),
                &[],
            )?
            .unwrap_or(0);
            run.guard.check(
                Removal {
                    removed: all_removed,
                    snapshot_rows: counts.snapshot_rows,
                    rows_queried: run.rows_queried,
                },
                self.removal_waived(),
            )?;
        }
        if counts.null_keys > 0 {
            if duplicates == 0 {
                create_invalid_table(run)?;
            }
            let rows = if run.model_in_ops {
                &plan.ops_table
            } else {
                &plan.work_table
            };
            changelog::collect_null_keys(plan, rows, &run.owner)?;
        }
        if counts.null_keys + duplicates > 0 {
            changelog::record_invalid(plan, self.id, sync_id, run.changelog)?;
        }
        runs::set_rows_invalid(self.id, counts.null_keys + duplicates)?;
        run.has_failures =
            failures::settle_plan(plan, sync_id, self.id, counts.null_keys + duplicates > 0)?;
        // Delivery reads only the ops table (which holds the operations'
        // values), so a large copy of the model need not take disk while it
        // goes on: a first run's ops table is as large again. A small one
        // stays until the run ends: truncating makes new files, ~2.5 ms, a
        // fifth of a no-change run of a small model. A rerun that diffed its
        // keys as it read them has no copy.
        if !run.model_in_ops && !run.keys_first {
            let work_bytes: i64 = spi::one(
                "SELECT pg_catalog.pg_table_size($1::regclass)",
                &[plan.work_table.as_str().into()],
            )?
            .unwrap_or(0);
            if work_bytes >= RELEASE_WORK_TABLE_BYTES {
                spi::execute(&format!("TRUNCATE {}", plan.work_table), &[])?;
            }
        }
        run.ranges = op_ranges(plan)?;
        if run.model_in_ops && !decisions::positions_are_whole(run.ranges.get(&Op::Added)) {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "model \"{}\": the positions of the run's operations are not 1 to their count \
                     (the model called reverse_etl._next_position itself)",
                    run.model_name
                ),
            ));
        }
        // Windows, and rows retried one by one, are read by position through
        // this index. A run with at most one window of a few operations
        // reads them with a scan as cheap: building the index cost a small
        // run about 2 ms (a synced init fork). Positions the model's
        // statement gave are unique only once the index says so.
        let operations: i64 = run.ranges.values().map(|range| range.count).sum();
        if run.model_in_ops
            || operations
                > SCANNED_OPERATIONS.min(run.destination.rows_per_transaction(run.batch_size))
        {
            spi::execute(
                &format!("ALTER TABLE {} ADD PRIMARY KEY (pos)", plan.ops_table),
                &[],
            )?;
        }
        runs::mark_in_progress(self.id, |op| run.ranges.get(&op).map_or(0, |r| r.count))
    }

    /// In progress: windows read by position, each delivered and recorded in
    /// one transaction. Removals of rows delivered under an earlier
    /// configuration (before `match` changed) go first, each group through a
    /// destination built from the configuration it was delivered under.
    fn deliver_all(&self, run: &mut Materialized) -> Result<()> {
        let ranges = std::mem::take(&mut run.ranges);
        let earlier = if run.destination.acts_on_records() && ranges.contains_key(&Op::Removed) {
            in_transaction(|| earlier_removal_ranges(&run.plan))?
        } else {
            Vec::new()
        };
        let current = decisions::without_earlier_removals(
            ranges,
            &earlier.iter().map(|(_, range)| *range).collect::<Vec<_>>(),
        );
        for (config_id, range) in earlier {
            let (destination, plan) = in_transaction(|| self.earlier_destination(run, config_id))?;
            let current_destination = std::mem::replace(&mut run.destination, destination);
            let current_plan = std::mem::replace(&mut run.plan, plan);
            let delivered = self.deliver_ranges(run, HashMap::from([(Op::Removed, range)]));
            run.destination = current_destination;
            run.plan = current_plan;
            delivered?;
        }
        self.deliver_ranges(run, current)?;
        in_transaction(|| {
            run.destination.end_of_run(&run.plan)?;
            catalog::state::forget_unused_earlier_configs(self.request.sync_id)
        })?;
        // An audience's match, asked over the network outside any
        // transaction; not knowing it never fails a delivered run.
        let recorded = run
            .destination
            .matched_audience()
            .and_then(|matched| match matched {
                Some(matched) => in_transaction(|| {
                    runs::record_audience_match(self.id, &run.plan.snapshot_table, matched)
                }),
                None => Ok(()),
            });
        if let Err(error) = recorded {
            pgrx::warning!(
                "pg_reverse_etl: sync {}: the audience's match rate is unknown: {error}",
                self.request.sync_id
            );
        }
        Ok(())
    }

    /// The destination (and plan) that removes rows delivered under an
    /// earlier configuration. One that no longer validates (its match
    /// column gone) rejects each such removal with the reason: the rows
    /// stay in the snapshot and the next run tries again.
    fn earlier_destination(
        &self,
        run: &Materialized,
        config_id: i64,
    ) -> Result<(Box<dyn Destination>, RunPlan)> {
        let sync = catalog::load_sync(self.request.sync_id)?;
        let config = catalog::state::earlier_config(config_id)?;
        let built = crate::postgres::in_subtransaction(|| {
            validate::sync_config(&SyncDefinition {
                document: &config,
                ..SyncDefinition::stored(&sync)
            })
        });
        let mut plan = run.plan.clone();
        let valid = match built {
            Ok(valid) => valid,
            Err(error) => {
                let reason = format!(
                    "not removed: the configuration this row was delivered under (before match changed) no longer applies: {error}"
                );
                return Ok((Box::new(CannotRemove { reason }), plan));
            }
        };
        plan.earlier_match = valid.config.record_match.as_ref().and_then(|m| {
            valid
                .model_columns
                .iter()
                .find(|c| c.name == m.from)
                .cloned()
        });
        let mut destination = valid.target;
        destination.start_run(self.id, sync.id)?;
        if let Some(deadline) = &run.deadline {
            destination.set_deadline(deadline.at, deadline.stop());
        }
        Ok((destination, plan))
    }

    fn deliver_ranges(&self, run: &mut Materialized, ranges: HashMap<Op, OpRange>) -> Result<()> {
        let step = run.destination.rows_per_transaction(run.batch_size);
        let max_bytes = run.destination.bytes_per_transaction();
        let mut cursor = WindowCursor::new(decisions::windows(&ranges, step), max_bytes.is_some());
        let mut current = in_transaction(|| next_window(run, &mut cursor, max_bytes))?;
        while let Some(window) = current {
            // The next window of the same kind is submitted before this one
            // is waited for and recorded, so a destination that sends in the
            // background never waits on PostgreSQL (kinds never overlap:
            // removals finish before changes start).
            let (stop, submitted, next) = in_transaction(|| {
                if run.destination.delivers_in_the_recording_transaction() {
                    // Measured: a flush per window cost ~2 s of 1M rows in 1000 windows.
                    spi::execute(
                        "SELECT pg_catalog.set_config('synchronous_commit', 'off', true)",
                        &[],
                    )?;
                }
                submit(run, window)?;
                // From here this window's requests may be out: a cancel or
                // an error while reading and sending the next one must not
                // roll back this one's record (rows that arrived would count
                // as aborted). It is settled and recorded, then the run stops.
                let look_ahead = in_subtransaction_even_if_cancelled(|| {
                    let next = next_window(run, &mut cursor, max_bytes)?;
                    let same_kind = next.filter(|next| next.op == window.op);
                    if let Some(next) = same_kind {
                        submit(run, next)?;
                    }
                    Ok((same_kind, next))
                });
                match look_ahead {
                    Ok((same_kind, next)) => {
                        Ok((self.deliver_window(run, window)?, same_kind, next))
                    }
                    Err(error) => {
                        self.deliver_window(run, window)?;
                        Ok((Some(error), None, None))
                    }
                }
            })?;
            if let Some(stop) = stop {
                // A stop (cancel, destination down) is recorded with the
                // window's outcome; the submitted next window is settled and
                // recorded too, then the run ends.
                if let Some(next) = submitted {
                    in_transaction(|| self.deliver_window(run, next))?;
                }
                return Err(stop);
            }
            current = next;
        }
        Ok(())
    }

    fn deliver_window(&self, run: &mut Materialized, window: Window) -> Result<Option<Error>> {
        // Requests of this window may be in flight: a cancel arriving now
        // is left pending for the destination, which settles them first.
        let cancelled = crate::postgres::holding_interrupts(|| runs::cancel_requested(self.id))?;
        let out_of_time = run
            .deadline
            .as_ref()
            .filter(|deadline| Instant::now() >= deadline.at);
        if cancelled || out_of_time.is_some() {
            let reason = match out_of_time {
                Some(deadline) => deadline.stop(),
                None => Error::new(SqlState::Other(*b"57014"), "run cancelled by cancel_run"),
            };
            // With requests in flight, the destination settles them and
            // reports the stop with this window's outcome.
            if !run.destination.cancel(&reason) {
                return Err(reason);
            }
        }
        let mut outcome = run.destination.deliver(&batch(&run.plan, window))?;
        outcome.rejections.sort_by_key(|r| r.pos);
        outcome.rejections.dedup_by_key(|r| r.pos);
        let positions: Vec<i64> = outcome.rejections.iter().map(|r| r.pos).collect();
        // The rejected rows' values as JSON run the owner's code (its casts):
        // done before interrupts are held, so a cancel or terminate still
        // stops it; stopped or failing, the window is recorded without them
        // (what was delivered must be), and the run stops.
        let fields = in_subtransaction_even_if_cancelled(|| {
            changelog::rejected_fields(&run.plan, &positions, &run.owner)
        });
        let (fields, interrupted) = match fields {
            Ok(fields) => (fields, None),
            Err(error) => (
                positions
                    .iter()
                    .map(|_| pgrx::JsonB(serde_json::Value::Null))
                    .collect(),
                Some(error),
            ),
        };
        // What the destination accepted is recorded whatever signal comes
        // now (catalog writes only): a cancel during the record would roll
        // it back and count delivered rows as aborted.
        let stop = crate::postgres::holding_interrupts(|| {
            self.record_window(run, window, outcome, &fields)
        })?;
        Ok(interrupted.or(stop))
    }

    fn record_window(
        &self,
        run: &mut Materialized,
        window: Window,
        outcome: crate::destinations::BatchOutcome,
        fields: &[pgrx::JsonB],
    ) -> Result<Option<Error>> {
        let rejections: Vec<Rejection> = outcome.rejections;
        let mut unattempted = outcome.unattempted;
        unattempted.sort_unstable();
        unattempted.dedup();
        let positions: Vec<i64> = rejections.iter().map(|r| r.pos).collect();
        let payloads: Vec<Option<pgrx::JsonB>> = rejections
            .iter()
            .map(|r| r.payload.clone().map(pgrx::JsonB))
            .collect();
        let reasons: Vec<String> = rejections.into_iter().map(|r| r.reason).collect();
        let not_delivered: Vec<i64> = positions
            .iter()
            .chain(unattempted.iter())
            .copied()
            .collect();
        let plan = &run.plan;
        spi::execute(
            &plan.update_snapshot(window.op),
            &[
                window.after.into(),
                window.upto.into(),
                not_delivered.clone().into(),
                self.id.into(),
            ],
        )?;
        changelog::record_window(
            plan,
            self.id,
            self.request.sync_id,
            &changelog::WindowOutcome {
                after: window.after,
                upto: window.upto,
                rejected: &positions,
                reasons: &reasons,
                payloads: &payloads,
                unattempted: &unattempted,
            },
            fields,
            run.changelog,
        )?;
        run.has_failures = failures::record_window(
            plan,
            self.request.sync_id,
            self.id,
            &failures::WindowFailures {
                after: window.after,
                upto: window.upto,
                not_delivered: &not_delivered,
                rejected: &positions,
                reasons: &reasons,
                payloads: &payloads,
                fields,
            },
            run.has_failures,
        )?;
        let rejected = positions.len() as i64;
        let succeeded = window.upto - window.after - rejected - unattempted.len() as i64;
        runs::add_window_counts(
            self.id,
            &runs::WindowCounts {
                op: window.op,
                succeeded,
                rejected,
                after: window.after,
                upto: window.upto,
                unattempted: &unattempted,
            },
        )?;
        Ok(outcome.stop)
    }

    pub fn finish(&self) -> Result<()> {
        runs::finish(self.id)?;
        catalog::state::drop_work_tables(WorkOf::Run, self.id)
    }

    /// A run that stops early: what was delivered stays recorded, the rest
    /// is aborted. Cancelled runs are incomplete (the next run resumes);
    /// other errors fail the run. False when even recording that failed (the
    /// run stays marked as going until it is closed as interrupted).
    pub fn finish_with_error(&self, error: &Error) -> bool {
        let run_id = self.id;
        let sync_id = self.request.sync_id;
        let message = error.to_string();
        // A cancel that arrives now has been honoured already: recording the
        // outcome must not be cancelled too.
        unsafe { pgrx::pg_sys::QueryCancelPending = 0 };
        let outcome = in_transaction(|| {
            // Cancelled, or the destination stayed down: the next run resumes.
            let cancelled = error.state.code() == "57014"
                || error.state.code().starts_with("08")
                || runs::cancel_requested(run_id)?;
            let status = if cancelled { "incomplete" } else { "failed" };
            if let Some(ops) = super::recovery::planned_operations(run_id)? {
                let reason = if cancelled {
                    format!("not attempted: the run was cancelled ({message})")
                } else {
                    format!("not attempted: the run failed ({message})")
                };
                changelog::record_aborted(
                    &ops,
                    run_id,
                    sync_id,
                    &reason,
                    super::logs::stored_changelog_level(sync_id)?,
                )?;
                failures::record_aborted(&ops, sync_id, run_id, &reason)?;
            }
            if let Some(rows) = self.rows_queried.get() {
                runs::record_rows_queried(run_id, rows)?;
            }
            super::recovery::end_early(run_id, status, &message)
        });
        if let Err(second) = &outcome {
            pgrx::warning!(
                "pg_reverse_etl: run {run_id} failed ({message}) and could not be recorded: {second}"
            );
        }
        outcome.is_ok()
    }
}

/// Bounded memory whatever the model's size; no JIT, whose compiler
/// (libLLVM, ~50 MB) costs more than it saves on the simple scans and joins
/// of a run. The worker's temporary tables (the diff and the changed rows'
/// fields of a large rerun, the model's copy) go through 2 MB of local
/// buffers, not the server's default 8 MB: pages beyond them wait in the
/// kernel's page cache, and 8 MB was most of what a rerun with 100,000
/// changed rows held beyond one with 1,000. Set before the session's first
/// temporary table, and to the same value in every run of a warm worker.
///
/// The worker's bookkeeping finds nothing a user created first on its
/// search_path, as in a SECURITY DEFINER function.
pub fn configure_worker_session() -> Result<()> {
    let memory = crate::gucs::run_work_mem();
    spi::execute(
        "SELECT pg_catalog.set_config('work_mem', $1, false), \
                pg_catalog.set_config('maintenance_work_mem', $1, false), \
                pg_catalog.set_config('jit', 'off', false), \
                pg_catalog.set_config('temp_buffers', '2MB', false), \
                pg_catalog.set_config('search_path', $2, false)",
        &[
            memory.as_str().into(),
            crate::postgres::PINNED_SEARCH_PATH.into(),
        ],
    )?;
    Ok(())
}

/// Reading the model, as its owner, on the model's search_path, within
/// the run's time limit.
struct ModelReader<'a> {
    plan: &'a RunPlan,
    owner: &'a Identity,
    name: &'a str,
    deadline: Option<&'a Deadline>,
}

impl ModelReader<'_> {
    /// Into the work table (the extension's, which the owner may fill);
    /// returns how many rows the model returned.
    fn fill_work_table(&self) -> Result<i64> {
        self.fill_copy(&self.plan.create_work_table(), &self.plan.materialize())
    }

    /// The keyed diff, made as the model's keys are read (see
    /// `RunPlan::diff_keys_as_read`), unnumbered; returns how many rows the
    /// model returned.
    fn diff_keys_as_read(&self, diff: &Diff) -> Result<i64> {
        let plan = self.plan;
        let changes = plan.unnumbered_keyed_diff_table();
        spi::execute(&plan.create_unnumbered_keyed_diff_table(), &[])?;
        catalog::state::grant_to_owner(&changes, "INSERT", self.owner.role)?;
        // The owner reads its snapshot (create_sync let it, for
        // sync_snapshot); one that may not (an administrator revoked it, or
        // set another owner by hand) may for this statement only.
        let lent = !catalog::state::can_read(&plan.snapshot_table, self.owner.role)?;
        if lent {
            catalog::state::grant_to_owner(&plan.snapshot_table, "SELECT", self.owner.role)?;
        }
        super::positions::restart();
        let operations = self.run(&plan.diff_keys_as_read(diff))?;
        if lent {
            catalog::state::revoke_from_owner(&plan.snapshot_table, "SELECT", self.owner.role)?;
        }
        catalog::state::revoke_from_owner(&changes, "INSERT", self.owner.role)?;
        self.check_written(&changes, operations, "the run's diff of the model")?;
        // The model's code calling _next_position itself only makes the
        // count larger, which the duplicate check takes for a repeated key:
        // the run then copies the model and counts its rows again.
        Ok(super::positions::handed_out())
    }

    /// The work table made by `create`, filled by the owner with `read`.
    fn fill_copy(&self, create: &str, read: &str) -> Result<i64> {
        let work_table = &self.plan.work_table;
        spi::execute(create, &[])?;
        catalog::state::grant_to_owner(work_table, "SELECT, INSERT", self.owner.role)?;
        let rows = self.run(read)?;
        // Filled: from here on the owner only reads it.
        catalog::state::revoke_from_owner(work_table, "INSERT", self.owner.role)?;
        self.check_written(work_table, rows, "the run's copy of the model")?;
        Ok(rows)
    }

    /// Code the model calls could have added rows of its own to `table`
    /// (which the owner may fill while the model runs), which the counts
    /// that find repeated keys would not see (they count the model's
    /// result): the run stops unless the statement wrote every row there.
    fn check_written(&self, table: &str, by_query: i64, what: &str) -> Result<()> {
        let written = catalog::state::rows_inserted_in_transaction(table)?;
        if written == by_query {
            return Ok(());
        }
        Err(Error::new(
            SqlState::Other(*b"42501"),
            format!(
                "model \"{}\": {written} rows were written into {what}, {by_query} of them by its \
                 query: the model's code may not write into a run's tables",
                self.name
            ),
        ))
    }

    /// The fields of the rows the keyed diff found added or changed (see
    /// `RunPlan::read_changed_values`). The owner reads the keyed diff and
    /// fills the values table; what it writes there can only give those
    /// rows other values (which its model could as well): the operations
    /// and their positions are the diff's.
    ///
    /// Its count of rows is not returned: the owner's code may add rows of
    /// its own, so what the table holds is counted afterwards.
    fn fill_changed_values(&self) -> Result<()> {
        let plan = self.plan;
        spi::execute(&plan.create_changed_values_table(), &[])?;
        catalog::state::grant_to_owner(&plan.keyed_diff_table(), "SELECT", self.owner.role)?;
        catalog::state::grant_to_owner(&plan.changed_values_table(), "INSERT", self.owner.role)?;
        self.run(&plan.read_changed_values())?;
        catalog::state::revoke_from_owner(&plan.changed_values_table(), "INSERT", self.owner.role)?;
        Ok(())
    }

    /// Straight into a first run's ops table (see `RunPlan::read_model_into_ops`).
    fn fill_ops_table(&self) -> Result<i64> {
        let plan = self.plan;
        spi::execute(&plan.create_first_run_ops_table(), &[])?;
        catalog::state::grant_to_owner(&plan.ops_table, "INSERT", self.owner.role)?;
        super::positions::restart();
        let rows = self.run(&plan.read_model_into_ops())?;
        catalog::state::revoke_from_owner(&plan.ops_table, "INSERT", self.owner.role)?;
        Ok(rows)
    }

    fn run(&self, statement: &str) -> Result<i64> {
        // The model's query may not outlast the time limit either.
        let timeout_ms = remaining_ms(self.deadline)
            .map(|ms| ms.to_string())
            .unwrap_or_else(|| "0".into());
        let rows = with_settings(&[("statement_timeout", &timeout_ms)], || {
            self.owner.run(|| spi::execute(statement, &[]))
        })
        .map_err(|e| e.context(format!("model \"{}\"", self.name)))?;
        Ok(rows as i64)
    }
}

/// Milliseconds left before the time limit (at least 1), if there is one.
fn remaining_ms(deadline: Option<&Deadline>) -> Option<u64> {
    deadline.map(|deadline| {
        deadline
            .at
            .saturating_duration_since(Instant::now())
            .as_millis()
            .max(1) as u64
    })
}

fn batch(plan: &RunPlan, window: Window) -> Batch<'_> {
    Batch {
        op: window.op,
        after: window.after,
        upto: window.upto,
        plan,
    }
}

/// The next window to deliver, cut where the destination's byte bound
/// says (measured in the ops table, without loading the rows).
fn next_window(
    run: &Materialized,
    cursor: &mut WindowCursor,
    max_bytes: Option<i64>,
) -> Result<Option<Window>> {
    cursor.next(|window| {
        let Some(max_bytes) = max_bytes else {
            return Ok(None);
        };
        let ops = [window.op];
        let bounds = rows::Window {
            after: window.after,
            upto: window.upto,
            ops: &ops,
            max_row_bytes: crate::gucs::in_flight().row_bytes,
        };
        rows::window_end(
            &run.plan,
            &bounds,
            window.upto - window.after,
            max_bytes,
            &run.owner,
        )
    })
}

fn submit(run: &mut Materialized, window: Window) -> Result<()> {
    run.destination.submit(&batch(&run.plan, window))
}

/// What comparing the model with the snapshot found.
pub struct Compared {
    /// Whether mirror removals were collected.
    pub mirror: bool,
    pub counts: DiffCounts,
}

/// The diff (one statement writing the ops table) and the counts that
/// reveal duplicate keys. In mirror mode the records of the destination
/// that the model no longer has are collected first, as the owner (who
/// reads its table).
pub fn diff(run: &mut Materialized) -> Result<Compared> {
    let plan = &run.plan;
    let mirror = match run.destination.mirror_removals(plan) {
        Some(query) => {
            spi::execute(&plan.create_mirror_table(), &[])?;
            catalog::state::grant_to_owner(&plan.mirror_table(), "INSERT", run.owner.role)?;
            run.owner.run(|| {
                spi::execute(
                    &format!(
                        "INSERT INTO {} (row_id, match_key) {query}",
                        plan.mirror_table()
                    ),
                    &[],
                )
            })?;
            true
        }
        None => {
            // Records on another server: their keys are fetched here (no
            // user code runs: text in, text compared).
            let mut created = false;
            let fetched = run.destination.fetch_records(&mut |keys| {
                if !created {
                    spi::execute(&plan.create_mirror_table(), &[])?;
                    created = true;
                }
                catalog::state::add_mirror_records(plan, &keys)
            })?;
            if fetched && !created {
                spi::execute(&plan.create_mirror_table(), &[])?;
            }
            fetched
        }
    };
    spi::execute(
        &plan.create_ops_table(&Diff {
            mirror,
            snapshot_empty: catalog::state::snapshot_is_empty(&plan.snapshot_table)?,
            ..Diff::new(run.mode, run.acts_on_removals)
        }),
        &[],
    )?;
    Ok(Compared {
        mirror,
        counts: read_diff_counts(plan)?,
    })
}

/// A snapshot within this size (~15,000 rows) is a small model's: its run
/// counts the diff before writing it, and copies the model whole.
const SMALL_SNAPSHOT_BYTES: i64 = 1024 * 1024;

/// How many operations of a keyed diff need the rows' fields.
fn keyed_diff_rows_to_send(plan: &RunPlan) -> Result<i64> {
    Ok(spi::one::<i64>(
        &format!(
            "SELECT count(*) FROM {} WHERE op_rank IN (2, 3)",
            plan.keyed_diff_table()
        ),
        &[],
    )?
    .unwrap_or(0))
}

/// Whether a run of a small model has nothing to do: no operation, no
/// invalid row, no key shared (every model row matched one snapshot row).
/// Most scheduled runs are such; their empty ops table is then a temporary
/// one (`temporary_ops_table`), as an unlogged one syncs files when created,
/// a third of such a run's time. Counting first costs one more small join
/// when there is something to do.
fn finds_nothing_to_do(run: &Materialized) -> Result<bool> {
    // Within ~15,000 rows: the join counted again costs a few milliseconds.
    // Without change tracking every row is an operation.
    if !run.mode.uses_cdc()
        || !catalog::state::snapshot_within(&run.plan.snapshot_table, SMALL_SNAPSHOT_BYTES)?
    {
        return Ok(false);
    }
    let counts = spi::rows(
        &run.plan
            .count_diff_rows(&Diff::new(run.mode, run.acts_on_removals)),
        &[],
        |row| Ok((spi::get::<i64>(row, 1)?, spi::get::<i64>(row, 2)?)),
    )?;
    Ok(counts
        .first()
        .is_some_and(|&(rows, snapshot_rows)| rows == 0 && snapshot_rows == run.rows_queried))
}

/// The ops table is read by the owner's statements (the postgres
/// destination's, and building the rows to send or show as JSON).
pub fn let_owner_read_ops(run: &Materialized) -> Result<()> {
    catalog::state::grant_to_owner(&run.plan.ops_table, "SELECT", run.owner.role)
}

/// The table the owner writes a run's invalid rows into.
pub fn create_invalid_table(run: &Materialized) -> Result<()> {
    spi::execute(&run.plan.create_invalid_table(), &[])?;
    catalog::state::grant_to_owner(&run.plan.invalid_table(), "INSERT", run.owner.role)
}

fn read_diff_counts(plan: &RunPlan) -> Result<DiffCounts> {
    read_counts(&plan.duplicate_check())
}

fn read_counts(duplicate_check: &str) -> Result<DiffCounts> {
    let counts = spi::rows(duplicate_check, &[], |row| {
        Ok(DiffCounts {
            null_keys: spi::get(row, 1)?,
            added: spi::get(row, 2)?,
            snapshot_rows: spi::get(row, 3)?,
            removed: spi::get(row, 4)?,
            new_keys_repeated: spi::get(row, 5)?,
        })
    })?;
    Ok(counts.into_iter().next().unwrap_or_default())
}

/// Make the snapshot's hashes comparable with this server's: recorded the
/// first time, and after a major upgrade that hashes differently the rows
/// present in both are taken as delivered (logged in the sync's activity)
/// instead of every row being reported as changed.
/// A run that read its model straight into its operations (`model_in_ops`)
/// has an empty snapshot: nothing to rebaseline.
fn compare_hashing(sync_id: i64, run: &Materialized) -> Result<()> {
    let decisions::HashingState { stored, current } = run.hashing;
    match run.hashing.decision() {
        decisions::Hashing::Unchanged => return Ok(()),
        decisions::Hashing::Record => {}
        decisions::Hashing::Rebaseline if run.model_in_ops => {}
        decisions::Hashing::Rebaseline => {
            let rows = catalog::state::rebaseline_hashes(&run.plan)?;
            catalog::record_activity(
                sync_id,
                catalog::extension_owner()?,
                "rehashed",
                stored.map(|(major, _)| serde_json::json!({"server_major": major})),
                Some(serde_json::json!({"server_major": current.0, "rows": rows})),
            )?;
        }
    }
    catalog::state::record_hashing(sync_id, current.0, current.1)
}

/// The removals of rows delivered under earlier configurations: (the
/// configuration's id, their range), in position order.
fn earlier_removal_ranges(plan: &RunPlan) -> Result<Vec<(i64, OpRange)>> {
    spi::rows(&plan.earlier_removal_ranges(), &[], |row| {
        Ok((
            spi::get(row, 1)?,
            OpRange {
                first: spi::get(row, 2)?,
                last: spi::get(row, 3)?,
                count: spi::get(row, 4)?,
            },
        ))
    })
}

/// Stands in for a destination that cannot be built: every operation is
/// rejected with `reason`.
struct CannotRemove {
    reason: String,
}

impl Destination for CannotRemove {
    fn mirror_removals(&self, _plan: &RunPlan) -> Option<String> {
        None
    }

    fn deliver(&mut self, batch: &Batch) -> Result<crate::destinations::BatchOutcome> {
        Ok(crate::destinations::BatchOutcome {
            rejections: (batch.after + 1..=batch.upto)
                .map(|pos| Rejection {
                    pos,
                    reason: self.reason.clone(),
                    payload: None,
                })
                .collect(),
            ..Default::default()
        })
    }

    fn test_row(
        &mut self,
        _plan: &RunPlan,
        _row: &crate::destinations::TestRow,
        _dry_run: bool,
    ) -> Result<serde_json::Value> {
        Err(Error::new(
            SqlState::ObjectNotInPrerequisiteState,
            self.reason.clone(),
        ))
    }
}

/// First position, last position and count of each kind of operation.
pub fn op_ranges(plan: &RunPlan) -> Result<HashMap<Op, OpRange>> {
    let rows = spi::rows(&plan.op_ranges(), &[], |row| {
        let op: String = spi::get(row, 1)?;
        Ok((
            op,
            OpRange {
                first: spi::get(row, 2)?,
                last: spi::get(row, 3)?,
                count: spi::get(row, 4)?,
            },
        ))
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(op, range)| Op::parse(&op).map(|op| (op, range)))
        .collect())
}
