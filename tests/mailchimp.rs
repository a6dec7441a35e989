//! The `mailchimp` destination against a fake of Mailchimp's audience
//! members API on loopback: members put at the MD5 of their lower-cased
//! email with merge fields and the API key as Basic authentication, a bad
//! email rejected alone, update mode's missing members, archiving members
//! who leave the model, rate limiting, test a row, and bad settings.

mod common;
#[path = "support/fake_mailchimp.rs"]
mod fake_mailchimp;
#[path = "support/http_server.rs"]
mod http_server;

use common::TestDb;
use fake_mailchimp::{subscriber_hash, FakeMailchimp};

const KEY: &str = "0123456789abcdef0123456789abcdef-us6";

fn setup(test: &str, mailchimp: &FakeMailchimp) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, first text, ltv numeric);
         INSERT INTO users SELECT g, 'User' || g || '@X.io', 'First ' || g, g * 10.25 FROM generate_series(1, 4) g;
         SELECT reverse_etl.create_model('users', 'SELECT id, email, first, ltv FROM users', ARRAY['id']);
         SELECT reverse_etl.set_secret('mailchimp_key', '{KEY}');
         SELECT reverse_etl.create_destination('mailchimp', 'mailchimp', '{{\"api_key\": {{\"secret\": \"mailchimp_key\"}}, \"api_url\": \"{}\"}}');",
        mailchimp.url()
    ));
    db
}

fn run(db: &mut TestDb) -> common::RunSummary {
    let id = db.run("s");
    db.run_summary(id)
}

fn members_sync(db: &mut TestDb, mode: &str, delete_behavior: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'mailchimp', '{{"mode": "{mode}", "audience": "a1b2c3",
            "match": {{"from": "email", "to": "email_address"}},
            "mappings": [{{"from": "first", "to": "FNAME"}}, {{"from": "ltv", "to": "LTV"}}],
            "delete_behavior": "{delete_behavior}"}}')"#
    ));
}

#[test]
fn members_are_put_at_their_hash_and_archived_when_they_leave() {
    let mailchimp = FakeMailchimp::start(KEY);
    let mut db = setup("mailchimp_members", &mailchimp);
    db.exec("UPDATE users SET email = 'not-an-email' WHERE id = 4");
    members_sync(&mut db, "upsert", "delete");
    let first = run(&mut db);
    assert_eq!(
        (first.status.as_str(), first.succeeded, first.rejected),
        ("warning", [3, 0, 0], [1, 0, 0]),
        "{first:?}"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(
        reason.starts_with("HTTP 400:") && reason.contains("looks fake or invalid"),
        "{reason}"
    );
    let member = mailchimp.member("a1b2c3", "user2@x.io").unwrap();
    assert_eq!(member["status"], "subscribed");
    assert_eq!(member["merge_fields"]["FNAME"], "First 2");
    assert_eq!(member["merge_fields"]["LTV"].to_string(), "20.50");
    let (method, path, _) = &mailchimp.requests()[0];
    assert_eq!(method, "PUT");
    assert!(path.starts_with("/3.0/lists/a1b2c3/members/"));
    assert!(
        mailchimp
            .requests()
            .iter()
            .any(|(_, p, _)| p.ends_with(&subscriber_hash("user1@x.io"))),
        "the id is the MD5 of the lower-cased email"
    );
    db.exec("UPDATE users SET email = 'user4@x.io' WHERE id = 4; DELETE FROM users WHERE id = 1");
    let second = run(&mut db);
    assert_eq!(second.succeeded, [1, 0, 1], "{second:?}");
    assert_eq!(
        mailchimp.member("a1b2c3", "user1@x.io").unwrap()["status"],
        "archived"
    );
    assert!(mailchimp.member("a1b2c3", "user4@x.io").is_some());
}

#[test]
fn tags_from_a_column_follow_each_member_write() {
    let mailchimp = FakeMailchimp::start(KEY);
    let mut db = setup("mailchimp_tags", &mailchimp);
    db.exec(
        "ALTER TABLE users ADD COLUMN segments text[];
         UPDATE users SET segments = ARRAY['customer', CASE WHEN id % 2 = 0 THEN 'vip' ELSE 'trial' END];
         SELECT reverse_etl.update_model('users', 'SELECT id, email, first, segments FROM users');",
    );
    db.exec(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'mailchimp', '{"mode": "upsert", "audience": "a1b2c3",
            "match": {"from": "email", "to": "email_address"},
            "mappings": [{"from": "first", "to": "FNAME"}],
            "tags": {"from": "segments", "remove_others": true}}')"#,
    );
    let first = run(&mut db);
    assert_eq!(
        (first.status.as_str(), first.succeeded),
        ("succeeded", [4, 0, 0]),
        "{first:?}"
    );
    assert_eq!(mailchimp.tags("a1b2c3", "user2@x.io"), ["customer", "vip"]);
    assert_eq!(
        mailchimp.tags("a1b2c3", "user3@x.io"),
        ["customer", "trial"]
    );
    let requests = mailchimp.requests();
    assert_eq!(requests.len(), 8, "a PUT and a tags POST per member");
    assert!(requests.iter().any(|(m, p, _)| m == "POST"
        && *p
            == format!(
                "/3.0/lists/a1b2c3/members/{}/tags",
                subscriber_hash("user1@x.io")
            )));
    // Test a row: the tags request is built from the write's answer.
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)::text")
        .unwrap();
    let dry: serde_json::Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(dry["requests"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(
        dry["note"],
        "the request after this one is built from its answer"
    );
    let sent = db
        .text("SELECT reverse_etl.sync_test_row('s', '1')::text")
        .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["requests"].as_array().unwrap().len(), 2, "{sent}");
    assert_eq!(sent["responses"][1]["status"], 204, "{sent}");
    // A member's tags become the column's: others are made inactive.
    mailchimp.tag("a1b2c3", "user2@x.io", "manual");
    db.exec("UPDATE users SET segments = ARRAY['customer'], first = 'Renamed' WHERE id = 2");
    let second = run(&mut db);
    assert_eq!(
        second.succeeded,
        [0, 2, 0],
        "row 2, and row 1 again after its test: {second:?}"
    );
    assert_eq!(mailchimp.tags("a1b2c3", "user2@x.io"), ["customer"]);
    // A tags request the API refuses rejects its row (the member was written).
    db.exec("UPDATE users SET segments = ARRAY[''], first = 'Again' WHERE id = 3");
    let third = run(&mut db);
    assert_eq!(
        (third.status.as_str(), third.succeeded, third.rejected),
        ("warning", [0, 0, 0], [0, 1, 0]),
        "{third:?}"
    );
    let (reason, payload) = (
        db.text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
            .unwrap(),
        db.text("SELECT payload->>'url' FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
            .unwrap(),
    );
    assert!(reason.contains("Tag name cannot be empty"), "{reason}");
    assert!(payload.ends_with("/tags"), "{payload}");
    assert_eq!(
        mailchimp.member("a1b2c3", "user3@x.io").unwrap()["merge_fields"]["FNAME"],
        "Again"
    );
}

#[test]
fn update_mode_rejects_members_it_does_not_find_and_throttling_is_waited_out() {
    let mailchimp = FakeMailchimp::start(KEY);
    let mut db = setup("mailchimp_update", &mailchimp);
    members_sync(&mut db, "upsert", "nothing");
    assert_eq!(run(&mut db).succeeded, [4, 0, 0]);
    db.exec(
        "SELECT reverse_etl.drop_sync('s');
         INSERT INTO users VALUES (5, 'new@x.io', 'New', 1);
         UPDATE users SET first = 'Renamed'",
    );
    members_sync(&mut db, "update", "nothing");
    mailchimp.throttle_next(1);
    let run = run(&mut db);
    assert_eq!(
        (run.succeeded, run.rejected),
        ([4, 0, 0], [1, 0, 0]),
        "{run:?}"
    );
    assert_eq!(
        mailchimp.member("a1b2c3", "user3@x.io").unwrap()["merge_fields"]["FNAME"],
        "Renamed"
    );
    assert!(
        mailchimp.member("a1b2c3", "new@x.io").is_none(),
        "update never creates"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(reason.starts_with("HTTP 404:"), "{reason}");
}

#[test]
fn test_a_row_hides_the_key_and_bad_settings_are_named() {
    let mailchimp = FakeMailchimp::start(KEY);
    let mut db = setup("mailchimp_bad", &mailchimp);
    members_sync(&mut db, "upsert", "nothing");
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '2', dry_run => true)::text")
        .unwrap();
    assert!(dry.contains(&subscriber_hash("user2@x.io")), "{dry}");
    assert!(
        !dry.contains(KEY) && !dry.contains("cGdfcmV2ZXJzZV9ldGw6"),
        "{dry}"
    );
    assert!(mailchimp.requests().is_empty());
    let plan = db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap();
    assert!(plan.contains("\"added\": 4"), "{plan}");
    let before = db.catalog_counts();
    for (sql, code, starts) in [
        ("SELECT reverse_etl.create_destination('x', 'mailchimp', '{\"server\": \"us6\"}')".to_string(), "22023", "config.api_key: is required"),
        ("SELECT reverse_etl.create_destination('x', 'mailchimp', '{\"api_key\": {\"secret\": \"mailchimp_key\"}}')".into(), "22023", "config.server: is required"),
        ("SELECT reverse_etl.create_destination('x', 'mailchimp', '{\"api_key\": {\"secret\": \"mailchimp_key\"}, \"server\": \"us6\"}')".into(), "42501", "config.api_url: host \"us6.api.mailchimp.com:443\" is not in reverse_etl.http_allowed_hosts"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'mailchimp', '{"mode": "upsert", "match": {"from": "email", "to": "email_address"}}')"#.into(), "22023", "audience: is required"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'mailchimp', '{"mode": "upsert", "audience": "a1", "match": {"from": "email", "to": "email_address"}, "mappings": [{"from": "first", "to": "first_name"}]}')"#.into(), "22023", "mappings[0].to: \"first_name\" is not a Mailchimp merge tag"),
        (r#"SELECT reverse_etl.create_sync('x', 'users', 'mailchimp', '{"mode": "upsert", "audience": "a1", "delete_behavior": "clear", "match": {"from": "email", "to": "email_address"}}')"#.into(), "0A000", "delete_behavior: \"clear\" does not apply"),
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
