//! The postgres destination end to end on a real cluster: every mode ×
//! delete behavior, rejected rows and their retry, invalid rows, composite
//! keys, full resync, and the counts reconciling on every run.

mod common;
use common::{RunSummary, TestDb};

const SETUP: &str = "
    CREATE TABLE src (id int, email text, plan text);
    INSERT INTO src SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 5) g;
    CREATE SCHEMA crm;
    CREATE TABLE crm.contacts (email text PRIMARY KEY, plan_name text, source text);
    SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM src', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
";

/// The same source change in every scenario: one row changed, one removed, one added.
const CHANGE: &str = "
    UPDATE src SET plan = 'pro' WHERE id = 2;
    DELETE FROM src WHERE id = 3;
    INSERT INTO src VALUES (6, 'u6@x.io', 'free');
";

fn sync(db: &mut TestDb, mode: &str, delete_behavior: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'local', '{{
            "mode": "{mode}", "object": "crm.contacts",
            "match": {{"from": "email", "to": "email"}},
            "mappings": [{{"from": "plan", "to": "plan_name"}}, {{"static": "warehouse", "to": "source"}}],
            "delete_behavior": "{delete_behavior}"}}')"#
    ));
}

fn target(db: &mut TestDb) -> Vec<String> {
    db.rows("SELECT email, plan_name, source FROM crm.contacts ORDER BY email")
}

fn run(db: &mut TestDb) -> RunSummary {
    let id = db.run("s");
    db.run_summary(id)
}

fn all_free() -> Vec<String> {
    (1..=5)
        .map(|i| format!("u{i}@x.io|free|warehouse"))
        .collect()
}

#[test]
fn upsert_with_delete_mirrors_changes() {
    let mut db = TestDb::new("upsert_delete");
    db.exec(SETUP);
    sync(&mut db, "upsert", "delete");
    let first = run(&mut db);
    assert_eq!(
        (first.status.as_str(), first.queried, first.planned),
        ("succeeded", 5, [5, 0, 0])
    );
    assert_eq!(target(&mut db), all_free());

    let unchanged = run(&mut db);
    assert_eq!(
        (unchanged.status.as_str(), unchanged.planned),
        ("succeeded", [0, 0, 0])
    );

    db.exec(CHANGE);
    let second = run(&mut db);
    assert_eq!(second.planned, [1, 1, 1]);
    assert_eq!(second.succeeded, [1, 1, 1]);
    assert_eq!(
        target(&mut db),
        [
            "u1@x.io|free|warehouse",
            "u2@x.io|pro|warehouse",
            "u4@x.io|free|warehouse",
            "u5@x.io|free|warehouse",
            "u6@x.io|free|warehouse"
        ]
    );
    let log = db.rows("SELECT row_id, op, status FROM reverse_etl.sync_changelog WHERE run_id = 3 ORDER BY op, row_id");
    assert_eq!(
        log,
        [
            "6|added|succeeded",
            "2|changed|succeeded",
            "3|removed|succeeded"
        ]
    );
}

#[test]
fn upsert_with_nothing_keeps_removed_records() {
    let mut db = TestDb::new("upsert_nothing");
    db.exec(SETUP);
    sync(&mut db, "upsert", "nothing");
    run(&mut db);
    db.exec(CHANGE);
    let second = run(&mut db);
    assert_eq!((second.planned, second.succeeded), ([1, 1, 1], [1, 1, 1]));
    assert_eq!(
        target(&mut db),
        [
            "u1@x.io|free|warehouse",
            "u2@x.io|pro|warehouse",
            "u3@x.io|free|warehouse",
            "u4@x.io|free|warehouse",
            "u5@x.io|free|warehouse",
            "u6@x.io|free|warehouse"
        ]
    );
    // The removed row left the snapshot: if it comes back it is added again.
    db.exec("INSERT INTO src VALUES (3, 'u3@x.io', 'back')");
    let third = run(&mut db);
    assert_eq!(third.planned, [1, 0, 0]);
    assert_eq!(
        db.text("SELECT plan_name FROM crm.contacts WHERE email = 'u3@x.io'")
            .as_deref(),
        Some("back")
    );
}

#[test]
fn upsert_with_clear_nulls_mapped_fields() {
    let mut db = TestDb::new("upsert_clear");
    db.exec(SETUP);
    sync(&mut db, "upsert", "clear");
    run(&mut db);
    db.exec(CHANGE);
    let second = run(&mut db);
    assert_eq!(second.succeeded, [1, 1, 1]);
    assert_eq!(
        target(&mut db),
        [
            "u1@x.io|free|warehouse",
            "u2@x.io|pro|warehouse",
            "u3@x.io|∅|∅",
            "u4@x.io|free|warehouse",
            "u5@x.io|free|warehouse",
            "u6@x.io|free|warehouse"
        ]
    );
}

#[test]
fn insert_never_touches_sent_records() {
    for (behavior, u3) in [
        ("nothing", Some("u3@x.io|free|warehouse")),
        ("delete", None),
        ("clear", Some("u3@x.io|∅|∅")),
    ] {
        let mut db = TestDb::new("insert");
        db.exec(SETUP);
        // A record that exists before the first run is left alone, not overwritten.
        db.exec("INSERT INTO crm.contacts VALUES ('u1@x.io', 'kept', 'crm')");
        sync(&mut db, "insert", behavior);
        let first = run(&mut db);
        assert_eq!((first.planned, first.succeeded), ([5, 0, 0], [5, 0, 0]));
        db.exec(CHANGE);
        let second = run(&mut db);
        assert_eq!(
            second.planned,
            [1, 0, 1],
            "insert mode plans no changes ({behavior})"
        );
        let mut expected: Vec<String> =
            vec!["u1@x.io|kept|crm".into(), "u2@x.io|free|warehouse".into()];
        expected.extend(u3.map(String::from));
        expected.extend([
            "u4@x.io|free|warehouse".into(),
            "u5@x.io|free|warehouse".into(),
            "u6@x.io|free|warehouse".into(),
        ]);
        assert_eq!(target(&mut db), expected, "delete behavior {behavior}");
    }
}

#[test]
fn update_never_creates_and_rejects_missing_records() {
    for (behavior, u3) in [
        ("nothing", Some("u3@x.io|free|warehouse")),
        ("delete", None),
        ("clear", Some("u3@x.io|∅|∅")),
    ] {
        let mut db = TestDb::new("update");
        db.exec(SETUP);
        db.exec("INSERT INTO crm.contacts SELECT 'u' || g || '@x.io', 'old', 'crm' FROM generate_series(1, 3) g");
        sync(&mut db, "update", behavior);
        let first = run(&mut db);
        assert_eq!(first.status, "warning");
        assert_eq!(
            (first.planned, first.succeeded, first.rejected),
            ([5, 0, 0], [3, 0, 0], [2, 0, 0])
        );
        let reasons = db.rows("SELECT row_id, reason FROM reverse_etl.sync_changelog WHERE status = 'rejected' ORDER BY row_id");
        assert_eq!(reasons[0], "4|no record in crm.contacts where email = 'u4@x.io' (mode update never creates records)");
        db.exec(CHANGE);
        // u4, u5 are retried (still missing), u6 is new (missing): 3 added, all rejected.
        let second = run(&mut db);
        assert_eq!(
            (second.planned, second.succeeded, second.rejected),
            ([3, 1, 1], [0, 1, 1], [3, 0, 0])
        );
        let mut expected: Vec<String> = vec![
            "u1@x.io|free|warehouse".into(),
            "u2@x.io|pro|warehouse".into(),
        ];
        expected.extend(u3.map(String::from));
        assert_eq!(target(&mut db), expected, "delete behavior {behavior}");
        // Once the record exists, the retried row goes through.
        db.exec("INSERT INTO crm.contacts VALUES ('u4@x.io', NULL, NULL)");
        let third = run(&mut db);
        assert_eq!(third.succeeded[0], 1);
        assert_eq!(
            db.text("SELECT plan_name FROM crm.contacts WHERE email = 'u4@x.io'")
                .as_deref(),
            Some("free")
        );
    }
}

#[test]
fn all_mode_makes_the_table_equal_to_the_model() {
    let mut db = TestDb::new("mirror");
    db.exec(SETUP);
    db.exec("INSERT INTO crm.contacts VALUES ('stranger@x.io', 'x', 'crm')");
    sync(&mut db, "all", "delete");
    let first = run(&mut db);
    assert_eq!((first.planned, first.succeeded), ([5, 0, 1], [5, 0, 1]));
    assert_eq!(target(&mut db), all_free());
    db.exec(CHANGE);
    // Someone edits the destination by hand: mirror mode puts it back.
    db.exec("UPDATE crm.contacts SET plan_name = 'edited' WHERE email = 'u1@x.io'");
    let second = run(&mut db);
    assert_eq!(
        second.planned,
        [5, 0, 1],
        "no CDC: every row is sent each run, counted as added"
    );
    assert_eq!(
        target(&mut db),
        [
            "u1@x.io|free|warehouse",
            "u2@x.io|pro|warehouse",
            "u4@x.io|free|warehouse",
            "u5@x.io|free|warehouse",
            "u6@x.io|free|warehouse"
        ]
    );
}

#[test]
fn a_bad_row_is_rejected_alone_and_retried_once_fixed() {
    let mut db = TestDb::new("rejected");
    db.exec(SETUP);
    db.exec("ALTER TABLE crm.contacts ALTER plan_name SET NOT NULL");
    db.exec("UPDATE src SET plan = NULL WHERE id = 3");
    sync(&mut db, "upsert", "nothing");
    let first = run(&mut db);
    assert_eq!(first.status, "warning");
    assert_eq!((first.succeeded, first.rejected), ([4, 0, 0], [1, 0, 0]));
    let rejected = db.rows("SELECT row_id, reason, fields::text FROM reverse_etl.sync_changelog WHERE status = 'rejected'");
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].starts_with("3|null value in column \"plan_name\" of relation \"contacts\" violates not-null constraint (23502)"), "{}", rejected[0]);
    assert!(
        rejected[0].ends_with("|{\"plan\": null, \"email\": \"u3@x.io\"}"),
        "{}",
        rejected[0]
    );
    assert_eq!(db.i64("SELECT count(*) FROM crm.contacts"), 4);

    // Nothing changed in the source: the rejected row is retried, and rejected again.
    let again = run(&mut db);
    assert_eq!((again.planned, again.rejected), ([1, 0, 0], [1, 0, 0]));
    db.exec("UPDATE src SET plan = 'fixed' WHERE id = 3");
    let fixed = run(&mut db);
    assert_eq!(
        (fixed.status.as_str(), fixed.succeeded),
        ("succeeded", [1, 0, 0])
    );
    assert_eq!(
        db.text("SELECT plan_name FROM crm.contacts WHERE email = 'u3@x.io'")
            .as_deref(),
        Some("fixed")
    );
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_alone() {
    let mut db = TestDb::new("type_mismatch");
    db.exec(SETUP);
    db.exec("CREATE TABLE crm.scores (email text PRIMARY KEY, score int)");
    db.exec("ALTER TABLE src ADD score text; UPDATE src SET score = id * 10; UPDATE src SET score = 'n/a' WHERE id = 2");
    db.exec(r#"SELECT reverse_etl.create_model('scored', 'SELECT id, email, score FROM src', ARRAY['id'])"#);
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'scored', 'local', '{"mode": "upsert", "object": "crm.scores",
        "match": {"from": "email", "to": "email"}, "mappings": [{"from": "score", "to": "score"}]}')"#);
    let first = run(&mut db);
    assert_eq!((first.succeeded, first.rejected), ([4, 0, 0], [1, 0, 0]));
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(
        reason.starts_with("invalid input syntax for type integer: \"n/a\" (22P02)"),
        "{reason}"
    );
    assert_eq!(
        db.i64("SELECT sum(score) FROM crm.scores"),
        10 + 30 + 40 + 50
    );
}

#[test]
fn null_and_duplicate_keys_are_invalid_and_never_sent() {
    let mut db = TestDb::new("invalid");
    db.exec(SETUP);
    db.exec("INSERT INTO src VALUES (NULL, 'nokey@x.io', 'free'), (2, 'dup@x.io', 'free')");
    sync(&mut db, "upsert", "delete");
    let first = run(&mut db);
    assert_eq!(
        (first.queried, first.invalid, first.planned),
        (7, 3, [4, 0, 0])
    );
    let reasons = db.rows("SELECT coalesce(row_id, '∅'), reason FROM reverse_etl.sync_changelog WHERE status = 'invalid' ORDER BY 1, 2");
    assert_eq!(
        reasons,
        [
            "2|duplicate primary key (id): 2 rows share it",
            "2|duplicate primary key (id): 2 rows share it",
            "∅|primary key (id) is null"
        ]
    );
    assert_eq!(db.i64("SELECT count(*) FROM crm.contacts WHERE email IN ('nokey@x.io', 'dup@x.io', 'u2@x.io')"), 0);

    // Once delivered, a row whose key becomes duplicated is neither changed nor removed.
    db.exec("DELETE FROM src WHERE email = 'dup@x.io'");
    run(&mut db);
    db.exec("INSERT INTO src VALUES (1, 'again@x.io', 'x')");
    let second = run(&mut db);
    assert_eq!((second.invalid, second.planned), (3, [0, 0, 0]));
    assert_eq!(
        db.i64("SELECT count(*) FROM crm.contacts WHERE email = 'u1@x.io'"),
        1
    );
}

#[test]
fn composite_primary_keys() {
    let mut db = TestDb::new("composite");
    db.exec("
        CREATE TABLE events (account int, seq int, email text);
        INSERT INTO events VALUES (1, 1, 'a@x.io'), (1, 2, 'b@x.io'), (2, 1, 'c@x.io'), (2, NULL, 'd@x.io');
        CREATE TABLE dest (email text PRIMARY KEY, account int);
        SELECT reverse_etl.create_model('ev', 'SELECT * FROM events', ARRAY['account', 'seq']);
        SELECT reverse_etl.create_destination('local', 'postgres');
        SELECT reverse_etl.create_sync('s', 'ev', 'local', '{\"mode\": \"upsert\", \"object\": \"dest\",
            \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"mappings\": [{\"from\": \"account\", \"to\": \"account\"}],
            \"delete_behavior\": \"delete\"}');
    ");
    let first = run(&mut db);
    assert_eq!((first.invalid, first.planned), (1, [3, 0, 0]));
    assert_eq!(
        db.rows("SELECT row_id FROM reverse_etl.sync_changelog WHERE op = 'added' ORDER BY 1"),
        ["(1,1)", "(1,2)", "(2,1)"]
    );
    db.exec("DELETE FROM events WHERE account = 1 AND seq = 2");
    let second = run(&mut db);
    assert_eq!(second.planned, [0, 0, 1]);
    assert_eq!(
        db.rows("SELECT email FROM dest ORDER BY 1"),
        ["a@x.io", "c@x.io"]
    );
}

#[test]
fn full_resync_sends_every_row_as_added_and_ignores_removed() {
    let mut db = TestDb::new("full_resync");
    db.exec(SETUP);
    sync(&mut db, "upsert", "delete");
    run(&mut db);
    db.exec("DELETE FROM src WHERE id = 5");
    db.exec("UPDATE crm.contacts SET plan_name = 'drifted'");
    let resync = db.i64("SELECT reverse_etl.sync_run('s', full_resync => true)");
    let summary = db.run_summary(resync);
    assert_eq!(summary.planned, [4, 0, 0]);
    assert_eq!(
        db.i64(&format!(
            "SELECT full_resync::int::int8 FROM reverse_etl.sync_runs WHERE id = {resync}"
        )),
        1
    );
    // u5 was removed from the model but a full resync does not delete it.
    assert_eq!(
        db.i64("SELECT count(*) FROM crm.contacts WHERE plan_name = 'free'"),
        4
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM crm.contacts WHERE email = 'u5@x.io'"),
        1
    );
    // And the snapshot was rebuilt: the next run sees nothing to do.
    let next = run(&mut db);
    assert_eq!(next.planned, [0, 0, 0]);
}

#[test]
fn changing_the_mappings_resends_every_row() {
    let mut db = TestDb::new("remap");
    db.exec(SETUP);
    sync(&mut db, "upsert", "nothing");
    run(&mut db);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"mappings": [{"from": "plan", "to": "plan_name"}, {"static": "dwh", "to": "source"}]}')"#);
    let second = run(&mut db);
    assert_eq!(second.planned, [0, 5, 0]);
    assert_eq!(
        db.i64("SELECT count(*) FROM crm.contacts WHERE source = 'dwh'"),
        5
    );
}
