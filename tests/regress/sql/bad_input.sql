-- Bad input gets an error with an SQLSTATE and a message that starts with
-- the offending field, and changes nothing.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bad_input WITH (FORCE);
CREATE DATABASE regress_bad_input;
\c regress_bad_input
CREATE EXTENSION pg_reverse_etl;
\set VERBOSITY default

CREATE TABLE bad_src (id int, email text, plan text, doc json);
CREATE TABLE bad_target (email text PRIMARY KEY, plan_name text, n int, d date);
CREATE TABLE bad_not_unique (email text, plan_name text);
SELECT reverse_etl.create_model('users', 'SELECT id, email, plan, doc FROM bad_src', ARRAY['id']);
SELECT reverse_etl.create_destination('local', 'postgres');

-- models
SELECT reverse_etl.create_model('m', 'SELEC id FROM bad_src', ARRAY['id']);
SELECT reverse_etl.create_model('m', 'SELECT id FROM missing_table', ARRAY['id']);
SELECT reverse_etl.create_model('m', 'SELECT id, email FROM bad_src', ARRAY['idd']);
SELECT reverse_etl.create_model('m', 'SELECT id, email FROM bad_src', ARRAY[]::text[]);
SELECT reverse_etl.create_model('m', 'SELECT id, id FROM bad_src', ARRAY['id']);
SELECT reverse_etl.create_model('m', '  ', ARRAY['id']);
SELECT reverse_etl.create_model('users', 'SELECT id FROM bad_src', ARRAY['id']);

-- destinations
SELECT reverse_etl.create_destination('d', 'ftp', '{}');
SELECT reverse_etl.create_destination('d', 'postgres', '{"host": "x"}');
SELECT reverse_etl.create_destination('d', 'http', '{"url": "http://example.com"}');
SELECT reverse_etl.create_destination('d', 'http', '{"url": "http://127.0.0.1", "concurrency": 0}');
SELECT reverse_etl.create_destination('d', 'http', '{"url": "http://127.0.0.1", "headers": {"Authorization": {"secret": "nope"}}}');
SELECT reverse_etl.create_destination('d', 'file', '{"directory": "/etc"}');

-- syncs
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsrt", "object": "bad_target"}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "colour": 1}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target"}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "missing", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "emial", "to": "email"}}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_not_unique", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "mappings": [{"from": "plan", "to": "plan_nme"}]}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "mappings": [{"static": "x", "to": "d"}]}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "add", "object": "bad_target", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "batch_size": 0}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "read_model": "twice"}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "schedule": {"interval": "1 fortnight"}}');
SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "bad_target", "match": {"from": "email", "to": "email"}, "schedule": {"cron": "61 * * * *"}}');
SELECT reverse_etl.create_sync('s', 'missing', 'local', '{"mode": "upsert"}');
SELECT reverse_etl.create_sync('s', 'users', 'missing', '{"mode": "upsert"}');

-- nothing was created by any of the calls above
SELECT (SELECT count(*) FROM reverse_etl.models) AS models,
       (SELECT count(*) FROM reverse_etl.destinations) AS destinations,
       (SELECT count(*) FROM reverse_etl.syncs) AS syncs;
