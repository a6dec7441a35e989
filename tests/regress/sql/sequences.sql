-- Sequences: syncs run one after another; a failing step stops the rest
-- unless its policy is continue. Results in sequence_run_details.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_sequences WITH (FORCE);
CREATE DATABASE regress_sequences;
\c regress_sequences
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE seq_src (id int PRIMARY KEY, email text);
INSERT INTO seq_src VALUES (1, 'a@x.io');
CREATE TABLE seq_a (email text PRIMARY KEY);
CREATE TABLE seq_b (email text PRIMARY KEY);
SELECT reverse_etl.create_model('seq_users', 'SELECT id, email FROM seq_src', ARRAY['id']);
SELECT reverse_etl.create_destination('seq_db', 'postgres');
SELECT reverse_etl.create_sync('seq_to_a', 'seq_users', 'seq_db', '{"mode": "upsert", "object": "seq_a", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sync('seq_to_b', 'seq_users', 'seq_db', '{"mode": "upsert", "object": "seq_b", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.create_sequence('nightly', '["seq_to_a", {"sync": "seq_to_b", "on_failure": "continue"}]');
SELECT reverse_etl.sequence_run('nightly');
SELECT sequence, sequence_run_id, sequence_status, position, sync, run_id, step_status, reason, run_status
FROM reverse_etl.sequence_run_details ORDER BY sequence_run_id, position;
SELECT * FROM seq_a;
SELECT * FROM seq_b;

-- a disabled first step fails; its policy (stop) skips the second
SELECT reverse_etl.disable_sync('seq_to_a');
SELECT reverse_etl.sequence_run('nightly');
SELECT sequence_run_id, sequence_status, position, sync, step_status, reason
FROM reverse_etl.sequence_run_details WHERE sequence_run_id = 2 ORDER BY position;

-- bad steps name the step
SELECT reverse_etl.create_sequence('bad', '["seq_to_a", "missing"]');
SELECT reverse_etl.create_sequence('bad', '["seq_to_a", "seq_to_a"]');
SELECT reverse_etl.create_sequence('bad', '[]');
