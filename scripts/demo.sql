-- The demo: a sample source, a model, a postgres destination and a sync,
-- two runs with changes in between, and what each run did.
\set ON_ERROR_STOP on
\pset pager off
DROP DATABASE IF EXISTS reverse_etl_demo WITH (FORCE);
CREATE DATABASE reverse_etl_demo;
\c reverse_etl_demo
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text, active bool);
INSERT INTO users SELECT g, 'user' || g || '@example.com', (ARRAY['free','pro','team'])[1 + g % 3], true
FROM generate_series(1, 1000) g;

CREATE SCHEMA crm;
CREATE TABLE crm.contacts (email text PRIMARY KEY, plan_name text NOT NULL, source text);

SELECT reverse_etl.create_model('active_users', 'SELECT id, email, plan FROM users WHERE active', ARRAY['id']);
SELECT reverse_etl.create_destination('crm_db', 'postgres');
SELECT reverse_etl.create_sync('users_to_crm', 'active_users', 'crm_db', '{
  "mode": "upsert",
  "object": "crm.contacts",
  "match": {"from": "email", "to": "email"},
  "mappings": [{"from": "plan", "to": "plan_name"}, {"static": "warehouse", "to": "source"}],
  "delete_behavior": "delete",
  "batch_size": 200
}');

\echo '== first run: every row is added'
SELECT reverse_etl.sync_run('users_to_crm');

-- Between runs: 10 upgrades, 5 users leave, 3 sign up, and one bad row
-- (a NULL plan, which crm.contacts rejects).
UPDATE users SET plan = 'team' WHERE id BETWEEN 1 AND 10;
UPDATE users SET active = false WHERE id BETWEEN 991 AND 995;
INSERT INTO users VALUES (1001, 'new1@example.com', 'free', true), (1002, 'new2@example.com', 'pro', true),
                         (1003, 'new3@example.com', NULL, true);

\echo '== second run: only what changed'
SELECT reverse_etl.sync_run('users_to_crm');

\echo '== runs'
SELECT id, status, rows_queried AS queried, planned_added AS added, planned_changed AS changed,
       planned_removed AS removed, succeeded_added + succeeded_changed + succeeded_removed AS succeeded,
       rejected_added + rejected_changed + rejected_removed AS rejected,
       round(extract(epoch FROM finished_at - started_at)::numeric, 3) AS seconds
FROM reverse_etl.sync_runs ORDER BY id;

\echo '== rejected rows of the second run'
SELECT row_id, op, reason, fields FROM reverse_etl.sync_changelog WHERE run_id = 2 AND status = 'rejected';

\echo '== the destination now'
SELECT count(*) AS contacts, count(*) FILTER (WHERE plan_name = 'team') AS team FROM crm.contacts;

\echo '== on a schedule: every 5 seconds, run by the launcher (no sync_run call)'
UPDATE users SET plan = 'pro' WHERE id = 1003;
SELECT reverse_etl.update_sync('users_to_crm',
       reverse_etl.sync_config('users_to_crm') || '{"schedule": {"interval": "5 seconds"}}');
SELECT pg_sleep(7);
SELECT id, status, trigger, due_at, round(extract(epoch FROM started_at - due_at)::numeric, 3) AS late_seconds,
       planned_added AS added, planned_changed AS changed, succeeded_added + succeeded_changed AS succeeded
FROM reverse_etl.sync_runs WHERE trigger = 'schedule' ORDER BY id LIMIT 1;
SELECT reverse_etl.update_sync('users_to_crm',
       reverse_etl.sync_config('users_to_crm') || '{"schedule": {"manual": true}}');
