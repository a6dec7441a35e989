//! The http destination against a fake CRM on loopback: end state equals the
//! model, every rejected row explained and retried, faults survived, and no
//! delivery ever recorded wrongly.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn setup(db: &mut TestDb, crm: &FakeCrm, rows: i64, destination_extra: &str) {
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, plan text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, {rows}) g;
         SELECT reverse_etl.set_secret('crm_token', 's3cr3t-value');
         SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('crm', 'http', '{{\"url\": \"{}\",
             \"headers\": {{\"Authorization\": {{\"secret\": \"crm_token\"}}}},
             \"timeout_ms\": 2000, \"retry\": {{\"max_attempts\": 3, \"initial_backoff_ms\": 20, \"max_backoff_ms\": 200}}{destination_extra}}}');",
        crm.url()
    ));
}

const PER_ROW: &str = r#"{"mode": "upsert", "batch_size": 1, "delete_behavior": "delete",
    "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan"}, {"template": "{{ row.plan | upcase }}-{{ row.id }}", "to": "tier"}],
    "requests": {"added": {"method": "POST", "path": "/contacts"},
                 "changed": {"method": "PATCH", "path": "/contacts/{{ row.email | url_encode }}"},
                 "removed": {"method": "DELETE", "path": "/contacts/{{ row.email | url_encode }}"}}}"#;

const BATCHED: &str = r#"{"mode": "upsert", "batch_size": 10, "delete_behavior": "delete",
    "match": {"from": "email", "to": "email"}, "mappings": [{"from": "plan", "to": "plan"}],
    "requests": {"added": {"method": "POST", "path": "/contacts/batch"},
                 "removed": {"method": "POST", "path": "/contacts/batch",
                             "body": "{\"records\": [{% for r in records %}{\"email\": \"{{ r.email }}\", \"op\": \"delete\"}{% unless forloop.last %},{% endunless %}{% endfor %}]}"}},
    "record_errors": {"path": "errors", "index": "index", "message": "message"}}"#;

fn create_sync(db: &mut TestDb, config: &str) {
    db.exec(&format!(
        "SELECT reverse_etl.create_sync('s', 'users', 'crm', '{}')",
        config.replace('\'', "''")
    ));
}

/// The model as the CRM should hold it: email → plan, for valid rows.
fn model(db: &mut TestDb) -> BTreeMap<String, String> {
    db.rows("SELECT email, plan FROM users ORDER BY email")
        .into_iter()
        .map(|r| {
            let (email, plan) = r.split_once('|').unwrap();
            (email.to_string(), plan.to_string())
        })
        .collect()
}

fn crm_state(crm: &FakeCrm) -> BTreeMap<String, String> {
    crm.contacts()
        .into_iter()
        .map(|(email, record)| (email, record["plan"].as_str().unwrap_or("∅").to_string()))
        .collect()
}

/// Nothing recorded as delivered is missing, nothing recorded as failed arrived.
fn assert_log_matches_crm(db: &mut TestDb, crm: &FakeCrm, run_id: i64) {
    let contacts = crm.contacts();
    for line in db.rows(&format!(
        "SELECT c.row_id, c.op, c.status, u.email FROM reverse_etl.sync_changelog c LEFT JOIN users u ON u.id::text = c.row_id \
         WHERE c.run_id = {run_id} AND c.op IN ('added', 'changed')"
    )) {
        let parts: Vec<&str> = line.split('|').collect();
        let present = contacts.contains_key(parts[3]);
        match parts[2] {
            "succeeded" => assert!(present, "recorded as delivered but not in the CRM: {line}"),
            "rejected" | "aborted" if parts[1] == "added" => assert!(!present, "recorded as not delivered but in the CRM: {line}"),
            _ => {}
        }
    }
}

#[test]
fn per_row_requests_make_the_crm_equal_to_the_model() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_rows");
    setup(&mut db, &crm, 20, "");
    create_sync(&mut db, PER_ROW);
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded),
        ("succeeded", [20, 0, 0]),
        "{summary:?}"
    );
    assert_eq!(crm_state(&crm), model(&mut db));

    let requests = crm.requests();
    assert!(requests
        .iter()
        .all(|r| r.header("authorization").as_deref() == Some("s3cr3t-value")));
    let keys: std::collections::BTreeSet<String> = requests
        .iter()
        .filter_map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys.len(), 20, "one distinct idempotency key per row");
    assert_eq!(requests[0].json()["plan"], json!("free"));
    assert_eq!(
        crm.contacts()["u7@x.io"]["tier"],
        json!("FREE-7"),
        "template mappings see every model column they name"
    );

    crm.clear_requests();
    db.exec("UPDATE users SET plan = 'pro' WHERE id <= 3; DELETE FROM users WHERE id > 18; INSERT INTO users VALUES (100, 'new+1@x.io', 'team')");
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(summary.succeeded, [1, 3, 2]);
    assert_eq!(crm_state(&crm), model(&mut db));
    let methods: Vec<String> = crm.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods.iter().filter(|m| *m == "DELETE").count(), 2);
    assert_eq!(methods.iter().filter(|m| *m == "PATCH").count(), 3);
    // The secret never shows up in the catalog or the logs.
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_changelog WHERE reason LIKE '%s3cr3t%' OR fields::text LIKE '%s3cr3t%'"), 0);
    assert!(!db
        .text("SELECT string_agg(config::text, '') FROM reverse_etl.destinations")
        .unwrap()
        .contains("s3cr3t"));
    assert_log_matches_crm(&mut db, &crm, second);
}

#[test]
fn a_rejected_record_is_isolated_from_its_batch_and_retried_once_fixed() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_batch");
    setup(&mut db, &crm, 25, "");
    create_sync(&mut db, BATCHED);
    crm.reject_email("u7@x.io", 400, "invalid email domain");
    crm.record_error_email("u12@x.io", "plan not allowed");
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(summary.status, "warning");
    assert_eq!(
        (summary.succeeded, summary.rejected),
        ([23, 0, 0], [2, 0, 0])
    );
    let reasons = db.rows(&format!("SELECT row_id, reason FROM reverse_etl.sync_changelog WHERE run_id = {first} AND status = 'rejected' ORDER BY row_id::int"));
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons[0].starts_with("7|HTTP 400: {")
            && reasons[0].contains("\"error\":\"invalid email domain\""),
        "{}",
        reasons[0]
    );
    assert_eq!(reasons[1], "12|record error: plan not allowed");
    assert_eq!(crm.contacts().len(), 23);
    assert!(!crm.contacts().contains_key("u7@x.io") && !crm.contacts().contains_key("u12@x.io"));
    assert_log_matches_crm(&mut db, &crm, first);
    // Batches carry one key per record and one for the batch.
    let batch = crm
        .requests()
        .into_iter()
        .find(|r| r.path == "/contacts/batch")
        .unwrap();
    assert!(batch.header("idempotency-key").is_some());
    assert!(batch.json()["records"][0]["idempotency_key"].is_string());

    crm.clear_faults();
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded),
        ("succeeded", [2, 0, 0]),
        "only the rejected rows are retried"
    );
    assert_eq!(crm_state(&crm), model(&mut db));

    db.exec("DELETE FROM users WHERE id IN (1, 2)");
    let third = db.run("s");
    assert_eq!(db.run_summary(third).succeeded, [0, 0, 2]);
    assert_eq!(crm_state(&crm), model(&mut db));
}

#[test]
fn transient_faults_are_retried() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_faults");
    setup(&mut db, &crm, 10, ", \"concurrency\": 2");
    create_sync(&mut db, PER_ROW);
    crm.fail_next(2, 503);
    let first = db.run("s");
    assert_eq!(db.run_summary(first).status, "succeeded");
    // 429s do not use up the retry budget (3 attempts): five in a row still pass.
    db.exec("UPDATE users SET plan = 'a' WHERE id = 1");
    crm.throttle_next(5, 0);
    let second = db.run("s");
    assert_eq!(db.run_summary(second).status, "succeeded");
    // A dropped connection and a response slower than the timeout are retried.
    db.exec("UPDATE users SET plan = 'b' WHERE id IN (2, 3)");
    crm.drop_next(1);
    crm.delay_next(1, Duration::from_millis(2500));
    let third = db.run("s");
    assert_eq!(db.run_summary(third).status, "succeeded");
    assert_eq!(crm_state(&crm), model(&mut db));
}

#[test]
fn a_destination_that_stays_down_ends_the_run_incomplete_and_nothing_is_lost() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_down");
    setup(&mut db, &crm, 30, ", \"concurrency\": 2");
    create_sync(&mut db, PER_ROW);
    crm.set_down(true);
    let first = db.run("s");
    let summary = db.run_summary(first);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(
        summary
            .error
            .starts_with("destination unavailable: HTTP 503"),
        "{}",
        summary.error
    );
    assert_eq!(summary.succeeded, [0, 0, 0]);
    assert_eq!(summary.aborted, [30, 0, 0]);
    assert!(crm.contacts().is_empty());

    crm.set_down(false);
    let second = db.run("s");
    assert_eq!(db.run_summary(second).succeeded, [30, 0, 0]);
    assert_eq!(crm_state(&crm), model(&mut db));
}

/// A window's requests go out while the next window is read: when reading
/// the next one fails (here the owner's cast of one row's value to JSON),
/// the window already sent is still settled and recorded as delivered.
#[test]
fn a_failure_reading_the_next_window_keeps_the_record_of_the_one_sent() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_lookahead");
    setup(&mut db, &crm, 20, ", \"concurrency\": 2");
    db.exec(
        "CREATE TYPE mood AS ENUM ('ok', 'bad');
         CREATE FUNCTION mood_json(m mood) RETURNS json LANGUAGE plpgsql AS $$
         BEGIN
           IF m = 'bad' THEN RAISE EXCEPTION 'no JSON for a bad mood'; END IF;
           RETURN to_json(m::text);
         END $$;
         CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood);
         ALTER TABLE users ADD COLUMN mood mood NOT NULL DEFAULT 'ok';
         UPDATE users SET mood = 'bad' WHERE id = 12;
         SELECT reverse_etl.create_model('moody', 'SELECT id, email, plan, mood FROM users ORDER BY id', ARRAY['id']);",
    );
    // Windows of 8 rows (batch_size 1 × concurrency 2 × 4): row 12 is in
    // the second.
    let config = PER_ROW.replace(
        r#""mappings": ["#,
        r#""mappings": [{"from": "mood", "to": "mood"}, "#,
    );
    db.exec(&format!(
        "SELECT reverse_etl.create_sync('s', 'moody', 'crm', '{}')",
        config.replace('\'', "''")
    ));
    crm.delay_all(Duration::from_millis(50));
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "failed", "{summary:?}");
    assert!(
        summary.error.contains("no JSON for a bad mood"),
        "{}",
        summary.error
    );
    assert_eq!(summary.succeeded[0], 8, "{summary:?}");
    assert_eq!(
        crm.contacts().len(),
        8,
        "what arrived is what is recorded as delivered"
    );
    assert_log_matches_crm(&mut db, &crm, run);
}

#[test]
fn cancel_stops_sending_within_a_timeout_and_records_what_was_sent() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_cancel");
    setup(&mut db, &crm, 400, ", \"concurrency\": 2");
    create_sync(&mut db, PER_ROW);
    crm.delay_all(Duration::from_millis(20));
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "some deliveries",
        &format!("SELECT succeeded_added > 0 FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(30),
    );
    let asked = Instant::now();
    db.exec(&format!("SELECT reverse_etl.cancel_run({run_id})"));
    db.wait_for(
        "run end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(10),
    );
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped within one timeout (2 s) plus recording"
    );
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "incomplete");
    assert!(summary.aborted[0] > 0);
    assert_eq!(
        crm.contacts().len() as i64,
        summary.succeeded[0],
        "what arrived is exactly what is recorded as delivered"
    );
    assert_log_matches_crm(&mut db, &crm, run_id);

    crm.delay_all(Duration::ZERO);
    let next = db.run("s");
    assert_eq!(
        db.run_summary(next).succeeded[0],
        400 - summary.succeeded[0]
    );
    assert_eq!(crm_state(&crm), model(&mut db));
}

#[test]
fn bad_http_configuration_is_refused_and_changes_nothing() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_bad");
    setup(&mut db, &crm, 1, "");
    let url = crm.url();
    let destination_cases = [
        (
            r#"{"url": "not a url"}"#.to_string(),
            "22023",
            "config.url: \"not a url\" is not a valid URL",
        ),
        (
            r#"{"url": "http://example.com/api"}"#.to_string(),
            "42501",
            "config.url: host \"example.com:80\" is not in reverse_etl.http_allowed_hosts",
        ),
        (
            format!(r#"{{"url": "{url}", "concurrency": 0}}"#),
            "22023",
            "config.concurrency: must be between 1 and 64, not 0",
        ),
        (
            format!(r#"{{"url": "{url}", "rate_limit": {{"requests_per_second": 0}}}}"#),
            "22023",
            "config.rate_limit.requests_per_second: must be between 0.01 and 100000",
        ),
        (
            format!(
                r#"{{"url": "{url}", "headers": {{"Authorization": {{"secret": "missing"}}}}}}"#
            ),
            "42704",
            "config.headers.Authorization.secret: secret \"missing\" does not exist",
        ),
        (
            format!(r#"{{"url": "{url}", "timeout": 5}}"#),
            "22023",
            "config.timeout: unknown key",
        ),
    ];
    for (config, code, message) in destination_cases {
        let before = db.catalog_counts();
        let (actual_code, actual) = db.error(&format!(
            "SELECT reverse_etl.create_destination('d2', 'http', '{config}')"
        ));
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{config}: {actual}"
        );
        assert_eq!(db.catalog_counts(), before);
    }
    let sync_cases = [
        (r#"{"mode": "upsert", "requests": {"added": {"method": "FETCH", "path": "/c"}}}"#, "22023", "requests.added.method: unknown method \"FETCH\""),
        (r#"{"mode": "upsert", "requests": {"added": {"method": "POST", "path": "/c/{{ row.email"}}}"#, "42601", "requests.added.path: template does not parse"),
        (r#"{"mode": "upsert", "requests": {"added": {"method": "POST", "path": "/c/{{ row.nope }}"}}}"#, "42703", "requests.added.path: the template reads row.nope, but the model has no column \"nope\""),
        (r#"{"mode": "upsert", "requests": {"added": {"method": "POST", "path": "/c", "body": "{{ row.plan | nosuchfilter }}"}}}"#, "42601", "requests.added.body: template does not parse"),
        (r#"{"mode": "upsert", "delete_behavior": "delete", "requests": {"added": {"method": "POST", "path": "/c"}}}"#, "22023", "requests.removed: is required"),
        (r#"{"mode": "upsert"}"#, "22023", "requests: is required"),
        (r#"{"mode": "all", "requests": {"added": {"method": "POST", "path": "/c"}}}"#, "0A000", "mode: sync mode \"all\" is not supported for type \"object\" on destination kind \"http\""),
        (r#"{"mode": "upsert", "object": "x", "requests": {"added": {"method": "POST", "path": "/c"}}}"#, "22023", "object: unknown key"),
    ];
    for (config, code, message) in sync_cases {
        let before = db.catalog_counts();
        let (actual_code, actual) = db.error(&format!(
            "SELECT reverse_etl.create_sync('s2', 'users', 'crm', '{}')",
            config.replace('\'', "''")
        ));
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{config}: {actual}"
        );
        assert_eq!(db.catalog_counts(), before);
    }
    // The allow-list is server-wide (postgresql.conf or ALTER SYSTEM): a
    // session cannot widen it for itself, since runs would not see it.
    let (code, _) = db.error("SET reverse_etl.http_allowed_hosts = '*'");
    assert_eq!(code, "55P02");
    // A destination made while its host was allowed is refused at send
    // time once the list no longer allows it.
    db.exec("INSERT INTO reverse_etl.destinations (name, kind, config) VALUES ('elsewhere', 'http', '{\"url\": \"http://10.255.255.1:9\"}')");
    db.exec(r#"SELECT reverse_etl.create_sync('far', 'users', 'elsewhere', '{"mode": "insert", "requests": {"added": {"method": "POST", "path": "/c"}}}')"#);
    let run_id = db.run("far");
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "failed");
    assert!(
        summary
            .error
            .contains("host \"10.255.255.1:9\" is not in reverse_etl.http_allowed_hosts"),
        "{}",
        summary.error
    );
    let _ = Value::Null;
}

#[test]
fn archive_sends_every_row_on_every_run() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_archive");
    setup(&mut db, &crm, 3, "");
    create_sync(
        &mut db,
        r#"{"mode": "archive", "batch_size": 1, "match": {"from": "email", "to": "email"},
        "requests": {"added": {"method": "PUT", "path": "/contacts/{{ row.email | url_encode }}", "body": "{\"email\": \"{{ row.email }}\", \"archived\": true}"}}}"#,
    );
    let first = db.run("s");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    let second = db.run("s");
    assert_eq!(
        db.run_summary(second).succeeded,
        [3, 0, 0],
        "no change tracking: every row again, counted as added"
    );
    assert_eq!(
        crm.requests().iter().filter(|r| r.method == "PUT").count(),
        6
    );
    assert!(crm.contacts().values().all(|c| c["archived"] == true));
    let (code, message) = db.error(r#"SELECT reverse_etl.create_sync('a2', 'users', 'crm', '{"mode": "archive", "delete_behavior": "delete", "requests": {"added": {"method": "PUT", "path": "/x"}, "removed": {"method": "DELETE", "path": "/x"}}}')"#);
    assert_eq!(code, "22023");
    assert!(
        message.starts_with("delete_behavior: mode \"archive\""),
        "{message}"
    );
}

/// Every other mode × delete behavior of the object type, end to end: run,
/// change the source, run again, compare the CRM with what the mode implies.
#[test]
fn object_modes_and_delete_behaviors() {
    for (mode, behavior) in [
        ("upsert", "nothing"),
        ("upsert", "clear"),
        ("insert", "nothing"),
        ("insert", "delete"),
        ("update", "nothing"),
        ("update", "delete"),
    ] {
        let crm = FakeCrm::start();
        let mut db = TestDb::new("http_modes");
        setup(&mut db, &crm, 4, "");
        if mode == "update" {
            for i in 1..=4 {
                crm.insert_contact(
                    &format!("u{i}@x.io"),
                    json!({"email": format!("u{i}@x.io"), "plan": "old"}),
                );
            }
        }
        create_sync(
            &mut db,
            &format!(
                r#"{{"mode": "{mode}", "batch_size": 1, "delete_behavior": "{behavior}",
            "match": {{"from": "email", "to": "email"}}, "mappings": [{{"from": "plan", "to": "plan"}}],
            "requests": {{"added": {{"method": "POST", "path": "/contacts"}},
                         "changed": {{"method": "PATCH", "path": "/contacts/{{{{ row.email | url_encode }}}}"}},
                         "removed": {{"method": "DELETE", "path": "/contacts/{{{{ row.email | url_encode }}}}"}}}}}}"#
            ),
        );
        let first = db.run("s");
        let s1 = db.run_summary(first);
        assert_eq!(s1.succeeded, [4, 0, 0], "{mode}/{behavior}: {s1:?}");
        db.exec("UPDATE users SET plan = 'pro' WHERE id = 1; DELETE FROM users WHERE id = 2");
        let second = db.run("s");
        let s2 = db.run_summary(second);
        assert_eq!(s2.status, "succeeded", "{mode}/{behavior}: {s2:?}");
        let state = crm_state(&crm);
        let u1 = state.get("u1@x.io").cloned();
        let u2 = state.get("u2@x.io").cloned();
        match mode {
            "insert" => assert_eq!(u1.as_deref(), Some("free"), "insert never updates"),
            _ => assert_eq!(u1.as_deref(), Some("pro"), "{mode} updates"),
        }
        match behavior {
            "nothing" => assert!(u2.is_some(), "{mode}/{behavior} keeps the record"),
            "delete" => assert!(u2.is_none(), "{mode}/{behavior} deletes the record"),
            _ => assert_eq!(
                u2.as_deref(),
                Some("∅"),
                "{mode}/{behavior} clears the fields"
            ),
        }
        assert_eq!(state.len(), if behavior == "delete" { 3 } else { 4 });
    }
}
