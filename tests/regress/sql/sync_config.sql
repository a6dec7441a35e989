-- sync_config: the configuration with every default written out, per kind.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_sync_config WITH (FORCE);
CREATE DATABASE regress_sync_config;
\c regress_sync_config
CREATE EXTENSION pg_reverse_etl;

CREATE TABLE cfg_src (id int PRIMARY KEY, email text, plan text);
CREATE TABLE cfg_target (email text PRIMARY KEY, plan_name text);
CREATE TABLE cfg_members (list text, email text, UNIQUE (list, email));
SELECT reverse_etl.create_model('cfg_users', 'SELECT id, email, plan FROM cfg_src', ARRAY['id']);
SELECT reverse_etl.create_destination('cfg_db', 'postgres');
SELECT reverse_etl.create_destination('cfg_api', 'http', '{"url": "http://127.0.0.1:9/api"}');

-- a postgres upsert: defaults filled in
SELECT reverse_etl.create_sync('cfg_upsert', 'cfg_users', 'cfg_db',
  '{"mode": "upsert", "object": "cfg_target", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan_name"}]}');
SELECT jsonb_pretty(reverse_etl.sync_config('cfg_upsert'));

-- mode all implies delete; a list in mode add leaves the list by default
SELECT reverse_etl.create_sync('cfg_mirror', 'cfg_users', 'cfg_db',
  '{"mode": "all", "object": "cfg_target", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.sync_config('cfg_mirror')->>'delete_behavior' AS mirror_delete_behavior;
SELECT reverse_etl.create_sync('cfg_list', 'cfg_users', 'cfg_db',
  '{"type": "list", "mode": "add", "object": "cfg_members", "list": "vip", "match": {"from": "email", "to": "email"}}');
SELECT reverse_etl.sync_config('cfg_list')->>'delete_behavior' AS list_delete_behavior;

-- an http sync keeps its requests as given
SELECT reverse_etl.create_sync('cfg_http', 'cfg_users', 'cfg_api',
  '{"mode": "upsert", "match": {"from": "email", "to": "email"}, "batch_size": 1,
    "requests": {"added": {"method": "POST", "path": "/contacts"},
                 "changed": {"method": "PATCH", "path": "/contacts/{{ row.email }}"}}}');
SELECT jsonb_pretty(reverse_etl.sync_config('cfg_http'));

-- edit as JSON: read, change one key, write back
SELECT reverse_etl.update_sync('cfg_upsert', reverse_etl.sync_config('cfg_upsert') || '{"batch_size": 500}');
SELECT reverse_etl.sync_config('cfg_upsert')->'batch_size' AS batch_size;
SELECT action, old_value->'batch_size' AS old_batch_size, new_value->'batch_size' AS new_batch_size
FROM reverse_etl.sync_activity WHERE sync_id = 1 ORDER BY id;
