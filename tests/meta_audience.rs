//! The `meta_audience` destination against a fake of Meta's Custom
//! Audiences API on loopback: identifiers leave the database only as
//! normalized SHA-256 hashes, in batches; a row with no usable identifier
//! is not sent; rows leaving the model leave the audience; each run's
//! match rate is kept in sync_runs and shown in sync_overview; Meta's
//! throttling is waited out; test a row, the plan and bad settings.

mod common;
#[path = "support/fake_meta.rs"]
mod fake_meta;
#[path = "support/http_server.rs"]
mod http_server;

use common::TestDb;
use fake_meta::FakeMeta;
use sha2::{Digest, Sha256};

const TOKEN: &str = "EAAG-system-user-token-secret";

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn setup(test: &str, meta: &FakeMeta) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE customers (id int PRIMARY KEY, email text, phone text, uid text);
         INSERT INTO customers VALUES
           (1, ' U1@Example.com ', '(415) 555-0101', 'c-1'),
           (2, 'u2@example.com', NULL, 'c-2'),
           (3, NULL, '+44 20 7946 0018', 'c-3'),
           (4, 'u4@example.com', '415.555.0104', 'c-4'),
           (5, 'not an email', 'call me', NULL);
         SELECT reverse_etl.create_model('customers', 'SELECT * FROM customers', ARRAY['id']);
         SELECT reverse_etl.set_secret('meta_token', '{TOKEN}');
         SELECT reverse_etl.create_destination('meta', 'meta_audience', '{{\"access_token\": {{\"secret\": \"meta_token\"}}, \"api_url\": \"{}\"}}');",
        meta.url()
    ));
    meta.create_audience("2385000");
    db
}

fn audience_sync(db: &mut TestDb, batch_size: i64) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'customers', 'meta', '{{"type": "list", "mode": "add",
            "delete_behavior": "delete", "audience": "2385000", "region": "US", "batch_size": {batch_size},
            "match": {{"from": "email", "to": "EMAIL"}},
            "mappings": [{{"from": "phone", "to": "PHONE"}}, {{"from": "uid", "to": "EXTERN_ID"}}]}}')"#
    ));
}

#[test]
fn members_are_sent_as_hashes_and_each_run_keeps_its_match_rate() {
    let meta = FakeMeta::start(TOKEN);
    let mut db = setup("meta_members", &meta);
    // Meta knows customer 1 by email and customer 3 by phone.
    meta.know(&sha256("u1@example.com"));
    meta.know(&sha256("442079460018"));
    audience_sync(&mut db, 100);
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(
        reason.starts_with("not sent: no usable identifier: none of EMAIL, PHONE, EXTERN_ID"),
        "{reason}"
    );
    let requests = meta.requests();
    let (method, path, authorization, body) = &requests[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/v21.0/2385000/users")
    );
    assert_eq!(authorization, &format!("Bearer {TOKEN}"));
    assert_eq!(
        body["payload"]["schema"],
        serde_json::json!(["EMAIL", "PHONE", "EXTERN_ID"])
    );
    let text = body.to_string();
    assert!(
        !text.contains('@') && !text.contains("555"),
        "no raw identifier leaves the database: {text}"
    );
    let users = meta.users("2385000");
    let pairs = |key: &str, value: &str| (key.to_string(), value.to_string());
    assert!(users.contains(&vec![
        pairs("EMAIL", &sha256("u1@example.com")),
        pairs("PHONE", &sha256("14155550101")),
        pairs("EXTERN_ID", "c-1"),
    ]));
    assert!(users.contains(&vec![
        pairs("PHONE", &sha256("442079460018")),
        pairs("EXTERN_ID", "c-3"),
    ]));
    assert_eq!(users.len(), 4);
    // After the run: the audience's matched size, and the rate.
    let (method, path, _, _) = requests.last().unwrap();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/v21.0/2385000?fields=approximate_count_lower_bound")
    );
    assert_eq!(
        db.text(&format!(
            "SELECT format('%s/%s=%s', audience_matched, audience_members, match_rate) FROM reverse_etl.sync_runs WHERE id = {first}"
        ))
        .unwrap(),
        "2/4=0.5000"
    );
    assert_eq!(
        db.text("SELECT match_rate::text FROM reverse_etl.sync_overview WHERE name = 's'")
            .unwrap(),
        "0.5000"
    );
    // A row leaving the model leaves the audience, by its email's hash.
    db.exec("DELETE FROM customers WHERE id = 1");
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(summary.succeeded, [0, 0, 1], "{summary:?}");
    let removal = meta
        .requests()
        .into_iter()
        .find(|(method, ..)| method == "DELETE")
        .unwrap();
    assert_eq!(
        removal.3["payload"],
        serde_json::json!({"schema": ["EMAIL"], "data": [[sha256("u1@example.com")]]})
    );
    assert_eq!(meta.users("2385000").len(), 3);
    assert_eq!(
        db.text("SELECT match_rate::text FROM reverse_etl.sync_overview WHERE name = 's'")
            .unwrap(),
        "0.3333"
    );
}

#[test]
fn batches_hold_at_most_batch_size_users_and_throttling_is_waited_out() {
    let meta = FakeMeta::start(TOKEN);
    let mut db = setup("meta_batches", &meta);
    audience_sync(&mut db, 2);
    meta.throttle_next(2);
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.succeeded, summary.rejected),
        ([4, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    let posts: Vec<usize> = meta
        .requests()
        .iter()
        .filter(|(method, _, authorization, _)| method == "POST" && authorization.contains(TOKEN))
        .map(|(_, _, _, body)| body["payload"]["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        posts,
        [2, 2, 2, 2],
        "two requests of two, each after a throttled one"
    );
    assert!(posts.iter().all(|n| *n <= 2), "{posts:?}");
    assert_eq!(meta.users("2385000").len(), 4);
    // No match known: the rate is 0, not missing.
    assert_eq!(
        db.text(&format!(
            "SELECT match_rate::text FROM reverse_etl.sync_runs WHERE id = {run}"
        ))
        .unwrap(),
        "0.0000"
    );
}

#[test]
fn test_a_row_the_plan_and_bad_settings() {
    let meta = FakeMeta::start(TOKEN);
    let mut db = setup("meta_preview", &meta);
    audience_sync(&mut db, 100);
    let plan = db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap();
    assert!(plan.contains("\"added\": 5"), "{plan}");
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '4', dry_run => true)::text")
        .unwrap();
    assert!(dry.contains(&sha256("u4@example.com")), "{dry}");
    assert!(!dry.contains(TOKEN) && !dry.contains("u4@"), "{dry}");
    assert!(meta.requests().is_empty());
    // A row a run would not send is not sent by a test either.
    let unusable = db
        .text("SELECT reverse_etl.sync_test_row('s', '5')::text")
        .unwrap();
    let unusable: serde_json::Value = serde_json::from_str(&unusable).unwrap();
    assert!(
        unusable["note"]
            .as_str()
            .unwrap()
            .starts_with("not sent: no usable identifier"),
        "{unusable}"
    );
    assert!(meta.requests().is_empty());
    let sent = db
        .text("SELECT reverse_etl.sync_test_row('s', '4')::text")
        .unwrap();
    assert!(sent.contains("\"num_received\": 1"), "{sent}");
    assert_eq!(meta.users("2385000").len(), 1);
    let before = db.catalog_counts();
    for (sql, code, starts) in [
        ("SELECT reverse_etl.create_destination('x', 'meta_audience', '{}')".to_string(), "22023", "config.access_token: is required"),
        ("SELECT reverse_etl.create_destination('x', 'meta_audience', '{\"access_token\": {\"secret\": \"meta_token\"}, \"api_version\": \"21\", \"api_url\": \"http://127.0.0.1:9\"}')".into(), "22023", "config.api_version: \"21\" is not a Graph API version"),
        ("SELECT reverse_etl.create_destination('x', 'meta_audience', '{\"access_token\": {\"secret\": \"meta_token\"}}')".into(), "42501", "config.api_url: host \"graph.facebook.com:443\" is not in reverse_etl.http_allowed_hosts"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"type": "list", "mode": "add", "audience": "my list", "match": {"from": "email", "to": "EMAIL"}}')"#.into(), "22023", "audience: must be a Custom Audience's id"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"type": "list", "mode": "add", "audience": "1", "match": {"from": "email", "to": "email"}}')"#.into(), "22023", "match.to: \"email\" is not a Meta customer list key"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"type": "list", "mode": "add", "audience": "1", "region": "XX", "match": {"from": "email", "to": "EMAIL"}}')"#.into(), "22023", "region: \"XX\" is not a region code"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"type": "list", "mode": "add", "audience": "1", "batch_size": 10001, "match": {"from": "email", "to": "EMAIL"}}')"#.into(), "22023", "batch_size: Meta takes at most 10000"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"mode": "upsert", "audience": "1", "match": {"from": "email", "to": "EMAIL"}}')"#.into(), "0A000", "type: sync type \"object\" is not supported"),
        (r#"SELECT reverse_etl.create_sync('x', 'customers', 'meta', '{"type": "list", "mode": "add", "audience": "1", "match": {"from": "nope", "to": "EMAIL"}}')"#.into(), "42703", "match.from: column \"nope\""),
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
fn an_ordinary_role_uses_its_own_token_and_sees_its_own_match_rates() {
    let meta = FakeMeta::start(TOKEN);
    let mut db = setup("meta_role", &meta);
    meta.know(&sha256("u2@example.com"));
    audience_sync(&mut db, 100);
    db.run("s");
    db.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meta_alice') THEN CREATE ROLE meta_alice LOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA reverse_etl TO meta_alice;
         GRANT SELECT ON customers TO meta_alice;",
    );
    meta.create_audience("2385001");
    let mut alice = db.connect_as("meta_alice");
    // Another role's token is not hers to name.
    let error = alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_destination('mine', 'meta_audience', '{{\"access_token\": {{\"secret\": \"meta_token\"}}, \"api_url\": \"{}\"}}')",
            meta.url()
        ))
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "42704");
    alice
        .batch_execute(&format!(
            r#"SELECT reverse_etl.set_secret('my_token', '{TOKEN}');
               SELECT reverse_etl.create_model('mine', 'SELECT id, email FROM customers WHERE id <= 2', ARRAY['id']);
               SELECT reverse_etl.create_destination('mine', 'meta_audience', '{{"access_token": {{"secret": "my_token"}}, "api_url": "{}"}}');
               SELECT reverse_etl.create_sync('alice_audience', 'mine', 'mine', '{{"type": "list", "mode": "add",
                   "audience": "2385001", "match": {{"from": "email", "to": "EMAIL"}}}}');"#,
            meta.url()
        ))
        .unwrap();
    alice
        .batch_execute("SELECT reverse_etl.sync_run('alice_audience')")
        .unwrap();
    let overview: Vec<(String, Option<String>)> = alice
        .query(
            "SELECT name, match_rate::text FROM reverse_etl.sync_overview ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    // Both of hers are in her audience, one of them matched; her overview
    // shows only her sync.
    assert_eq!(
        overview,
        [("alice_audience".to_string(), Some("0.5000".to_string()))]
    );
    let shown = alice
        .query_one(
            "SELECT reverse_etl.sync_test_row('alice_audience', '1', dry_run => true)::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0);
    assert!(!shown.contains(TOKEN), "{shown}");
}
