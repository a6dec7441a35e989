-- sync_test_row with dry_run: the exact statement or request a run would
-- send for one row, without sending it.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_test_row WITH (FORCE);
CREATE DATABASE regress_test_row;
\c regress_test_row
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE tr_src (id int PRIMARY KEY, email text, plan text);
INSERT INTO tr_src VALUES (42, 'a@x.io', 'pro');
CREATE TABLE tr_contacts (email text PRIMARY KEY, plan_name text, source text);
SELECT reverse_etl.create_model('tr_users', 'SELECT id, email, plan FROM tr_src', ARRAY['id']);
SELECT reverse_etl.create_destination('tr_db', 'postgres');
SELECT reverse_etl.set_secret('tr_token', 'Bearer s3cr3t');
SELECT reverse_etl.create_destination('tr_api', 'http',
  '{"url": "http://127.0.0.1:9/api", "headers": {"Authorization": {"secret": "tr_token"}, "X-Source": "warehouse"}}');

\pset format unaligned
-- the postgres destination's statements, per mode and operation
SELECT reverse_etl.create_sync('tr_upsert', 'tr_users', 'tr_db',
  '{"mode": "upsert", "object": "tr_contacts", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan_name"}, {"static": "warehouse", "to": "source"}],
    "delete_behavior": "clear"}');
SELECT reverse_etl.sync_test_row('tr_upsert', '42', dry_run => true)->'requests'->0->>'statement' AS upsert;
SELECT reverse_etl.sync_test_row('tr_upsert', '42', 'removed', dry_run => true) AS removed_without_snapshot;
SELECT reverse_etl.create_sync('tr_update', 'tr_users', 'tr_db',
  '{"mode": "update", "object": "tr_contacts", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan_name"}], "delete_behavior": "delete"}');
SELECT reverse_etl.sync_test_row('tr_update', '42', 'changed', '{"plan": "team"}', dry_run => true)->'requests'->0->>'statement' AS update_with_an_edit;

\pset format aligned
-- an http request: headers with secrets masked, the default body
SELECT reverse_etl.create_sync('tr_http', 'tr_users', 'tr_api',
  '{"mode": "upsert", "match": {"from": "email", "to": "email"}, "batch_size": 1,
    "mappings": [{"from": "plan", "to": "plan"}],
    "requests": {"added": {"method": "POST", "path": "/contacts"},
                 "changed": {"method": "PATCH", "path": "/contacts/{{ row.email | url_encode }}"}}}');
SELECT jsonb_pretty(reverse_etl.sync_test_row('tr_http', '42', 'changed', dry_run => true));

-- bad arguments
SELECT reverse_etl.sync_test_row('tr_http', '42', 'moved');
SELECT reverse_etl.sync_test_row('tr_http', '7');
SELECT reverse_etl.sync_test_row('tr_http', '42', 'changed', '{"email": "b@x.io"}');
SELECT reverse_etl.sync_test_row('tr_http', '42', 'changed', '{"nope": 1}');
