-- What a database looks like after a while on a release: models, syncs of
-- each kind, runs that succeeded, warned and ended incomplete, a changelog,
-- activity, a sequence with a run, a secret. scripts/make-upgrade-fixture.sh
-- runs this with a release installed and dumps the database to
-- tests/upgrade/<version>.sql, which tests/upgrade.rs restores under that
-- release before updating the extension to the current version.
\set ON_ERROR_STOP on
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text, active bool NOT NULL DEFAULT true);
INSERT INTO users SELECT g, 'user' || g || '@example.com', (ARRAY['free', 'pro', 'team'])[1 + g % 3], true
FROM generate_series(1, 100) g;
CREATE SCHEMA crm;
CREATE TABLE crm.contacts (email text PRIMARY KEY, plan_name text NOT NULL, source text);
CREATE TABLE crm.list_members (list text NOT NULL, email text NOT NULL, UNIQUE (list, email));

SELECT reverse_etl.create_model('active_users', 'SELECT id, email, plan FROM users WHERE active', ARRAY['id']);
SELECT reverse_etl.create_destination('crm_db', 'postgres');
SELECT reverse_etl.set_secret('crm_token', 'Bearer fixture');
SELECT reverse_etl.create_destination('crm_api', 'http',
  '{"url": "http://127.0.0.1:9/api", "headers": {"Authorization": {"secret": "crm_token"}},
    "timeout_ms": 200, "retry": {"max_attempts": 1}}');
SELECT reverse_etl.create_sync('users_to_crm', 'active_users', 'crm_db', '{
  "mode": "upsert", "object": "crm.contacts", "match": {"from": "email", "to": "email"},
  "mappings": [{"from": "plan", "to": "plan_name"}, {"static": "warehouse", "to": "source"}],
  "delete_behavior": "delete", "batch_size": 50}');
SELECT reverse_etl.create_sync('vip_list', 'active_users', 'crm_db', '{
  "type": "list", "mode": "add", "object": "crm.list_members", "list": "vip",
  "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sync('users_to_api', 'active_users', 'crm_api', '{
  "mode": "upsert", "match": {"from": "email", "to": "email"}, "batch_size": 10,
  "requests": {"added": {"method": "POST", "path": "/contacts"}}}');
SELECT reverse_etl.set_sync_folder('users_to_crm', 'CRM');
SELECT reverse_etl.set_sync_labels('users_to_crm', ARRAY['team:growth', 'pii']);

SELECT reverse_etl.sync_run('users_to_crm');
SELECT reverse_etl.sync_run('vip_list');
-- nothing listens on port 9: this run ends incomplete, its rows aborted
SELECT reverse_etl.sync_run('users_to_api');
UPDATE users SET plan = 'team' WHERE id <= 5;
UPDATE users SET active = false WHERE id BETWEEN 96 AND 98;
INSERT INTO users VALUES (101, 'new@example.com', NULL, true);
-- one row rejected (plan_name is NOT NULL): the run ends warning
SELECT reverse_etl.sync_run('users_to_crm');
SELECT reverse_etl.create_sequence('nightly', '["users_to_crm", "vip_list"]');
SELECT reverse_etl.sequence_run('nightly');
SELECT reverse_etl.disable_sync('users_to_api');
