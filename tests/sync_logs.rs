//! Sync logs: what a sync keeps in its changelog (all, failures, none),
//! for how long (retention after runs, purge_logs), with the counts in
//! sync_runs always complete.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use postgres::fallible_iterator::FallibleIterator;

/// Users into a table that refuses a NULL plan (user 3 has none), and a
/// model with a duplicate key (invalid rows).
fn setup(test: &str, logs: &str) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE users (id int, email text NOT NULL, plan text);
         INSERT INTO users VALUES (1, 'a@x.io', 'pro'), (2, 'b@x.io', 'free'), (3, 'c@x.io', NULL),
                                  (4, 'd@x.io', 'pro'), (4, 'd2@x.io', 'pro');
         CREATE TABLE crm (email text PRIMARY KEY, plan text NOT NULL);
         SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'users', 'local',
           '{{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
             \"mappings\": [{{\"from\": \"plan\", \"to\": \"plan\"}}]{logs}}}');"
    ));
    db
}

fn logged(db: &mut TestDb, run: i64) -> Vec<String> {
    db.rows(&format!(
        "SELECT coalesce(op, '-'), status, row_id FROM reverse_etl.sync_changelog WHERE run_id = {run} ORDER BY 2, 3"
    ))
}

fn counts(db: &mut TestDb, run: i64) -> String {
    db.text(&format!(
        "SELECT concat_ws(' ', status, rows_invalid, planned_added, succeeded_added, rejected_added, aborted_added) \
         FROM reverse_etl.sync_runs WHERE id = {run}"
    ))
    .unwrap()
}

#[test]
fn a_sync_keeps_all_its_failures_only_or_nothing() {
    let mut db = setup("logs_levels", "");
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "warning 2 3 2 1 0");
    assert_eq!(logged(&mut db, run).len(), 5, "all: every outcome");
    // What the table was sent for the rejected row, by destination column.
    assert_eq!(
        db.text(&format!(
            "SELECT payload::text FROM reverse_etl.sync_changelog WHERE run_id = {run} AND status = 'rejected'"
        )),
        Some(r#"{"plan": null, "email": "c@x.io"}"#.into())
    );

    // failures: the rejected and invalid rows only; the counts are complete.
    db.exec(
        "SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{\"logs\": {\"changelog\": \"failures\"}}');
         INSERT INTO users VALUES (5, 'e@x.io', 'pro');",
    );
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "warning 2 2 1 1 0");
    assert_eq!(
        logged(&mut db, run),
        ["-|invalid|4", "-|invalid|4", "added|rejected|3"]
    );
    // The change of logs is in the activity, with the configuration before and after.
    assert_eq!(
        db.text("SELECT new_value->'logs'->>'changelog' FROM reverse_etl.sync_activity WHERE action = 'updated'"),
        Some("failures".into())
    );

    // none: nothing at all; the run is still counted.
    db.exec(
        "SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{\"logs\": {\"changelog\": \"none\"}}');
         INSERT INTO users VALUES (6, 'f@x.io', 'pro');",
    );
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "warning 2 2 1 1 0");
    assert!(logged(&mut db, run).is_empty());

    // The server's setting is the default of syncs that say nothing.
    db.exec(&format!(
        "SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') - 'logs');
         ALTER DATABASE {} SET reverse_etl.changelog = 'failures';
         INSERT INTO users VALUES (7, 'g@x.io', 'pro');",
        db.name
    ));
    let mut fresh = common::connect(&db.name, "postgres");
    let run: i64 = fresh
        .query_one(
            "SELECT reverse_etl.sync_run('s', raise_on_failure => false)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged(&mut db, run).len(), 3, "{:?}", logged(&mut db, run));
}

#[test]
fn bad_logs_settings_are_named_and_change_nothing() {
    let mut db = setup("logs_bad", "");
    let before = db
        .text("SELECT config::text FROM reverse_etl.syncs")
        .unwrap();
    for (logs, field) in [
        (
            "{\"changelog\": \"some\"}",
            "logs.changelog: unknown changelog level \"some\"",
        ),
        ("{\"retention\": \"forever\"}", "logs.retention:"),
        ("{\"retention\": \"0 days\"}", "logs.retention:"),
        ("{\"keep\": 1}", "logs.keep: unknown key"),
        ("\"all\"", "logs:"),
    ] {
        let (code, message) = db.error(&format!(
            "SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{{\"logs\": {logs}}}')"
        ));
        assert_eq!(code, "22023", "{logs}: {message}");
        assert!(message.starts_with(field), "{logs}: {message}");
    }
    let (code, _) = db.error("SET reverse_etl.changelog = 'some'");
    assert_eq!(code, "22023");
    assert_eq!(
        db.text("SELECT config::text FROM reverse_etl.syncs")
            .unwrap(),
        before
    );
}

#[test]
fn operations_not_attempted_are_aborted_whatever_the_changelog_keeps() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("logs_aborted");
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 6) g;
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"retry\": {{\"max_attempts\": 1}}}}');
         SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"logs\": {{\"changelog\": \"failures\"}},
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
        crm.url()
    ));
    crm.set_down(true);
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "incomplete 0 6 0 0 6");
    let aborted = db.i64(&format!(
        "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run} AND status = 'aborted'"
    ));
    assert_eq!(aborted, 6);
    crm.set_down(false);
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "succeeded 0 6 6 0 0");
    assert!(logged(&mut db, run).is_empty(), "successes are not kept");
}

#[test]
fn retention_removes_exactly_the_changelog_of_runs_past_it() {
    let mut db = setup("logs_retention", ", \"logs\": {\"retention\": \"7 days\"}");
    let first = db.run("s");
    db.exec("INSERT INTO users VALUES (5, 'e@x.io', 'pro')");
    let second = db.run("s");
    let third = db.run("s");
    let rows = |db: &mut TestDb, run: i64| {
        db.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run}"
        ))
    };
    assert_eq!(
        (
            rows(&mut db, first),
            rows(&mut db, second),
            rows(&mut db, third)
        ),
        (5, 4, 3)
    );
    // The first run ended 8 days ago, the second 6: the next run removes the first's.
    db.exec(&format!(
        "UPDATE reverse_etl.sync_runs SET finished_at = now() - interval '8 days' WHERE id = {first};
         UPDATE reverse_etl.sync_runs SET finished_at = now() - interval '6 days' WHERE id = {second};"
    ));
    let fourth = db.run("s");
    assert_eq!(
        (
            rows(&mut db, first),
            rows(&mut db, second),
            rows(&mut db, third),
            rows(&mut db, fourth)
        ),
        (0, 4, 3, 3)
    );
    assert_eq!(
        db.rows("SELECT id, changelog_purged_at IS NOT NULL, planned_added FROM reverse_etl.sync_runs ORDER BY id"),
        [
            format!("{first}|t|3"),
            format!("{second}|f|2"),
            format!("{third}|f|1"),
            format!("{fourth}|f|1")
        ],
        "the runs and their counts stay"
    );
    // By hand: everything older than 5 days.
    assert_eq!(db.i64("SELECT reverse_etl.purge_logs('5 days')"), 4);
    assert_eq!(rows(&mut db, second), 0);
    assert_eq!(db.i64("SELECT reverse_etl.purge_logs('5 days')"), 0);
    assert_eq!(rows(&mut db, third), 3);
    let (code, message) = db.error("SELECT reverse_etl.purge_logs('-1 day')");
    assert_eq!(code, "22023");
    assert!(message.starts_with("older_than"), "{message}");
}

#[test]
fn delivered_rows_are_logged_a_window_at_a_time_and_purged_exactly() {
    let mut db = TestDb::new("logs_windows");
    db.exec(
        "CREATE TABLE target (id int PRIMARY KEY, v text);
         SELECT reverse_etl.create_model('many', 'SELECT g AS id, g::text AS v FROM generate_series(1, 25500) g', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'many', 'local',
           '{\"mode\": \"upsert\", \"object\": \"target\", \"batch_size\": 100,
             \"match\": {\"from\": \"id\", \"to\": \"id\"},
             \"mappings\": [{\"from\": \"v\", \"to\": \"v\"}]}');",
    );
    let run = db.run("s");
    // One stored row per window of 100, every row id once through the view.
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM reverse_etl._changelog_successes WHERE run_id = {run}"
        )),
        255
    );
    assert_eq!(
        db.rows(&format!(
            "SELECT count(*), count(DISTINCT row_id), min(row_id::int), max(row_id::int), \
                    bool_and(op = 'added' AND status = 'succeeded' AND reason IS NULL) \
             FROM reverse_etl.sync_changelog WHERE run_id = {run}"
        )),
        ["25500|25500|1|25500|t"]
    );
    assert_eq!(
        db.i64(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE sync_id = 1 AND row_id = '777'"
        ),
        1
    );
    db.exec(&format!(
        "UPDATE reverse_etl.sync_runs SET finished_at = now() - interval '2 days' WHERE id = {run}"
    ));
    // Removed in statements of up to 10000 rows (a hundred windows at a
    // time), and counted by row.
    assert_eq!(db.i64("SELECT reverse_etl.purge_logs('1 day')"), 25500);
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run}"
        )),
        0
    );
    assert_eq!(
        db.text(&format!(
            "SELECT (changelog_purged_at IS NOT NULL)::text FROM reverse_etl.sync_runs WHERE id = {run}"
        ))
        .as_deref(),
        Some("true")
    );
}

#[test]
fn purge_logs_touches_only_the_callers_syncs() {
    let mut db = setup("logs_roles", "");
    let first = db.run("s");
    db.exec(&format!(
        "UPDATE reverse_etl.sync_runs SET finished_at = now() - interval '40 days' WHERE id = {first}"
    ));
    let bob = format!("bob_{}", db.name);
    db.exec(&format!(
        "DROP ROLE IF EXISTS {bob}; CREATE ROLE {bob} LOGIN; GRANT USAGE ON SCHEMA reverse_etl TO {bob};"
    ));
    let mut client = db.connect_as(&bob);
    let removed: i64 = client
        .query_one("SELECT reverse_etl.purge_logs('1 day')", &[])
        .unwrap()
        .get(0);
    assert_eq!(removed, 0);
    drop(client);
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {first}"
        )),
        5
    );
    db.exec(&format!("DROP OWNED BY {bob}; DROP ROLE {bob}"));
}

#[test]
fn the_snapshot_shows_every_row_delivered_or_failing_and_why() {
    let mut db = setup("logs_snapshot", ", \"logs\": {\"changelog\": \"none\"}");
    let first = db.run("s");
    let snapshot = |db: &mut TestDb| {
        db.rows(
            "SELECT row_id, in_model, coalesce(last_op, '-'), last_status, coalesce(left(failure_reason, 20), '-'), last_run_id
             FROM reverse_etl.sync_snapshot ORDER BY row_id, last_status",
        )
    };
    assert_eq!(
        snapshot(&mut db),
        [
            format!("1|t|added|succeeded|-|{first}"),
            format!("2|t|added|succeeded|-|{first}"),
            format!("3|t|added|rejected|null value in column|{first}"),
            format!("4|t|-|invalid|duplicate primary ke|{first}"),
        ],
        "kept whatever the changelog keeps (here: nothing)"
    );
    assert_eq!(
        db.text("SELECT fields->>'email' FROM reverse_etl.sync_failures WHERE row_id = '3'"),
        Some("c@x.io".into())
    );
    assert_eq!(
        db.rows("SELECT row_id, status FROM reverse_etl.sync_failures ORDER BY 1"),
        ["3|rejected", "4|invalid"]
    );
    // Fixed rows leave the failures; a change and a removal show.
    db.exec(
        "UPDATE users SET plan = 'free' WHERE id = 3;
         DELETE FROM users WHERE email = 'd2@x.io';
         UPDATE users SET plan = 'team' WHERE id = 1;
         DELETE FROM users WHERE id = 2;",
    );
    let second = db.run("s");
    assert_eq!(
        snapshot(&mut db),
        [
            format!("1|t|changed|succeeded|-|{second}"),
            format!("3|t|added|succeeded|-|{second}"),
            format!("4|t|added|succeeded|-|{second}"),
        ]
    );
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_failures"), 0);
    assert_eq!(
        db.text("SELECT bool_and(updated_at IS NOT NULL)::text FROM reverse_etl.sync_snapshot"),
        Some("true".into())
    );

    // Row data is the owner's: another role, even a monitor, sees none.
    let bob = format!("bob_{}", db.name);
    db.exec(&format!(
        "DROP ROLE IF EXISTS {bob}; CREATE ROLE {bob} LOGIN IN ROLE pg_monitor;
         GRANT USAGE ON SCHEMA reverse_etl TO {bob};
         UPDATE users SET plan = NULL WHERE id = 4;"
    ));
    db.run("s");
    let mut client = db.connect_as(&bob);
    for view in ["sync_snapshot", "sync_failures"] {
        let seen: i64 = client
            .query_one(&format!("SELECT count(*) FROM reverse_etl.{view}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(seen, 0, "{view}");
    }
    let syncs: i64 = client
        .query_one("SELECT count(*) FROM reverse_etl.syncs", &[])
        .unwrap()
        .get(0);
    assert_eq!(syncs, 1, "a monitor sees the sync itself");
    drop(client);
    db.exec(&format!("DROP OWNED BY {bob}; DROP ROLE {bob}"));
}

#[test]
fn listeners_of_reverse_etl_runs_hear_every_run_end() {
    let mut db = setup("logs_notify", "");
    let mut listener = common::connect(&db.name, "postgres");
    listener.batch_execute("LISTEN reverse_etl_runs").unwrap();
    let first = db.run("s");
    db.exec("CREATE TABLE flags (fail bool); INSERT INTO flags VALUES (true);
             SELECT reverse_etl.create_model('fragile',
               'SELECT id, email FROM users WHERE (SELECT 1 / (CASE WHEN fail THEN 0 ELSE 1 END) FROM flags) = 1', ARRAY['id']);
             SELECT reverse_etl.create_sync('broken', 'fragile', 'local',
               '{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');");
    let second = db.run("broken");
    let mut heard = Vec::new();
    let mut notifications = listener.notifications();
    let mut iter = notifications.timeout_iter(std::time::Duration::from_secs(5));
    while heard.len() < 2 {
        let Some(notification) = iter.next().unwrap() else {
            break;
        };
        assert_eq!(notification.channel(), "reverse_etl_runs");
        let payload: serde_json::Value = serde_json::from_str(notification.payload()).unwrap();
        heard.push(payload);
    }
    assert_eq!(
        heard,
        [
            serde_json::json!({"run_id": first, "sync_id": 1, "sync": "s", "status": "warning"}),
            serde_json::json!({"run_id": second, "sync_id": 2, "sync": "broken", "status": "failed"}),
        ]
    );
}

#[test]
fn a_rejected_row_keeps_what_was_sent_without_secrets() {
    let crm = FakeCrm::start();
    crm.reject_email("u2@x.io", 422, "email is on the blocklist");
    let mut db = TestDb::new("logs_payload");
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, plan text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io', 'pro' FROM generate_series(1, 3) g;
         SELECT reverse_etl.set_secret('token', 'Bearer s3cr3t-value');
         SELECT reverse_etl.create_model('m', 'SELECT id, email, plan FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\",
           \"headers\": {{\"Authorization\": {{\"secret\": \"token\"}}}}, \"retry\": {{\"max_attempts\": 1}}}}');
         SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"logs\": {{\"changelog\": \"failures\"}},
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{{\"from\": \"plan\", \"to\": \"tier\"}}],
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
        crm.url()
    ));
    let run = db.run("s");
    assert_eq!(counts(&mut db, run), "warning 0 3 2 1 0");
    let payload = db
        .text("SELECT payload::text FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["method"], "POST");
    assert_eq!(payload["url"], format!("{}/contacts", crm.url()));
    assert_eq!(
        payload["body"],
        serde_json::json!({"email": "u2@x.io", "tier": "pro"})
    );
    assert_eq!(
        db.text("SELECT payload->'body'->>'tier' FROM reverse_etl.sync_failures"),
        Some("pro".into())
    );
    // The fields are the model's, beside it.
    assert_eq!(
        db.text("SELECT fields->>'plan' FROM reverse_etl.sync_changelog WHERE status = 'rejected'"),
        Some("pro".into())
    );
    let everything = db
        .text("SELECT string_agg(c::text, ' ') FROM reverse_etl.sync_changelog c")
        .unwrap();
    assert!(!everything.contains("s3cr3t"), "{everything}");
}

#[test]
fn the_scheduler_purges_the_expired_changelog_of_every_sync_however_many() {
    // More syncs than the scheduler's per-tick purge budget (50 statements),
    // each with one run past the default retention (30 days).
    let mut db = TestDb::new("logs_many_syncs");
    db.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text);
         INSERT INTO users VALUES (1, 'a@x.io'), (2, 'b@x.io');
         SELECT reverse_etl.create_model('users', 'SELECT id, email FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         DO $$ BEGIN FOR i IN 1..60 LOOP
           EXECUTE format('CREATE TABLE crm_%s (email text PRIMARY KEY)', i);
           PERFORM reverse_etl.create_sync('s_' || i, 'users', 'local', format(
             '{\"mode\": \"upsert\", \"object\": \"crm_%s\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}', i)::jsonb);
         END LOOP; END $$;",
    );
    for i in 1..=60 {
        db.run(&format!("s_{i}"));
    }
    db.exec("UPDATE reverse_etl.sync_runs SET finished_at = now() - interval '40 days'");
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_changelog"),
        120
    );
    // A schedule brings the database's scheduler, which purges at once.
    db.exec(
        "SELECT reverse_etl.update_sync('s_1', reverse_etl.sync_config('s_1') || '{\"schedule\": {\"interval\": \"1 hour\"}}')",
    );
    db.wait_for(
        "every expired run purged",
        "SELECT count(*) FILTER (WHERE changelog_purged_at IS NULL) = 0 FROM reverse_etl.sync_runs",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_changelog"), 0);
}
