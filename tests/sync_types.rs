//! Event and list sync types on both destination kinds, and clear and fill.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;

const LISTS: &str = "
    CREATE TABLE users (id int PRIMARY KEY, email text, vip bool, churned bool DEFAULT false);
    INSERT INTO users SELECT g, 'u' || g || '@x.io', g <= 3 FROM generate_series(1, 6) g;
    CREATE SCHEMA crm;
    CREATE TABLE crm.list_members (list text NOT NULL, email text NOT NULL, added_by text, UNIQUE (list, email));
    INSERT INTO crm.list_members VALUES ('other', 'u1@x.io', 'crm'), ('other', 'u5@x.io', 'crm');
    SELECT reverse_etl.create_model('vips', 'SELECT id, email FROM users WHERE vip', ARRAY['id']);
    SELECT reverse_etl.create_model('churned', 'SELECT id, email FROM users WHERE churned', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('vip_list', 'vips', 'local', '{\"type\": \"list\", \"mode\": \"add\",
        \"object\": \"crm.list_members\", \"list\": \"vip\", \"match\": {\"from\": \"email\", \"to\": \"email\"},
        \"mappings\": [{\"static\": \"warehouse\", \"to\": \"added_by\"}]}');
";

fn members(db: &mut TestDb) -> Vec<String> {
    db.rows("SELECT list, email FROM crm.list_members ORDER BY list, email")
}

#[test]
fn list_membership_follows_the_model() {
    let mut db = TestDb::new("list_add");
    db.exec(LISTS);
    let first = db.run("vip_list");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    assert_eq!(
        members(&mut db),
        [
            "other|u1@x.io",
            "other|u5@x.io",
            "vip|u1@x.io",
            "vip|u2@x.io",
            "vip|u3@x.io"
        ]
    );
    // u3 leaves the model, u4 enters it; a member's other fields changing is not a membership change.
    db.exec("UPDATE users SET vip = (id IN (1, 2, 4))");
    let second = db.run("vip_list");
    assert_eq!(db.run_summary(second).succeeded, [1, 0, 1]);
    assert_eq!(
        members(&mut db),
        [
            "other|u1@x.io",
            "other|u5@x.io",
            "vip|u1@x.io",
            "vip|u2@x.io",
            "vip|u4@x.io"
        ]
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM crm.list_members WHERE added_by = 'warehouse'"),
        3
    );
}

#[test]
fn remove_mode_takes_the_models_rows_off_the_list() {
    let mut db = TestDb::new("list_remove");
    db.exec(LISTS);
    db.run("vip_list");
    db.exec(r#"SELECT reverse_etl.create_sync('unsubscribe', 'churned', 'local', '{"type": "list", "mode": "remove",
        "object": "crm.list_members", "list": "vip", "match": {"from": "email", "to": "email"}}')"#);
    db.exec("UPDATE users SET churned = (id = 2)");
    let run_id = db.run("unsubscribe");
    assert_eq!(db.run_summary(run_id).succeeded, [1, 0, 0]);
    assert_eq!(
        members(&mut db),
        [
            "other|u1@x.io",
            "other|u5@x.io",
            "vip|u1@x.io",
            "vip|u3@x.io"
        ]
    );
}

#[test]
fn clear_and_fill_empties_the_list_then_sends_every_row() {
    let mut db = TestDb::new("clear_fill");
    db.exec(LISTS);
    db.run("vip_list");
    db.exec("INSERT INTO crm.list_members VALUES ('vip', 'stray@x.io', 'hand')");
    let run_id = db.i64("SELECT reverse_etl.sync_clear_and_fill('vip_list')");
    let summary = db.run_summary(run_id);
    assert_eq!(
        (summary.status.as_str(), summary.planned),
        ("succeeded", [3, 0, 0])
    );
    assert_eq!(
        members(&mut db),
        [
            "other|u1@x.io",
            "other|u5@x.io",
            "vip|u1@x.io",
            "vip|u2@x.io",
            "vip|u3@x.io"
        ]
    );
    assert_eq!(
        db.text(&format!(
            "SELECT trigger FROM reverse_etl.sync_runs WHERE id = {run_id}"
        ))
        .as_deref(),
        Some("clear_and_fill")
    );
    // Refused where there is no list to clear.
    db.exec("CREATE TABLE t (email text PRIMARY KEY)");
    db.exec(r#"SELECT reverse_etl.create_sync('objects', 'vips', 'local', '{"mode": "upsert", "object": "t", "match": {"from": "email", "to": "email"}}')"#);
    let before = db.catalog_counts();
    let (code, message) = db.error("SELECT reverse_etl.sync_clear_and_fill('objects')");
    assert_eq!(code, "0A000");
    assert!(
        message.starts_with("sync: clear and fill needs a list sync to a postgres destination"),
        "{message}"
    );
    assert_eq!(db.catalog_counts(), before);
}

/// Clearing runs in the transaction that reads the model (and diffs it):
/// when it fails, nothing of that transaction stays (the list, the
/// snapshot the full resync emptied), and the run still records how many
/// rows its model returned.
#[test]
fn a_clear_that_fails_changes_nothing_and_the_run_records_what_it_read() {
    let mut db = TestDb::new("clear_fails");
    db.exec(LISTS);
    db.run("vip_list");
    db.exec(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'not today'; END $$;
         CREATE TRIGGER refuse BEFORE DELETE ON crm.list_members FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    let (_, message) = db.error("SELECT reverse_etl.sync_clear_and_fill('vip_list')");
    assert!(message.contains("not today"), "{message}");
    let run_id = db.i64("SELECT max(id) FROM reverse_etl.sync_runs");
    let summary = db.run_summary(run_id);
    assert_eq!(
        (summary.status.as_str(), summary.queried, summary.planned),
        ("failed", 3, [0, 0, 0])
    );
    assert_eq!(members(&mut db).len(), 5);
    // The snapshot was not emptied: a normal run finds nothing to do.
    db.exec("DROP TRIGGER refuse ON crm.list_members");
    let next = db.run("vip_list");
    assert_eq!(
        (
            db.run_summary(next).status.as_str(),
            db.run_summary(next).planned
        ),
        ("succeeded", [0, 0, 0])
    );
}

#[test]
fn events_are_sent_once_and_never_updated() {
    let mut db = TestDb::new("events");
    db.exec("
        CREATE TABLE events (account int, seq int, kind text);
        INSERT INTO events VALUES (1, 1, 'signup'), (1, 2, 'purchase'), (2, 1, 'signup');
        CREATE TABLE events_out (event_key text PRIMARY KEY, kind text);
        SELECT reverse_etl.create_model('events', 'SELECT account || ''-'' || seq AS event_key, account, seq, kind FROM events', ARRAY['account', 'seq']);
        SELECT reverse_etl.create_destination('local', 'postgres');
        SELECT reverse_etl.create_sync('ev', 'events', 'local', '{\"type\": \"event\", \"mode\": \"insert\", \"object\": \"events_out\",
            \"match\": {\"from\": \"event_key\", \"to\": \"event_key\"}, \"mappings\": [{\"from\": \"kind\", \"to\": \"kind\"}]}');
    ");
    let first = db.run("ev");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    db.exec("UPDATE events SET kind = 'edited' WHERE seq = 1; INSERT INTO events VALUES (2, 2, 'purchase'), (2, 2, 'duplicate')");
    let second = db.run("ev");
    let summary = db.run_summary(second);
    assert_eq!(
        (summary.planned, summary.invalid),
        ([0, 0, 0], 2),
        "edits are not sent; a repeated key is invalid, not dropped"
    );
    db.exec("DELETE FROM events WHERE kind = 'duplicate'");
    let third = db.run("ev");
    assert_eq!(db.run_summary(third).succeeded, [1, 0, 0]);
    assert_eq!(
        db.rows("SELECT event_key, kind FROM events_out ORDER BY 1"),
        ["1-1|signup", "1-2|purchase", "2-1|signup", "2-2|purchase"]
    );
}

#[test]
fn bad_type_configurations_are_refused() {
    let mut db = TestDb::new("types_bad");
    db.exec(LISTS);
    db.exec("CREATE TABLE plain (email text PRIMARY KEY)");
    let cases = [
        (
            r#"{"type": "list", "mode": "add", "object": "crm.list_members", "match": {"from": "email", "to": "email"}}"#,
            "22023",
            "list: is required for list syncs",
        ),
        (
            r#"{"type": "list", "mode": "upsert", "object": "crm.list_members", "list": "vip", "match": {"from": "email", "to": "email"}}"#,
            "0A000",
            "mode: sync mode \"upsert\" is not supported for type \"list\"",
        ),
        (
            r#"{"type": "list", "mode": "add", "object": "plain", "list": "vip", "match": {"from": "email", "to": "email"}}"#,
            "42703",
            "list_field: table public.plain has no column \"list\"",
        ),
        (
            r#"{"type": "list", "mode": "add", "object": "crm.list_members", "list": "vip", "delete_behavior": "clear", "match": {"from": "email", "to": "email"}}"#,
            "22023",
            "delete_behavior: list syncs add and remove memberships",
        ),
        (
            r#"{"type": "event", "mode": "insert", "delete_behavior": "delete", "object": "plain", "match": {"from": "email", "to": "email"}}"#,
            "22023",
            "delete_behavior: event syncs are insert only",
        ),
        (
            r#"{"type": "event", "mode": "upsert", "object": "plain", "match": {"from": "email", "to": "email"}}"#,
            "0A000",
            "mode: sync mode \"upsert\" is not supported for type \"event\"",
        ),
        (
            r#"{"mode": "upsert", "object": "plain", "list": "vip", "match": {"from": "email", "to": "email"}}"#,
            "22023",
            "list: is only for list syncs",
        ),
    ];
    for (config, code, message) in cases {
        let before = db.catalog_counts();
        let (actual_code, actual) = db.error(&format!(
            "SELECT reverse_etl.create_sync('bad', 'vips', 'local', '{config}')"
        ));
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{config}: {actual}"
        );
        assert_eq!(db.catalog_counts(), before);
    }
    db.exec("CREATE TABLE no_unique (list text, email text)");
    let (code, message) = db.error(r#"SELECT reverse_etl.create_sync('bad', 'vips', 'local', '{"type": "list", "mode": "add", "object": "no_unique", "list": "vip", "match": {"from": "email", "to": "email"}}')"#);
    assert_eq!(code, "42P10");
    assert!(
        message.starts_with("match.to: public.no_unique has no unique index on (list, email)"),
        "{message}"
    );
}

#[test]
fn http_lists_and_events() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_types");
    db.exec(LISTS);
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('crm', 'http', '{{\"url\": \"{}\"}}')",
        crm.url()
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('h_list', 'vips', 'crm', '{"type": "list", "mode": "add", "list": "vip", "batch_size": 1,
        "match": {"from": "email", "to": "email"},
        "requests": {"added": {"method": "POST", "path": "/contacts", "body": "{\"email\": \"{{ row.email }}\", \"list\": \"{{ list }}\"}"},
                     "removed": {"method": "DELETE", "path": "/contacts/{{ row.email | url_encode }}"}}}')"#);
    let first = db.run("h_list");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    assert_eq!(crm.contacts()["u2@x.io"]["list"], "vip");
    db.exec("UPDATE users SET vip = (id IN (1, 2))");
    let second = db.run("h_list");
    assert_eq!(db.run_summary(second).succeeded, [0, 0, 1]);
    assert_eq!(
        crm.contacts().keys().cloned().collect::<Vec<_>>(),
        ["u1@x.io", "u2@x.io"]
    );

    db.exec(r#"SELECT reverse_etl.create_sync('h_events', 'churned', 'crm', '{"type": "event", "mode": "insert", "batch_size": 1,
        "requests": {"added": {"method": "POST", "path": "/contacts", "body": "{\"email\": \"{{ row.email }}\", \"event\": \"churned\"}"}}}')"#);
    db.exec("UPDATE users SET churned = (id = 6)");
    let events = db.run("h_events");
    assert_eq!(db.run_summary(events).succeeded, [1, 0, 0]);
    assert_eq!(crm.contacts()["u6@x.io"]["event"], "churned");
    let before = crm.requests().len();
    db.run("h_events");
    assert_eq!(crm.requests().len(), before, "an event is sent once");
}

#[test]
fn list_add_with_delete_behavior_nothing_keeps_members() {
    let mut db = TestDb::new("list_keep");
    db.exec(LISTS);
    db.exec(r#"SELECT reverse_etl.update_sync('vip_list', reverse_etl.sync_config('vip_list') || '{"delete_behavior": "nothing"}')"#);
    db.run("vip_list");
    db.exec("UPDATE users SET vip = (id IN (1, 4))");
    let run_id = db.run("vip_list");
    assert_eq!(db.run_summary(run_id).succeeded, [1, 0, 2]);
    assert_eq!(
        members(&mut db),
        [
            "other|u1@x.io",
            "other|u5@x.io",
            "vip|u1@x.io",
            "vip|u2@x.io",
            "vip|u3@x.io",
            "vip|u4@x.io"
        ]
    );
}

#[test]
fn http_list_remove_mode() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("http_list_remove");
    db.exec(LISTS);
    for i in 1..=3 {
        crm.insert_contact(
            &format!("u{i}@x.io"),
            serde_json::json!({"email": format!("u{i}@x.io")}),
        );
    }
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('crm', 'http', '{{\"url\": \"{}\"}}')",
        crm.url()
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('leave', 'churned', 'crm', '{"type": "list", "mode": "remove", "list": "vip", "batch_size": 1,
        "match": {"from": "email", "to": "email"},
        "requests": {"removed": {"method": "DELETE", "path": "/contacts/{{ row.email | url_encode }}"}}}')"#);
    db.exec("UPDATE users SET churned = (id = 2)");
    let first = db.run("leave");
    assert_eq!(db.run_summary(first).succeeded, [1, 0, 0]);
    assert_eq!(
        crm.contacts().keys().cloned().collect::<Vec<_>>(),
        ["u1@x.io", "u3@x.io"]
    );
    // Leaving the "remove" model does nothing.
    db.exec("UPDATE users SET churned = false");
    let second = db.run("leave");
    assert_eq!(db.run_summary(second).planned, [0, 0, 1]);
    assert_eq!(crm.contacts().len(), 2);
}
