-- A postgres sync end to end: what a plan preview says, what the run did,
-- the run's counts and changelog, the overview.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_runs_and_plan WITH (FORCE);
CREATE DATABASE regress_runs_and_plan;
\c regress_runs_and_plan
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE run_src (id int, email text, plan text);
INSERT INTO run_src VALUES (1, 'a@x.io', 'free'), (2, 'b@x.io', 'pro'), (3, 'c@x.io', 'team'),
                           (NULL, 'nokey@x.io', 'free');
CREATE TABLE run_contacts (email text PRIMARY KEY, plan_name text NOT NULL);
SELECT reverse_etl.create_model('run_users', 'SELECT id, email, plan FROM run_src', ARRAY['id']);
SELECT reverse_etl.create_destination('run_db', 'postgres');
SELECT reverse_etl.create_sync('run_sync', 'run_users', 'run_db',
  '{"mode": "upsert", "object": "run_contacts", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan_name"}], "delete_behavior": "delete"}');

-- before the first run: everything would be added; the row without a key is invalid
SELECT jsonb_pretty(reverse_etl.sync_plan('run_sync'));
SELECT count(*) AS runs_recorded_by_the_preview FROM reverse_etl.sync_runs;

SELECT reverse_etl.sync_run('run_sync');
SELECT * FROM run_contacts ORDER BY email;

-- a change, a removal, a new row and a row the table rejects
UPDATE run_src SET plan = 'pro' WHERE id = 1;
DELETE FROM run_src WHERE id = 3;
INSERT INTO run_src VALUES (4, 'd@x.io', 'free'), (5, 'e@x.io', NULL);
SELECT jsonb_pretty(reverse_etl.sync_plan('run_sync') - 'sample');
SELECT reverse_etl.sync_run('run_sync');
SELECT * FROM run_contacts ORDER BY email;

SELECT id, status, trigger, rows_queried, rows_invalid,
       planned_added, planned_changed, planned_removed,
       succeeded_added, succeeded_changed, succeeded_removed,
       rejected_added, rejected_changed, rejected_removed, error
FROM reverse_etl.sync_runs ORDER BY id;
SELECT run_id, row_id, op, status, reason, fields
FROM reverse_etl.sync_changelog ORDER BY run_id, status, row_id;
SELECT name, status, model, destination, destination_kind, type, mode, enabled,
       last_run_id, last_run_status, next_run_at
FROM reverse_etl.sync_overview;
