//! Nothing one sync is configured to do stalls the others or the server: a
//! run waiting on a long Retry-After still absorbs the server's signals
//! (another database's DROP DATABASE … FORCE does not wait for it), ends
//! within its time limit, and a stored schedule that no longer parses
//! neither stops the scheduler nor breaks the overview.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use std::time::{Duration, Instant};

/// An http sync whose destination asks to wait 100000 s (Retry-After) on
/// the first request, with a retry policy that would wait up to 10 minutes.
fn throttled(db: &mut TestDb, crm: &FakeCrm, sync_extra: &str) {
    crm.throttle_next(1_000, 100_000);
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 5) g;
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"concurrency\": 1,
           \"retry\": {{\"max_attempts\": 3, \"max_backoff_ms\": 600000}}}}');
         SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}{sync_extra},
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
        crm.url()
    ));
}

#[test]
fn a_run_waiting_on_retry_after_does_not_hold_up_another_databases_drop() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("robust_barrier");
    throttled(&mut db, &crm, "");
    let run = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "the throttled request",
        &format!("SELECT status = 'in_progress' FROM reverse_etl.sync_runs WHERE id = {run}"),
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(500));
    let other = format!("{}_other", db.name);
    let mut admin = common::connect("postgres", "postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {other}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {other}"))
        .unwrap();
    let started = Instant::now();
    admin
        .batch_execute(&format!("DROP DATABASE {other} WITH (FORCE)"))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "DROP DATABASE took {:?} while a run waited on the network",
        started.elapsed()
    );
    // The run is still waiting; cancelling it is served at once too.
    let cancel_started = Instant::now();
    db.exec(&format!("SELECT reverse_etl.cancel_run({run})"));
    db.wait_for(
        "the cancelled run to end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {run}"),
        Duration::from_secs(10),
    );
    assert!(cancel_started.elapsed() < Duration::from_secs(5));
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "incomplete");
    assert_eq!(
        summary.aborted[0], 5,
        "nothing counted as sent: {summary:?}"
    );
}

#[test]
fn a_time_limit_holds_while_the_run_waits_on_the_destination() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("robust_limit");
    throttled(&mut db, &crm, ", \"time_limit\": \"3 seconds\"");
    let started = Instant::now();
    let run = db.run("s");
    let took = started.elapsed();
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(
        summary.error.contains("time limit of 3 seconds reached"),
        "{}",
        summary.error
    );
    // Within the limit plus one request timeout (10 s by default).
    assert!(took < Duration::from_secs(15), "the run took {took:?}");
}

#[test]
fn a_schedule_that_no_longer_parses_stops_neither_the_scheduler_nor_the_overview() {
    let mut db = TestDb::new("robust_schedule");
    db.exec(
        "CREATE TABLE src (id int PRIMARY KEY, email text);
         INSERT INTO src VALUES (1, 'a@x.io');
         CREATE TABLE a (email text PRIMARY KEY);
         CREATE TABLE b (email text PRIMARY KEY);
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
         SELECT reverse_etl.create_destination('d', 'postgres');
         SELECT reverse_etl.create_sync('broken', 'm', 'd', '{\"mode\": \"upsert\", \"object\": \"a\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
         SELECT reverse_etl.create_sync('healthy', 'm', 'd', '{\"mode\": \"upsert\", \"object\": \"b\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    );
    // What an older version accepted (an interval too long to compute with),
    // written behind the API's back: it must harm nothing else.
    db.exec(
        "UPDATE reverse_etl.syncs SET config = jsonb_set(config, '{schedule}', '{\"interval\": \"10000000000000 seconds\"}') WHERE name = 'broken';
         SELECT reverse_etl.update_sync('healthy', reverse_etl.sync_config('healthy') || '{\"schedule\": {\"interval\": \"5 seconds\"}}');",
    );
    db.wait_for(
        "two scheduled runs of the healthy sync",
        "SELECT count(*) >= 2 FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id \
         WHERE s.name = 'healthy' AND r.trigger = 'schedule' AND r.status = 'succeeded'",
        Duration::from_secs(30),
    );
    assert_eq!(
        db.rows("SELECT name, next_run_at IS NULL FROM reverse_etl.sync_overview ORDER BY name"),
        vec!["broken|t", "healthy|f"],
        "the overview answers for every row"
    );
    db.exec("SELECT reverse_etl.update_sync('healthy', reverse_etl.sync_config('healthy') || '{\"schedule\": {\"manual\": true}}')");
}

/// The records of every batch request the fake received, in order.
fn batch_sizes(crm: &FakeCrm) -> Vec<usize> {
    crm.requests()
        .iter()
        .filter(|r| r.path == "/contacts/batch")
        .map(|r| r.json()["records"].as_array().map_or(0, Vec::len))
        .collect()
}

fn batch_sync(db: &mut TestDb, crm: &FakeCrm, users_sql: &str, batch_size: i64) {
    db.exec(&format!(
        "CREATE TABLE users AS {users_sql};
         ALTER TABLE users ADD PRIMARY KEY (id);
         SELECT reverse_etl.create_model('m', 'SELECT id, email, notes FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"concurrency\": 64}}');
         SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": {batch_size},
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
           \"mappings\": [{{\"from\": \"notes\", \"to\": \"notes\"}}],
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts/batch\"}}}}}}');",
        crm.url()
    ));
}

#[test]
fn rows_in_flight_are_bounded_by_the_setting_whatever_batch_size_and_concurrency_say() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("robust_rows_in_flight");
    let name = db.name.clone();
    db.exec(&format!(
        "ALTER DATABASE {name} SET reverse_etl.max_rows_in_flight = 20"
    ));
    batch_sync(
        &mut db,
        &crm,
        "SELECT g AS id, 'u' || g || '@x.io' AS email, 'n' AS notes FROM generate_series(1, 95) g",
        100_000,
    );
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded[0]),
        ("succeeded", 95),
        "{summary:?}"
    );
    // Two windows of at most 10 rows in flight: no request carries more.
    let sizes = batch_sizes(&crm);
    assert!(sizes.iter().all(|&n| (1..=10).contains(&n)), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 95);
    assert_eq!(crm.contacts().len(), 95);
}

#[test]
fn bytes_in_flight_are_bounded_and_a_row_too_large_is_rejected_alone() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("robust_bytes_in_flight");
    let name = db.name.clone();
    db.exec(&format!(
        "ALTER DATABASE {name} SET reverse_etl.max_bytes_in_flight = '1MB';
         ALTER DATABASE {name} SET reverse_etl.max_row_bytes = '300kB'"
    ));
    // 100 kB a row; row 7 holds 400 kB that compress to almost nothing, so
    // only its raw length tells it is too large.
    batch_sync(
        &mut db,
        &crm,
        "SELECT g AS id, 'u' || g || '@x.io' AS email,
                CASE WHEN g = 7 THEN repeat('x', 400000) ELSE repeat(md5(g::text), 3125) END AS notes
         FROM generate_series(1, 20) g",
        100,
    );
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "warning", "{summary:?}");
    assert_eq!(
        (summary.succeeded[0], summary.rejected[0]),
        (19, 1),
        "{summary:?}"
    );
    let reason = db
        .text(&format!(
            "SELECT row_id || ': ' || reason FROM reverse_etl.sync_changelog WHERE run_id = {run} AND status = 'rejected'"
        ))
        .unwrap_or_default();
    assert!(
        reason.starts_with("7: the row's values are 4000")
            && reason.contains("bytes, more than reverse_etl.max_row_bytes (307200 bytes)"),
        "{reason}"
    );
    // Windows of half a megabyte: at most 5 rows of 100 kB per request.
    let sizes = batch_sizes(&crm);
    assert!(sizes.iter().all(|&n| (1..=5).contains(&n)), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 19);
    assert!(!crm.contacts().contains_key("u7@x.io"));
    // The next run tries the rejected row again, and only that row.
    db.exec(&format!(
        "ALTER DATABASE {name} SET reverse_etl.max_row_bytes = '512kB'"
    ));
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded[0]),
        ("succeeded", 1),
        "{summary:?}"
    );
    assert_eq!(
        crm.contacts()["u7@x.io"]["notes"].as_str().map(str::len),
        Some(400_000)
    );
}

#[test]
fn a_scheduler_failure_on_one_sync_is_recorded_on_it_and_the_others_keep_running() {
    let mut db = TestDb::new("robust_tick_isolation");
    db.exec(
        "CREATE TABLE src (id int PRIMARY KEY, email text);
         INSERT INTO src VALUES (1, 'a@x.io');
         CREATE TABLE a (email text PRIMARY KEY);
         CREATE TABLE b (email text PRIMARY KEY);
         CREATE TABLE slow_down (seconds float8);
         INSERT INTO slow_down VALUES (0);
         SELECT reverse_etl.create_model('slow_model',
           'SELECT id, email FROM src WHERE pg_sleep((SELECT seconds FROM slow_down)) IS NOT NULL', ARRAY['id']);
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
         SELECT reverse_etl.create_destination('d', 'postgres');
         SELECT reverse_etl.create_sync('slow', 'slow_model', 'd', '{\"mode\": \"upsert\", \"object\": \"a\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
         SELECT reverse_etl.create_sync('healthy', 'm', 'd', '{\"mode\": \"upsert\", \"object\": \"b\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
         UPDATE slow_down SET seconds = 60;",
    );
    // Fault injection (as a superuser): recording a skipped tick fails.
    db.exec(
        "CREATE FUNCTION refuse_skips() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN IF NEW.status = 'skipped' THEN RAISE EXCEPTION 'injected: no skips today'; END IF; RETURN NEW; END$$;
         CREATE TRIGGER refuse_skips BEFORE INSERT ON reverse_etl.sync_runs
           FOR EACH ROW EXECUTE FUNCTION refuse_skips();",
    );
    let long_run = db.i64("SELECT reverse_etl.sync_run('slow', wait => false)");
    db.exec(
        "SELECT reverse_etl.update_sync('slow', reverse_etl.sync_config('slow') || '{\"schedule\": {\"interval\": \"5 seconds\"}}');
         SELECT reverse_etl.update_sync('healthy', reverse_etl.sync_config('healthy') || '{\"schedule\": {\"interval\": \"5 seconds\"}}');",
    );
    db.wait_for(
        "two scheduled runs of the healthy sync and the failure recorded on the slow one",
        "SELECT (SELECT count(*) >= 2 FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id
                 WHERE s.name = 'healthy' AND r.trigger = 'schedule' AND r.status = 'succeeded')
            AND (SELECT count(*) >= 1 FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id
                 WHERE s.name = 'slow' AND r.trigger = 'schedule' AND r.status = 'failed'
                   AND r.error LIKE 'the scheduler could not start this run: %injected: no skips today%')",
        Duration::from_secs(40),
    );
    // One failure per due time, not one per tick: at most one a second.
    let failures = db.i64(
        "SELECT count(*) FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id
         WHERE s.name = 'slow' AND r.status = 'failed'",
    );
    assert!(failures <= 8, "{failures} failures recorded");
    db.exec(
        "SELECT reverse_etl.update_sync('slow', reverse_etl.sync_config('slow') || '{\"schedule\": {\"manual\": true}}');
         SELECT reverse_etl.update_sync('healthy', reverse_etl.sync_config('healthy') || '{\"schedule\": {\"manual\": true}}');",
    );
    db.exec(&format!("SELECT reverse_etl.cancel_run({long_run})"));
}
