//! One run of a sync, executed in its own background worker so that it can
//! commit batch by batch and outlive the session that asked for it.
//!
//! Phases, each its own transaction so that progress is visible live:
//! queued → querying (materialise the model) → preparing (diff) →
//! in_progress (one transaction per batch) → succeeded | warning | failed |
//! incomplete.

use super::plan::{hash_seed, ModelColumn, Op, RunPlan};
use super::validate;
use crate::catalog;
use crate::config::SyncMode;
use crate::destinations::{Batch, Destination, Rejection};
use crate::error::{Error, Result, SqlState};
use crate::postgres::{as_role, catch, spi, with_settings};
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use std::collections::HashMap;

/// Advisory-lock class for "a run of this sync is going" (with the sync id).
pub const RUN_LOCK_CLASS: i32 = 0x5245_544c; // "RETL"

/// What the launching session tells the worker (through bgw_extra).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub database: u32,
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
    pub fn new(sync_id: i64, trigger: &str) -> RunRequest {
        RunRequest {
            database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
            sync_id,
            full_resync: false,
            reset_cdc: false,
            allow_mass_removal: false,
            clear_first: false,
            preview: false,
            due_at_ms: None,
            trigger: trigger.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{} {} {}{}{}{}{} {} {}",
            self.database,
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
        let sync_id = parts.next()?.parse().ok()?;
        let flags = parts.next()?.as_bytes();
        if flags.len() != 5 {
            return None;
        }
        Some(RunRequest {
            database,
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
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(request.database)), None);
    let mut run = Run {
        id: run_id,
        request,
        plan: None,
        destination: None,
        batch_size: 100,
        mode: SyncMode::Upsert,
        rows_queried: 0,
        guard: RemovalGuard::default(),
        deadline: None,
        started: std::time::Instant::now(),
    };
    if run.request.preview {
        run.preview();
    } else if let Err(error) = run.execute() {
        run.finish_with_error(&error);
    }
}

/// The numbers `RunPlan::duplicate_check` reads from a fresh diff.
#[derive(Debug, Default, Clone, Copy)]
struct DiffCounts {
    null_keys: i64,
    added: i64,
    snapshot_rows: i64,
    /// Removed rows that were in the snapshot (not mirror removals).
    removed: i64,
    new_keys_repeated: bool,
}

impl DiffCounts {
    fn read(plan: &RunPlan) -> Result<DiffCounts> {
        let counts = spi::rows(&plan.duplicate_check(), &[], |row| {
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

    /// Exact, without grouping the result: the keyed rows that matched the
    /// snapshot equal the snapshot rows still present only when no snapshot
    /// row was matched twice; repeated new keys show among the added.
    fn has_duplicates(&self, rows_queried: i64) -> bool {
        self.new_keys_repeated
            || rows_queried - self.null_keys - self.added != self.snapshot_rows - self.removed
    }
}

#[derive(Debug, Default)]
struct RemovalGuard {
    max_removed_share: f64,
    allow_empty_model: bool,
    /// Removed rows act on the destination (delete behavior is not "nothing").
    removes_records: bool,
}

struct Run {
    id: i64,
    request: RunRequest,
    plan: Option<RunPlan>,
    destination: Option<Box<dyn Destination>>,
    batch_size: i64,
    mode: SyncMode,
    rows_queried: i64,
    guard: RemovalGuard,
    /// When the sync's time limit runs out, and the limit as written.
    deadline: Option<(std::time::Instant, String)>,
    started: std::time::Instant,
}

/// Run `body` in a transaction of its own: committed when it returns `Ok`,
/// rolled back when it returns `Err` or raises.
pub(crate) fn in_transaction<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: the standard worker transaction bracket; on error the
    // transaction is aborted exactly as PostgresMain does after an ERROR.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    match catch(body).and_then(|inner| inner) {
        Ok(value) => unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
            Ok(value)
        },
        Err(error) => unsafe {
            pg_sys::AbortCurrentTransaction();
            pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
            Err(error)
        },
    }
}

/// Run a phase and record how long it took in `sync_runs.phase_seconds`.
fn timed(run_id: i64, phase: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    let start = std::time::Instant::now();
    body()?;
    let seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    in_transaction(|| {
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET phase_seconds = phase_seconds || jsonb_build_object($2::text, $3::float8) WHERE id = $1",
            &[run_id.into(), phase.into(), seconds.into()],
        )?;
        Ok(())
    })
}

impl Run {
    fn execute(&mut self) -> Result<()> {
        let run_id = self.id;
        let request = self.request.clone();
        in_transaction(|| {
            // Bounded memory whatever the model's size; no JIT, whose
            // compiler (libLLVM, ~50 MB) costs more than it saves on the
            // simple scans and joins of a run.
            let memory = crate::gucs::run_work_mem();
            spi::execute(
                "SELECT set_config('work_mem', $1, false), set_config('maintenance_work_mem', $1, false), \
                        set_config('jit', 'off', false)",
                &[memory.as_str().into()],
            )?;
            spi::execute(
                "INSERT INTO reverse_etl.sync_runs (id, sync_id, status, trigger, full_resync, worker_pid, due_at) \
                 VALUES ($1, $2, 'queued', $3, $4, pg_backend_pid(), to_timestamp($5::float8 / 1000))",
                &[
                    run_id.into(),
                    request.sync_id.into(),
                    request.trigger.as_str().into(),
                    request.full_resync.into(),
                    request.due_at_ms.into(),
                ],
            )?;
            Ok(())
        })?;
        // Never two runs of one sync at once: wait here, queued, for the other.
        in_transaction(|| {
            spi::execute(
                "SELECT pg_advisory_lock($1, $2::int)",
                &[RUN_LOCK_CLASS.into(), (request.sync_id as i32).into()],
            )?;
            self.started = std::time::Instant::now();
            spi::execute(
                "UPDATE reverse_etl.sync_runs SET status = 'querying', started_at = clock_timestamp() WHERE id = $1",
                &[run_id.into()],
            )?;
            Ok(())
        })?;
        in_transaction(|| close_interrupted_runs(request.sync_id))?;
        timed(run_id, "querying", || in_transaction(|| self.query_model()))?;
        if self.request.reset_cdc {
            in_transaction(|| self.reset_snapshot())?;
            return in_transaction(|| self.finish());
        }
        timed(run_id, "preparing", || in_transaction(|| self.prepare()))?;
        timed(run_id, "delivering", || self.deliver_all())?;
        in_transaction(|| self.finish())
    }

    /// Querying: materialise the model once, as the sync's owner.
    fn query_model(&mut self) -> Result<()> {
        let sync = catalog::load_sync(self.request.sync_id)?;
        let valid = validate::sync_config(
            sync.model_id,
            sync.destination_id,
            &sync.config,
            sync.owner,
            &sync.name,
        )
        .map_err(|e| e.context(format!("sync \"{}\"", sync.name)))?;
        let columns: Vec<ModelColumn> = valid.sent_columns.clone();
        let match_column = valid
            .config
            .record_match
            .as_ref()
            .and_then(|m| columns.iter().position(|c| c.name == m.from));
        let plan = RunPlan {
            query: valid.model.query.clone(),
            primary_key: valid.model.primary_key.clone(),
            columns,
            match_column,
            hash_seed: hash_seed(&valid.config),
            work_table: format!("reverse_etl_state.{}_{}_rows", self.table_prefix(), self.id),
            ops_table: format!("reverse_etl_state.{}_{}_ops", self.table_prefix(), self.id),
            snapshot_table: catalog::snapshot_table(sync.id),
        };
        if let Some((text, seconds)) = &valid.config.time_limit {
            self.deadline = Some((
                self.started + std::time::Duration::from_secs(*seconds as u64),
                text.clone(),
            ));
        }
        let owner: String =
            spi::one("SELECT $1::regrole::text", &[sync.owner.into()])?.unwrap_or_default();
        spi::execute(&plan.create_work_table(), &[])?;
        spi::execute(
            &format!("ALTER TABLE {} OWNER TO {owner}", plan.work_table),
            &[],
        )?;
        // The model's query may not outlast the time limit either.
        let timeout_ms = self
            .remaining_ms()
            .map(|ms| ms.to_string())
            .unwrap_or_else(|| "0".into());
        let queried = with_settings(
            &[
                ("search_path", &valid.model.search_path),
                ("statement_timeout", &timeout_ms),
            ],
            || as_role(sync.owner, || spi::execute(&plan.materialize(), &[])),
        )
        .map_err(|e| e.context(format!("model \"{}\"", valid.model.name)))?;
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET rows_queried = $2, status = 'preparing' WHERE id = $1",
            &[self.id.into(), (queried as i64).into()],
        )?;
        self.rows_queried = queried as i64;
        self.batch_size = valid.config.batch_size;
        self.guard = RemovalGuard {
            max_removed_share: valid.config.max_removed_share,
            allow_empty_model: valid.config.allow_empty_model,
            removes_records: valid.config.delete_behavior != crate::config::DeleteBehavior::Nothing,
        };
        self.mode = valid.config.mode;
        let mut target = valid.target;
        target.start_run(self.id, sync.id)?;
        self.destination = Some(target);
        self.plan = Some(plan);
        Ok(())
    }

    /// Preparing: one set-based diff against the snapshot writes the ops table.
    fn prepare(&mut self) -> Result<()> {
        let plan = self.plan.as_ref().expect("query_model sets the plan");
        let sync_id = self.request.sync_id;
        if self.request.full_resync {
            // Every current row is sent as added; rows gone from the model are
            // forgotten, not removed (a full resync does not delete).
            spi::execute(&format!("TRUNCATE {}", plan.snapshot_table), &[])?;
        }
        if self.request.clear_first {
            self.destination
                .as_mut()
                .expect("query_model sets the destination")
                .clear()?;
        }
        let (mirror, counts) = self.diff()?;
        let plan = self.plan.as_ref().expect("query_model sets the plan");
        let (null_keys, snapshot_rows) = (counts.null_keys, counts.snapshot_rows);
        let mut duplicates = 0;
        if counts.has_duplicates(self.rows_queried) {
            duplicates = spi::execute(&plan.record_duplicate_rows(self.id, sync_id), &[])? as i64;
            spi::execute(&format!("DROP TABLE {}", plan.ops_table), &[])?;
            spi::execute(
                &plan.create_ops_table(self.mode, self.id, true, mirror.as_deref()),
                &[],
            )?;
        }
        if self.guard.removes_records {
            let all_removed: i64 = spi::one(
                &format!(
                    "SELECT count(*) FROM {} WHERE op = 'removed'",
                    plan.ops_table
                ),
                &[],
            )?
            .unwrap_or(0);
            self.check_removal_guard(all_removed, snapshot_rows)?;
        }
        spi::execute(&plan.record_null_key_rows(self.id, sync_id), &[])?;
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET rows_invalid = $2 WHERE id = $1",
            &[self.id.into(), (null_keys + duplicates).into()],
        )?;
        spi::execute(
            &format!("ALTER TABLE {} ADD PRIMARY KEY (pos)", plan.ops_table),
            &[],
        )?;
        let owner: String = spi::one(
            "SELECT owner::text FROM reverse_etl.syncs WHERE id = $1",
            &[sync_id.into()],
        )?
        .unwrap_or_default();
        spi::execute(
            &format!("ALTER TABLE {} OWNER TO {owner}", plan.ops_table),
            &[],
        )?;
        let counts = self.op_ranges()?;
        let planned = |op: Op| counts.get(&op).map(|r| r.2).unwrap_or(0);
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET planned_added = $2, planned_changed = $3, planned_removed = $4, \
             status = 'in_progress' WHERE id = $1",
            &[
                self.id.into(),
                planned(Op::Added).into(),
                planned(Op::Changed).into(),
                planned(Op::Removed).into(),
            ],
        )?;
        Ok(())
    }

    /// The diff (one statement writing the ops table) and the counts that
    /// reveal duplicate keys; returns the mirror-removal query used, if any.
    fn diff(&self) -> Result<(Option<String>, DiffCounts)> {
        let plan = self.plan.as_ref().expect("query_model sets the plan");
        let destination = self
            .destination
            .as_ref()
            .expect("query_model sets the destination");
        let mirror = destination.mirror_removals(plan);
        spi::execute(
            &plan.create_ops_table(self.mode, self.id, false, mirror.as_deref()),
            &[],
        )?;
        Ok((mirror, DiffCounts::read(plan)?))
    }

    /// Milliseconds left before the time limit (at least 1), if there is one.
    fn remaining_ms(&self) -> Option<u64> {
        self.deadline.as_ref().map(|(at, _)| {
            at.saturating_duration_since(std::time::Instant::now())
                .as_millis()
                .max(1) as u64
        })
    }

    fn table_prefix(&self) -> &'static str {
        if self.request.preview {
            "preview"
        } else {
            "run"
        }
    }

    /// sync_plan: query and diff as a run would, then describe the plan
    /// (counts, a sample of rows per kind, whether the removal guard would
    /// stop it) instead of delivering. Writes nothing but the result.
    fn preview(&mut self) {
        let outcome = in_transaction(|| self.query_model())
            .and_then(|_| in_transaction(|| self.describe_plan()));
        let result = outcome.unwrap_or_else(
            |error| serde_json::json!({"error": error.to_string(), "sqlstate": error.state.code()}),
        );
        let (run_id, sync_id) = (self.id, self.request.sync_id);
        let saved = in_transaction(|| {
            spi::execute(
                &format!(
                    "DROP TABLE IF EXISTS reverse_etl_state.preview_{run_id}_rows, reverse_etl_state.preview_{run_id}_ops"
                ),
                &[],
            )?;
            catalog::save_preview(run_id, sync_id, result.clone())
        });
        if let Err(error) = saved {
            pgrx::warning!("pg_reverse_etl: plan preview {run_id} could not be saved: {error}");
        }
    }

    fn describe_plan(&mut self) -> Result<serde_json::Value> {
        const SAMPLE: i64 = 10;
        let (_, diff) = self.diff()?;
        let plan = self.plan.as_ref().expect("query_model sets the plan");
        let (null_keys, snapshot_rows) = (diff.null_keys, diff.snapshot_rows);
        let duplicates = if diff.has_duplicates(self.rows_queried) {
            spi::one::<i64>(
                &format!(
                    "SELECT coalesce(sum(copies), 0)::bigint FROM (SELECT count(*) AS copies FROM {} \
                     WHERE row_id IS NOT NULL GROUP BY row_id HAVING count(*) > 1) d",
                    plan.work_table
                ),
                &[],
            )?
            .unwrap_or(0)
        } else {
            0
        };
        let counts = self.op_ranges()?;
        let count = |op: Op| counts.get(&op).map(|r| r.2).unwrap_or(0);
        let guard = if self.guard.removes_records {
            self.check_removal_guard(count(Op::Removed), snapshot_rows)
                .err()
                .map(|e| e.message)
        } else {
            None
        };
        let mut sample = serde_json::Map::new();
        for op in Op::DELIVERY_ORDER {
            let rows = spi::rows(
                &format!(
                    "SELECT jsonb_build_object('row_id', o.row_id, 'fields', CASE WHEN o.op = 'removed' THEN jsonb_build_object('match_key', o.match_key) ELSE {} END) \
                     FROM {} o WHERE o.op = $1 ORDER BY o.pos LIMIT {SAMPLE}",
                    plan.fields_json("o"),
                    plan.ops_table
                ),
                &[op.as_str().into()],
                |row| Ok(spi::get::<pgrx::JsonB>(row, 1)?.0),
            )?;
            sample.insert(op.as_str().into(), serde_json::Value::Array(rows));
        }
        Ok(serde_json::json!({
            "rows_queried": self.rows_queried,
            "invalid_rows": null_keys + duplicates,
            "added": count(Op::Added),
            "changed": count(Op::Changed),
            "removed": count(Op::Removed),
            "removal_guard": guard,
            "sample": sample,
            "note": if duplicates > 0 { "rows sharing a key are counted above; the run will leave them out as invalid" } else { "" },
        }))
    }

    /// Reset CDC: the snapshot becomes the model's current (valid) result;
    /// nothing is planned or sent.
    fn reset_snapshot(&mut self) -> Result<()> {
        let plan = self.plan.as_ref().expect("query_model sets the plan");
        let match_key = plan
            .match_column
            .map(|i| format!("(w.{})::text", RunPlan::field(i)))
            .unwrap_or_else(|| "NULL".into());
        spi::execute(&format!("TRUNCATE {}", plan.snapshot_table), &[])?;
        // Rows sharing a key are left out: they are invalid, and the next
        // run reports them.
        let kept = spi::execute(
            &format!(
                "INSERT INTO {snapshot} (row_id, row_hash, match_key)
                 SELECT w.row_id, w.row_hash, {match_key} FROM {work} w
                 WHERE w.row_id IN (SELECT row_id FROM {work} WHERE row_id IS NOT NULL GROUP BY row_id HAVING count(*) = 1)",
                snapshot = plan.snapshot_table,
                work = plan.work_table,
            ),
            &[],
        )?;
        let sync_id = self.request.sync_id;
        let duplicates = spi::execute(&plan.record_duplicate_rows(self.id, sync_id), &[])?;
        let null_keys = spi::execute(
            &format!(
                "INSERT INTO reverse_etl.sync_changelog (run_id, sync_id, row_id, op, status, reason, fields)
                 SELECT {}, {sync_id}, NULL, NULL, 'invalid', 'primary key is null', {} FROM {} w WHERE w.row_id IS NULL",
                self.id,
                plan.fields_json("w"),
                plan.work_table
            ),
            &[],
        )?;
        debug_assert_eq!(kept + duplicates + null_keys, self.rows_queried as u64);
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET rows_invalid = $2 WHERE id = $1",
            &[self.id.into(), ((duplicates + null_keys) as i64).into()],
        )?;
        Ok(())
    }

    /// The guard against accidental mass removal: refuse a run that would
    /// remove more than the allowed share of what was synced, or everything
    /// because the model suddenly returns nothing.
    fn check_removal_guard(&self, removed: i64, snapshot_rows: i64) -> Result<()> {
        if self.request.allow_mass_removal
            || self.request.full_resync
            || snapshot_rows == 0
            || removed == 0
        {
            return Ok(());
        }
        let guard = &self.guard;
        let hint = "if this is intended, run once with sync_run(…, allow_mass_removal => true), \
                    or change the sync's max_removed_share / allow_empty_model";
        if self.rows_queried == 0 && !guard.allow_empty_model {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "removal guard: the model returned no rows, which would remove all {snapshot_rows} rows synced so far; nothing was sent"
                ),
            )
            .with_hint(hint));
        }
        let share = removed as f64 / snapshot_rows as f64;
        if share > guard.max_removed_share {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "removal guard: this run would remove {removed} of the {snapshot_rows} rows synced so far ({:.0}%, more than max_removed_share {:.0}%); nothing was sent",
                    share * 100.0,
                    guard.max_removed_share * 100.0
                ),
            )
            .with_hint(hint));
        }
        Ok(())
    }

    /// First position, last position and count of each kind of operation.
    fn op_ranges(&self) -> Result<HashMap<Op, (i64, i64, i64)>> {
        let plan = self.plan.as_ref().expect("plan exists");
        let rows = spi::rows(&plan.op_ranges(), &[], |row| {
            let op: String = spi::get(row, 1)?;
            Ok((
                op,
                spi::get::<i64>(row, 2)?,
                spi::get::<i64>(row, 3)?,
                spi::get::<i64>(row, 4)?,
            ))
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(op, first, last, count)| {
                Op::parse(&op).map(|op| (op, (first, last, count)))
            })
            .collect())
    }

    /// In progress: batches read by position, each delivered and recorded in
    /// one transaction.
    fn deliver_all(&mut self) -> Result<()> {
        let ranges = in_transaction(|| self.op_ranges())?;
        let step = self
            .destination
            .as_ref()
            .expect("destination exists")
            .rows_per_transaction(self.batch_size);
        let mut windows: Vec<(Op, i64, i64)> = Vec::new();
        for op in Op::DELIVERY_ORDER {
            let Some(&(first, last, _)) = ranges.get(&op) else {
                continue;
            };
            let mut after = first - 1;
            while after < last {
                let upto = (after + step).min(last);
                windows.push((op, after, upto));
                after = upto;
            }
        }
        for (index, &(op, after, upto)) in windows.iter().enumerate() {
            // The next batch of the same kind is submitted before this one is
            // waited for and recorded, so a destination that sends in the
            // background never waits on PostgreSQL (kinds never overlap:
            // removals finish before changes start).
            let next = windows
                .get(index + 1)
                .filter(|(next_op, _, _)| *next_op == op)
                .copied();
            let stop = in_transaction(|| {
                self.submit(op, after, upto)?;
                if let Some((next_op, next_after, next_upto)) = next {
                    self.submit(next_op, next_after, next_upto)?;
                }
                self.deliver_batch(op, after, upto)
            })?;
            if let Some(stop) = stop {
                // A stop (cancel, destination down) is recorded with the
                // batch's outcome; the submitted next batch is settled and
                // recorded too, then the run ends.
                if let Some((next_op, next_after, next_upto)) = next {
                    in_transaction(|| self.deliver_batch(next_op, next_after, next_upto))?;
                }
                return Err(stop);
            }
        }
        in_transaction(|| {
            let plan = self.plan.as_ref().expect("plan exists");
            self.destination
                .as_mut()
                .expect("destination exists")
                .end_of_run(plan)
        })
    }

    fn submit(&mut self, op: Op, after: i64, upto: i64) -> Result<()> {
        let plan = self.plan.as_ref().expect("plan exists");
        let destination = self.destination.as_mut().expect("destination exists");
        destination.submit(&Batch {
            op,
            after,
            upto,
            plan,
        })
    }

    fn deliver_batch(&mut self, op: Op, after: i64, upto: i64) -> Result<Option<Error>> {
        let cancelled: Option<bool> = spi::one(
            "SELECT cancel_requested_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = $1",
            &[self.id.into()],
        )?;
        let plan = self.plan.as_ref().expect("plan exists");
        let destination = self.destination.as_mut().expect("destination exists");
        let out_of_time = self
            .deadline
            .as_ref()
            .filter(|(at, _)| std::time::Instant::now() >= *at);
        if cancelled == Some(true) || out_of_time.is_some() {
            let reason = match out_of_time {
                Some((_, limit)) => Error::new(
                    SqlState::Other(*b"57014"),
                    format!("time limit of {limit} reached"),
                ),
                None => Error::new(SqlState::Other(*b"57014"), "run cancelled by cancel_run"),
            };
            // With requests in flight, the destination settles them and
            // reports the stop with this batch's outcome.
            if !destination.cancel(&reason) {
                return Err(reason);
            }
        }
        let outcome = destination.deliver(&Batch {
            op,
            after,
            upto,
            plan,
        })?;
        let mut rejections: Vec<Rejection> = outcome.rejections;
        rejections.sort_by_key(|r| r.pos);
        rejections.dedup_by_key(|r| r.pos);
        let mut unattempted = outcome.unattempted;
        unattempted.sort_unstable();
        unattempted.dedup();
        let positions: Vec<i64> = rejections.iter().map(|r| r.pos).collect();
        let reasons: Vec<String> = rejections.into_iter().map(|r| r.reason).collect();
        let not_delivered: Vec<i64> = positions
            .iter()
            .chain(unattempted.iter())
            .copied()
            .collect();
        spi::execute(
            &plan.update_snapshot(op),
            &[after.into(), upto.into(), not_delivered.into()],
        )?;
        spi::execute(
            &plan.record_batch_outcome(self.id, self.request.sync_id),
            &[
                after.into(),
                upto.into(),
                positions.clone().into(),
                reasons.into(),
                unattempted.clone().into(),
            ],
        )?;
        let rejected = positions.len() as i64;
        let succeeded = upto - after - rejected - unattempted.len() as i64;
        let op = op.as_str();
        spi::execute(
            &format!(
                "UPDATE reverse_etl.sync_runs SET succeeded_{op} = succeeded_{op} + $2, \
                 rejected_{op} = rejected_{op} + $3 WHERE id = $1"
            ),
            &[self.id.into(), succeeded.into(), rejected.into()],
        )?;
        Ok(outcome.stop)
    }

    fn finish(&mut self) -> Result<()> {
        spi::execute(
            "UPDATE reverse_etl.sync_runs SET finished_at = clock_timestamp(), \
             status = CASE WHEN rejected_added + rejected_changed + rejected_removed > 0 \
                           THEN 'warning' ELSE 'succeeded' END \
             WHERE id = $1",
            &[self.id.into()],
        )?;
        drop_work_tables(self.id)
    }

    /// A run that stops early: what was delivered stays recorded, the rest
    /// is aborted. Cancelled runs are incomplete (the next run resumes);
    /// other errors fail the run.
    fn finish_with_error(&mut self, error: &Error) {
        let run_id = self.id;
        let sync_id = self.request.sync_id;
        let message = error.to_string();
        // A cancel that arrives now has been honoured already: recording the
        // outcome must not be cancelled too.
        unsafe { pg_sys::QueryCancelPending = 0 };
        let outcome = in_transaction(|| {
            let cancel_requested: Option<bool> = spi::one(
                "SELECT cancel_requested_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = $1",
                &[run_id.into()],
            )?;
            // Cancelled, or the destination stayed down: the next run resumes.
            let cancelled = error.state.code() == "57014"
                || error.state.code().starts_with("08")
                || cancel_requested == Some(true);
            let status = if cancelled { "incomplete" } else { "failed" };
            let ops_exist: Option<bool> = spi::one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[format!("reverse_etl_state.run_{run_id}_ops").into()],
            )?;
            if ops_exist == Some(true) {
                if let Some(plan) = &self.plan {
                    let reason = if cancelled {
                        format!("not attempted: the run was cancelled ({message})")
                    } else {
                        format!("not attempted: the run failed ({message})")
                    };
                    spi::execute(&plan.record_aborted(run_id, sync_id), &[reason.into()])?;
                }
            }
            end_early(run_id, status, &message)
        });
        if let Err(second) = outcome {
            pgrx::warning!(
                "pg_reverse_etl: run {run_id} failed ({message}) and could not be recorded: {second}"
            );
        }
    }
}

/// Runs of this sync still marked as going whose worker is gone (killed,
/// server restarted) are closed as incomplete: what they delivered stays
/// recorded, the rest is aborted, and this run resumes from the snapshot.
/// Called while holding the sync's run lock, so no live run is touched.
pub fn close_interrupted_runs(sync_id: i64) -> Result<()> {
    let stale: Vec<i64> = spi::rows(
        &format!(
            "SELECT r.id FROM reverse_etl.sync_runs r \
             WHERE r.sync_id = $1 AND r.status IN ('queued', 'querying', 'preparing', 'in_progress') \
               AND NOT {}",
            crate::catalog::RUN_WORKER_ALIVE
        ),
        &[sync_id.into()],
        |row| spi::get(row, 1),
    )?;
    for run_id in stale {
        let reason = "interrupted: the run's worker exited before finishing (server restart, crash or terminated worker)";
        let ops_table = format!("reverse_etl_state.run_{run_id}_ops");
        let ops_exist: Option<bool> = spi::one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[ops_table.as_str().into()],
        )?;
        if ops_exist == Some(true) {
            spi::execute(
                &super::plan::record_aborted(&ops_table, run_id, sync_id),
                &[format!("not attempted: {reason}").into()],
            )?;
        }
        end_early(run_id, "incomplete", reason)?;
    }
    Ok(())
}

/// Close a run that did not get through: operations not attempted count as
/// aborted, so the counts reconcile; its work tables go.
fn end_early(run_id: i64, status: &str, error: &str) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.sync_runs SET status = $2, error = $3, finished_at = clock_timestamp(), \
         aborted_added = planned_added - succeeded_added - rejected_added, \
         aborted_changed = planned_changed - succeeded_changed - rejected_changed, \
         aborted_removed = planned_removed - succeeded_removed - rejected_removed \
         WHERE id = $1",
        &[run_id.into(), status.into(), error.into()],
    )?;
    drop_work_tables(run_id)
}

fn drop_work_tables(run_id: i64) -> Result<()> {
    spi::execute(
        &format!("DROP TABLE IF EXISTS reverse_etl_state.run_{run_id}_rows, reverse_etl_state.run_{run_id}_ops"),
        &[],
    )?;
    Ok(())
}

/// Status of a run, for the launcher waiting on it.
pub fn run_status(run_id: i64) -> Result<Option<(String, Option<String>)>> {
    let rows = spi::rows(
        "SELECT status, error FROM reverse_etl.sync_runs WHERE id = $1",
        &[run_id.into()],
        |row| Ok((spi::get::<String>(row, 1)?, row.get::<String>(2)?)),
    )?;
    Ok(rows.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let request = RunRequest {
            database: 16384,
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
