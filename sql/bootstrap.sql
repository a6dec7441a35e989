-- pg_reverse_etl catalog: ordinary tables that users and analysts query directly.
-- Public objects have plain names; private ones start with "_". Per-sync CDC
-- state and per-run work tables live in reverse_etl_state.

CREATE SCHEMA reverse_etl_state;
COMMENT ON SCHEMA reverse_etl_state IS
    'pg_reverse_etl internal state: per-sync snapshots and per-run work tables';

CREATE TABLE reverse_etl.models (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    query       text NOT NULL,
    primary_key text[] NOT NULL CHECK (cardinality(primary_key) > 0),
    -- the search_path in force when the model was defined; the query runs with it
    search_path text NOT NULL,
    -- the query's result columns at definition time: [{"name": …, "type": …}]
    columns     jsonb NOT NULL,
    owner       regrole NOT NULL DEFAULT current_user::regrole,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reverse_etl.models IS
    'Models: a SQL query and the column(s) that identify a row. Created with create_model.';
COMMENT ON COLUMN reverse_etl.models.id IS 'The model''s id (functions take it or the name).';
COMMENT ON COLUMN reverse_etl.models.name IS 'The model''s name, unique.';
COMMENT ON COLUMN reverse_etl.models.query IS 'The model''s query, as given (trailing semicolons removed).';
COMMENT ON COLUMN reverse_etl.models.primary_key IS 'Columns of the query''s result that identify a row: unique and not null per row.';
COMMENT ON COLUMN reverse_etl.models.search_path IS 'The search_path in force when the model was defined; every run uses it.';
COMMENT ON COLUMN reverse_etl.models.columns IS 'The query''s result columns at definition time: [{"name": …, "type": …}].';
COMMENT ON COLUMN reverse_etl.models.owner IS 'The role that created the model.';
COMMENT ON COLUMN reverse_etl.models.created_at IS 'When the model was created.';
COMMENT ON COLUMN reverse_etl.models.updated_at IS 'When the model was last changed.';

CREATE TABLE reverse_etl.destinations (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    kind       text NOT NULL,
    config     jsonb NOT NULL DEFAULT '{}',
    owner      regrole NOT NULL DEFAULT current_user::regrole,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reverse_etl.destinations IS
    'Destinations: where syncs send data (kind postgres, http or file) and the connection settings. Created with create_destination.';
COMMENT ON COLUMN reverse_etl.destinations.id IS 'The destination''s id.';
COMMENT ON COLUMN reverse_etl.destinations.name IS 'The destination''s name, unique.';
COMMENT ON COLUMN reverse_etl.destinations.kind IS 'postgres (a table in this database), http (a JSON/REST API) or file (files on the server).';
COMMENT ON COLUMN reverse_etl.destinations.config IS 'Connection settings of the kind; secrets appear only by name ({"secret": …}).';
COMMENT ON COLUMN reverse_etl.destinations.owner IS 'The role that created the destination.';
COMMENT ON COLUMN reverse_etl.destinations.created_at IS 'When the destination was created.';
COMMENT ON COLUMN reverse_etl.destinations.updated_at IS 'When the destination was last changed.';

CREATE TABLE reverse_etl.syncs (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (name <> ''),
    model_id       bigint NOT NULL REFERENCES reverse_etl.models (id),
    destination_id bigint NOT NULL REFERENCES reverse_etl.destinations (id),
    config         jsonb NOT NULL,
    enabled        boolean NOT NULL DEFAULT true,
    -- the model and the destination writes run with this role's privileges
    owner          regrole NOT NULL DEFAULT current_user::regrole,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     name NOT NULL DEFAULT current_user,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    folder         text,
    labels         text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE reverse_etl.syncs IS
    'Syncs: a model sent to a destination, configured by one JSON document (see sync_config). Created with create_sync.';
COMMENT ON COLUMN reverse_etl.syncs.id IS 'The sync''s id.';
COMMENT ON COLUMN reverse_etl.syncs.name IS 'The sync''s name, unique.';
COMMENT ON COLUMN reverse_etl.syncs.model_id IS 'The model it sends (reverse_etl.models.id).';
COMMENT ON COLUMN reverse_etl.syncs.destination_id IS 'Where it sends (reverse_etl.destinations.id).';
COMMENT ON COLUMN reverse_etl.syncs.config IS 'The sync''s configuration with every default written out: type, mode, match, mappings, delete_behavior, batch_size, schedule, …';
COMMENT ON COLUMN reverse_etl.syncs.enabled IS 'A disabled sync refuses to run and its schedule does not fire.';
COMMENT ON COLUMN reverse_etl.syncs.owner IS 'The role whose privileges runs use to read the model and write the destination.';
COMMENT ON COLUMN reverse_etl.syncs.created_at IS 'When the sync was created.';
COMMENT ON COLUMN reverse_etl.syncs.created_by IS 'Who created the sync.';
COMMENT ON COLUMN reverse_etl.syncs.updated_at IS 'When the sync was last changed.';
COMMENT ON COLUMN reverse_etl.syncs.folder IS 'The folder the sync is filed in (set_sync_folder), or NULL.';
COMMENT ON COLUMN reverse_etl.syncs.labels IS 'The sync''s labels (set_sync_labels), sorted.';
CREATE INDEX ON reverse_etl.syncs (model_id);
CREATE INDEX ON reverse_etl.syncs (destination_id);

CREATE TABLE reverse_etl.sync_runs (
    id                bigserial PRIMARY KEY,
    -- no foreign key: a dropped sync's runs stay (see dropped_objects)
    sync_id           bigint NOT NULL,
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN (
                          'queued', 'querying', 'preparing', 'in_progress',
                          'succeeded', 'warning', 'failed', 'incomplete',
                          -- a schedule tick that found the previous run still going
                          'skipped')),
    trigger           text NOT NULL DEFAULT 'manual',
    full_resync       boolean NOT NULL DEFAULT false,
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    error             text,
    rows_queried      bigint NOT NULL DEFAULT 0,
    rows_invalid      bigint NOT NULL DEFAULT 0,
    planned_added     bigint NOT NULL DEFAULT 0,
    planned_changed   bigint NOT NULL DEFAULT 0,
    planned_removed   bigint NOT NULL DEFAULT 0,
    succeeded_added   bigint NOT NULL DEFAULT 0,
    succeeded_changed bigint NOT NULL DEFAULT 0,
    succeeded_removed bigint NOT NULL DEFAULT 0,
    rejected_added    bigint NOT NULL DEFAULT 0,
    rejected_changed  bigint NOT NULL DEFAULT 0,
    rejected_removed  bigint NOT NULL DEFAULT 0,
    aborted_added     bigint NOT NULL DEFAULT 0,
    aborted_changed   bigint NOT NULL DEFAULT 0,
    aborted_removed   bigint NOT NULL DEFAULT 0,
    -- seconds spent in each phase: {"querying": …, "preparing": …, "delivering": …}
    phase_seconds     jsonb NOT NULL DEFAULT '{}',
    worker_pid        integer,
    cancel_requested_at timestamptz,
    -- when the schedule said the run was due (trigger 'schedule')
    due_at            timestamptz,
    -- positions of the run's operations whose outcome is recorded
    settled           int8multirange NOT NULL DEFAULT '{}',
    -- when retention removed the run's changelog
    changelog_purged_at timestamptz,
    -- advertising audiences: the sync's members after the run, how many
    -- the platform matched, and their ratio
    audience_members  bigint,
    audience_matched  bigint,
    match_rate        numeric,
    -- a finished run's counts always reconcile
    CONSTRAINT sync_runs_counts_reconcile CHECK (
        status NOT IN ('succeeded', 'warning', 'failed', 'incomplete') OR (
            planned_added   = succeeded_added   + rejected_added   + aborted_added AND
            planned_changed = succeeded_changed + rejected_changed + aborted_changed AND
            planned_removed = succeeded_removed + rejected_removed + aborted_removed))
);
COMMENT ON TABLE reverse_etl.sync_runs IS
    'One row per run of a sync: status, phase timings and, for added, changed and removed rows, how many were planned, succeeded, rejected and aborted. Progress is committed batch by batch.';
COMMENT ON COLUMN reverse_etl.sync_runs.id IS 'The run''s id (what sync_run returns).';
COMMENT ON COLUMN reverse_etl.sync_runs.sync_id IS 'The sync (reverse_etl.syncs.id).';
COMMENT ON COLUMN reverse_etl.sync_runs.status IS 'queued, querying, preparing, in_progress; then succeeded, warning (some rows rejected), failed, incomplete (interrupted: the next run resumes) or skipped (a schedule tick that found a run still going).';
COMMENT ON COLUMN reverse_etl.sync_runs.trigger IS 'What started it: manual, schedule, sequence, reset_cdc, clear_and_fill.';
COMMENT ON COLUMN reverse_etl.sync_runs.full_resync IS 'Every current row was sent as added.';
COMMENT ON COLUMN reverse_etl.sync_runs.queued_at IS 'When the run was asked for.';
COMMENT ON COLUMN reverse_etl.sync_runs.started_at IS 'When the run got its sync''s lock and started querying.';
COMMENT ON COLUMN reverse_etl.sync_runs.finished_at IS 'When the run ended.';
COMMENT ON COLUMN reverse_etl.sync_runs.error IS 'Why the run failed, ended incomplete or was skipped.';
COMMENT ON COLUMN reverse_etl.sync_runs.rows_queried IS 'Rows the model returned.';
COMMENT ON COLUMN reverse_etl.sync_runs.rows_invalid IS 'Rows with a NULL or duplicate primary key: logged in sync_changelog, never sent.';
COMMENT ON COLUMN reverse_etl.sync_runs.planned_added IS 'Operations planned for rows new to the sync.';
COMMENT ON COLUMN reverse_etl.sync_runs.planned_changed IS 'Operations planned for rows whose sent fields changed.';
COMMENT ON COLUMN reverse_etl.sync_runs.planned_removed IS 'Operations planned for rows that left the model.';
COMMENT ON COLUMN reverse_etl.sync_runs.succeeded_added IS 'Added rows the destination took.';
COMMENT ON COLUMN reverse_etl.sync_runs.succeeded_changed IS 'Changed rows the destination took.';
COMMENT ON COLUMN reverse_etl.sync_runs.succeeded_removed IS 'Removed rows acted on at the destination.';
COMMENT ON COLUMN reverse_etl.sync_runs.rejected_added IS 'Added rows the destination rejected (reason in sync_changelog); retried next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.rejected_changed IS 'Changed rows the destination rejected; retried next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.rejected_removed IS 'Removed rows the destination rejected; retried next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.aborted_added IS 'Added rows not attempted because the run stopped; sent by the next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.aborted_changed IS 'Changed rows not attempted because the run stopped; sent by the next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.aborted_removed IS 'Removed rows not attempted because the run stopped; acted on by the next run.';
COMMENT ON COLUMN reverse_etl.sync_runs.phase_seconds IS 'Seconds spent in each phase: {"querying": …, "preparing": …, "delivering": …}.';
COMMENT ON COLUMN reverse_etl.sync_runs.worker_pid IS 'The process id of the run''s background worker.';
COMMENT ON COLUMN reverse_etl.sync_runs.cancel_requested_at IS 'When cancel_run asked the run to stop.';
COMMENT ON COLUMN reverse_etl.sync_runs.settled IS 'Positions (in the run''s plan) of the operations whose outcome is recorded; those not settled when the run stops are aborted.';
COMMENT ON COLUMN reverse_etl.sync_runs.changelog_purged_at IS 'When retention removed the run''s sync_changelog rows (its counts stay).';
COMMENT ON COLUMN reverse_etl.sync_runs.audience_members IS 'Advertising audiences: the rows the sync had in the audience after the run (its snapshot).';
COMMENT ON COLUMN reverse_etl.sync_runs.audience_matched IS 'Advertising audiences: how many users of the audience the platform matched, as it reported after the run.';
COMMENT ON COLUMN reverse_etl.sync_runs.match_rate IS 'Advertising audiences: audience_matched / audience_members (0.6 is 60%); NULL for other destinations or when the platform did not say.';
COMMENT ON COLUMN reverse_etl.sync_runs.due_at IS 'When the schedule said the run was due (trigger schedule).';
CREATE INDEX ON reverse_etl.sync_runs (sync_id, id DESC);
CREATE INDEX ON reverse_etl.sync_runs (status) WHERE status IN ('queued', 'querying', 'preparing', 'in_progress');
CREATE INDEX ON reverse_etl.sync_runs (sync_id, queued_at) WHERE due_at IS NOT NULL;

-- The changelog: what became of each row of each run, stored in two
-- tables and read through the view reverse_etl.sync_changelog. Rows that
-- were delivered are most of it (every row of a first run), so they are
-- kept compactly, one row per delivered window and operation with the
-- row ids as an array, instead of an indexed row each; everything else
-- (rejected, aborted, invalid) has a row of its own, with its reason.
CREATE TABLE reverse_etl._changelog_entries (
    -- no foreign key: a check per logged row would cost more than the row
    run_id  bigint NOT NULL,
    sync_id bigint NOT NULL,
    row_id  text,
    op      text CHECK (op IN ('added', 'changed', 'removed')),
    status  text NOT NULL CHECK (status IN ('succeeded', 'rejected', 'aborted', 'invalid')),
    reason  text,
    fields  jsonb,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload jsonb
);
COMMENT ON TABLE reverse_etl._changelog_entries IS
    'Private, read through sync_changelog: rejected, aborted and invalid rows (and rows delivered before 0.2.0), one row each.';
CREATE INDEX ON reverse_etl._changelog_entries (run_id);
CREATE INDEX ON reverse_etl._changelog_entries (sync_id, row_id);

CREATE TABLE reverse_etl._changelog_successes (
    run_id  bigint NOT NULL,
    sync_id bigint NOT NULL,
    op      text NOT NULL CHECK (op IN ('added', 'changed', 'removed')),
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    row_ids text[] NOT NULL
);
COMMENT ON TABLE reverse_etl._changelog_successes IS
    'Private, read through sync_changelog: the rows a window delivered, one row per window and operation.';
CREATE INDEX ON reverse_etl._changelog_successes (run_id);
CREATE INDEX ON reverse_etl._changelog_successes (sync_id);

-- security_invoker: each reader sees the rows the tables' policies show it.
CREATE VIEW reverse_etl.sync_changelog WITH (security_invoker = true) AS
SELECT e.run_id, e.sync_id, e.row_id, e.op, e.status, e.reason, e.fields, e.at, e.payload
FROM reverse_etl._changelog_entries e
UNION ALL
SELECT s.run_id, s.sync_id, delivered.row_id, s.op, 'succeeded'::text, NULL::text, NULL::jsonb, s.at, NULL::jsonb
FROM reverse_etl._changelog_successes s
CROSS JOIN LATERAL unnest(s.row_ids) AS delivered(row_id);
COMMENT ON VIEW reverse_etl.sync_changelog IS
    'One row per planned operation or invalid row of a run: what became of each row.';
COMMENT ON COLUMN reverse_etl.sync_changelog.run_id IS 'The run (reverse_etl.sync_runs.id).';
COMMENT ON COLUMN reverse_etl.sync_changelog.sync_id IS 'The sync (reverse_etl.syncs.id).';
COMMENT ON COLUMN reverse_etl.sync_changelog.row_id IS 'The row''s primary key as text (42), or its row text for a composite key ((42,eu)).';
COMMENT ON COLUMN reverse_etl.sync_changelog.op IS 'added, changed or removed; NULL for an invalid row.';
COMMENT ON COLUMN reverse_etl.sync_changelog.status IS 'succeeded, rejected (by the destination), aborted (not attempted) or invalid (NULL or duplicate key).';
COMMENT ON COLUMN reverse_etl.sync_changelog.reason IS 'The destination''s error for a rejected row, why an aborted row was not attempted, what is wrong with an invalid row.';
COMMENT ON COLUMN reverse_etl.sync_changelog.fields IS 'The sent fields (keyed by model column) of rejected and invalid rows.';
COMMENT ON COLUMN reverse_etl.sync_changelog.at IS 'When the outcome was recorded (for delivered rows, when their window was).';
COMMENT ON COLUMN reverse_etl.sync_changelog.payload IS 'What was sent for a rejected row, as the destination got it (an http request''s method, URL and body or record; never headers).';

-- Every change to a sync: who, when, what, old → new.
CREATE TABLE reverse_etl.sync_activity (
    id         bigserial PRIMARY KEY,
    sync_id    bigint NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      name NOT NULL DEFAULT current_user,
    action     text NOT NULL,
    old_value  jsonb,
    new_value  jsonb
);
COMMENT ON TABLE reverse_etl.sync_activity IS
    'Every change to a sync: who, when, what, the value before and after.';
COMMENT ON COLUMN reverse_etl.sync_activity.id IS 'Order of the changes.';
COMMENT ON COLUMN reverse_etl.sync_activity.sync_id IS 'The sync (reverse_etl.syncs.id).';
COMMENT ON COLUMN reverse_etl.sync_activity.at IS 'When the change was made.';
COMMENT ON COLUMN reverse_etl.sync_activity.actor IS 'Who made it.';
COMMENT ON COLUMN reverse_etl.sync_activity.action IS 'created, updated, enabled, disabled, folder, labels, reset_cdc, clear_and_fill, model_changed, destination_changed or dropped.';
COMMENT ON COLUMN reverse_etl.sync_activity.old_value IS 'The value before (the whole configuration for updated).';
COMMENT ON COLUMN reverse_etl.sync_activity.new_value IS 'The value after.';
CREATE INDEX ON reverse_etl.sync_activity (sync_id, at);

-- Sequences: syncs run one after another.
CREATE TABLE reverse_etl.sequences (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    -- [{"sync_id": …, "on_failure": "stop" | "continue", "max_rejected_share": …}]
    steps      jsonb NOT NULL,
    schedule   jsonb NOT NULL DEFAULT '{"manual": true}',
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by name NOT NULL DEFAULT current_user,
    updated_at timestamptz NOT NULL DEFAULT now(),
    owner      regrole NOT NULL DEFAULT current_user::regrole
);
COMMENT ON TABLE reverse_etl.sequences IS
    'Sequences: syncs run one after another (create_sequence).';
COMMENT ON COLUMN reverse_etl.sequences.id IS 'The sequence''s id.';
COMMENT ON COLUMN reverse_etl.sequences.name IS 'The sequence''s name, unique.';
COMMENT ON COLUMN reverse_etl.sequences.steps IS 'The steps in order: [{"sync_id": …, "on_failure": "stop" | "continue", "max_rejected_share": …}].';
COMMENT ON COLUMN reverse_etl.sequences.schedule IS 'When the sequence runs on its own ({"manual": true}: never).';
COMMENT ON COLUMN reverse_etl.sequences.enabled IS 'A disabled sequence refuses to run and its schedule does not fire.';
COMMENT ON COLUMN reverse_etl.sequences.created_at IS 'When the sequence was created.';
COMMENT ON COLUMN reverse_etl.sequences.created_by IS 'Who created it.';
COMMENT ON COLUMN reverse_etl.sequences.updated_at IS 'When it was last changed.';
COMMENT ON COLUMN reverse_etl.sequences.owner IS 'The role that created the sequence: it, its members and superusers may run and change it.';

CREATE TABLE reverse_etl.sequence_runs (
    id          bigserial PRIMARY KEY,
    -- no foreign key: a dropped sequence's runs stay (see dropped_objects)
    sequence_id bigint NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'incomplete', 'skipped')),
    trigger     text NOT NULL DEFAULT 'manual',
    due_at      timestamptz,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    error       text,
    worker_pid  integer
);
COMMENT ON TABLE reverse_etl.sequence_runs IS
    'One row per run of a sequence.';
COMMENT ON COLUMN reverse_etl.sequence_runs.id IS 'The sequence run''s id (what sequence_run returns).';
COMMENT ON COLUMN reverse_etl.sequence_runs.sequence_id IS 'The sequence (reverse_etl.sequences.id).';
COMMENT ON COLUMN reverse_etl.sequence_runs.status IS 'queued, running, succeeded, failed, incomplete or skipped.';
COMMENT ON COLUMN reverse_etl.sequence_runs.trigger IS 'manual or schedule.';
COMMENT ON COLUMN reverse_etl.sequence_runs.due_at IS 'When the schedule said it was due.';
COMMENT ON COLUMN reverse_etl.sequence_runs.queued_at IS 'When it was asked for.';
COMMENT ON COLUMN reverse_etl.sequence_runs.started_at IS 'When its first step started.';
COMMENT ON COLUMN reverse_etl.sequence_runs.finished_at IS 'When it ended.';
COMMENT ON COLUMN reverse_etl.sequence_runs.error IS 'Why it failed, ended incomplete or was skipped.';
COMMENT ON COLUMN reverse_etl.sequence_runs.worker_pid IS 'The process id of its background worker.';
CREATE INDEX ON reverse_etl.sequence_runs (sequence_id, queued_at) WHERE due_at IS NOT NULL;

CREATE TABLE reverse_etl.sequence_run_steps (
    sequence_run_id bigint NOT NULL REFERENCES reverse_etl.sequence_runs (id),
    position        int NOT NULL,
    sync_id         bigint NOT NULL,
    run_id          bigint,
    -- succeeded | failed (and the sequence stopped) | failed_continued | skipped
    status          text NOT NULL,
    reason          text,
    PRIMARY KEY (sequence_run_id, position)
);
COMMENT ON TABLE reverse_etl.sequence_run_steps IS
    'One row per step of a sequence run: the sync''s run and what became of the step.';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.sequence_run_id IS 'The sequence run (reverse_etl.sequence_runs.id).';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.position IS 'The step''s position, from 1.';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.sync_id IS 'The step''s sync.';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.run_id IS 'The sync''s run (reverse_etl.sync_runs.id); NULL if it did not start.';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.status IS 'succeeded, failed (the sequence stopped), failed_continued or skipped.';
COMMENT ON COLUMN reverse_etl.sequence_run_steps.reason IS 'Why the step failed or was skipped.';

-- Sequence runs with their steps, by name.
CREATE VIEW reverse_etl.sequence_run_details WITH (security_invoker = true) AS
SELECT q.name AS sequence, r.id AS sequence_run_id, r.status AS sequence_status,
       r.started_at, r.finished_at, st.position, s.name AS sync, st.run_id,
       st.status AS step_status, st.reason, sr.status AS run_status
FROM reverse_etl.sequence_runs r
JOIN reverse_etl.sequences q ON q.id = r.sequence_id
LEFT JOIN reverse_etl.sequence_run_steps st ON st.sequence_run_id = r.id
LEFT JOIN reverse_etl.syncs s ON s.id = st.sync_id
LEFT JOIN reverse_etl.sync_runs sr ON sr.id = st.run_id;
COMMENT ON VIEW reverse_etl.sequence_run_details IS
    'Sequence runs with their steps, the sequence''s and syncs'' names and each step''s run status.';

-- sync_plan's results, handed from the preview worker to the caller and
-- deleted by it.
-- Dropped syncs and sequences whose history was kept (drop_sync,
-- drop_sequence): their runs, changelog and activity stay readable, to the
-- same roles as before, by their id.
CREATE TABLE reverse_etl.dropped_objects (
    kind       text NOT NULL CHECK (kind IN ('sync', 'sequence')),
    id         bigint NOT NULL,
    name       text NOT NULL,
    owner      regrole NOT NULL,
    definition jsonb NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now(),
    dropped_by name NOT NULL DEFAULT current_user,
    PRIMARY KEY (kind, id)
);
COMMENT ON TABLE reverse_etl.dropped_objects IS
    'Syncs and sequences dropped with keep_history: their runs, changelog and activity stay, joined by id.';
COMMENT ON COLUMN reverse_etl.dropped_objects.kind IS 'sync or sequence.';
COMMENT ON COLUMN reverse_etl.dropped_objects.id IS 'The dropped object''s id (sync_runs.sync_id, sequence_runs.sequence_id).';
COMMENT ON COLUMN reverse_etl.dropped_objects.name IS 'Its name when it was dropped (the name is free again).';
COMMENT ON COLUMN reverse_etl.dropped_objects.owner IS 'The role that owned it.';
COMMENT ON COLUMN reverse_etl.dropped_objects.definition IS 'What it was: a sync''s model, destination and configuration; a sequence''s steps and schedule.';
COMMENT ON COLUMN reverse_etl.dropped_objects.dropped_at IS 'When it was dropped.';
COMMENT ON COLUMN reverse_etl.dropped_objects.dropped_by IS 'Who dropped it.';

-- Private: configurations a sync's snapshot rows were delivered under
-- before update_sync changed its match: removals of those rows act on the
-- records as they were matched then (reverse_etl_state.snapshot_N.delivered_under).
CREATE TABLE reverse_etl._earlier_configs (
    id          bigserial PRIMARY KEY,
    sync_id     bigint NOT NULL,
    config      jsonb NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON reverse_etl._earlier_configs (sync_id);
COMMENT ON TABLE reverse_etl._earlier_configs IS
    'Private: configurations a sync''s snapshot rows were delivered under before its match changed.';
REVOKE ALL ON reverse_etl._earlier_configs FROM PUBLIC;

-- Private: how each sync's snapshot hashes were computed: a new server
-- major whose hashes differ (the probe) cannot compare them.
CREATE TABLE reverse_etl._snapshot_hashing (
    sync_id      bigint PRIMARY KEY,
    server_major int NOT NULL,
    probe        bigint NOT NULL
);
COMMENT ON TABLE reverse_etl._snapshot_hashing IS
    'Private: the server major and probe hash each sync''s snapshot hashes were computed with.';
REVOKE ALL ON reverse_etl._snapshot_hashing FROM PUBLIC;

-- The rows of each sync failing now: rejected, aborted or invalid at their
-- latest run (whatever the changelog keeps). A row leaves when it is
-- delivered, or when a run plans nothing for it any more.
CREATE TABLE reverse_etl.sync_failures (
    sync_id bigint NOT NULL,
    row_id  text NOT NULL,
    op      text CHECK (op IN ('added', 'changed', 'removed')),
    status  text NOT NULL CHECK (status IN ('rejected', 'aborted', 'invalid')),
    reason  text,
    fields  jsonb,
    run_id  bigint NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload jsonb,
    PRIMARY KEY (sync_id, row_id)
);
COMMENT ON TABLE reverse_etl.sync_failures IS
    'The rows of each sync that are failing now (rejected, aborted or invalid at their latest run), whatever the changelog keeps.';
COMMENT ON COLUMN reverse_etl.sync_failures.sync_id IS 'The sync.';
COMMENT ON COLUMN reverse_etl.sync_failures.row_id IS 'The row''s id (as in sync_changelog).';
COMMENT ON COLUMN reverse_etl.sync_failures.op IS 'added, changed or removed; NULL for an invalid row.';
COMMENT ON COLUMN reverse_etl.sync_failures.status IS 'rejected (by the destination), aborted (not attempted: the run stopped) or invalid (duplicate key).';
COMMENT ON COLUMN reverse_etl.sync_failures.reason IS 'Why.';
COMMENT ON COLUMN reverse_etl.sync_failures.fields IS 'The fields that were to be sent (rejected and invalid rows).';
COMMENT ON COLUMN reverse_etl.sync_failures.run_id IS 'The run that found it failing.';
COMMENT ON COLUMN reverse_etl.sync_failures.at IS 'When.';
COMMENT ON COLUMN reverse_etl.sync_failures.payload IS 'What was sent for a rejected row, as the destination got it (an http request''s method, URL and body or record; never headers).';
GRANT SELECT ON reverse_etl.sync_failures TO PUBLIC;
ALTER TABLE reverse_etl.sync_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY of_owned_syncs ON reverse_etl.sync_failures FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER')));
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_failures', '');

-- Alerts: channels (owned, like destinations), each (sync, trigger)
-- alert's state, and every attempt to tell a channel.
CREATE TABLE reverse_etl.alert_channels (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    kind       text NOT NULL,
    config     jsonb NOT NULL DEFAULT '{}',
    owner      regrole NOT NULL DEFAULT current_user::regrole,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reverse_etl.alert_channels IS
    'Where alerts are sent: kind webhook (generic, slack or pagerduty body, optionally signed), email (SMTP) or notify (PostgreSQL NOTIFY). Created with create_alert_channel.';
COMMENT ON COLUMN reverse_etl.alert_channels.id IS 'The channel''s id.';
COMMENT ON COLUMN reverse_etl.alert_channels.name IS 'The channel''s name, unique; syncs list it in alerts.channels.';
COMMENT ON COLUMN reverse_etl.alert_channels.kind IS 'webhook, email or notify.';
COMMENT ON COLUMN reverse_etl.alert_channels.config IS 'The kind''s settings; secrets appear only by name ({"secret": …}).';
COMMENT ON COLUMN reverse_etl.alert_channels.owner IS 'The role that created it: only its syncs may use it.';
COMMENT ON COLUMN reverse_etl.alert_channels.created_at IS 'When it was created.';
COMMENT ON COLUMN reverse_etl.alert_channels.updated_at IS 'When it was last changed.';

CREATE TABLE reverse_etl.alerts (
    id          bigserial PRIMARY KEY,
    sync_id     bigint NOT NULL,
    trigger     text NOT NULL,
    level       text NOT NULL CHECK (level IN ('warning', 'critical')),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    last_run_id bigint,
    message     text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX alerts_one_open ON reverse_etl.alerts (sync_id, trigger) WHERE status = 'open';
COMMENT ON TABLE reverse_etl.alerts IS
    'One row per alert: a (sync, trigger) condition from when it opened until it resolved.';
COMMENT ON COLUMN reverse_etl.alerts.id IS 'The alert''s id.';
COMMENT ON COLUMN reverse_etl.alerts.sync_id IS 'The sync.';
COMMENT ON COLUMN reverse_etl.alerts.trigger IS 'failed, rejected_share, incomplete_streak, volume_drop, slow or stale.';
COMMENT ON COLUMN reverse_etl.alerts.level IS 'warning or critical (the latest run''s, while open).';
COMMENT ON COLUMN reverse_etl.alerts.status IS 'open, or resolved once a later run no longer meets the condition.';
COMMENT ON COLUMN reverse_etl.alerts.opened_at IS 'When it opened.';
COMMENT ON COLUMN reverse_etl.alerts.resolved_at IS 'When it resolved.';
COMMENT ON COLUMN reverse_etl.alerts.last_run_id IS 'The latest run that met (or resolved) it.';
COMMENT ON COLUMN reverse_etl.alerts.message IS 'What is wrong, as the latest run found it.';
COMMENT ON COLUMN reverse_etl.alerts.details IS 'The numbers behind it.';

CREATE TABLE reverse_etl._alert_outbox (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    event       text NOT NULL CHECK (event IN ('alert.opened', 'alert.resolved')),
    body        jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON reverse_etl._alert_outbox (next_attempt_at) WHERE status = 'pending';
COMMENT ON TABLE reverse_etl._alert_outbox IS
    'Private: one row per change of an alert''s state and channel, what to send, until it is sent or its attempts run out.';
REVOKE ALL ON reverse_etl._alert_outbox FROM PUBLIC;

CREATE TABLE reverse_etl.alert_notifications (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    event       text NOT NULL CHECK (event IN ('alert.opened', 'alert.resolved')),
    -- the X-Reverse-ETL-Event-Id header: the same on every attempt
    event_id    bigint NOT NULL,
    attempt     int NOT NULL,
    status      text NOT NULL CHECK (status IN ('sent', 'failed')),
    response    text,
    error       text,
    retry_at    timestamptz,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON reverse_etl.alert_notifications (alert_id);
COMMENT ON TABLE reverse_etl.alert_notifications IS
    'One row per attempt to tell a channel of a change of an alert''s state: sent, or failed (and when it is tried again).';
COMMENT ON COLUMN reverse_etl.alert_notifications.id IS 'The attempt''s id.';
COMMENT ON COLUMN reverse_etl.alert_notifications.alert_id IS 'The alert.';
COMMENT ON COLUMN reverse_etl.alert_notifications.channel_id IS 'The channel.';
COMMENT ON COLUMN reverse_etl.alert_notifications.event IS 'alert.opened or alert.resolved.';
COMMENT ON COLUMN reverse_etl.alert_notifications.event_id IS 'The notification''s id (X-Reverse-ETL-Event-Id), the same on every attempt: a receiver drops a repeat.';
COMMENT ON COLUMN reverse_etl.alert_notifications.attempt IS 'The attempt''s number, from 1.';
COMMENT ON COLUMN reverse_etl.alert_notifications.status IS 'sent or failed.';
COMMENT ON COLUMN reverse_etl.alert_notifications.response IS 'The channel''s answer (status and start of the body).';
COMMENT ON COLUMN reverse_etl.alert_notifications.error IS 'Why the attempt failed.';
COMMENT ON COLUMN reverse_etl.alert_notifications.retry_at IS 'When a failed attempt is tried again (NULL: not again).';
COMMENT ON COLUMN reverse_etl.alert_notifications.at IS 'When the attempt was made.';
GRANT SELECT ON reverse_etl.alert_channels, reverse_etl.alerts, reverse_etl.alert_notifications TO PUBLIC;
ALTER TABLE reverse_etl.alert_channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.alert_notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._alert_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_or_monitor ON reverse_etl.alert_channels FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY of_visible_syncs ON reverse_etl.alerts FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s)
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sync'));
CREATE POLICY of_visible_alerts ON reverse_etl.alert_notifications FOR SELECT
    USING (alert_id IN (SELECT a.id FROM reverse_etl.alerts a));
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alert_channels', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alert_channels_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alerts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alert_notifications', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.alert_notifications_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._alert_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._alert_outbox_id_seq', '');

CREATE TABLE reverse_etl._plan_previews (
    id         bigserial PRIMARY KEY,
    sync_id    bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    result     jsonb NOT NULL
);
COMMENT ON TABLE reverse_etl._plan_previews IS
    'Private: sync_plan results handed from the preview worker to the caller, deleted by it.';
REVOKE ALL ON reverse_etl._plan_previews FROM PUBLIC;

-- Write-only: set_secret writes here; nothing returns a value to a user.
CREATE TABLE reverse_etl._secrets (
    name       text NOT NULL CHECK (name <> ''),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- secrets are namespaced by owner: a destination uses its owner's only
    owner      regrole NOT NULL DEFAULT current_user::regrole,
    CONSTRAINT _secrets_pkey PRIMARY KEY (owner, name)
);
COMMENT ON TABLE reverse_etl._secrets IS
    'Private: secrets set with set_secret, per owner; readable only by the extension''s owner.';
REVOKE ALL ON reverse_etl._secrets FROM PUBLIC;
-- Work tables and snapshots here belong to the extension's owner; a run
-- grants its sync's owner what its statements need on its own work tables.
GRANT USAGE ON SCHEMA reverse_etl_state TO PUBLIC;

-- Which sync wrote each file of a file destination: one sync never
-- overwrites another's files (or a file the extension did not write).
CREATE TABLE reverse_etl._written_files (
    directory  text NOT NULL,
    name       text NOT NULL,
    sync_id    bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (directory, name)
);
COMMENT ON TABLE reverse_etl._written_files IS
    'Private: the files file destinations wrote, and which sync wrote each.';
REVOKE ALL ON reverse_etl._written_files FROM PUBLIC;

-- Who sees what. With GRANT USAGE ON SCHEMA reverse_etl a role reads the
-- catalog and logs of its own objects (and of roles it is a member of);
-- members of pg_monitor see every sync's definition, status and runs but no
-- row data (the changelog). Nobody but superusers and the extension's owner
-- writes the catalog: every change goes through the functions. The private
-- tables have no grants, and row-level security with no policy as well,
-- except the changelog's two, read through their view with its policy.
GRANT SELECT ON reverse_etl.models, reverse_etl.destinations, reverse_etl.syncs,
    reverse_etl.sync_runs, reverse_etl.sync_changelog, reverse_etl.sync_activity,
    reverse_etl.sequences, reverse_etl.sequence_runs, reverse_etl.sequence_run_steps,
    reverse_etl.sequence_run_details, reverse_etl.dropped_objects TO PUBLIC;
-- The changelog's two tables, through its security_invoker view.
GRANT SELECT ON reverse_etl._changelog_entries, reverse_etl._changelog_successes TO PUBLIC;
ALTER TABLE reverse_etl.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.destinations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.syncs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sync_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._changelog_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._changelog_successes ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sync_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequences ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequence_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequence_run_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._plan_previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._written_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.dropped_objects ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_or_monitor ON reverse_etl.models FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.destinations FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.syncs FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.sequences FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
-- Rows of the syncs (sequences) the reader may see, by the policies above.
CREATE POLICY of_visible_syncs ON reverse_etl.sync_runs FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s)
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sync'));
CREATE POLICY of_visible_syncs ON reverse_etl.sync_activity FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s)
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sync'));
CREATE POLICY of_visible_sequences ON reverse_etl.sequence_runs FOR SELECT
    USING (sequence_id IN (SELECT q.id FROM reverse_etl.sequences q)
           OR sequence_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sequence'));
CREATE POLICY of_visible_sequences ON reverse_etl.sequence_run_steps FOR SELECT
    USING (sequence_run_id IN (SELECT r.id FROM reverse_etl.sequence_runs r));
-- Row data: owners (and their members) only, not monitors.
CREATE POLICY of_owned_syncs ON reverse_etl._changelog_entries FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER'))
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d
                          WHERE d.kind = 'sync' AND pg_catalog.pg_has_role(d.owner::oid, 'MEMBER')));
CREATE POLICY of_owned_syncs ON reverse_etl._changelog_successes FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER'))
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d
                          WHERE d.kind = 'sync' AND pg_catalog.pg_has_role(d.owner::oid, 'MEMBER')));
CREATE POLICY owner_or_monitor ON reverse_etl.dropped_objects FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));

-- Secrets by name, never their values: each role sees its own.
CREATE VIEW reverse_etl.secrets WITH (security_barrier = true) AS
SELECT owner, name, updated_at FROM reverse_etl._secrets
WHERE pg_catalog.pg_has_role(owner::oid, 'MEMBER');
GRANT SELECT ON reverse_etl.secrets TO PUBLIC;
COMMENT ON VIEW reverse_etl.secrets IS
    'The secrets you own (set_secret), by name; no view or function shows a value.';
COMMENT ON COLUMN reverse_etl.secrets.owner IS 'The role that set it: only its destinations can use it.';
COMMENT ON COLUMN reverse_etl.secrets.name IS 'The name destinations reference as {"secret": name}.';
COMMENT ON COLUMN reverse_etl.secrets.updated_at IS 'When it was last set.';

-- pg_dump keeps the catalog's rows (extension tables are otherwise skipped).
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.models', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.destinations', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.destinations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.syncs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.syncs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_runs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._changelog_entries', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._changelog_successes', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._secrets', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_activity', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequences', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequences_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_runs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_run_steps', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_activity_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._written_files', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.dropped_objects', '');
ALTER TABLE reverse_etl._earlier_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._snapshot_hashing ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._earlier_configs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._earlier_configs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._snapshot_hashing', '');

-- A run's row hash (see src/postgres/row_hash.rs): declared here because
-- pgrx cannot declare a VARIADIC "any" function.
CREATE FUNCTION reverse_etl._hash_fields(seed bigint, VARIADIC fields "any") RETURNS bigint
IMMUTABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'reverse_etl_hash_fields';
COMMENT ON FUNCTION reverse_etl._hash_fields(bigint, "any") IS 'Private: hash_record_extended(ROW(fields…), seed) without forming the row; a run''s row hash.';
