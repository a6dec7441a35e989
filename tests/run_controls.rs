//! Run controls and the sync overview: reset CDC, the guard against mass
//! removal, derived statuses, folders, labels and the activity log.

mod common;
use common::TestDb;

const SETUP: &str = "
    CREATE TABLE src (id int, email text, plan text);
    INSERT INTO src SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 10) g;
    CREATE TABLE target (email text PRIMARY KEY, plan_name text NOT NULL);
    SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM src', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('s', 'users', 'local', '{\"mode\": \"upsert\", \"object\": \"target\",
        \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"mappings\": [{\"from\": \"plan\", \"to\": \"plan_name\"}],
        \"delete_behavior\": \"delete\"}');
";

#[test]
fn reset_cdc_sends_nothing_and_later_runs_send_only_later_changes() {
    let mut db = TestDb::new("reset_cdc");
    db.exec(SETUP);
    db.exec("INSERT INTO src VALUES (NULL, 'nokey@x.io', 'free')");
    let reset = db.i64("SELECT reverse_etl.sync_reset_cdc('s')");
    let summary = db.run_summary(reset);
    assert_eq!(
        (summary.status.as_str(), summary.planned, summary.invalid),
        ("warning", [0, 0, 0], 1),
        "a reset that left an invalid row out warns"
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM target"),
        0,
        "a reset sends nothing"
    );
    assert_eq!(
        db.text(&format!(
            "SELECT trigger FROM reverse_etl.sync_runs WHERE id = {reset}"
        ))
        .as_deref(),
        Some("reset_cdc")
    );

    db.exec(
        "UPDATE src SET plan = 'pro' WHERE id = 2; INSERT INTO src VALUES (11, 'u11@x.io', 'free')",
    );
    let next = db.run("s");
    let summary = db.run_summary(next);
    assert_eq!(summary.planned, [1, 1, 0]);
    // The changed row was never sent: its update finds no record and
    // upsert creates it; untouched rows stay unsent.
    assert_eq!(
        db.rows("SELECT email, plan_name FROM target ORDER BY email"),
        ["u11@x.io|free", "u2@x.io|pro"]
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_activity WHERE action = 'reset_cdc'"),
        1
    );
}

#[test]
fn the_removal_guard_stops_mass_removals_unless_allowed() {
    let mut db = TestDb::new("guard");
    db.exec(SETUP);
    db.run("s");
    // 6 of 10 rows leave the model: more than the default 50%.
    db.exec("DELETE FROM src WHERE id <= 6");
    let blocked = db.run("s");
    let summary = db.run_summary(blocked);
    assert_eq!(
        (summary.status.as_str(), summary.planned),
        ("failed", [0, 0, 0])
    );
    assert!(summary.error.starts_with("removal guard: this run would remove 6 of the 10 rows synced so far (60%, more than max_removed_share 50%); nothing was sent"), "{}", summary.error);
    assert_eq!(
        db.i64("SELECT count(*) FROM target"),
        10,
        "nothing was deleted"
    );

    let allowed = db.i64("SELECT reverse_etl.sync_run('s', allow_mass_removal => true)");
    assert_eq!(db.run_summary(allowed).succeeded, [0, 0, 6]);
    assert_eq!(db.i64("SELECT count(*) FROM target"), 4);

    // A model that suddenly returns nothing.
    db.exec("DELETE FROM src");
    let empty = db.run("s");
    let summary = db.run_summary(empty);
    assert_eq!(summary.status, "failed");
    assert!(
        summary.error.starts_with(
            "removal guard: the model returned no rows, which would remove all 4 rows"
        ),
        "{}",
        summary.error
    );
    // The sync can allow it for good.
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"allow_empty_model": true, "max_removed_share": 1}')"#);
    let emptied = db.run("s");
    assert_eq!(db.run_summary(emptied).succeeded, [0, 0, 4]);
    assert_eq!(db.i64("SELECT count(*) FROM target"), 0);
}

#[test]
fn the_guard_ignores_syncs_that_never_delete() {
    let mut db = TestDb::new("guard_nothing");
    db.exec(SETUP);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"delete_behavior": "nothing"}')"#);
    db.run("s");
    db.exec("DELETE FROM src");
    let run_id = db.run("s");
    assert_eq!(db.run_summary(run_id).status, "succeeded");
    assert_eq!(db.i64("SELECT count(*) FROM target"), 10);
}

#[test]
fn the_overview_derives_each_syncs_status() {
    let mut db = TestDb::new("overview");
    db.exec(SETUP);
    let status = |db: &mut TestDb| {
        db.text("SELECT status FROM reverse_etl.sync_overview WHERE name = 's'")
            .unwrap()
    };
    assert_eq!(status(&mut db), "Pending");
    db.run("s");
    assert_eq!(status(&mut db), "Healthy");
    db.exec("UPDATE src SET plan = NULL WHERE id = 1");
    db.run("s");
    assert_eq!(status(&mut db), "Warning");
    db.exec("DROP TABLE target");
    db.run("s");
    assert_eq!(status(&mut db), "Failed");
    db.exec("SELECT reverse_etl.disable_sync('s')");
    assert_eq!(status(&mut db), "Disabled");
    let row = db.rows("SELECT model, destination, destination_kind, type, mode, schedule::text, created_by FROM reverse_etl.sync_overview");
    assert_eq!(
        row,
        ["users|local|postgres|object|upsert|{\"manual\": true}|postgres"]
    );
}

#[test]
fn folders_labels_and_the_activity_log() {
    let mut db = TestDb::new("activity");
    db.exec(SETUP);
    db.exec("SELECT reverse_etl.set_sync_folder('s', 'CRM')");
    db.exec("SELECT reverse_etl.set_sync_labels('s', ARRAY['team:growth', 'pii', 'pii', ' '])");
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"batch_size": 500}')"#);
    db.exec("SELECT reverse_etl.disable_sync('s'); SELECT reverse_etl.enable_sync('s')");
    assert_eq!(
        db.rows("SELECT folder, labels::text FROM reverse_etl.sync_overview"),
        ["CRM|{pii,team:growth}"]
    );
    let log = db.rows("SELECT action, actor, coalesce(old_value->>'batch_size', ''), coalesce(new_value->>'batch_size', '') FROM reverse_etl.sync_activity ORDER BY id");
    assert_eq!(
        log,
        [
            "created|postgres||100",
            "folder|postgres||",
            "labels|postgres||",
            "updated|postgres|100|500",
            "disabled|postgres||",
            "enabled|postgres||"
        ]
    );
    // A refused change is not logged.
    let before = db.i64("SELECT count(*) FROM reverse_etl.sync_activity");
    db.error(r#"SELECT reverse_etl.update_sync('s', '{"mode": "nope"}')"#);
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_activity"),
        before
    );
}

#[test]
fn sync_plan_previews_the_next_run_without_sending_anything() {
    let mut db = TestDb::new("plan");
    db.exec(SETUP);
    db.run("s");
    db.exec("UPDATE src SET plan = 'pro' WHERE id IN (1, 2); DELETE FROM src WHERE id = 10; INSERT INTO src VALUES (11, 'u11@x.io', 'free'), (NULL, 'x@x.io', 'free')");
    let before = (
        db.catalog_counts(),
        db.rows("SELECT * FROM target ORDER BY 1"),
        db.rows("SELECT * FROM reverse_etl_state.snapshot_1 ORDER BY 1"),
    );
    let plan: serde_json::Value =
        serde_json::from_str(&db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap()).unwrap();
    assert_eq!(
        (
            plan["added"].as_i64(),
            plan["changed"].as_i64(),
            plan["removed"].as_i64()
        ),
        (Some(1), Some(2), Some(1)),
        "{plan}"
    );
    assert_eq!(
        (plan["rows_queried"].as_i64(), plan["invalid_rows"].as_i64()),
        (Some(11), Some(1))
    );
    assert_eq!(
        plan["sample"]["added"][0],
        serde_json::json!({"row_id": "11", "fields": {"email": "u11@x.io", "plan": "free"}})
    );
    assert_eq!(
        plan["sample"]["removed"][0],
        serde_json::json!({"row_id": "10", "fields": {"match_key": "u10@x.io"}})
    );
    assert_eq!(plan["removal_guard"], serde_json::Value::Null);
    let after = (
        db.catalog_counts(),
        db.rows("SELECT * FROM target ORDER BY 1"),
        db.rows("SELECT * FROM reverse_etl_state.snapshot_1 ORDER BY 1"),
    );
    assert_eq!(after, before, "a plan sends and records nothing");
    assert_eq!(db.i64("SELECT count(*) FROM pg_tables WHERE schemaname = 'reverse_etl_state' AND tablename LIKE 'preview%'"), 0);

    db.exec("DELETE FROM src WHERE id < 9");
    let plan: serde_json::Value =
        serde_json::from_str(&db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap()).unwrap();
    assert!(
        plan["removal_guard"]
            .as_str()
            .unwrap()
            .starts_with("removal guard: this run would remove 9 of the 10 rows"),
        "{plan}"
    );
    let (code, message) = db.error("SELECT reverse_etl.sync_plan('nosuch')");
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("42704", "sync: sync \"nosuch\" does not exist")
    );
}
