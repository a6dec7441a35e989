-- When schedules are due: intervals, cron in a time zone across a DST
-- change, custom recurrences, manual schedules.
-- (each test in a database of its own)
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_schedules WITH (FORCE);
CREATE DATABASE regress_schedules;
\c regress_schedules
CREATE EXTENSION pg_reverse_etl;
SET timezone = 'UTC';

SELECT * FROM reverse_etl.schedule_next_runs('{"interval": "15 minutes"}', 3, '2026-03-01 10:07:00+00');
SELECT * FROM reverse_etl.schedule_next_runs('{"interval": "1 hour", "start": "2026-03-01T10:30:00Z"}', 3, '2026-03-01 10:07:00+00');
-- 09:00 in New York, before and after the clocks go forward on 8 March 2026
SELECT * FROM reverse_etl.schedule_next_runs('{"cron": "0 9 * * *", "timezone": "America/New_York"}', 3, '2026-03-07 00:00:00+00');
-- Mondays and Wednesdays at 09:00 in Berlin
SELECT * FROM reverse_etl.schedule_next_runs('{"at": [{"days": ["mon", "wed"], "time": "09:00"}], "timezone": "Europe/Berlin"}', 3, '2026-12-01 00:00:00+00');
SELECT reverse_etl.schedule_next_run('{"manual": true}', '2026-03-01 10:07:00+00') IS NULL AS manual_never_fires;
SELECT reverse_etl.schedule_next_run(NULL) IS NULL AS no_schedule;
-- bad schedules name the field
SELECT * FROM reverse_etl.schedule_next_runs('{"interval": "3 seconds"}');
SELECT * FROM reverse_etl.schedule_next_runs('{"cron": "0 9 * *"}');
SELECT * FROM reverse_etl.schedule_next_runs('{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}');
SELECT * FROM reverse_etl.schedule_next_runs('{"interval": "1 hour"}', 0);
