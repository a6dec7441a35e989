-- pg_reverse_etl 0.1.0 → 0.2.0 (in development: this script may change
-- until 0.2.0 is released; after that it is frozen like the others).
-- Every schema change since 0.1.0 is here, in order; tests/upgrade.rs checks
-- that 0.1.0 plus this script equals a fresh 0.2.0 install.

-- set_sync_labels(sync, NULL) takes every label off instead of doing
-- nothing: the functions are no longer STRICT.
ALTER FUNCTION reverse_etl.set_sync_labels(text, text[]) CALLED ON NULL INPUT;
ALTER FUNCTION reverse_etl.set_sync_labels(bigint, text[]) CALLED ON NULL INPUT;

-- Owners and authorization (a shared database): every object has an owner
-- who alone (with its members and superusers) may use it; catalog tables
-- are read through row-level security and written only by the functions;
-- secrets are namespaced by owner.

-- Actors are current_user (after SET ROLE), not session_user.
ALTER TABLE reverse_etl.syncs ALTER COLUMN created_by SET DEFAULT current_user;
ALTER TABLE reverse_etl.sync_activity ALTER COLUMN actor SET DEFAULT current_user;
ALTER TABLE reverse_etl.sequences ALTER COLUMN created_by SET DEFAULT current_user;

-- Sequences get an owner: the role that created them, where it still exists.
ALTER TABLE reverse_etl.sequences ADD COLUMN owner regrole;
UPDATE reverse_etl.sequences SET owner = coalesce(pg_catalog.to_regrole(created_by), current_user::regrole);
ALTER TABLE reverse_etl.sequences ALTER COLUMN owner SET NOT NULL,
    ALTER COLUMN owner SET DEFAULT current_user::regrole;
COMMENT ON COLUMN reverse_etl.sequences.owner IS 'The role that created the sequence: it, its members and superusers may run and change it.';

-- Secrets per owner. A secret that destinations of several owners used
-- becomes one secret of each of them; one nobody's destination used goes
-- to the role running the update.
ALTER TABLE reverse_etl._secrets DROP CONSTRAINT _secrets_pkey;
ALTER TABLE reverse_etl._secrets ADD COLUMN owner regrole;
INSERT INTO reverse_etl._secrets (name, value, updated_at, owner)
SELECT DISTINCT s.name, s.value, s.updated_at, d.owner
FROM reverse_etl._secrets s
JOIN reverse_etl.destinations d ON d.kind = 'http'
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(d.config->'headers') = 'object'
                                   THEN d.config->'headers' ELSE '{}' END) AS h (name, value)
WHERE s.owner IS NULL AND jsonb_typeof(h.value) = 'object' AND h.value->>'secret' = s.name;
DELETE FROM reverse_etl._secrets s
WHERE s.owner IS NULL AND EXISTS (
    SELECT 1 FROM reverse_etl._secrets c WHERE c.name = s.name AND c.owner IS NOT NULL);
UPDATE reverse_etl._secrets SET owner = current_user::regrole WHERE owner IS NULL;
ALTER TABLE reverse_etl._secrets ALTER COLUMN owner SET NOT NULL,
    ALTER COLUMN owner SET DEFAULT current_user::regrole;
ALTER TABLE reverse_etl._secrets ADD CONSTRAINT _secrets_pkey PRIMARY KEY (owner, name);
COMMENT ON TABLE reverse_etl._secrets IS
    'Private: secrets set with set_secret, per owner; readable only by the extension''s owner.';

-- Which sync wrote each file of a file destination.
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
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._written_files', '');

-- Who sees what (see sql/bootstrap.sql).
GRANT SELECT ON reverse_etl.models, reverse_etl.destinations, reverse_etl.syncs,
    reverse_etl.sync_runs, reverse_etl.sync_changelog, reverse_etl.sync_activity,
    reverse_etl.sequences, reverse_etl.sequence_runs, reverse_etl.sequence_run_steps,
    reverse_etl.sequence_run_details, reverse_etl.sync_overview TO PUBLIC;
ALTER VIEW reverse_etl.sequence_run_details SET (security_invoker = true);
ALTER VIEW reverse_etl.sync_overview SET (security_invoker = true);
ALTER TABLE reverse_etl.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.destinations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.syncs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sync_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sync_changelog ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sync_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequences ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequence_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl.sequence_run_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._plan_previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._written_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_or_monitor ON reverse_etl.models FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.destinations FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.syncs FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY owner_or_monitor ON reverse_etl.sequences FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
CREATE POLICY of_visible_syncs ON reverse_etl.sync_runs FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s));
CREATE POLICY of_visible_syncs ON reverse_etl.sync_activity FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s));
CREATE POLICY of_visible_sequences ON reverse_etl.sequence_runs FOR SELECT
    USING (sequence_id IN (SELECT q.id FROM reverse_etl.sequences q));
CREATE POLICY of_visible_sequences ON reverse_etl.sequence_run_steps FOR SELECT
    USING (sequence_run_id IN (SELECT r.id FROM reverse_etl.sequence_runs r));
CREATE POLICY of_owned_syncs ON reverse_etl.sync_changelog FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER')));

CREATE VIEW reverse_etl.secrets WITH (security_barrier = true) AS
SELECT owner, name, updated_at FROM reverse_etl._secrets
WHERE pg_catalog.pg_has_role(owner::oid, 'MEMBER');
GRANT SELECT ON reverse_etl.secrets TO PUBLIC;
COMMENT ON VIEW reverse_etl.secrets IS
    'The secrets you own (set_secret), by name; no view or function shows a value.';
COMMENT ON COLUMN reverse_etl.secrets.owner IS 'The role that set it: only its destinations can use it.';
COMMENT ON COLUMN reverse_etl.secrets.name IS 'The name destinations reference as {"secret": name}.';
COMMENT ON COLUMN reverse_etl.secrets.updated_at IS 'When it was last set.';

-- set_secret keeps its caller (it is no longer SECURITY DEFINER: the
-- function itself does the catalog's work as the extension's owner).
ALTER FUNCTION reverse_etl.set_secret(text, text) SECURITY INVOKER RESET search_path;
COMMENT ON FUNCTION reverse_etl.set_secret(text, text) IS 'Stores (or replaces) one of your secrets, which your destinations reference as {"secret": name}. Write-only: no view or function returns it; another role''s secret of the same name is another secret.';
CREATE FUNCTION reverse_etl."delete_secret"(
	"name" TEXT
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'delete_secret_wrapper';
COMMENT ON FUNCTION reverse_etl.delete_secret(text) IS 'Deletes one of your secrets; refused while one of your destinations uses it.';

REVOKE EXECUTE ON FUNCTION reverse_etl._wake_scheduler() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION reverse_etl._schedules_changed() FROM PUBLIC;

-- sync_overview answers for every row: a stored schedule that does not
-- parse (an older version's) shows no next due time instead of an error.
CREATE FUNCTION reverse_etl."_next_run_at"(
	"schedule" jsonb
) RETURNS timestamp with time zone
STABLE
LANGUAGE c
AS 'MODULE_PATHNAME', '_next_run_at_wrapper';
COMMENT ON FUNCTION reverse_etl._next_run_at(jsonb) IS 'Private: a stored schedule''s next due time for sync_overview (NULL where it does not parse).';
CREATE OR REPLACE VIEW reverse_etl.sync_overview WITH (security_invoker = true) AS
SELECT s.id, s.name,
       CASE WHEN NOT s.enabled THEN 'Disabled'
            WHEN r.id IS NULL THEN 'Pending'
            -- a run marked as going whose worker is gone (killed, restart)
            WHEN r.status IN ('queued', 'querying', 'preparing', 'in_progress')
                 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.pid = r.worker_pid AND a.backend_type = 'pg_reverse_etl run')
                 THEN 'Incomplete'
            ELSE CASE r.status
                WHEN 'queued' THEN 'Queued' WHEN 'querying' THEN 'Querying'
                WHEN 'preparing' THEN 'Preparing' WHEN 'in_progress' THEN 'In Progress'
                WHEN 'succeeded' THEN 'Healthy' WHEN 'warning' THEN 'Warning'
                WHEN 'incomplete' THEN 'Incomplete' WHEN 'failed' THEN 'Failed' END
       END AS status,
       m.name AS model, d.name AS destination, d.kind AS destination_kind,
       s.config->>'type' AS type, s.config->>'mode' AS mode, s.config->'schedule' AS schedule,
       s.enabled, s.folder, s.labels,
       r.id AS last_run_id, coalesce(r.finished_at, r.started_at, r.queued_at) AS last_run_at,
       r.status AS last_run_status, r.error AS last_run_error,
       CASE WHEN s.enabled THEN reverse_etl._next_run_at(s.config->'schedule') END AS next_run_at,
       s.created_at, s.created_by, s.owner
FROM reverse_etl.syncs s
JOIN reverse_etl.models m ON m.id = s.model_id
JOIN reverse_etl.destinations d ON d.id = s.destination_id
LEFT JOIN LATERAL (SELECT * FROM reverse_etl.sync_runs r
                   WHERE r.sync_id = s.id AND r.status <> 'skipped' ORDER BY r.id DESC LIMIT 1) r ON true;

-- Honest outcomes: sync_run and sequence_run with wait raise for a run that
-- ended failed (SQLSTATE 38000) or incomplete (57014), unless raise_on_failure is
-- false; wait_for_run waits for a run started with wait => false.
DROP FUNCTION reverse_etl.sync_run(text, boolean, boolean, boolean);
DROP FUNCTION reverse_etl.sync_run(bigint, boolean, boolean, boolean);
CREATE FUNCTION reverse_etl."sync_run"(
	"sync" TEXT,
	"full_resync" bool DEFAULT false,
	"wait" bool DEFAULT true,
	"allow_mass_removal" bool DEFAULT false,
	"raise_on_failure" bool DEFAULT true
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'sync_run_by_name_wrapper';
CREATE FUNCTION reverse_etl."sync_run"(
	"sync" bigint,
	"full_resync" bool DEFAULT false,
	"wait" bool DEFAULT true,
	"allow_mass_removal" bool DEFAULT false,
	"raise_on_failure" bool DEFAULT true
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'sync_run_by_id_wrapper';
COMMENT ON FUNCTION reverse_etl.sync_run(text, boolean, boolean, boolean, boolean) IS 'Runs a sync in a background worker and returns the run id; with wait (the default) returns when the run has ended, and a run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false. full_resync sends every current row as added; allow_mass_removal lets this run pass the removal guard.';
COMMENT ON FUNCTION reverse_etl.sync_run(bigint, boolean, boolean, boolean, boolean) IS 'Runs a sync in a background worker and returns the run id; with wait (the default) returns when the run has ended, and a run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false. full_resync sends every current row as added; allow_mass_removal lets this run pass the removal guard.';
DROP FUNCTION reverse_etl.sequence_run(text, boolean);
DROP FUNCTION reverse_etl.sequence_run(bigint, boolean);
CREATE FUNCTION reverse_etl."sequence_run"(
	"sequence" TEXT,
	"wait" bool DEFAULT true,
	"raise_on_failure" bool DEFAULT true
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'sequence_run_by_name_wrapper';
CREATE FUNCTION reverse_etl."sequence_run"(
	"sequence" bigint,
	"wait" bool DEFAULT true,
	"raise_on_failure" bool DEFAULT true
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'sequence_run_by_id_wrapper';
COMMENT ON FUNCTION reverse_etl.sequence_run(text, boolean, boolean) IS 'Runs a sequence''s steps one after another in a background worker and returns the sequence run id; with wait (the default) returns when it has ended, and a sequence run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false.';
COMMENT ON FUNCTION reverse_etl.sequence_run(bigint, boolean, boolean) IS 'Runs a sequence''s steps one after another in a background worker and returns the sequence run id; with wait (the default) returns when it has ended, and a sequence run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false.';
CREATE FUNCTION reverse_etl."wait_for_run"(
	"run" bigint,
	"timeout" interval DEFAULT NULL
) RETURNS TEXT
LANGUAGE c
AS 'MODULE_PATHNAME', 'wait_for_run_wrapper';
COMMENT ON FUNCTION reverse_etl.wait_for_run(bigint, interval) IS 'Waits until a sync run has ended and returns its status (succeeded, warning, failed, incomplete); with a timeout, returns the status it has then.';

-- Lifecycle: syncs and sequences can be dropped, keeping their history
-- (drop_sync, drop_sequence with keep_history); runs no longer reference
-- a live sync or sequence, and the dropped ones' runs stay visible to the
-- same roles.
ALTER TABLE reverse_etl.sync_runs DROP CONSTRAINT sync_runs_sync_id_fkey;
ALTER TABLE reverse_etl.sequence_runs DROP CONSTRAINT sequence_runs_sequence_id_fkey;
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

GRANT SELECT ON reverse_etl.dropped_objects TO PUBLIC;
ALTER TABLE reverse_etl.dropped_objects ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_or_monitor ON reverse_etl.dropped_objects FOR SELECT
    USING (pg_catalog.pg_has_role(owner::oid, 'MEMBER') OR pg_catalog.pg_has_role('pg_monitor', 'MEMBER'));
SELECT pg_catalog.pg_extension_config_dump('reverse_etl.dropped_objects', '');
DROP POLICY of_visible_syncs ON reverse_etl.sync_runs;
CREATE POLICY of_visible_syncs ON reverse_etl.sync_runs FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s)
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sync'));
DROP POLICY of_visible_syncs ON reverse_etl.sync_activity;
CREATE POLICY of_visible_syncs ON reverse_etl.sync_activity FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s)
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sync'));
DROP POLICY of_visible_sequences ON reverse_etl.sequence_runs;
CREATE POLICY of_visible_sequences ON reverse_etl.sequence_runs FOR SELECT
    USING (sequence_id IN (SELECT q.id FROM reverse_etl.sequences q)
           OR sequence_id IN (SELECT d.id FROM reverse_etl.dropped_objects d WHERE d.kind = 'sequence'));
DROP POLICY of_owned_syncs ON reverse_etl.sync_changelog;
CREATE POLICY of_owned_syncs ON reverse_etl.sync_changelog FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER'))
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d
                          WHERE d.kind = 'sync' AND pg_catalog.pg_has_role(d.owner::oid, 'MEMBER')));

-- Lifecycle: change and drop models, destinations, syncs and sequences;
-- create_* with replace => true apply a definition idempotently.
DROP FUNCTION reverse_etl.create_model(text, text, text[]);
DROP FUNCTION reverse_etl.create_destination(text, text, jsonb);
DROP FUNCTION reverse_etl.create_sync(text, text, text, jsonb);
DROP FUNCTION reverse_etl.create_sync(text, bigint, bigint, jsonb);
DROP FUNCTION reverse_etl.create_sequence(text, jsonb, jsonb);
CREATE FUNCTION reverse_etl."create_model"(
	"name" TEXT,
	"query" TEXT,
	"primary_key" TEXT[],
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_model_wrapper';
CREATE FUNCTION reverse_etl."create_destination"(
	"name" TEXT,
	"kind" TEXT,
	"config" jsonb DEFAULT '{}',
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_destination_wrapper';
CREATE FUNCTION reverse_etl."create_sync"(
	"name" TEXT,
	"model" bigint,
	"destination" bigint,
	"config" jsonb,
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_sync_by_id_wrapper';
CREATE FUNCTION reverse_etl."create_sync"(
	"name" TEXT,
	"model" TEXT,
	"destination" TEXT,
	"config" jsonb,
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_sync_by_name_wrapper';
CREATE FUNCTION reverse_etl."create_sequence"(
	"name" TEXT,
	"steps" jsonb,
	"schedule" jsonb DEFAULT '{"manual": true}',
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_sequence_wrapper';
CREATE FUNCTION reverse_etl."update_model"(
	"model" bigint,
	"query" TEXT DEFAULT NULL,
	"primary_key" TEXT[] DEFAULT NULL,
	"force" bool DEFAULT false
) RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_model_by_id_wrapper';
CREATE FUNCTION reverse_etl."update_model"(
	"model" TEXT,
	"query" TEXT DEFAULT NULL,
	"primary_key" TEXT[] DEFAULT NULL,
	"force" bool DEFAULT false
) RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_model_by_name_wrapper';
CREATE FUNCTION reverse_etl."update_destination"(
	"destination" bigint,
	"config" jsonb,
	"force" bool DEFAULT false
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_destination_by_id_wrapper';
CREATE FUNCTION reverse_etl."update_destination"(
	"destination" TEXT,
	"config" jsonb,
	"force" bool DEFAULT false
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_destination_by_name_wrapper';
CREATE FUNCTION reverse_etl."drop_sync"(
	"sync" bigint,
	"keep_history" bool DEFAULT true,
	"cascade" bool DEFAULT false
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_sync_by_id_wrapper';
CREATE FUNCTION reverse_etl."drop_sync"(
	"sync" TEXT,
	"keep_history" bool DEFAULT true,
	"cascade" bool DEFAULT false
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_sync_by_name_wrapper';
CREATE FUNCTION reverse_etl."drop_model"(
	"model" bigint,
	"cascade" bool DEFAULT false,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_model_by_id_wrapper';
CREATE FUNCTION reverse_etl."drop_model"(
	"model" TEXT,
	"cascade" bool DEFAULT false,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_model_by_name_wrapper';
CREATE FUNCTION reverse_etl."drop_destination"(
	"destination" bigint,
	"cascade" bool DEFAULT false,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_destination_by_id_wrapper';
CREATE FUNCTION reverse_etl."drop_destination"(
	"destination" TEXT,
	"cascade" bool DEFAULT false,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_destination_by_name_wrapper';
CREATE FUNCTION reverse_etl."drop_sequence"(
	"sequence" bigint,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_sequence_by_id_wrapper';
CREATE FUNCTION reverse_etl."drop_sequence"(
	"sequence" TEXT,
	"keep_history" bool DEFAULT true
) RETURNS void
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_sequence_by_name_wrapper';
DO $comments$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS signature, d.comment
        FROM pg_catalog.pg_proc p
        JOIN (VALUES
            ('create_model', 'Defines a model: a query and the column(s) that identify a row. The query is run once with LIMIT 0, as you, to check it and record its columns; the current search_path is stored and used by every run. With replace, a model of that name that is yours is changed in place (as update_model; unchanged when identical). Returns the model id.'),
            ('create_destination', 'Defines a destination: kind postgres (config {}), http ({"url": …, "headers": …, …}) or file ({"directory": …}). With replace, a destination of that name that is yours takes the new config in place (as update_destination; unchanged when identical). Returns the destination id.'),
            ('create_sync', 'Defines a sync of a model to a destination, validated against both; the caller becomes its owner, whose privileges its runs use. With replace, a sync of that name that is yours (same model and destination) takes the new configuration in place, keeping its id and history; unchanged when identical. Returns the sync id.'),
            ('create_sequence', 'Defines a sequence of syncs run one after another: steps are sync names or ids, or {"sync": …, "on_failure": "stop" | "continue", "max_rejected_share": …}. With replace, a sequence of that name that is yours takes the new steps and schedule in place. Returns the sequence id.'),
            ('update_model', 'Changes a model''s query and/or primary key (NULL keeps it), described again as you; every sync of the model is checked again and the change is refused naming the sync it would break, unless force, which disables those syncs. A changed primary key makes its syncs'' next run send every row as added.'),
            ('update_destination', 'Replaces a destination''s config, validated like create_destination; every sync sending to it is checked again and the change is refused naming the sync it would break, unless force, which disables those syncs.'),
            ('drop_sync', 'Drops a sync: its going run is cancelled, its snapshot, state and schedule are removed; its runs, changelog and activity stay (see dropped_objects) unless keep_history is false. Refused while a sequence uses it, unless cascade (which drops those sequences).'),
            ('drop_model', 'Drops a model; refused while syncs send it, unless cascade (which drops them, keeping their history unless keep_history is false).'),
            ('drop_destination', 'Drops a destination; refused while syncs send to it, unless cascade (which drops them, keeping their history unless keep_history is false).'),
            ('drop_sequence', 'Drops a sequence (its syncs stay); its runs stay unless keep_history is false. Refused while it is running.')
        ) AS d (name, comment) ON d.name = p.proname
        WHERE p.pronamespace = 'reverse_etl'::regnamespace
    LOOP
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.signature, f.comment);
    END LOOP;
END
$comments$;
COMMENT ON COLUMN reverse_etl.sync_activity.action IS 'created, updated, enabled, disabled, folder, labels, reset_cdc, clear_and_fill, model_changed, destination_changed or dropped.';

-- A changed match: removals act on records as they were matched when sent.
-- A new server major: snapshot hashes are compared only if it hashes alike.
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
ALTER TABLE reverse_etl._earlier_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reverse_etl._snapshot_hashing ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._earlier_configs', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._earlier_configs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._snapshot_hashing', '');
DO $snapshots$
DECLARE
    snapshot regclass;
BEGIN
    FOR snapshot IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'reverse_etl_state'::regnamespace AND c.relkind = 'r'
          AND c.relname ~ '^snapshot_[0-9]+$'
    LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN delivered_under bigint, ADD COLUMN last_run_id bigint, ADD COLUMN last_op "char"', snapshot);
    END LOOP;
END
$snapshots$;

-- Sync logs: what a run settled is kept in the run, not derived from its
-- changelog (which a sync may keep for failures only, or not at all).
ALTER TABLE reverse_etl.sync_runs ADD COLUMN settled int8multirange NOT NULL DEFAULT '{}';
COMMENT ON COLUMN reverse_etl.sync_runs.settled IS 'Positions (in the run''s plan) of the operations whose outcome is recorded; those not settled when the run stops are aborted.';
ALTER TABLE reverse_etl.sync_runs ADD COLUMN changelog_purged_at timestamptz;
COMMENT ON COLUMN reverse_etl.sync_runs.changelog_purged_at IS 'When retention removed the run''s sync_changelog rows (its counts stay).';
CREATE FUNCTION reverse_etl."purge_logs"(
	"older_than" interval
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'purge_logs_wrapper';
COMMENT ON FUNCTION reverse_etl.purge_logs(interval) IS 'Removes the changelog of runs (of the syncs you may use, and those dropped with their history) that ended more than older_than ago, in batches; returns how many rows went. Runs'' counts stay in sync_runs. Retention (logs.retention, reverse_etl.log_retention) does the same after each run and hourly in the scheduler.';

-- sync_snapshot: the rows each sync delivered or is failing on; a sync's
-- owner reads its own snapshot.
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
DO $grants$
DECLARE
    sync record;
BEGIN
    FOR sync IN
        SELECT s.id, s.owner FROM reverse_etl.syncs s
        WHERE pg_catalog.to_regclass(pg_catalog.format('reverse_etl_state.snapshot_%s', s.id)) IS NOT NULL
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON reverse_etl_state.snapshot_%s TO %s', sync.id, sync.owner);
    END LOOP;
END
$grants$;
-- One row per sync and row the sync knows: delivered (its snapshot) or
-- failing (sync_failures). Row data: the sync's owner and its members only.
CREATE FUNCTION reverse_etl._sync_snapshot(sync_id bigint)
RETURNS TABLE (row_id text, in_model boolean, last_op text, last_status text, failure_reason text,
               fields jsonb, last_run_id bigint, updated_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $function$
DECLARE
    snapshot regclass := pg_catalog.to_regclass(pg_catalog.format('reverse_etl_state.snapshot_%s', sync_id));
BEGIN
    IF snapshot IS NULL OR NOT pg_catalog.has_table_privilege(snapshot, 'SELECT') THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format($query$
        SELECT coalesce(f.row_id, s.row_id),
               f.op IS DISTINCT FROM 'removed',
               coalesce(f.op, CASE s.last_op WHEN 'a' THEN 'added' WHEN 'c' THEN 'changed' END),
               coalesce(f.status, 'succeeded'),
               f.reason, f.fields,
               coalesce(f.run_id, s.last_run_id),
               coalesce(f.at, r.finished_at)
        FROM %s s
        FULL JOIN (SELECT * FROM reverse_etl.sync_failures x WHERE x.sync_id = $1) f ON f.row_id = s.row_id
        LEFT JOIN reverse_etl.sync_runs r ON r.id = s.last_run_id AND f.row_id IS NULL
    $query$, snapshot) USING sync_id;
END
$function$;
COMMENT ON FUNCTION reverse_etl._sync_snapshot(bigint) IS 'Private: the rows of one sync for sync_snapshot.';
CREATE VIEW reverse_etl.sync_snapshot WITH (security_invoker = true) AS
SELECT s.id AS sync_id, x.row_id, x.in_model, x.last_op, x.last_status, x.failure_reason, x.fields,
       x.last_run_id, x.updated_at
FROM reverse_etl.syncs s CROSS JOIN LATERAL reverse_etl._sync_snapshot(s.id) x;
GRANT SELECT ON reverse_etl.sync_snapshot TO PUBLIC;
COMMENT ON VIEW reverse_etl.sync_snapshot IS
    'One row per sync and row the sync knows: delivered (as of its last run) or failing now, with why. Row data: the sync''s owner only.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.sync_id IS 'The sync.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.row_id IS 'The row''s id.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.in_model IS 'Whether the row was in the model''s result at the latest run (false: its removal is failing).';
COMMENT ON COLUMN reverse_etl.sync_snapshot.last_op IS 'What was last done or tried: added, changed or removed (NULL: taken as sent by sync_reset_cdc, or invalid).';
COMMENT ON COLUMN reverse_etl.sync_snapshot.last_status IS 'succeeded (delivered), rejected, aborted or invalid.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.failure_reason IS 'Why it is failing.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.fields IS 'The fields that were to be sent, for rejected and invalid rows.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.last_run_id IS 'The run that last sent or tried it.';
COMMENT ON COLUMN reverse_etl.sync_snapshot.updated_at IS 'When (the run''s end for a delivered row).';

-- The changelog keeps what was sent for a rejected row.
ALTER TABLE reverse_etl.sync_changelog ADD COLUMN payload jsonb;
COMMENT ON COLUMN reverse_etl.sync_changelog.payload IS 'What was sent for a rejected row, as the destination got it (an http request''s method, URL and body or record; never headers).';

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
CREATE FUNCTION reverse_etl."create_alert_channel"(
	"name" TEXT,
	"kind" TEXT,
	"config" jsonb DEFAULT '{}',
	"replace" bool DEFAULT false
) RETURNS bigint
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'create_alert_channel_wrapper';
CREATE FUNCTION reverse_etl."drop_alert_channel"(
	"channel" bigint,
	"cascade" bool DEFAULT false
) RETURNS void
STRICT 
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_alert_channel_by_id_wrapper';
CREATE FUNCTION reverse_etl."drop_alert_channel"(
	"channel" TEXT,
	"cascade" bool DEFAULT false
) RETURNS void
STRICT 
LANGUAGE c
AS 'MODULE_PATHNAME', 'drop_alert_channel_by_name_wrapper';
CREATE FUNCTION reverse_etl."update_alert_channel"(
	"channel" bigint,
	"config" jsonb
) RETURNS void
STRICT 
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_alert_channel_by_id_wrapper';
CREATE FUNCTION reverse_etl."update_alert_channel"(
	"channel" TEXT,
	"config" jsonb
) RETURNS void
STRICT 
LANGUAGE c
AS 'MODULE_PATHNAME', 'update_alert_channel_by_name_wrapper';
DO $comments$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS signature, d.comment
        FROM pg_catalog.pg_proc p
        JOIN (VALUES
            ('create_alert_channel', 'Defines an alert channel: kind webhook ({"url": …, "format": "generic" | "slack" | "pagerduty", "signing_secret": {"secret": …}, "routing_key": …}) email ({"host": …, "port": …, "security": "starttls" | "tls" | "none", "username": …, "password": {"secret": …}, "from": …, "to": […]}) or notify ({"channel": …}); syncs name it in alerts.channels. With replace, a channel of that name that is yours takes the new config. Returns the channel id.'),
            ('update_alert_channel', 'Replaces an alert channel''s config, validated as by create_alert_channel.'),
            ('drop_alert_channel', 'Drops an alert channel; refused while a sync''s alerts name it, unless cascade, which takes it out of their alerts.channels.')
        ) AS d (name, comment) ON d.name = p.proname
        WHERE p.pronamespace = 'reverse_etl'::regnamespace
    LOOP
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.signature, f.comment);
    END LOOP;
END
$comments$;

-- Advertising audiences: each run's match rate. sync_overview, defined
-- again, shows the latest and its open alerts' highest level (it also
-- reads sync_runs.* in its lateral subquery, over the table's new columns).
ALTER TABLE reverse_etl.sync_runs ADD COLUMN audience_members bigint,
    ADD COLUMN audience_matched bigint, ADD COLUMN match_rate numeric;
COMMENT ON COLUMN reverse_etl.sync_runs.audience_members IS 'Advertising audiences: the rows the sync had in the audience after the run (its snapshot).';
COMMENT ON COLUMN reverse_etl.sync_runs.audience_matched IS 'Advertising audiences: how many users of the audience the platform matched, as it reported after the run.';
COMMENT ON COLUMN reverse_etl.sync_runs.match_rate IS 'Advertising audiences: audience_matched / audience_members (0.6 is 60%); NULL for other destinations or when the platform did not say.';
CREATE OR REPLACE VIEW reverse_etl.sync_overview WITH (security_invoker = true) AS
SELECT s.id, s.name,
       CASE WHEN NOT s.enabled THEN 'Disabled'
            WHEN r.id IS NULL THEN 'Pending'
            -- a run marked as going whose worker is gone (killed, restart)
            WHEN r.status IN ('queued', 'querying', 'preparing', 'in_progress')
                 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.pid = r.worker_pid AND a.backend_type = 'pg_reverse_etl run')
                 THEN 'Incomplete'
            ELSE CASE r.status
                WHEN 'queued' THEN 'Queued' WHEN 'querying' THEN 'Querying'
                WHEN 'preparing' THEN 'Preparing' WHEN 'in_progress' THEN 'In Progress'
                WHEN 'succeeded' THEN 'Healthy' WHEN 'warning' THEN 'Warning'
                WHEN 'incomplete' THEN 'Incomplete' WHEN 'failed' THEN 'Failed' END
       END AS status,
       m.name AS model, d.name AS destination, d.kind AS destination_kind,
       s.config->>'type' AS type, s.config->>'mode' AS mode, s.config->'schedule' AS schedule,
       s.enabled, s.folder, s.labels,
       r.id AS last_run_id, coalesce(r.finished_at, r.started_at, r.queued_at) AS last_run_at,
       r.status AS last_run_status, r.error AS last_run_error,
       CASE WHEN s.enabled THEN reverse_etl._next_run_at(s.config->'schedule') END AS next_run_at,
       s.created_at, s.created_by, s.owner,
       (SELECT CASE WHEN bool_or(a.level = 'critical') THEN 'critical' ELSE 'warning' END
        FROM reverse_etl.alerts a WHERE a.sync_id = s.id AND a.status = 'open'
        HAVING count(*) > 0) AS open_alert_level,
       (SELECT mr.match_rate FROM reverse_etl.sync_runs mr
        WHERE mr.sync_id = s.id AND mr.match_rate IS NOT NULL
        ORDER BY mr.id DESC LIMIT 1) AS match_rate
FROM reverse_etl.syncs s
JOIN reverse_etl.models m ON m.id = s.model_id
JOIN reverse_etl.destinations d ON d.id = s.destination_id
LEFT JOIN LATERAL (SELECT * FROM reverse_etl.sync_runs r
                   WHERE r.sync_id = s.id AND r.status <> 'skipped' ORDER BY r.id DESC LIMIT 1) r ON true;
COMMENT ON COLUMN reverse_etl.sync_overview.open_alert_level IS 'The highest level of its open alerts (critical, warning), NULL when none is open.';
COMMENT ON COLUMN reverse_etl.sync_overview.match_rate IS 'Advertising audiences: the share of the sync''s audience members the platform matched, as measured by the latest run that could (0.6 is 60%); NULL for other destinations.';

-- The changelog becomes a view over two tables (see sql/bootstrap.sql):
-- delivered rows are kept one row per window and operation, with their row
-- ids as an array, instead of an indexed row each. The table becomes the
-- store of every other outcome (and keeps the rows delivered before).
DROP INDEX reverse_etl.sync_changelog_run_id_status_idx;
ALTER TABLE reverse_etl.sync_changelog RENAME TO _changelog_entries;
ALTER INDEX reverse_etl.sync_changelog_sync_id_row_id_idx RENAME TO _changelog_entries_sync_id_row_id_idx;
ALTER TABLE reverse_etl._changelog_entries RENAME CONSTRAINT sync_changelog_op_check TO _changelog_entries_op_check;
ALTER TABLE reverse_etl._changelog_entries RENAME CONSTRAINT sync_changelog_status_check TO _changelog_entries_status_check;
CREATE INDEX ON reverse_etl._changelog_entries (run_id);
COMMENT ON TABLE reverse_etl._changelog_entries IS
    'Private, read through sync_changelog: rejected, aborted and invalid rows (and rows delivered before 0.2.0), one row each.';
COMMENT ON COLUMN reverse_etl._changelog_entries.run_id IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.sync_id IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.row_id IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.op IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.status IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.reason IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.fields IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.at IS NULL;
COMMENT ON COLUMN reverse_etl._changelog_entries.payload IS NULL;

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
GRANT SELECT ON reverse_etl._changelog_successes TO PUBLIC;
ALTER TABLE reverse_etl._changelog_successes ENABLE ROW LEVEL SECURITY;
CREATE POLICY of_owned_syncs ON reverse_etl._changelog_successes FOR SELECT
    USING (sync_id IN (SELECT s.id FROM reverse_etl.syncs s WHERE pg_catalog.pg_has_role(s.owner::oid, 'MEMBER'))
           OR sync_id IN (SELECT d.id FROM reverse_etl.dropped_objects d
                          WHERE d.kind = 'sync' AND pg_catalog.pg_has_role(d.owner::oid, 'MEMBER')));
SELECT pg_catalog.pg_extension_config_dump('reverse_etl._changelog_successes', '');

CREATE VIEW reverse_etl.sync_changelog WITH (security_invoker = true) AS
SELECT e.run_id, e.sync_id, e.row_id, e.op, e.status, e.reason, e.fields, e.at, e.payload
FROM reverse_etl._changelog_entries e
UNION ALL
SELECT s.run_id, s.sync_id, delivered.row_id, s.op, 'succeeded'::text, NULL::text, NULL::jsonb, s.at, NULL::jsonb
FROM reverse_etl._changelog_successes s
CROSS JOIN LATERAL unnest(s.row_ids) AS delivered(row_id);
GRANT SELECT ON reverse_etl.sync_changelog TO PUBLIC;
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

-- A first run reads its model straight into its operations, numbering
-- them as the rows arrive.
CREATE FUNCTION reverse_etl."_next_position"(
	"invalid" bool
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_next_position_wrapper';
COMMENT ON FUNCTION reverse_etl._next_position(bool) IS 'Private: the position of a first run''s next operation, called by the run''s own statement once per model row.';

-- A run's row hash, the value hash_record_extended(ROW(…)) gives, computed
-- without forming the row (see src/postgres/row_hash.rs).
CREATE FUNCTION reverse_etl._hash_fields(seed bigint, VARIADIC fields "any") RETURNS bigint
IMMUTABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'reverse_etl_hash_fields';
COMMENT ON FUNCTION reverse_etl._hash_fields(bigint, "any") IS 'Private: hash_record_extended(ROW(fields…), seed) without forming the row; a run''s row hash.';
