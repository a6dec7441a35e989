//! sync_test_row: one row sent as a run would send it, request and response
//! returned, secrets masked, nothing recorded.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use serde_json::{json, Value};

fn json_of(db: &mut TestDb, sql: &str) -> Value {
    serde_json::from_str(&db.text(&format!("SELECT ({sql})::text")).unwrap()).unwrap()
}

fn state(db: &mut TestDb) -> Vec<i64> {
    let mut counts = db.catalog_counts();
    counts.push(db.i64("SELECT count(*) FROM reverse_etl_state.snapshot_1"));
    counts
}

#[test]
fn http_test_row_shows_the_request_and_the_response() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("test_row_http");
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, plan text);
         INSERT INTO users VALUES (1, 'a@x.io', 'free'), (2, 'b@x.io', 'pro');
         SELECT reverse_etl.set_secret('tok', 'very-secret');
         SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('crm', 'http', '{{\"url\": \"{}\", \"headers\": {{\"Authorization\": {{\"secret\": \"tok\"}}}}}}');",
        crm.url()
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'crm', '{"mode": "upsert", "batch_size": 1, "delete_behavior": "delete",
        "match": {"from": "email", "to": "email"}, "mappings": [{"from": "plan", "to": "plan"}],
        "requests": {"added": {"method": "POST", "path": "/contacts"},
                     "removed": {"method": "DELETE", "path": "/contacts/{{ row.email | url_encode }}"}}}')"#);
    let before = state(&mut db);

    let dry = json_of(
        &mut db,
        "SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)",
    );
    assert_eq!(dry["requests"][0]["method"], "POST");
    assert_eq!(dry["requests"][0]["url"], format!("{}/contacts", crm.url()));
    assert_eq!(dry["requests"][0]["headers"]["Authorization"], "********");
    assert_eq!(
        dry["requests"][0]["body"],
        json!({"email": "a@x.io", "plan": "free"})
    );
    assert_eq!(dry["responses"], json!([]));
    assert!(crm.requests().is_empty(), "a dry run sends nothing");

    let sent = json_of(
        &mut db,
        r#"SELECT reverse_etl.sync_test_row('s', '2', "values" => '{"plan": "team"}')"#,
    );
    assert_eq!(sent["responses"][0]["status"], 201);
    assert_eq!(crm.contacts()["b@x.io"]["plan"], "team");
    assert_eq!(
        crm.requests()[0].header("authorization").as_deref(),
        Some("very-secret")
    );
    assert!(
        !sent.to_string().contains("very-secret"),
        "secrets are masked"
    );

    let removed = json_of(
        &mut db,
        "SELECT reverse_etl.sync_test_row('s', '2', op => 'removed')",
    );
    assert_eq!(removed["requests"][0]["method"], "DELETE");
    assert_eq!(
        removed["requests"][0]["url"],
        format!("{}/contacts/b%40x.io", crm.url())
    );
    assert_eq!(removed["responses"][0]["status"], 204);
    assert_eq!(
        state(&mut db),
        before,
        "no snapshot, run or changelog row was written"
    );

    for (sql, code, message) in [
        (
            "SELECT reverse_etl.sync_test_row('s', '99')",
            "42704",
            "row_id: model \"users\" has no row with id \"99\"",
        ),
        (
            "SELECT reverse_etl.sync_test_row('s', '1', op => 'upserted')",
            "22023",
            "op: \"upserted\" is not one of",
        ),
        (
            r#"SELECT reverse_etl.sync_test_row('s', '1', "values" => '{"nope": 1}')"#,
            "22023",
            "values.nope: is not a column this sync sends",
        ),
        (
            r#"SELECT reverse_etl.sync_test_row('s', '1', "values" => '{"email": "x"}')"#,
            "22023",
            "values.email: the record-matching column cannot be edited",
        ),
    ] {
        let (actual_code, actual) = db.error(sql);
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{sql}: {actual}"
        );
    }
}

#[test]
fn postgres_test_row_runs_the_statement_for_one_row() {
    let mut db = TestDb::new("test_row_pg");
    db.exec(r#"
        CREATE TABLE users (id int PRIMARY KEY, email text, plan text);
        INSERT INTO users VALUES (1, 'a@x.io', 'free');
        CREATE TABLE target (email text PRIMARY KEY, plan_name text NOT NULL);
        SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id']);
        SELECT reverse_etl.create_destination('local', 'postgres');
        SELECT reverse_etl.create_sync('s', 'users', 'local', '{"mode": "upsert", "object": "target",
            "match": {"from": "email", "to": "email"}, "mappings": [{"from": "plan", "to": "plan_name"}]}');
    "#);
    let before = state(&mut db);
    let dry = json_of(
        &mut db,
        "SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)",
    );
    assert!(
        dry["requests"][0]["statement"]
            .as_str()
            .unwrap()
            .starts_with("INSERT INTO public.target AS t"),
        "{dry}"
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), 0);
    let sent = json_of(&mut db, "SELECT reverse_etl.sync_test_row('s', '1')");
    assert_eq!(sent["responses"][0], json!({"rows_affected": 1}));
    assert_eq!(
        db.rows("SELECT email, plan_name FROM target"),
        ["a@x.io|free"]
    );
    let refused = json_of(
        &mut db,
        r#"SELECT reverse_etl.sync_test_row('s', '1', "values" => '{"plan": null}')"#,
    );
    assert!(
        refused["responses"][0]["error"]
            .as_str()
            .unwrap()
            .contains("violates not-null constraint (23502)"),
        "{refused}"
    );
    assert_eq!(state(&mut db), before);
}

#[test]
fn a_cancelled_statement_is_an_interruption_not_a_rejection() {
    let mut db = TestDb::new("test_row_cancel");
    db.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text);
         INSERT INTO users VALUES (1, 'a@x.io');
         CREATE TABLE contacts (email text PRIMARY KEY);
         CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION slow();
         SELECT reverse_etl.create_model('users', 'SELECT id, email FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'users', 'local', '{\"mode\": \"upsert\", \"object\": \"contacts\",
           \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    );
    // The statement runs in a subtransaction; its timeout cancels the call
    // rather than coming back as the row's error.
    let (code, message) =
        db.error("SET statement_timeout = '300ms'; SELECT reverse_etl.sync_test_row('s', '1')");
    assert_eq!(code, "57014", "{message}");
    db.exec("RESET statement_timeout");
    assert_eq!(db.i64("SELECT count(*) FROM contacts"), 0);
}
