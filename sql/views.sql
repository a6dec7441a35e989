-- Views that use the extension's functions (created after them).

-- The syncs overview: one row per sync with its derived status.
CREATE VIEW reverse_etl.sync_overview AS
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
       CASE WHEN s.enabled THEN reverse_etl.schedule_next_run(s.config->'schedule') END AS next_run_at,
       s.created_at, s.created_by, s.owner
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
