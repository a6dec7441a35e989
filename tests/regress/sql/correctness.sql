-- Records exactly as the manual says: previews never touch run history, a
-- value that does not fit is rejected (never cut), counts follow the modes
-- table, runs with invalid rows warn, a tested row is sent again.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_correctness WITH (FORCE);
CREATE DATABASE regress_correctness;
\c regress_correctness
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE c_src (id int, email text, name text);
INSERT INTO c_src VALUES (1, 'a@x.io', 'Ann'), (2, 'b@x.io', 'a very long name');
CREATE TABLE c_contacts (email text PRIMARY KEY, name varchar(8));
SELECT reverse_etl.create_model('c_users', 'SELECT id, email, name FROM c_src', ARRAY['id']);
SELECT reverse_etl.create_destination('c_db', 'postgres');
SELECT reverse_etl.create_sync('c_sync', 'c_users', 'c_db',
  '{"mode": "upsert", "object": "c_contacts", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "name", "to": "name"}]}');

-- a value too long for varchar(8) is rejected with PostgreSQL's message, like a plain INSERT
SELECT reverse_etl.sync_run('c_sync');
SELECT * FROM c_contacts ORDER BY email;
SELECT row_id, status, reason FROM reverse_etl.sync_changelog WHERE run_id = 1 ORDER BY row_id;

-- previews after two runs leave both runs as they were
UPDATE c_src SET name = 'Bob' WHERE id = 2;
SELECT reverse_etl.sync_run('c_sync');
SELECT (reverse_etl.sync_plan('c_sync'))->>'rows_queried' AS preview_1,
       (reverse_etl.sync_plan('c_sync'))->>'rows_queried' AS preview_2;
SELECT id, status, rows_queried FROM reverse_etl.sync_runs ORDER BY id;
SELECT name, status, last_run_status FROM reverse_etl.sync_overview;

-- a tested row is sent again by the next run, so the table ends as the model says
SELECT reverse_etl.sync_test_row('c_sync', '1', 'changed', '{"name": "Tested"}')->'responses' AS responses;
SELECT * FROM c_contacts WHERE email = 'a@x.io';
SELECT reverse_etl.sync_run('c_sync');
SELECT planned_added, planned_changed, succeeded_changed FROM reverse_etl.sync_runs WHERE id = 3;
SELECT * FROM c_contacts WHERE email = 'a@x.io';

-- mode all: no change tracking, every row is sent and counted as added
CREATE TABLE c_mirror (email text PRIMARY KEY, name text);
SELECT reverse_etl.create_sync('c_all', 'c_users', 'c_db',
  '{"mode": "all", "object": "c_mirror", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "name", "to": "name"}]}');
SELECT reverse_etl.sync_run('c_all');
SELECT reverse_etl.sync_run('c_all');
SELECT id, status, planned_added, planned_changed, planned_removed, succeeded_added
FROM reverse_etl.sync_runs WHERE sync_id = 2 ORDER BY id;

-- events are never removed: an event leaving the model is not an operation
CREATE TABLE c_events (email text PRIMARY KEY);
SELECT reverse_etl.create_sync('c_event', 'c_users', 'c_db',
  '{"type": "event", "mode": "insert", "object": "c_events", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.sync_run('c_event');
DELETE FROM c_src WHERE id = 2;
SELECT reverse_etl.sync_run('c_event');
INSERT INTO c_src VALUES (2, 'b@x.io', 'Bob');
SELECT reverse_etl.sync_run('c_event');
SELECT id, status, planned_added, planned_changed, planned_removed
FROM reverse_etl.sync_runs WHERE sync_id = 3 ORDER BY id;
SELECT count(*) AS changelog_rows_of_event_runs FROM reverse_etl.sync_changelog WHERE sync_id = 3;

-- a run with invalid rows ends warning; their changelog rows show the key
CREATE TABLE c_pairs (region text, id int, email text);
INSERT INTO c_pairs VALUES ('eu', 1, 'a@x.io'), ('eu', 1, 'dup@x.io'), (NULL, 2, 'nokey@x.io'), ('us', 3, 'c@x.io');
CREATE TABLE c_pair_target (email text PRIMARY KEY);
SELECT reverse_etl.create_model('c_pairs', 'SELECT region, id, email FROM c_pairs', ARRAY['region', 'id']);
SELECT reverse_etl.create_sync('c_pair_sync', 'c_pairs', 'c_db',
  '{"mode": "upsert", "object": "c_pair_target", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.sync_run('c_pair_sync');
SELECT status, rows_invalid, planned_added FROM reverse_etl.sync_runs WHERE sync_id = 4;
SELECT row_id, status, reason, fields FROM reverse_etl.sync_changelog
WHERE sync_id = 4 AND status = 'invalid' ORDER BY fields->>'email';

-- clear and fill has no meaning for a list in mode remove
CREATE TABLE c_members (list text, email text, UNIQUE (list, email));
SELECT reverse_etl.create_sync('c_unlist', 'c_users', 'c_db',
  '{"type": "list", "mode": "remove", "object": "c_members", "list": "vip", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.sync_clear_and_fill('c_unlist');
SELECT reverse_etl.create_sync('c_unlist2', 'c_users', 'c_db',
  '{"type": "list", "mode": "remove", "delete_behavior": "delete", "object": "c_members", "list": "vip", "match": {"from": "email", "to": "email"}}');

-- files are written, never edited: no delete behavior but nothing
-- (a directory of this test's own, emptied first: a sync never overwrites a
-- file it did not write, such as one an earlier run of this test left)
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pg_reverse_etl_files/regress && mkdir -m 777 /tmp/pg_reverse_etl_files/regress';
SELECT reverse_etl.create_destination('c_files', 'file', '{"directory": "/tmp/pg_reverse_etl_files/regress"}');
SELECT reverse_etl.create_sync('c_file', 'c_users', 'c_files', '{"mode": "diff", "delete_behavior": "delete"}');
SELECT reverse_etl.create_sync('c_file', 'c_users', 'c_files', '{"mode": "diff", "delete_behavior": "clear"}');

-- labels: NULL takes them all off; a NULL label is refused
SELECT reverse_etl.set_sync_labels('c_sync', ARRAY['b', 'a']);
SELECT reverse_etl.set_sync_labels('c_sync', ARRAY['a', NULL]);
SELECT labels FROM reverse_etl.syncs WHERE name = 'c_sync';
SELECT reverse_etl.set_sync_labels('c_sync', NULL);
SELECT labels FROM reverse_etl.syncs WHERE name = 'c_sync';
SELECT action, old_value, new_value FROM reverse_etl.sync_activity WHERE action = 'labels' ORDER BY id;

-- the allow-lists are server-wide: a session cannot change them
SET reverse_etl.http_allowed_hosts = '*';
SET reverse_etl.file_allowed_directories = '/';

-- an http template naming a column the model lacks is refused, naming it
SELECT reverse_etl.create_destination('c_api', 'http', '{"url": "http://127.0.0.1:9"}');
SELECT reverse_etl.create_sync('c_http', 'c_users', 'c_api',
  '{"mode": "upsert", "batch_size": 1, "requests": {"added": {"method": "PUT", "path": "/c/{{ row.mail }}"}}}');
SELECT reverse_etl.create_sync('c_http', 'c_users', 'c_api',
  '{"mode": "upsert", "batch_size": 1, "requests": {"added": {"method": "PUT", "path": "/c/{{ row.email "}}}');

-- in a diff's removed file the key has the model column's type, as in the added file
SELECT reverse_etl.create_sync('c_diff', 'c_users', 'c_files',
  '{"mode": "diff", "format": "jsonl", "file": "regress-c-{{ run.id }}",
    "match": {"from": "id", "to": "user_id"}, "mappings": [{"from": "email", "to": "email"}]}');
SELECT reverse_etl.sync_run('c_diff') AS first_run \gset
DELETE FROM c_src WHERE id = 2;
SELECT reverse_etl.sync_run('c_diff') AS second_run \gset
SELECT pg_read_file('/tmp/pg_reverse_etl_files/regress/regress-c-' || :first_run || '-added.jsonl') AS added_file;
SELECT pg_read_file('/tmp/pg_reverse_etl_files/regress/regress-c-' || :second_run || '-removed.jsonl') AS removed_file;
