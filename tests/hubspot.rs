//! The `hubspot` destination against a fake of HubSpot's batch API on
//! loopback: upserts in requests of at most 100 with the private app's
//! token, a refused record rejected alone (multi-status), rate limiting
//! waited out, update mode's missing records, clear, test a row and the
//! plan, and bad settings named.

mod common;
#[path = "support/fake_hubspot.rs"]
mod fake_hubspot;
#[path = "support/http_server.rs"]
mod http_server;

use common::TestDb;
use fake_hubspot::FakeHubSpot;

const TOKEN: &str = "pat-na1-0000-secret";

fn setup(test: &str, hubspot: &FakeHubSpot, rows: i64) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, first text, score numeric);
         INSERT INTO users SELECT g, 'u' || g || '@x.io', 'User ' || g, g * 1.5 FROM generate_series(1, {rows}) g;
         SELECT reverse_etl.create_model('users', 'SELECT id, email, first, score FROM users', ARRAY['id']);
         SELECT reverse_etl.set_secret('hubspot_token', '{TOKEN}');
         SELECT reverse_etl.create_destination('hubspot', 'hubspot', '{{\"token\": {{\"secret\": \"hubspot_token\"}}, \"api_url\": \"{}\"}}');",
        hubspot.url()
    ));
    db
}

fn contacts_sync(db: &mut TestDb, mode: &str, delete_behavior: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'hubspot', '{{"mode": "{mode}", "object": "contacts",
            "match": {{"from": "email", "to": "email"}},
            "mappings": [{{"from": "first", "to": "firstname"}}, {{"from": "score", "to": "lead_score"}}],
            "delete_behavior": "{delete_behavior}"}}')"#
    ));
}

#[test]
fn contacts_are_upserted_in_batches_of_100_with_the_token() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_upsert", &hubspot, 150);
    db.exec("UPDATE users SET score = 12345678901234567890.123456789 WHERE id = 7");
    contacts_sync(&mut db, "upsert", "nothing");
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.succeeded, [150, 0, 0]);
    assert_eq!(hubspot.record_count("contacts"), 150);
    let requests = hubspot.requests();
    assert_eq!(requests.len(), 2, "100 records per request");
    for (method, path, authorization, body) in &requests {
        assert_eq!(method, "POST");
        assert_eq!(path, "/crm/v3/objects/contacts/batch/upsert");
        assert_eq!(authorization, &format!("Bearer {TOKEN}"));
        let inputs = body["inputs"].as_array().unwrap();
        assert!(inputs.len() <= 100);
        assert_eq!(inputs[0]["idProperty"], "email");
    }
    let seven = hubspot.record("contacts", "u7@x.io").unwrap();
    assert_eq!(seven["firstname"], "User 7");
    assert_eq!(
        seven["lead_score"].to_string(),
        "12345678901234567890.123456789",
        "numbers keep every digit"
    );
}

#[test]
fn a_refused_record_is_rejected_alone_and_retried_next_run() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_partial", &hubspot, 5);
    db.exec("UPDATE users SET email = 'not-an-email' WHERE id = 3");
    contacts_sync(&mut db, "upsert", "nothing");
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    assert_eq!(
        hubspot.requests().len(),
        1,
        "one request, a multi-status answer"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert_eq!(
        reason,
        "record error: Property values were not valid: email not-an-email is invalid"
    );
    let failing = db
        .text("SELECT row_id FROM reverse_etl.sync_failures")
        .unwrap();
    assert_eq!(failing, "3");
    db.exec("UPDATE users SET email = 'u3@x.io' WHERE id = 3");
    let next = db.run("s");
    assert_eq!(db.run_summary(next).succeeded, [1, 0, 0]);
    assert_eq!(hubspot.record_count("contacts"), 5);
}

#[test]
fn rate_limits_are_waited_out() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_throttled", &hubspot, 3);
    contacts_sync(&mut db, "upsert", "nothing");
    hubspot.throttle_next(2);
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(hubspot.requests().len(), 3, "two 429s, then the request");
    assert_eq!(hubspot.record_count("contacts"), 3);
}

#[test]
fn the_daily_limit_stops_the_run_and_the_next_one_resumes() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_daily", &hubspot, 250);
    contacts_sync(&mut db, "upsert", "nothing");
    hubspot.reach_daily_limit(true);
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(summary.error.contains("DAILY"), "{summary:?}");
    assert_eq!(summary.rejected, [0, 0, 0], "{summary:?}");
    assert_eq!(summary.aborted, [250, 0, 0], "{summary:?}");
    hubspot.reach_daily_limit(false);
    let second = db.run("s");
    assert_eq!(db.run_summary(second).succeeded, [250, 0, 0]);
    assert_eq!(hubspot.record_count("contacts"), 250);
}

#[test]
fn update_rejects_missing_records_and_clear_empties_properties() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_update", &hubspot, 3);
    hubspot.insert(
        "contacts",
        "u1@x.io",
        serde_json::json!({"email": "u1@x.io", "firstname": "Old"}),
    );
    hubspot.insert(
        "contacts",
        "u2@x.io",
        serde_json::json!({"email": "u2@x.io", "firstname": "Old"}),
    );
    contacts_sync(&mut db, "update", "clear");
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.succeeded, summary.rejected),
        ([2, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(reason.contains("may be deleted or not exist"), "{reason}");
    assert_eq!(
        hubspot.record("contacts", "u1@x.io").unwrap()["firstname"],
        "User 1"
    );
    // A row leaving the model: its properties are emptied, as HubSpot clears them.
    db.exec("DELETE FROM users WHERE id = 2");
    let next = db.run("s");
    assert_eq!(db.run_summary(next).succeeded, [0, 0, 1]);
    let cleared = hubspot.record("contacts", "u2@x.io").unwrap();
    assert_eq!(cleared["firstname"], "");
    assert_eq!(cleared["lead_score"], "");
}

#[test]
fn test_a_row_and_the_plan() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_preview", &hubspot, 3);
    contacts_sync(&mut db, "upsert", "nothing");
    let plan = db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap();
    assert!(plan.contains("\"added\": 3"), "{plan}");
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '2', dry_run => true)::text")
        .unwrap();
    assert!(
        dry.contains("/crm/v3/objects/contacts/batch/upsert"),
        "{dry}"
    );
    assert!(!dry.contains(TOKEN), "the token never shows: {dry}");
    assert!(hubspot.requests().is_empty());
    let sent = db
        .text("SELECT reverse_etl.sync_test_row('s', '2')::text")
        .unwrap();
    assert!(sent.contains("\"status\": 200"), "{sent}");
    assert!(!sent.contains(TOKEN), "{sent}");
    assert_eq!(
        hubspot.record("contacts", "u2@x.io").unwrap()["firstname"],
        "User 2"
    );
}

#[test]
fn bad_settings_are_named_and_change_nothing() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_bad", &hubspot, 3);
    let before = db.catalog_counts();
    for (sql, code, starts) in [
        ("SELECT reverse_etl.create_destination('x', 'hubspot', '{}')".to_string(), "22023", "config.token: is required"),
        ("SELECT reverse_etl.create_destination('x', 'hubspot', '{\"token\": \"pat-123\"}')".into(), "22023", "config.token: must be {\"secret\""),
        ("SELECT reverse_etl.create_destination('x', 'hubspot', '{\"token\": {\"secret\": \"nope\"}, \"api_url\": \"http://127.0.0.1:9\"}')".into(), "42704", "config.token"),
        ("SELECT reverse_etl.create_destination('x', 'hubspot', '{\"token\": {\"secret\": \"hubspot_token\"}}')".into(), "42501", "config.api_url: host \"api.hubapi.com:443\" is not in reverse_etl.http_allowed_hosts"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'hubspot', '{"mode": "upsert", "object": "deals", "match": {"from": "email", "to": "email"}}')"#.into(), "22023", "object: unknown HubSpot object \"deals\""),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'hubspot', '{"mode": "upsert", "batch_size": 101, "match": {"from": "email", "to": "email"}}')"#.into(), "22023", "batch_size: HubSpot takes at most 100"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'hubspot', '{"mode": "upsert", "delete_behavior": "delete", "match": {"from": "email", "to": "email"}}')"#.into(), "0A000", "delete_behavior: \"delete\" does not apply"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'hubspot', '{"mode": "insert", "match": {"from": "email", "to": "email"}}')"#.into(), "0A000", "mode: sync mode \"insert\" is not supported"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'hubspot', '{"mode": "upsert", "match": {"from": "nope", "to": "email"}}')"#.into(), "42703", "match.from: column \"nope\""),
    ] {
        let (got, message) = db.error(&sql);
        assert_eq!(got, code, "{sql}: {message}");
        assert!(message.starts_with(starts), "{sql}: {message}");
    }
    assert_eq!(
        db.catalog_counts(),
        before,
        "a refused call changed something"
    );
}

#[test]
fn an_ordinary_role_uses_its_own_token_and_its_own_objects() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_role", &hubspot, 3);
    db.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hs_alice') THEN CREATE ROLE hs_alice LOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA reverse_etl TO hs_alice;
         GRANT SELECT ON users TO hs_alice;",
    );
    let mut alice = db.connect_as("hs_alice");
    // The owner's destination and token are not hers.
    let error = alice
        .batch_execute(
            r#"SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
               SELECT reverse_etl.create_sync('x', 'm', 'hubspot', '{"mode": "upsert", "match": {"from": "email", "to": "email"}}')"#,
        )
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "42501");
    let error = alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_destination('mine', 'hubspot', '{{\"token\": {{\"secret\": \"hubspot_token\"}}, \"api_url\": \"{}\"}}')",
            hubspot.url()
        ))
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "42704");
    alice
        .batch_execute(&format!(
            "SELECT reverse_etl.set_secret('my_token', '{TOKEN}');
             SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('mine', 'hubspot', '{{\"token\": {{\"secret\": \"my_token\"}}, \"api_url\": \"{}\"}}');
             SELECT reverse_etl.create_sync('s_alice', 'm', 'mine', '{{\"mode\": \"upsert\", \"match\": {{\"from\": \"email\", \"to\": \"email\"}}}}');",
            hubspot.url()
        ))
        .unwrap();
    alice
        .batch_execute("SELECT reverse_etl.sync_run('s_alice')")
        .unwrap();
    assert_eq!(hubspot.record_count("contacts"), 3);
    let shown = alice
        .query_one(
            "SELECT reverse_etl.sync_test_row('s_alice', '1', dry_run => true)::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0);
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn list_syncs_look_contacts_up_and_change_memberships_by_id() {
    let hubspot = FakeHubSpot::start(TOKEN);
    let mut db = setup("hubspot_lists", &hubspot, 5);
    for id in 1..=4 {
        hubspot.insert(
            "contacts",
            &format!("u{id}@x.io"),
            serde_json::json!({"email": format!("u{id}@x.io")}),
        );
    }
    hubspot.create_list("42");
    db.exec("UPDATE users SET email = 'U2@X.io' WHERE id = 2");
    db.exec(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'hubspot', '{"type": "list", "mode": "add",
            "delete_behavior": "delete", "list_id": "42", "match": {"from": "email", "to": "email"}}')"#,
    );
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    assert_eq!(
        hubspot.list_members("42"),
        ["u1@x.io", "u2@x.io", "u3@x.io", "u4@x.io"],
        "HubSpot finds emails without case"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert_eq!(
        reason,
        "not found: the lookup found no record for \"u5@x.io\""
    );
    let paths: Vec<String> = hubspot
        .requests()
        .into_iter()
        .map(|(m, p, _, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /crm/v3/objects/contacts/batch/read",
            "PUT /crm/v3/lists/42/memberships/add"
        ]
    );
    let (_, _, _, added) = &hubspot.requests()[1];
    assert_eq!(added.as_array().unwrap().len(), 4, "record ids: {added}");
    // The contact appears in HubSpot: the failing row joins next run; a
    // row leaving the model leaves the list; one whose contact is gone
    // needs nothing.
    hubspot.insert(
        "contacts",
        "u5@x.io",
        serde_json::json!({"email": "u5@x.io"}),
    );
    hubspot.delete("contacts", "u4@x.io");
    db.exec("DELETE FROM users WHERE id IN (1, 4)");
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("succeeded", [1, 0, 2], [0, 0, 0]),
        "{summary:?}"
    );
    assert_eq!(
        hubspot.list_members("42"),
        ["u2@x.io", "u3@x.io", "u5@x.io"]
    );
    // Mode remove takes the model's contacts out of the list.
    db.exec(
        r#"SELECT reverse_etl.create_model('leavers', 'SELECT id, email FROM users WHERE id = 3', ARRAY['id']);
           SELECT reverse_etl.create_sync('out', 'leavers', 'hubspot', '{"type": "list", "mode": "remove",
            "list_id": "42", "match": {"from": "email", "to": "email"}}')"#,
    );
    let removal = db.run("out");
    assert_eq!(db.run_summary(removal).succeeded, [1, 0, 0]);
    assert_eq!(hubspot.list_members("42"), ["u2@x.io", "u5@x.io"]);
    // Test a row shows both requests, the token masked.
    let shown = db
        .text("SELECT reverse_etl.sync_test_row('s', '2')::text")
        .unwrap();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["requests"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(
        shown["requests"][1]["body"],
        serde_json::json!(["502"]),
        "{shown}"
    );
    assert!(!shown.to_string().contains(TOKEN));
}
