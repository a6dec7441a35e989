//! Sequences: syncs one after another, a failing middle step under both
//! policies, never two runs of a sequence at once, bad input refused.

mod common;
use common::TestDb;
use std::time::Duration;

const SETUP: &str = "
    CREATE TABLE src (id int PRIMARY KEY, email text);
    INSERT INTO src SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 20) g;
    CREATE TABLE ta (email text PRIMARY KEY); CREATE TABLE tb (email text PRIMARY KEY); CREATE TABLE tc (email text PRIMARY KEY);
    SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('a', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"ta\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
    SELECT reverse_etl.create_sync('b', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"tb\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
    SELECT reverse_etl.create_sync('c', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"tc\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
";

fn steps(db: &mut TestDb, run: i64) -> Vec<String> {
    db.rows(&format!(
        "SELECT position, sync, step_status, coalesce(run_status, '∅') FROM reverse_etl.sequence_run_details WHERE sequence_run_id = {run} ORDER BY position"
    ))
}

#[test]
fn steps_run_in_order_and_a_failure_stops_or_continues_by_policy() {
    let mut db = TestDb::new("sequences");
    db.exec(SETUP);
    db.exec(r#"SELECT reverse_etl.create_sequence('all_ok', '["a", "b", "c"]')"#);
    let ok = db.i64("SELECT reverse_etl.sequence_run('all_ok')");
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM reverse_etl.sequence_runs WHERE id = {ok}"
        ))
        .as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        steps(&mut db, ok),
        [
            "1|a|succeeded|succeeded",
            "2|b|succeeded|succeeded",
            "3|c|succeeded|succeeded"
        ]
    );
    let order = db.rows(&format!("SELECT s.name FROM reverse_etl.sequence_run_steps st JOIN reverse_etl.sync_runs r ON r.id = st.run_id JOIN reverse_etl.syncs s ON s.id = r.sync_id WHERE st.sequence_run_id = {ok} ORDER BY r.started_at"));
    assert_eq!(order, ["a", "b", "c"]);

    // The middle step fails: its table is gone.
    db.exec("INSERT INTO src VALUES (21, 'u21@x.io'); DROP TABLE tb");
    db.exec(r#"SELECT reverse_etl.create_sequence('stopping', '["a", {"sync": "b", "on_failure": "stop"}, "c"]')"#);
    let stopped = db.i64("SELECT reverse_etl.sequence_run('stopping', raise_on_failure => false)");
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM reverse_etl.sequence_runs WHERE id = {stopped}"
        ))
        .as_deref(),
        Some("failed")
    );
    assert_eq!(
        steps(&mut db, stopped),
        [
            "1|a|succeeded|succeeded",
            "2|b|failed|failed",
            "3|c|skipped|∅"
        ]
    );
    assert_eq!(db.i64("SELECT count(*) FROM tc"), 20, "c did not run");

    db.exec(r#"SELECT reverse_etl.create_sequence('continuing', '["a", {"sync": "b", "on_failure": "continue"}, "c"]')"#);
    let continued =
        db.i64("SELECT reverse_etl.sequence_run('continuing', raise_on_failure => false)");
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM reverse_etl.sequence_runs WHERE id = {continued}"
        ))
        .as_deref(),
        Some("failed")
    );
    assert_eq!(
        steps(&mut db, continued),
        [
            "1|a|succeeded|succeeded",
            "2|b|failed_continued|failed",
            "3|c|succeeded|succeeded"
        ]
    );
    assert_eq!(db.i64("SELECT count(*) FROM tc"), 21, "c ran");
}

#[test]
fn a_sequence_never_runs_twice_at_once() {
    let mut db = TestDb::new("sequence_overlap");
    db.exec(SETUP);
    db.exec("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
             CREATE TRIGGER slow AFTER INSERT ON ta FOR EACH STATEMENT EXECUTE FUNCTION slow();");
    db.exec(r#"SELECT reverse_etl.create_sequence('s', '["a", "c"]')"#);
    let first = db.i64("SELECT reverse_etl.sequence_run('s', wait => false)");
    let second = db.i64("SELECT reverse_etl.sequence_run('s', wait => false)");
    db.wait_for("both done", &format!("SELECT count(*) = 2 FROM reverse_etl.sequence_runs WHERE id IN ({first}, {second}) AND finished_at IS NOT NULL"), Duration::from_secs(60));
    let overlap = db.i64(&format!(
        "SELECT count(*) FROM reverse_etl.sequence_runs x, reverse_etl.sequence_runs y WHERE x.id = {first} AND y.id = {second} \
         AND tstzrange(x.started_at, x.finished_at) && tstzrange(y.started_at, y.finished_at)"
    ));
    assert_eq!(overlap, 0, "the second sequence run waited for the first");
}

#[test]
fn bad_sequences_are_refused() {
    let mut db = TestDb::new("sequence_bad");
    db.exec(SETUP);
    for (sql, code, message) in [
        (
            r#"SELECT reverse_etl.create_sequence('x', '["a", "nope"]')"#,
            "42704",
            "steps[1].sync: sync \"nope\" does not exist",
        ),
        (
            r#"SELECT reverse_etl.create_sequence('x', '["a", "b", "a"]')"#,
            "22023",
            "steps[2].sync: sync \"a\" is already steps[0]",
        ),
        (
            r#"SELECT reverse_etl.create_sequence('x', '[]')"#,
            "22023",
            "steps: must be a non-empty list",
        ),
        (
            r#"SELECT reverse_etl.create_sequence('x', '["a"]', '{"interval": "0 minutes"}')"#,
            "22023",
            "schedule.interval: the interval must be greater than zero",
        ),
        (
            r#"SELECT reverse_etl.sequence_run('nosuch')"#,
            "42704",
            "sequence: sequence \"nosuch\" does not exist",
        ),
    ] {
        let before = db.i64("SELECT count(*) FROM reverse_etl.sequences");
        let (actual_code, actual) = db.error(sql);
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{sql}: {actual}"
        );
        assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sequences"), before);
    }
}
