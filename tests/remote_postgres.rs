//! The postgres destination with a `connection`: a table on another server
//! (a second local cluster with password authentication, port 28845).
//! Every mode and delete behavior, rejected rows and their retry, values
//! exactly as they left, test a row and the plan, bad input and the
//! security checks, and the server going down mid-run.

mod common;
#[path = "support/private_cluster.rs"]
mod private_cluster;
#[path = "support/remote_server.rs"]
mod remote_server;

use common::{RunSummary, TestDb};
use remote_server::{RemoteDb, SERVER};

fn setup(test: &str) -> (TestDb, RemoteDb) {
    let remote = RemoteDb::new(test);
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE src (id int, email text, plan text);
         INSERT INTO src SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 5) g;
         SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM src', ARRAY['id']);
         SELECT reverse_etl.set_secret('writer_pw', 'writer-pw');
         SELECT reverse_etl.create_destination('app', 'postgres', '{}');",
        remote.config()
    ));
    (db, remote)
}

fn sync(db: &mut TestDb, mode: &str, delete_behavior: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'app', '{{
            "mode": "{mode}", "object": "contacts",
            "match": {{"from": "email", "to": "email"}},
            "mappings": [{{"from": "plan", "to": "plan_name"}}, {{"static": "warehouse", "to": "source"}}],
            "delete_behavior": "{delete_behavior}", "batch_size": 2}}')"#
    ));
}

fn run(db: &mut TestDb) -> RunSummary {
    run_sync(db, "s")
}

fn run_sync(db: &mut TestDb, sync: &str) -> RunSummary {
    let id = db.run(sync);
    db.run_summary(id)
}

const CONTACTS: &str =
    "CREATE TABLE contacts (email text PRIMARY KEY, plan_name varchar(8), source text)";
const CHANGE: &str = "
    UPDATE src SET plan = 'pro' WHERE id = 2;
    DELETE FROM src WHERE id = 3;
    INSERT INTO src VALUES (6, 'u6@x.io', 'free');
";

#[test]
fn upsert_delete_and_clear_reach_the_other_server() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    for (behavior, third) in [("delete", None), ("clear", Some("u3@x.io|∅|∅"))] {
        let (mut db, mut remote) = setup(&format!("remote_upsert_{behavior}"));
        remote.exec(CONTACTS);
        sync(&mut db, "upsert", behavior);
        let first = run(&mut db);
        assert_eq!(
            (first.status.as_str(), first.succeeded),
            ("succeeded", [5, 0, 0]),
            "{first:?}"
        );
        db.exec(CHANGE);
        let second = run(&mut db);
        assert_eq!(
            (second.status.as_str(), second.succeeded),
            ("succeeded", [1, 1, 1]),
            "{second:?}"
        );
        let mut expected = vec![
            "u1@x.io|free|warehouse".to_string(),
            "u2@x.io|pro|warehouse".into(),
        ];
        expected.extend(third.map(String::from));
        expected.extend([
            "u4@x.io|free|warehouse".into(),
            "u5@x.io|free|warehouse".into(),
            "u6@x.io|free|warehouse".into(),
        ]);
        assert_eq!(
            remote.rows("SELECT email, plan_name, source FROM contacts ORDER BY email"),
            expected
        );
        // The stored config names the table as resolved on the remote.
        assert_eq!(
            db.text("SELECT reverse_etl.sync_config('s')->>'object'"),
            Some("public.contacts".into())
        );
    }
}

#[test]
fn bad_rows_are_rejected_alone_and_retried_update_reports_missing_records() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_rejects");
    remote.exec(CONTACTS);
    db.exec("UPDATE src SET plan = 'enterprise-plus' WHERE id = 4");
    sync(&mut db, "upsert", "delete");
    let first = run(&mut db);
    assert_eq!(
        (first.status.as_str(), first.succeeded, first.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{first:?}"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected'")
        .unwrap();
    assert!(
        reason.contains("value too long for type character varying(8)") && reason.contains("22001"),
        "{reason}"
    );
    let payload = db
        .text("SELECT payload::text FROM reverse_etl.sync_failures")
        .unwrap();
    assert!(payload.contains("enterprise-plus"), "{payload}");
    db.exec("UPDATE src SET plan = 'team' WHERE id = 4");
    let second = run(&mut db);
    assert_eq!(
        (second.status.as_str(), second.succeeded),
        ("succeeded", [1, 0, 0]),
        "the rejected row is tried again: {second:?}"
    );
    assert_eq!(remote.rows("SELECT count(*)::text FROM contacts"), ["5"]);

    // Update mode never creates records: a missing one is rejected by name.
    db.exec("SELECT reverse_etl.drop_sync('s')");
    remote.exec("DELETE FROM contacts WHERE email = 'u5@x.io'");
    db.exec("UPDATE src SET plan = 'pro'");
    sync(&mut db, "update", "nothing");
    let update = run(&mut db);
    assert_eq!(
        (update.status.as_str(), update.succeeded, update.rejected),
        ("warning", [4, 0, 0], [1, 0, 0]),
        "{update:?}"
    );
    let reason = db
        .text("SELECT reason FROM reverse_etl.sync_changelog WHERE status = 'rejected' AND run_id = (SELECT max(id) FROM reverse_etl.sync_runs)")
        .unwrap();
    assert!(
        reason.starts_with("no record in public.contacts where email = 'u5@x.io'"),
        "{reason}"
    );
}

#[test]
fn insert_is_never_doubled_events_lists_and_mirror_mode() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_insert");
    remote.exec(CONTACTS);
    sync(&mut db, "insert", "nothing");
    assert_eq!(run(&mut db).succeeded, [5, 0, 0]);
    // Everything sent again (as after a crash between the remote's commit
    // and the local record): the unique index keeps one record each.
    let again = db.i64("SELECT reverse_etl.sync_run('s', full_resync => true)");
    assert_eq!(db.run_summary(again).succeeded, [5, 0, 0]);
    assert_eq!(remote.rows("SELECT count(*)::text FROM contacts"), ["5"]);

    // Events: each row once, never updated, also when the model changes.
    remote.exec("CREATE TABLE signups (email text PRIMARY KEY, plan_name text)");
    db.exec(
        r#"SELECT reverse_etl.create_sync('events', 'users', 'app', '{"type": "event", "mode": "insert",
            "object": "signups", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}]}')"#,
    );
    assert_eq!(run_sync(&mut db, "events").succeeded, [5, 0, 0]);
    db.exec("UPDATE src SET plan = 'pro' WHERE id = 1");
    assert_eq!(run_sync(&mut db, "events").planned, [0, 0, 0]);
    assert_eq!(
        remote.rows("SELECT email || ':' || plan_name FROM signups WHERE email = 'u1@x.io'"),
        ["u1@x.io:free"]
    );
    db.exec("UPDATE src SET plan = 'free' WHERE id = 1");

    // Lists: membership follows the model.
    remote.exec(
        "CREATE TABLE members (list text, email text, plan_name text, PRIMARY KEY (list, email))",
    );
    db.exec(
        r#"SELECT reverse_etl.create_sync('vip', 'users', 'app', '{"type": "list", "mode": "add",
            "object": "members", "list": "vip", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}], "delete_behavior": "delete"}')"#,
    );
    assert_eq!(run_sync(&mut db, "vip").succeeded, [5, 0, 0]);
    db.exec("DELETE FROM src WHERE id = 1");
    assert_eq!(run_sync(&mut db, "vip").succeeded, [0, 0, 1]);
    assert_eq!(
        remote.rows("SELECT list || ':' || email FROM members ORDER BY email"),
        ["vip:u2@x.io", "vip:u3@x.io", "vip:u4@x.io", "vip:u5@x.io"]
    );
    let cleared = db.i64("SELECT reverse_etl.sync_clear_and_fill('vip')");
    assert_eq!(db.run_summary(cleared).status, "succeeded");
    assert_eq!(remote.rows("SELECT count(*)::text FROM members"), ["4"]);

    // Mirror: the table ends equal to the model, records the model never
    // had included.
    remote.exec("CREATE TABLE mirror (email text PRIMARY KEY, plan_name text); INSERT INTO mirror VALUES ('stranger@x.io', 'x'), ('u2@x.io', 'old');");
    db.exec(
        r#"SELECT reverse_etl.create_sync('m', 'users', 'app', '{"mode": "all", "object": "mirror",
            "match": {"from": "email", "to": "email"}, "mappings": [{"from": "plan", "to": "plan_name"}],
            "delete_behavior": "delete", "allow_empty_model": true, "max_removed_share": 1}')"#,
    );
    let mirrored = run_sync(&mut db, "m");
    assert_eq!(mirrored.status, "succeeded", "{mirrored:?}");
    assert_eq!(
        remote.rows("SELECT email || ':' || plan_name FROM mirror ORDER BY email"),
        [
            "u2@x.io:free",
            "u3@x.io:free",
            "u4@x.io:free",
            "u5@x.io:free"
        ]
    );
}

#[test]
fn values_arrive_exactly() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_values");
    let columns = "n numeric(38,18), big int8, f float8, t text, e text, ts timestamptz, d date, i interval, j jsonb, a text[], b bytea, u uuid";
    db.exec(&format!(
        "CREATE TABLE v (id int PRIMARY KEY, {columns});
         INSERT INTO v VALUES (1, 12345678901234567890.123456789012345678, 9223372036854775807, 0.1,
            E'tab\\there \\\\ back\\nline \"q\" ''s'' ✓', '', '2026-03-29 01:30:00+01', '2024-02-29', '1 day 02:03:04.5',
            '{{\"a\": [1, 2.50, {{\"b\": null}}]}}', ARRAY['x', NULL, 'y z'], '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
            (2, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         SELECT reverse_etl.create_model('values', 'SELECT * FROM v', ARRAY['id']);"
    ));
    remote.exec(&format!("CREATE TABLE v (id int PRIMARY KEY, {columns})"));
    let mappings: Vec<String> = [
        "n", "big", "f", "t", "e", "ts", "d", "i", "j", "a", "b", "u",
    ]
    .iter()
    .map(|c| format!(r#"{{"from": "{c}", "to": "{c}"}}"#))
    .collect();
    db.exec(&format!(
        r#"SELECT reverse_etl.create_sync('s', 'values', 'app', '{{"mode": "upsert", "object": "v",
            "match": {{"from": "id", "to": "id"}}, "mappings": [{}]}}')"#,
        mappings.join(", ")
    ));
    assert_eq!(run(&mut db).status, "succeeded");
    let select = "SELECT id::text, n::text, big::text, f::text, t, e, ts::text, d::text, i::text, j::text, a::text, encode(b, 'hex'), u::text FROM v ORDER BY id";
    db.exec("SET TimeZone = 'UTC'");
    remote.exec("SET TimeZone = 'UTC'");
    let local: Vec<String> = db.rows(select);
    assert_eq!(remote.rows(select), local);
}

#[test]
fn test_a_row_and_the_plan_go_to_the_other_server() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_test_row");
    remote.exec(CONTACTS);
    sync(&mut db, "upsert", "delete");
    let plan = db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap();
    assert!(plan.contains("\"added\": 5"), "{plan}");
    assert_eq!(remote.rows("SELECT count(*)::text FROM contacts"), ["0"]);
    let dry = db
        .text("SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)::text")
        .unwrap();
    assert!(dry.contains("INSERT INTO public.contacts"), "{dry}");
    assert_eq!(remote.rows("SELECT count(*)::text FROM contacts"), ["0"]);
    let sent = db
        .text("SELECT reverse_etl.sync_test_row('s', '2')::text")
        .unwrap();
    assert!(sent.contains("\"ok\": true"), "{sent}");
    assert_eq!(
        remote.rows("SELECT email, plan_name FROM contacts"),
        ["u2@x.io|free"]
    );
}

#[test]
fn bad_connections_are_named_and_change_nothing() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_bad");
    remote.exec(CONTACTS);
    let before = db.catalog_counts();
    let port = remote_server::PORT;
    let dbname = remote.name.clone();
    for (config, code, starts) in [
        (r#"{"connection": {"host": "127.0.0.1", "dbname": "x"}}"#.to_string(), "22023", "config.connection.user: "),
        (r#"{"connection": {"host": "127.0.0.1", "dbname": "x", "user": "u", "password": "pw"}}"#.into(), "22023", "config.connection.password: must be"),
        (r#"{"connection": {"host": "db.example.com", "dbname": "x", "user": "u", "password": {"secret": "writer_pw"}}}"#.into(), "42501", "config.connection.host: host \"db.example.com:5432\" is not in reverse_etl.postgres_allowed_hosts"),
        (r#"{"connection": {"host": "127.0.0.1", "dbname": "x", "user": "u", "password": {"secret": "nope"}}}"#.into(), "42704", "config.connection.password"),
        (r#"{"connection": {"host": "127.0.0.1", "dbname": "x", "user": "u", "sslmode": "allow"}}"#.into(), "22023", "config.connection.sslmode: unknown sslmode"),
    ] {
        let (got, message) = db.error(&format!(
            "SELECT reverse_etl.create_destination('bad', 'postgres', '{config}')"
        ));
        assert_eq!(got, code, "{config}: {message}");
        assert!(message.starts_with(starts), "{config}: {message}");
    }
    // Checked over the connection when the sync is created.
    let wrong_password = format!(
        r#"{{"connection": {{"host": "127.0.0.1", "port": {port}, "dbname": "{dbname}", "user": "writer", "password": {{"secret": "wrong"}}, "sslmode": "disable"}}}}"#
    );
    db.exec(&format!(
        "SELECT reverse_etl.set_secret('wrong', 'not-it'); SELECT reverse_etl.create_destination('wrong', 'postgres', '{wrong_password}')"
    ));
    let (code, message) = db.error(
        r#"SELECT reverse_etl.create_sync('w', 'users', 'wrong', '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"}}')"#,
    );
    assert_eq!(code, "28P01", "{message}");
    assert!(!message.contains("not-it"), "{message}");
    let (code, message) = db.error(
        r#"SELECT reverse_etl.create_sync('w', 'users', 'app', '{"mode": "upsert", "object": "nothing_here", "match": {"from": "email", "to": "email"}}')"#,
    );
    assert_eq!(code, "42P01", "{message}");
    assert!(
        message.starts_with("object: table \"nothing_here\" does not exist"),
        "{message}"
    );
    let (code, message) = db.error(
        r#"SELECT reverse_etl.create_sync('w', 'users', 'app', '{"mode": "upsert", "object": "contacts", "match": {"from": "plan", "to": "plan_name"}}')"#,
    );
    assert_eq!(code, "42P10", "{message}");
    assert!(
        message
            .starts_with("match.to: column \"plan_name\" of public.contacts has no unique index"),
        "{message}"
    );
    db.exec(
        "SELECT reverse_etl.drop_destination('wrong'); SELECT reverse_etl.delete_secret('wrong')",
    );
    assert_eq!(
        db.catalog_counts(),
        before,
        "a refused call changed something"
    );
}

#[test]
fn an_ordinary_role_must_log_in_with_a_password() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_role");
    remote.exec(CONTACTS);
    db.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'remote_alice') THEN CREATE ROLE remote_alice LOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA reverse_etl TO remote_alice;
         GRANT SELECT ON src TO remote_alice;",
    );
    let mut alice = db.connect_as("remote_alice");
    let port = remote_server::PORT;
    let dbname = remote.name.clone();
    // Without a password: refused.
    let no_password = format!(
        r#"{{"connection": {{"host": "127.0.0.1", "port": {port}, "dbname": "{dbname}", "user": "postgres", "sslmode": "disable"}}}}"#
    );
    let error = alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_destination('mine', 'postgres', '{no_password}')"
        ))
        .unwrap_err();
    let db_error = error.as_db_error().unwrap();
    assert_eq!(db_error.code().code(), "22023");
    assert!(db_error
        .message()
        .starts_with("config.connection.password: is required"));
    // With a password, to a role the server lets in without asking (trust
    // for postgres here): refused, or a user could act as the superuser.
    let trusted = format!(
        r#"{{"connection": {{"host": "127.0.0.1", "port": {port}, "dbname": "{dbname}", "user": "postgres", "password": {{"secret": "any"}}, "sslmode": "disable"}}}}"#
    );
    alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
             SELECT reverse_etl.set_secret('any', 'whatever');
             SELECT reverse_etl.create_destination('trusted', 'postgres', '{trusted}')"
        ))
        .unwrap();
    let error = alice
        .batch_execute(
            r#"SELECT reverse_etl.create_sync('x', 'm', 'trusted', '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"}}')"#,
        )
        .unwrap_err();
    let db_error = error.as_db_error().unwrap();
    assert_eq!(db_error.code().code(), "42501", "{}", db_error.message());
    assert!(
        db_error
            .message()
            .contains("accepted the connection without a password"),
        "{}",
        db_error.message()
    );
    // Another role's secret is not theirs to use.
    let error = alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_destination('theirs', 'postgres', '{}')",
            remote.config()
        ))
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "42704");
    // Their own password: works, as an ordinary role.
    alice
        .batch_execute(&format!(
            "SELECT reverse_etl.set_secret('writer_pw', 'writer-pw');
             SELECT reverse_etl.create_destination('theirs', 'postgres', '{}');
             SELECT reverse_etl.create_sync('y', 'm', 'theirs', '{{\"mode\": \"upsert\", \"object\": \"contacts\", \"match\": {{\"from\": \"email\", \"to\": \"email\"}}}}');",
            remote.config()
        ))
        .unwrap();
    alice
        .batch_execute("SELECT reverse_etl.sync_run('y')")
        .unwrap();
    assert_eq!(remote.rows("SELECT count(*)::text FROM contacts"), ["5"]);
    drop(alice);
    db.exec("SELECT reverse_etl.drop_sync('y'); SELECT reverse_etl.drop_sync('x') WHERE false;");
}

#[test]
fn the_server_going_down_mid_run_ends_it_incomplete_and_the_next_run_completes() {
    let _server = SERVER.write().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_down");
    remote.exec(&format!(
        "{CONTACTS};
         CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
         CREATE TRIGGER slow AFTER INSERT ON contacts FOR EACH STATEMENT EXECUTE FUNCTION slow();"
    ));
    db.exec("INSERT INTO src SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(6, 300) g");
    db.exec(
        r#"SELECT reverse_etl.create_sync('s', 'users', 'app', '{"mode": "insert", "object": "contacts",
            "match": {"from": "email", "to": "email"}, "batch_size": 10}')"#,
    );
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "some windows delivered",
        &format!("SELECT succeeded_added >= 30 FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        std::time::Duration::from_secs(60),
    );
    drop(remote);
    remote_server::cluster("stop");
    let status = db.text(&format!(
        "SELECT reverse_etl.wait_for_run({run_id}, '60 seconds')"
    ));
    let first = db.run_summary(run_id);
    assert_eq!(status.as_deref(), Some("incomplete"), "{first:?}");
    assert!(
        first.succeeded[0] >= 30 && first.aborted[0] > 0,
        "{first:?}"
    );
    assert!(
        first.error.contains("127.0.0.1:28845"),
        "the error names the server: {}",
        first.error
    );
    remote_server::cluster("start");
    let next = run(&mut db);
    assert_eq!(next.status, "succeeded", "{next:?}");
    assert_eq!(
        next.planned[0] + first.succeeded[0],
        300,
        "only what was not recorded as delivered is sent again"
    );
    let mut remote = remote_server::connect(&format!("r_remote_down_{}", std::process::id()));
    let count: i64 = remote
        .query_one("SELECT count(*) FROM contacts", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 300, "nothing lost, nothing doubled");
}

#[test]
fn tls_verifies_the_server_against_the_root_certificate() {
    let _server = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let (mut db, mut remote) = setup("remote_tls");
    // What each delivery's connection was: TLS or not.
    remote.exec(&format!(
        "{CONTACTS};
         CREATE TABLE tls_seen (ssl bool);
         GRANT INSERT ON tls_seen TO writer;
         CREATE FUNCTION note_tls() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO tls_seen SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid(); RETURN NULL; END $$;
         CREATE TRIGGER note_tls AFTER INSERT ON contacts FOR EACH STATEMENT EXECUTE FUNCTION note_tls();"
    ));
    let port = remote_server::PORT;
    let dbname = remote.name.clone();
    let config = |sslmode: &str, root: Option<&str>| {
        let root = root
            .map(|pem| {
                format!(
                    r#", "root_certificate": {}"#,
                    serde_json::to_string(pem).unwrap()
                )
            })
            .unwrap_or_default();
        format!(
            r#"{{"connection": {{"host": "127.0.0.1", "port": {port}, "dbname": "{dbname}", "user": "writer",
                "password": {{"secret": "writer_pw"}}, "sslmode": "{sslmode}"{root}}}}}"#
        )
    };
    let pem = remote_server::certificate_pem();
    assert!(pem.contains("BEGIN CERTIFICATE"));
    // The server's own certificate as the root: verified, delivered.
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('tls', 'postgres', '{}')",
        config("verify-full", Some(&pem))
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'tls', '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"}}')"#);
    assert_eq!(run(&mut db).succeeded, [5, 0, 0]);
    assert_eq!(
        remote.rows("SELECT bool_and(ssl)::text FROM tls_seen"),
        ["true"],
        "delivered over TLS"
    );
    // The public roots do not know this server: refused, nothing sent.
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('untrusted', 'postgres', '{}')",
        config("verify-full", None)
    ));
    let (code, message) = db.error(
        r#"SELECT reverse_etl.create_sync('u', 'users', 'untrusted', '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"}}')"#,
    );
    assert_eq!(code, "08006", "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    // require: encrypted without checking the certificate.
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('encrypted', 'postgres', '{}')",
        config("require", None)
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('r', 'users', 'encrypted', '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"}}')"#);
    assert_eq!(run_sync(&mut db, "r").status, "succeeded");
}
