//! Honest outcomes for schedulers and orchestrators: a waited-for run that
//! fails or ends incomplete is an error of the call (with the run's id,
//! status and error), a warning run is not; wait_for_run waits for a run
//! started without waiting; sequences the same.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use std::time::{Duration, Instant};

/// `ok` succeeds; `broken` fails at run time (its model divides by zero
/// while `fail` is set).
const SETUP: &str = "
    CREATE TABLE src (id int PRIMARY KEY, email text);
    INSERT INTO src VALUES (1, 'a@x.io'), (2, 'b@x.io');
    CREATE TABLE flags (fail bool);
    INSERT INTO flags VALUES (false);
    CREATE TABLE a (email text PRIMARY KEY);
    CREATE TABLE b (email text PRIMARY KEY);
    SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
    SELECT reverse_etl.create_model('fragile',
      'SELECT id, email FROM src WHERE CASE WHEN (SELECT fail FROM flags) THEN 1 / (id - id) = 1 ELSE true END', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('ok', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"a\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
    SELECT reverse_etl.create_sync('broken', 'fragile', 'local', '{\"mode\": \"upsert\", \"object\": \"b\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
    UPDATE flags SET fail = true;
";

#[test]
fn a_waited_for_run_that_fails_is_an_error_naming_the_run() {
    let mut db = TestDb::new("outcome_failed");
    db.exec(SETUP);
    let (code, message) = db.error("SELECT reverse_etl.sync_run('broken')");
    assert_eq!(code, "38000", "{message}");
    let run = db.i64("SELECT max(id) FROM reverse_etl.sync_runs");
    assert!(
        message.starts_with(&format!("sync \"broken\" run {run} ended failed: "))
            && message.contains("division by zero"),
        "{message}"
    );
    // The run's records are the worker's own: the caller's error keeps them.
    assert_eq!(db.run_summary(run).status, "failed");
    // The old behaviour on request: the id, with a WARNING.
    let (mut client, notices) = common::connect_with_notices(&db.name, "postgres");
    let id: i64 = client
        .query_one(
            "SELECT reverse_etl.sync_run('broken', raise_on_failure => false)",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(id > run);
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with(&format!("WARNING: sync \"broken\" run {id} ended failed"))),
        "{notices:?}"
    );
    // A run that succeeds returns its id.
    let ok = db.i64("SELECT reverse_etl.sync_run('ok')");
    assert_eq!(db.run_summary(ok).status, "succeeded");
}

#[test]
fn a_waited_for_run_that_ends_incomplete_is_an_error_and_a_warning_run_is_not() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("outcome_incomplete");
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 3) g;
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"retry\": {{\"max_attempts\": 1}}}}');
         SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
        crm.url()
    ));
    crm.set_down(true);
    let (code, message) = db.error("SELECT reverse_etl.sync_run('s')");
    assert_eq!(code, "57014", "{message}");
    assert!(
        message.contains("ended incomplete: destination unavailable"),
        "{message}"
    );
    // A rejected row makes a warning run: it returns normally.
    crm.set_down(false);
    crm.reject_email("u2@x.io", 422, "invalid email");
    let run = db.i64("SELECT reverse_etl.sync_run('s')");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.rejected[0]),
        ("warning", 1),
        "{summary:?}"
    );
}

#[test]
fn wait_for_run_waits_for_a_run_started_without_waiting() {
    let mut db = TestDb::new("outcome_wait_for_run");
    db.exec(SETUP);
    db.exec("UPDATE flags SET fail = false");
    // A model that takes about two seconds.
    db.exec(
        "SELECT reverse_etl.create_model('slow', 'SELECT id, email FROM src WHERE pg_sleep(1) IS NOT NULL', ARRAY['id']);
         CREATE TABLE c (email text PRIMARY KEY);
         SELECT reverse_etl.create_sync('slow_sync', 'slow', 'local', '{\"mode\": \"upsert\", \"object\": \"c\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    );
    let run = db.i64("SELECT reverse_etl.sync_run('slow_sync', wait => false)");
    // A short timeout returns the status the run has then.
    let started = Instant::now();
    let early = db.text(&format!(
        "SELECT reverse_etl.wait_for_run({run}, '100 milliseconds')"
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_ne!(early.as_deref(), Some("succeeded"));
    assert_eq!(
        db.text(&format!("SELECT reverse_etl.wait_for_run({run})"))
            .as_deref(),
        Some("succeeded")
    );
    db.exec("UPDATE flags SET fail = true");
    let failed = db.i64("SELECT reverse_etl.sync_run('broken', wait => false)");
    assert_eq!(
        db.text(&format!(
            "SELECT reverse_etl.wait_for_run({failed}, '1 minute')"
        ))
        .as_deref(),
        Some("failed")
    );
    // Bad input: named errors.
    let (code, message) = db.error("SELECT reverse_etl.wait_for_run(999999)");
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("42704", "run: run 999999 does not exist")
    );
    let (code, message) = db.error(&format!(
        "SELECT reverse_etl.wait_for_run({run}, '-1 second')"
    ));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("22023", "timeout: must not be negative")
    );
    let (code, message) = db.error("SELECT reverse_etl.wait_for_run(NULL)");
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("22023", "run: must not be NULL")
    );
}

#[test]
fn a_waited_for_sequence_that_fails_is_an_error() {
    let mut db = TestDb::new("outcome_sequence");
    db.exec(SETUP);
    db.exec("SELECT reverse_etl.create_sequence('nightly', '[\"ok\", \"broken\"]')");
    let (code, message) = db.error("SELECT reverse_etl.sequence_run('nightly')");
    assert_eq!(code, "38000", "{message}");
    assert!(
        message.starts_with("sequence \"nightly\" run "),
        "{message}"
    );
    assert!(message.contains("ended failed"), "{message}");
    let id = db.i64("SELECT reverse_etl.sequence_run('nightly', raise_on_failure => false)");
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM reverse_etl.sequence_runs WHERE id = {id}"
        ))
        .as_deref(),
        Some("failed")
    );
}
