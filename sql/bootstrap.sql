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

CREATE TABLE reverse_etl.destinations (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    kind       text NOT NULL,
    config     jsonb NOT NULL DEFAULT '{}',
    owner      regrole NOT NULL DEFAULT current_user::regrole,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

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
    created_by     name NOT NULL DEFAULT session_user,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    folder         text,
    labels         text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ON reverse_etl.syncs (model_id);
CREATE INDEX ON reverse_etl.syncs (destination_id);

CREATE TABLE reverse_etl.sync_runs (
    id                bigserial PRIMARY KEY,
    sync_id           bigint NOT NULL REFERENCES reverse_etl.syncs (id),
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
    -- a finished run's counts always reconcile
    CONSTRAINT sync_runs_counts_reconcile CHECK (
        status NOT IN ('succeeded', 'warning', 'failed', 'incomplete') OR (
            planned_added   = succeeded_added   + rejected_added   + aborted_added AND
            planned_changed = succeeded_changed + rejected_changed + aborted_changed AND
            planned_removed = succeeded_removed + rejected_removed + aborted_removed))
);
CREATE INDEX ON reverse_etl.sync_runs (sync_id, id DESC);
CREATE INDEX ON reverse_etl.sync_runs (status) WHERE status IN ('queued', 'querying', 'preparing', 'in_progress');
CREATE INDEX ON reverse_etl.sync_runs (sync_id, queued_at) WHERE due_at IS NOT NULL;

CREATE TABLE reverse_etl.sync_changelog (
    -- no foreign key: a check per logged row would cost more than the row
    run_id  bigint NOT NULL,
    sync_id bigint NOT NULL,
    row_id  text,
    op      text CHECK (op IN ('added', 'changed', 'removed')),
    status  text NOT NULL CHECK (status IN ('succeeded', 'rejected', 'aborted', 'invalid')),
    reason  text,
    fields  jsonb,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON reverse_etl.sync_changelog (run_id, status);
CREATE INDEX ON reverse_etl.sync_changelog (sync_id, row_id);

-- Every change to a sync: who, when, what, old → new.
CREATE TABLE reverse_etl.sync_activity (
    id         bigserial PRIMARY KEY,
    sync_id    bigint NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      name NOT NULL DEFAULT session_user,
    action     text NOT NULL,
    old_value  jsonb,
    new_value  jsonb
);
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
    created_by name NOT NULL DEFAULT session_user,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reverse_etl.sequence_runs (
    id          bigserial PRIMARY KEY,
    sequence_id bigint NOT NULL REFERENCES reverse_etl.sequences (id),
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

-- Sequence runs with their steps, by name.
CREATE VIEW reverse_etl.sequence_run_details AS
SELECT q.name AS sequence, r.id AS sequence_run_id, r.status AS sequence_status,
       r.started_at, r.finished_at, st.position, s.name AS sync, st.run_id,
       st.status AS step_status, st.reason, sr.status AS run_status
FROM reverse_etl.sequence_runs r
JOIN reverse_etl.sequences q ON q.id = r.sequence_id
LEFT JOIN reverse_etl.sequence_run_steps st ON st.sequence_run_id = r.id
LEFT JOIN reverse_etl.syncs s ON s.id = st.sync_id
LEFT JOIN reverse_etl.sync_runs sr ON sr.id = st.run_id;

-- sync_plan's results, handed from the preview worker to the caller and
-- deleted by it.
CREATE TABLE reverse_etl._plan_previews (
    id         bigserial PRIMARY KEY,
    sync_id    bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    result     jsonb NOT NULL
);
REVOKE ALL ON reverse_etl._plan_previews FROM PUBLIC;

-- Write-only: set_secret writes here; nothing returns a value to a user.
CREATE TABLE reverse_etl._secrets (
    name       text PRIMARY KEY CHECK (name <> ''),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON reverse_etl._secrets FROM PUBLIC;
-- Sync owners own their runs' work tables here; snapshots stay private.
GRANT USAGE ON SCHEMA reverse_etl_state TO PUBLIC;

-- pg_dump keeps the catalog's rows (extension tables are otherwise skipped).
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.models', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.destinations', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.destinations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.syncs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.syncs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_runs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_changelog', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._secrets', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_activity', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequences', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequences_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_runs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sequence_run_steps', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.sync_activity_id_seq', '');
