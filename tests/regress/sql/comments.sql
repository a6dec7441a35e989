-- Every public function, table, view and column has a comment, so \df+,
-- \d+ and BI tools show what the README says.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_comments WITH (FORCE);
CREATE DATABASE regress_comments;
\c regress_comments
CREATE EXTENSION pg_reverse_etl;

-- functions without a comment (private ones start with "_")
SELECT p.oid::regprocedure AS function_without_comment
FROM pg_proc p
WHERE p.pronamespace = 'reverse_etl'::regnamespace AND p.proname NOT LIKE '\_%'
  AND obj_description(p.oid, 'pg_proc') IS NULL
ORDER BY 1::text;
-- tables and views without a comment
SELECT c.oid::regclass AS relation_without_comment
FROM pg_class c
WHERE c.relnamespace = 'reverse_etl'::regnamespace AND c.relkind IN ('r', 'v')
  AND obj_description(c.oid, 'pg_class') IS NULL
ORDER BY 1::text;
-- columns without a comment
SELECT c.oid::regclass AS relation, a.attname AS column_without_comment
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'reverse_etl'::regnamespace AND c.relkind IN ('r', 'v') AND c.relname NOT LIKE '\_%'
  AND col_description(c.oid, a.attnum) IS NULL
ORDER BY 1::text, a.attnum;
-- what \df+ shows for one of them
SELECT obj_description('reverse_etl.sync_run(text, boolean, boolean, boolean, boolean)'::regprocedure, 'pg_proc');
SELECT obj_description('reverse_etl.wait_for_run(bigint, interval)'::regprocedure, 'pg_proc');
