//! The `salesforce` destination against a fake of Salesforce on loopback:
//! the refresh-token flow (one token per run, one more when the session
//! expires mid-run, shared by the run's threads), upserts by external id in
//! collections of at most 200, a refused record rejected alone from the
//! in-order results, test a row, and bad settings; secrets never shown.

mod common;
#[path = "support/fake_salesforce.rs"]
mod fake_salesforce;
#[path = "support/http_server.rs"]
mod http_server;

use common::TestDb;
use fake_salesforce::{FakeSalesforce, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

fn setup(test: &str, salesforce: &FakeSalesforce, rows: i64) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE people (id int PRIMARY KEY, email text, last text, ltv numeric);
         INSERT INTO people SELECT g, 'p' || g || '@x.io', 'Last ' || g, g * 100.01 FROM generate_series(1, {rows}) g;
         SELECT reverse_etl.create_model('people', 'SELECT id, email, last, ltv FROM people', ARRAY['id']);
         SELECT reverse_etl.set_secret('sf_secret', '{CLIENT_SECRET}');
         SELECT reverse_etl.set_secret('sf_refresh', '{REFRESH_TOKEN}');
         SELECT reverse_etl.create_destination('salesforce', 'salesforce', '{{\"login_url\": \"{}\", \"client_id\": \"{CLIENT_ID}\",
             \"client_secret\": {{\"secret\": \"sf_secret\"}}, \"refresh_token\": {{\"secret\": \"sf_refresh\"}}}}');
         SELECT reverse_etl.create_sync('s', 'people', 'salesforce', '{{\"mode\": \"upsert\", \"object\": \"Contact\",
             \"match\": {{\"from\": \"email\", \"to\": \"Email__c\"}}, \"batch_size\": 200,
             \"mappings\": [{{\"from\": \"last\", \"to\": \"LastName\"}}, {{\"from\": \"ltv\", \"to\": \"LTV__c\"}}]}}');",
        salesforce.url()
    ));
    db
}

fn run(db: &mut TestDb) -> common::RunSummary {
    let id = db.run("s");
    db.run_summary(id)
}

#[test]
fn records_are_upserted_by_external_id_with_one_token() {
    let salesforce = FakeSalesforce::start();
    let mut db = setup("sf_upsert", &salesforce, 450);
    let summary = run(&mut db);
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.succeeded, [450, 0, 0]);
    assert_eq!(salesforce.record_count(), 450);
    assert_eq!(
        salesforce.calls().len(),
        3,
        "at most 200 records per request"
    );
    assert_eq!(salesforce.tokens_issued(), 1);
    let record = salesforce.record("Contact", "p7@x.io").unwrap();
    assert_eq!(record["LastName"], "Last 7");
    assert_eq!(record["LTV__c"].to_string(), "700.07");
}

#[test]
fn an_expired_session_is_refreshed_once_and_nothing_is_lost() {
    let salesforce = FakeSalesforce::start();
    let mut db = setup("sf_expiry", &salesforce, 1000);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"batch_size": 50}')"#);
    // The session ends after two calls, while requests are in flight on
    // several threads: every one of them answered 401.
    salesforce.expire_token_after(2);
    let summary = run(&mut db);
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(summary.succeeded, [1000, 0, 0]);
    assert_eq!(salesforce.record_count(), 1000);
    assert_eq!(
        salesforce.tokens_issued(),
        2,
        "one refresh, shared by the threads"
    );
    let refused = salesforce.calls().iter().filter(|ok| !**ok).count();
    assert!(refused >= 1, "the session expired mid-run");
}

#[test]
fn the_orgs_api_limit_stops_the_run_and_the_next_one_resumes() {
    let salesforce = FakeSalesforce::start();
    let mut db = setup("sf_limit", &salesforce, 1000);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"batch_size": 100}')"#);
    salesforce.limit_calls_to(Some(3));
    let first = run(&mut db);
    assert_eq!(first.status, "incomplete", "{first:?}");
    assert!(first.error.contains("REQUEST_LIMIT_EXCEEDED"), "{first:?}");
    assert_eq!(first.rejected, [0, 0, 0], "no record is blamed: {first:?}");
    assert_eq!(first.succeeded[0] as usize, salesforce.record_count());
    // At most the requests already queued to the sending threads (4 × 3)
    // go out after the first refusal: no record is tried alone.
    assert!(
        salesforce.calls().len() <= 3 + 12,
        "{} calls",
        salesforce.calls().len()
    );
    salesforce.limit_calls_to(None);
    let second = run(&mut db);
    assert_eq!(second.status, "succeeded", "{second:?}");
    assert_eq!(first.succeeded[0] + second.succeeded[0], 1000);
    assert_eq!(salesforce.record_count(), 1000);
}

#[test]
fn a_refused_record_is_rejected_alone() {
    let salesforce = FakeSalesforce::start();
    let mut db = setup("sf_partial", &salesforce, 5);
    db.exec("UPDATE people SET last = NULL WHERE id = 2");
    let summary = run(&mut db);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{summary:?}"
    );
    let (row, reason) = {
        let row = db
            .text("SELECT row_id || '|' || reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
            .unwrap();
        let (a, b) = row.split_once('|').unwrap();
        (a.to_string(), b.to_string())
    };
    assert_eq!(row, "2");
    assert_eq!(
        reason,
        "record error: Required fields are missing: [LastName]"
    );
}

#[test]
fn test_a_row_and_bad_settings_never_show_secrets() {
    let salesforce = FakeSalesforce::start();
    let mut db = setup("sf_bad", &salesforce, 3);
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)::text")
        .unwrap();
    assert!(
        dry.contains("/services/data/v59.0/composite/sobjects/Contact/Email__c"),
        "{dry}"
    );
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, "00Dfake!token"] {
        assert!(!dry.contains(secret), "{secret} shown: {dry}");
    }
    let before = db.catalog_counts();
    for (sql, code, starts) in [
        ("SELECT reverse_etl.create_destination('x', 'salesforce', '{\"client_id\": \"a\", \"client_secret\": {\"secret\": \"sf_secret\"}}')".to_string(), "22023", "config.refresh_token: is required"),
        ("SELECT reverse_etl.create_destination('x', 'salesforce', '{\"client_id\": \"a\", \"client_secret\": {\"secret\": \"sf_secret\"}, \"refresh_token\": {\"secret\": \"sf_refresh\"}}')".into(), "42501", "config.login_url: host \"login.salesforce.com:443\" is not in reverse_etl.http_allowed_hosts"),
        ("SELECT reverse_etl.create_destination('x', 'salesforce', '{\"login_url\": \"http://127.0.0.1:9\", \"client_id\": \"a\", \"client_secret\": {\"secret\": \"nope\"}, \"refresh_token\": {\"secret\": \"sf_refresh\"}}')".into(), "42704", "config.client_secret"),
        (r#"SELECT reverse_etl.create_sync('x', 'people', 'salesforce', '{"mode": "upsert", "object": "Contact", "batch_size": 500, "match": {"from": "email", "to": "Email__c"}}')"#.into(), "22023", "batch_size: Salesforce takes at most 200"),
        (r#"SELECT reverse_etl.create_sync('x', 'people', 'salesforce', '{"mode": "upsert", "match": {"from": "email", "to": "Email__c"}}')"#.into(), "22023", "object: is required"),
        (r#"SELECT reverse_etl.create_sync('x', 'people', 'salesforce', '{"mode": "upsert", "object": "Contact", "delete_behavior": "delete", "match": {"from": "email", "to": "Email__c"}}')"#.into(), "0A000", "delete_behavior: \"delete\" does not apply"),
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
    // A refresh token Salesforce refuses: the run ends without sending,
    // and the error shows none of the secrets.
    db.exec("SELECT reverse_etl.set_secret('sf_refresh', 'revoked')");
    let summary = run(&mut db);
    assert_ne!(summary.status, "succeeded");
    assert!(summary.error.contains("invalid_grant"), "{}", summary.error);
    for secret in [CLIENT_SECRET, "revoked"] {
        assert!(!summary.error.contains(secret), "{}", summary.error);
    }
}
