-- A run's row hash, reverse_etl._hash_fields(seed, fields…), is exactly
-- hash_record_extended(ROW(fields…), seed): snapshots hold hashes computed
-- that way, and a different value would send every row again.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_row_hash WITH (FORCE);
CREATE DATABASE regress_row_hash;
\c regress_row_hash
CREATE EXTENSION pg_reverse_etl;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);
CREATE TYPE pair AS (a int, b text);
CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE typed (
  i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, b bool,
  t text, t_c text COLLATE "C", t_blind text COLLATE case_blind, v varchar(20), c char(5),
  d date, ts timestamp, tz timestamptz, iv interval, u uuid, j jsonb, by bytea,
  ia int4[], ta text[], m mood, s short_text, p pair, r int4range, ip inet
);
INSERT INTO typed
SELECT g::int2, g, g * 1000000007::int8, g / 7.0, g / 3.0, g::numeric / 9, g % 2 = 0,
       'text ' || g, 'C ' || g, CASE WHEN g % 2 = 0 THEN 'ABC' ELSE 'abc' END, 'v' || g, 'c' || (g % 10),
       date '2024-01-01' + g, timestamp '2024-01-01' + g * interval '1 minute',
       timestamptz '2024-01-01 00:00+00' + g * interval '1 hour', g * interval '1 second',
       md5(g::text)::uuid, jsonb_build_object('g', g, 'list', jsonb_build_array(g, 'x')), decode(md5(g::text), 'hex'),
       ARRAY[g, g + 1], ARRAY['a' || g, NULL], (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood, 'short ' || g,
       ROW(g, 'p' || g)::pair, int4range(g, g + 10), ('10.0.0.' || (g % 250))::inet
FROM generate_series(1, 2000) g;
-- NULLs in every column, one column at a time, and a row of NULLs only
INSERT INTO typed (i4, t) SELECT g, NULL FROM generate_series(1, 3) g;
INSERT INTO typed DEFAULT VALUES;
UPDATE typed SET n = NULL, tz = NULL WHERE i4 % 5 = 0;
UPDATE typed SET t = NULL, p = NULL WHERE i4 % 7 = 0;
-- negative numbers and times before 2000 (negative inside)
UPDATE typed SET i2 = -i2, i8 = -i8, ts = ts - interval '40 years', tz = tz - interval '40 years' WHERE i4 % 3 = 0;
-- long values, stored compressed (and out of line), are hashed as their text
UPDATE typed SET t = repeat('long ', 3000) || i4, v = 'x' || i4 WHERE i4 % 11 = 0;
UPDATE typed SET t_c = (SELECT string_agg(md5(g::text || i4), '') FROM generate_series(1, 300) g) WHERE i4 % 13 = 0;

-- every row, every seed the runs use (0 and others, negative too)
SELECT seed,
       count(*) AS rows,
       count(*) FILTER (WHERE reverse_etl._hash_fields(seed, i2, i4, i8, f4, f8, n, b, t, t_c, t_blind, v, c, d, ts, tz, iv, u, j, by, ia, ta, m, s, p, r, ip)
                        IS DISTINCT FROM hash_record_extended(ROW(i2, i4, i8, f4, f8, n, b, t, t_c, t_blind, v, c, d, ts, tz, iv, u, j, by, ia, ta, m, s, p, r, ip), seed)) AS different
FROM typed, (VALUES (0::bigint), (7), (-123456789012345)) AS seeds (seed)
GROUP BY seed ORDER BY seed;

-- one field, and fields that are casts (the run hashes json and the like as text)
SELECT count(*) FILTER (WHERE reverse_etl._hash_fields(0, t) IS DISTINCT FROM hash_record_extended(ROW(t), 0)) AS one_field,
       count(*) FILTER (WHERE reverse_etl._hash_fields(3, j::json::text, i4) IS DISTINCT FROM hash_record_extended(ROW(j::json::text, i4), 3)) AS casts
FROM typed;

-- a case-blind collation hashes 'ABC' and 'abc' alike, as the row would
SELECT count(DISTINCT reverse_etl._hash_fields(0, t_blind)) AS blind, count(DISTINCT reverse_etl._hash_fields(0, t_blind::text COLLATE "C")) AS exact
FROM typed WHERE t_blind IS NOT NULL;

-- order matters, NULL is not a value's hash, and a NULL seed gives NULL
SELECT reverse_etl._hash_fields(0, 1, 2) <> reverse_etl._hash_fields(0, 2, 1) AS ordered,
       reverse_etl._hash_fields(0, NULL::int, 1) = hash_record_extended(ROW(NULL::int, 1), 0) AS null_field,
       reverse_etl._hash_fields(NULL, 1) IS NULL AS null_seed;

-- what it cannot hash is an error naming the type, as hash_record_extended's is
SELECT reverse_etl._hash_fields(0, '{"a": 1}'::json);
SELECT reverse_etl._hash_fields(0, VARIADIC ARRAY[1, 2]);

\c postgres
DROP DATABASE regress_row_hash WITH (FORCE);
