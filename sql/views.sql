-- Views that use the extension's functions (created after them).

-- The syncs overview: one row per sync with its derived status.
CREATE VIEW reverse_etl.sync_overview WITH (security_invoker = true) AS
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


-- Schedules changed: the database's scheduler reads them again once the
-- change commits (a no-op unless the library is preloaded).
CREATE FUNCTION reverse_etl._schedules_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reverse_etl._wake_scheduler();
    RETURN NULL;
END $$;
CREATE TRIGGER schedules_changed AFTER INSERT OR UPDATE OR DELETE ON reverse_etl.syncs
    FOR EACH STATEMENT EXECUTE FUNCTION reverse_etl._schedules_changed();
CREATE TRIGGER schedules_changed AFTER INSERT OR UPDATE OR DELETE ON reverse_etl.sequences
    FOR EACH STATEMENT EXECUTE FUNCTION reverse_etl._schedules_changed();
-- CREATE EXTENSION: a scheduler looks at this database (closing runs left
-- from before and picking up schedules restored from a dump).
SELECT reverse_etl._wake_scheduler();

COMMENT ON VIEW reverse_etl.sync_overview IS
    'One row per sync with its derived status (Disabled, Pending, Queued, Querying, Preparing, In Progress, Healthy, Warning, Incomplete, Failed), its last run and its next due time.';
COMMENT ON COLUMN reverse_etl.sync_overview.id IS 'The sync''s id.';
COMMENT ON COLUMN reverse_etl.sync_overview.name IS 'The sync''s name.';
COMMENT ON COLUMN reverse_etl.sync_overview.status IS 'Derived from the last run (skipped ticks aside): Disabled, Pending (never ran), Queued, Querying, Preparing, In Progress, Healthy, Warning, Incomplete, Failed.';
COMMENT ON COLUMN reverse_etl.sync_overview.model IS 'The model''s name.';
COMMENT ON COLUMN reverse_etl.sync_overview.destination IS 'The destination''s name.';
COMMENT ON COLUMN reverse_etl.sync_overview.destination_kind IS 'postgres, http or file.';
COMMENT ON COLUMN reverse_etl.sync_overview.type IS 'object, event or list.';
COMMENT ON COLUMN reverse_etl.sync_overview.mode IS 'The sync mode (upsert, insert, update, all, archive, add, remove, snapshot, diff).';
COMMENT ON COLUMN reverse_etl.sync_overview.schedule IS 'The schedule document.';
COMMENT ON COLUMN reverse_etl.sync_overview.enabled IS 'Whether the sync may run.';
COMMENT ON COLUMN reverse_etl.sync_overview.folder IS 'The sync''s folder.';
COMMENT ON COLUMN reverse_etl.sync_overview.labels IS 'The sync''s labels.';
COMMENT ON COLUMN reverse_etl.sync_overview.last_run_id IS 'The last run (skipped ticks aside).';
COMMENT ON COLUMN reverse_etl.sync_overview.last_run_at IS 'When the last run ended (or started, or was queued).';
COMMENT ON COLUMN reverse_etl.sync_overview.last_run_status IS 'The last run''s status.';
COMMENT ON COLUMN reverse_etl.sync_overview.last_run_error IS 'The last run''s error.';
COMMENT ON COLUMN reverse_etl.sync_overview.next_run_at IS 'When the schedule is next due (NULL: manual or disabled).';
COMMENT ON COLUMN reverse_etl.sync_overview.created_at IS 'When the sync was created.';
COMMENT ON COLUMN reverse_etl.sync_overview.created_by IS 'Who created it.';
COMMENT ON COLUMN reverse_etl.sync_overview.owner IS 'The role whose privileges its runs use.';
COMMENT ON COLUMN reverse_etl.sync_overview.open_alert_level IS 'The highest level of its open alerts (critical, warning), NULL when none is open.';
COMMENT ON COLUMN reverse_etl.sync_overview.match_rate IS 'Advertising audiences: the share of the sync''s audience members the platform matched, as measured by the latest run that could (0.6 is 60%); NULL for other destinations.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.sequence IS 'The sequence''s name.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.sequence_run_id IS 'The sequence run.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.sequence_status IS 'The sequence run''s status.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.started_at IS 'When the sequence run started.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.finished_at IS 'When it ended.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.position IS 'The step''s position, from 1.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.sync IS 'The step''s sync.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.run_id IS 'The step''s run.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.step_status IS 'succeeded, failed, failed_continued or skipped.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.reason IS 'Why the step failed or was skipped.';
COMMENT ON COLUMN reverse_etl.sequence_run_details.run_status IS 'The step''s run status.';

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

GRANT SELECT ON reverse_etl.sync_overview TO PUBLIC;
-- Private: called by the catalog's triggers, as whoever changed the catalog.
REVOKE EXECUTE ON FUNCTION reverse_etl._wake_scheduler() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION reverse_etl._schedules_changed() FROM PUBLIC;

-- Functions (every overload of a name: syncs, models, destinations and
-- sequences are taken by id or by name).
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
            ('update_model', 'Changes a model''s query and/or primary key (NULL keeps it), described again as you; every sync of the model is checked again and the change is refused naming the sync it would break, unless force, which disables those syncs. A changed primary key makes its syncs'' next run send every row as added.'),
            ('update_destination', 'Replaces a destination''s config, validated like create_destination; every sync sending to it is checked again and the change is refused naming the sync it would break, unless force, which disables those syncs.'),
            ('drop_sync', 'Drops a sync: its going run is cancelled, its snapshot, state and schedule are removed; its runs, changelog and activity stay (see dropped_objects) unless keep_history is false. Refused while a sequence uses it, unless cascade (which drops those sequences).'),
            ('drop_model', 'Drops a model; refused while syncs send it, unless cascade (which drops them, keeping their history unless keep_history is false).'),
            ('drop_destination', 'Drops a destination; refused while syncs send to it, unless cascade (which drops them, keeping their history unless keep_history is false).'),
            ('drop_sequence', 'Drops a sequence (its syncs stay); its runs stay unless keep_history is false. Refused while it is running.'),
            ('purge_logs', 'Removes the changelog of runs (of the syncs you may use, and those dropped with their history) that ended more than older_than ago, in batches; returns how many rows went. Runs'' counts stay in sync_runs. Retention (logs.retention, reverse_etl.log_retention) does the same after each run and hourly in the scheduler.'),
            ('create_alert_channel', 'Defines an alert channel: kind webhook ({"url": …, "format": "generic" | "slack" | "pagerduty", "signing_secret": {"secret": …}, "routing_key": …}) email ({"host": …, "port": …, "security": "starttls" | "tls" | "none", "username": …, "password": {"secret": …}, "from": …, "to": […]}) or notify ({"channel": …}); syncs name it in alerts.channels. With replace, a channel of that name that is yours takes the new config. Returns the channel id.'),
            ('update_alert_channel', 'Replaces an alert channel''s config, validated as by create_alert_channel.'),
            ('drop_alert_channel', 'Drops an alert channel; refused while a sync''s alerts name it, unless cascade, which takes it out of their alerts.channels.'),
            ('sync_config', 'A sync''s configuration with every default written out ("edit as JSON": read).'),
            ('update_sync', 'Replaces a sync''s configuration after validating it ("edit as JSON": write).'),
            ('sync_run', 'Runs a sync in a background worker and returns the run id; with wait (the default) returns when the run has ended, and a run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false. full_resync sends every current row as added; allow_mass_removal lets this run pass the removal guard.'),
            ('sync_clear_and_fill', 'Empties the sync''s list at the destination, then sends every current row, in one run. Returns the run id.'),
            ('sync_reset_cdc', 'Takes the model''s current result as what was sent, sending nothing: later runs send only later changes. Returns the run id.'),
            ('sync_plan', 'What the next run would do, without sending or recording anything: counts of added, changed, removed and invalid rows, up to 10 sample rows of each kind, and the removal guard''s verdict.'),
            ('sync_test_row', 'Sends exactly what a run would send for one model row (op added, changed or removed), optionally with some values edited, and returns the request and the response (secrets masked); dry_run returns the request without sending. Nothing is recorded.'),
            ('cancel_run', 'Stops a run: what was delivered stays recorded, the rest is aborted, the run ends incomplete. Returns false if the run had already ended.'),
            ('enable_sync', 'Lets a disabled sync run again (and its schedule fire).'),
            ('disable_sync', 'A disabled sync refuses to run and its schedule does not fire.'),
            ('set_sync_folder', 'Files the sync in a folder (NULL or '''' takes it out).'),
            ('set_sync_labels', 'Replaces the sync''s labels (trimmed, sorted, without repeats).'),
            ('set_secret', 'Stores (or replaces) one of your secrets, which your destinations reference as {"secret": name}. Write-only: no view or function returns it; another role''s secret of the same name is another secret.'),
            ('delete_secret', 'Deletes one of your secrets; refused while one of your destinations uses it.'),
            ('create_sequence', 'Defines a sequence of syncs run one after another: steps are sync names or ids, or {"sync": …, "on_failure": "stop" | "continue", "max_rejected_share": …}. With replace, a sequence of that name that is yours takes the new steps and schedule in place. Returns the sequence id.'),
            ('update_sequence', 'Replaces a sequence''s steps and/or schedule (NULL keeps it).'),
            ('enable_sequence', 'Lets a disabled sequence run again.'),
            ('disable_sequence', 'A disabled sequence refuses to run and its schedule does not fire.'),
            ('sequence_run', 'Runs a sequence''s steps one after another in a background worker and returns the sequence run id; with wait (the default) returns when it has ended, and a sequence run that ended failed (SQLSTATE 38000) or incomplete (57014) is an error unless raise_on_failure is false.'),
            ('wait_for_run', 'Waits until a sync run has ended and returns its status (succeeded, warning, failed, incomplete); with a timeout, returns the status it has then.'),
            ('schedule_next_runs', 'The next due times of a schedule document after a given time: check a cron expression or time zone before using it.'),
            ('schedule_next_run', 'The next due time of a schedule document (NULL for manual or past its end).'),
            ('scheduler_status', 'What the launcher knows per database: its pid, the scheduler''s pid while awake, the next check. Empty unless the library is preloaded.'),
            ('_wake_scheduler', 'Private: wakes the database''s scheduler when the transaction commits (called by triggers).'),
            ('_next_run_at', 'Private: a stored schedule''s next due time for sync_overview (NULL where it does not parse).'),
            ('_schedules_changed', 'Private: trigger on syncs and sequences that wakes the scheduler.'),
            ('_next_position', 'Private: the position of a first run''s next operation, called by the run''s own statement once per model row.')
        ) AS d (name, comment) ON d.name = p.proname
        WHERE p.pronamespace = 'reverse_etl'::regnamespace
    LOOP
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.signature, f.comment);
    END LOOP;
END
$comments$;
