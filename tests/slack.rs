//! The `slack` destination against a fake of Slack's chat.postMessage on
//! loopback: a message per new row from a template (quotes and newlines
//! intact), never a second one for the same row, a refused message
//! rejected alone with Slack's error, rate limiting waited out, test a
//! row, and bad settings.

mod common;
#[path = "support/fake_slack.rs"]
mod fake_slack;
#[path = "support/http_server.rs"]
mod http_server;

use common::TestDb;
use fake_slack::FakeSlack;

const TOKEN: &str = "xoxb-0000-secret";

fn setup(test: &str, slack: &FakeSlack) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE signups (id int PRIMARY KEY, email text, plan text);
         INSERT INTO signups VALUES (1, 'a@x.io', 'pro'), (2, 'b@x.io', E'team \"beta\"\\nwave 2');
         SELECT reverse_etl.create_model('signups', 'SELECT id, email, plan FROM signups', ARRAY['id']);
         SELECT reverse_etl.set_secret('slack_bot', '{TOKEN}');
         SELECT reverse_etl.create_destination('slack', 'slack', '{{\"token\": {{\"secret\": \"slack_bot\"}}, \"api_url\": \"{}\", \"requests_per_second\": 50}}');",
        slack.url()
    ));
    db
}

fn event_sync(db: &mut TestDb, name: &str, channel: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('{name}', 'signups', 'slack', '{{"type": "event", "mode": "insert",
            "match": {{"from": "id", "to": "id"}}, "channel": "{channel}",
            "text": "New signup: {{{{ row.email }}}} on {{{{ row.plan }}}}"}}')"#
    ));
}

fn run(db: &mut TestDb, sync: &str) -> common::RunSummary {
    let id = db.run(sync);
    db.run_summary(id)
}

#[test]
fn each_new_row_is_one_message() {
    let slack = FakeSlack::start(TOKEN);
    let mut db = setup("slack_messages", &slack);
    event_sync(&mut db, "s", "#signups");
    assert_eq!(run(&mut db, "s").succeeded, [2, 0, 0]);
    assert_eq!(
        slack.messages(),
        [
            (
                "#signups".to_string(),
                "New signup: a@x.io on pro".to_string()
            ),
            (
                "#signups".to_string(),
                "New signup: b@x.io on team \"beta\"\nwave 2".to_string()
            ),
        ]
    );
    // A changed row is not a new event; a new row is.
    db.exec("UPDATE signups SET plan = 'free' WHERE id = 1; INSERT INTO signups VALUES (3, 'c@x.io', 'pro')");
    assert_eq!(run(&mut db, "s").succeeded, [1, 0, 0]);
    assert_eq!(slack.messages().len(), 3);
}

#[test]
fn a_refused_message_is_rejected_with_slacks_error_and_throttling_is_waited_out() {
    let slack = FakeSlack::start(TOKEN);
    let mut db = setup("slack_refused", &slack);
    event_sync(&mut db, "s", "#nowhere");
    let refused = run(&mut db, "s");
    assert_eq!(
        (refused.status.as_str(), refused.rejected),
        ("warning", [2, 0, 0]),
        "{refused:?}"
    );
    let reason = db
        .text("SELECT DISTINCT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert_eq!(reason, "record error: channel_not_found");
    event_sync(&mut db, "t", "C0123456");
    slack.throttle_next(1);
    let throttled = run(&mut db, "t");
    assert_eq!(throttled.succeeded, [2, 0, 0], "{throttled:?}");
    assert_eq!(slack.messages().len(), 2);
}

#[test]
fn test_a_row_and_bad_settings() {
    let slack = FakeSlack::start(TOKEN);
    let mut db = setup("slack_bad", &slack);
    event_sync(&mut db, "s", "#signups");
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '2', dry_run => true)::text")
        .unwrap();
    assert!(dry.contains("New signup: b@x.io"), "{dry}");
    assert!(!dry.contains(TOKEN), "{dry}");
    assert_eq!(slack.requests(), 0);
    let before = db.catalog_counts();
    for (sql, code, starts) in [
        ("SELECT reverse_etl.create_destination('x', 'slack', '{}')".to_string(), "22023", "config.token: is required"),
        ("SELECT reverse_etl.create_destination('x', 'slack', '{\"token\": {\"secret\": \"slack_bot\"}}')".into(), "42501", "config.api_url: host \"slack.com:443\" is not in reverse_etl.http_allowed_hosts"),
        (r#"SELECT reverse_etl.create_sync('x', 'signups', 'slack', '{"type": "event", "mode": "insert", "match": {"from": "id", "to": "id"}, "text": "hi"}')"#.into(), "22023", "channel: is required"),
        (r#"SELECT reverse_etl.create_sync('x', 'signups', 'slack', '{"mode": "upsert", "match": {"from": "id", "to": "id"}, "channel": "C0123456", "text": "hi"}')"#.into(), "0A000", "type: sync type \"object\" is not supported"),
        (r#"SELECT reverse_etl.create_sync('x', 'signups', 'slack', '{"type": "event", "mode": "insert", "match": {"from": "id", "to": "id"}, "channel": "C0123456", "text": "{{ row.nope }}"}')"#.into(), "42703", "text: the template reads row.nope"),
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
