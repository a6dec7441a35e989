//! The file destination writing to object storage (S3 API), against moto
//! on loopback: snapshot and diff files under a prefix, large files in
//! several parts, objects that appear only complete, the storage down
//! (incomplete, then resumed with nothing lost), test a row and the plan,
//! and bad configurations named.

mod common;
#[path = "support/s3_server.rs"]
mod s3_server;

use common::TestDb;
use s3_server::{CuttingProxy, S3Server};

fn destination(db: &mut TestDb, name: &str, s3: &S3Server, bucket: &str, extra: &str) {
    db.exec(&format!(
        r#"SELECT reverse_etl.create_destination('{name}', 'file', '{{"s3": {{"bucket": "{bucket}", "prefix": "exports/crm/",
            "endpoint": "{}", "path_style": true, "region": "eu-west-1",
            "access_key_id": "AKIATEST", "secret_access_key": {{"secret": "aws"}}{extra}}}}}')"#,
        s3.url("")
    ));
}

fn setup(test: &str, s3: &S3Server) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text, note text);
         INSERT INTO users VALUES (1, 'a@x.io', 'plain'), (2, 'b@x.io', 'has, comma'), (3, 'c@x.io', E'say \"hi\"\\nbye');
         SELECT reverse_etl.create_model('users', 'SELECT id, email, note FROM users', ARRAY['id']);
         SELECT reverse_etl.set_secret('aws', 'wJalrXUtnFEMI/K7MDENG');",
    );
    s3.create_bucket("lake");
    destination(&mut db, "lake", s3, "lake", "");
    db
}

#[test]
fn snapshot_and_diff_files_land_in_the_bucket_whole() {
    let s3 = S3Server::start();
    let mut db = setup("s3_files", &s3);
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'lake', '{"mode": "snapshot", "format": "csv", "file": "users-{{ run.id }}",
        "mappings": [{"from": "id", "to": "user_id"}, {"from": "email", "to": "email"}, {"from": "note", "to": "note"}]}')"#);
    let first = db.run("s");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    assert_eq!(
        s3.object("lake", &format!("exports/crm/users-{first}.csv")).as_deref(),
        Some("user_id,email,note\r\n1,a@x.io,plain\r\n2,b@x.io,\"has, comma\"\r\n3,c@x.io,\"say \"\"hi\"\"\nbye\"\r\n")
    );
    db.exec(r#"SELECT reverse_etl.create_sync('d', 'users', 'lake', '{"mode": "diff", "format": "jsonl", "file": "{{ sync }}-{{ run.id }}",
        "match": {"from": "email", "to": "email"}, "mappings": [{"from": "note", "to": "note"}]}')"#);
    let d1 = db.run("d");
    assert_eq!(db.run_summary(d1).succeeded, [3, 0, 0]);
    db.exec("UPDATE users SET note = 'new' WHERE id = 1; DELETE FROM users WHERE id = 2");
    let d2 = db.run("d");
    assert_eq!(db.run_summary(d2).succeeded, [0, 1, 1]);
    assert_eq!(
        s3.object("lake", &format!("exports/crm/d-{d2}-changed.jsonl"))
            .as_deref(),
        Some("{\"email\":\"a@x.io\",\"note\":\"new\"}\n")
    );
    assert_eq!(
        s3.object("lake", &format!("exports/crm/d-{d2}-removed.jsonl"))
            .as_deref(),
        Some("{\"row_id\":\"2\",\"email\":\"b@x.io\"}\n")
    );
    assert_eq!(
        s3.object("lake", &format!("exports/crm/d-{d2}-added.jsonl"))
            .as_deref(),
        Some(""),
        "every run makes its files, even empty"
    );
    let mut keys = s3.keys("lake");
    keys.sort();
    assert_eq!(keys.len(), 1 + 3 + 3, "{keys:?}");
    assert_eq!(s3.open_uploads("lake"), 0, "no upload is left open");
    // Another sync may not overwrite this one's objects.
    db.exec(r#"SELECT reverse_etl.create_sync('other', 'users', 'lake', '{"mode": "snapshot", "file": "users-1"}')"#);
    let other = db.run("other");
    let summary = db.run_summary(other);
    assert_eq!(summary.status, "failed", "{summary:?}");
    assert!(
        summary.error.contains("was written by sync"),
        "{}",
        summary.error
    );
}

#[test]
fn large_files_go_in_parts_and_appear_only_whole() {
    let s3 = S3Server::start();
    let mut db = setup("s3_parts", &s3);
    destination(&mut db, "parts", &s3, "lake", r#", "part_size_mb": 5"#);
    db.exec(
        "CREATE TABLE wide (id int PRIMARY KEY, payload text);
         INSERT INTO wide SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 60000) g;
         SELECT reverse_etl.create_model('wide', 'SELECT id, payload FROM wide', ARRAY['id']);",
    );
    db.exec(r#"SELECT reverse_etl.create_sync('w', 'wide', 'parts', '{"mode": "snapshot", "format": "csv", "file": "wide"}')"#);
    let run = db.run("w");
    assert_eq!(db.run_summary(run).succeeded, [60000, 0, 0]);
    let content = s3.object("lake", "exports/crm/wide.csv").unwrap();
    assert!(content.len() > 5 * 1024 * 1024, "{}", content.len());
    assert_eq!(content.lines().count(), 60001);
    let etag = s3.etag("lake", "exports/crm/wide.csv");
    assert!(etag.trim_matches('"').ends_with("-2"), "two parts: {etag}");
    assert_eq!(s3.open_uploads("lake"), 0);
}

#[test]
fn storage_that_is_down_ends_the_run_incomplete_and_nothing_is_lost() {
    let s3 = S3Server::start();
    let mut db = setup("s3_down", &s3);
    // A port where nothing answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    db.exec(&format!(
        r#"SELECT reverse_etl.create_destination('gone', 'file', '{{"s3": {{"bucket": "lake", "endpoint": "http://127.0.0.1:{closed}",
            "path_style": true, "access_key_id": "AKIATEST", "secret_access_key": {{"secret": "aws"}}}}}}')"#
    ));
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'gone', '{"mode": "diff", "format": "csv", "file": "u-{{ run.id }}", "match": {"from": "email", "to": "email"}}')"#);
    let down = db.run("s");
    let summary = db.run_summary(down);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(summary.error.contains("s3://lake/"), "{}", summary.error);
    // Back: the same sync pointed at the storage that answers.
    db.exec(&format!(
        r#"SELECT reverse_etl.update_destination('gone', '{{"s3": {{"bucket": "lake", "endpoint": "{}",
            "path_style": true, "access_key_id": "AKIATEST", "secret_access_key": {{"secret": "aws"}}}}}}')"#,
        s3.url("")
    ));
    let next = db.run("s");
    assert_eq!(db.run_summary(next).succeeded, [3, 0, 0], "every row, once");
    assert_eq!(
        s3.object("lake", &format!("u-{next}-added.csv"))
            .map(|c| c.lines().count()),
        Some(4)
    );
}

#[test]
fn test_a_row_and_the_plan_write_nothing() {
    let s3 = S3Server::start();
    let mut db = setup("s3_preview", &s3);
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'lake', '{"mode": "snapshot", "file": "users"}')"#);
    let plan = db.text("SELECT reverse_etl.sync_plan('s')::text").unwrap();
    assert!(plan.contains("\"added\": 3"), "{plan}");
    let row = db
        .text("SELECT reverse_etl.sync_test_row('s', '1')::text")
        .unwrap();
    assert!(row.contains("users.csv"), "{row}");
    assert!(s3.keys("lake").is_empty(), "nothing written");
}

#[test]
fn bad_storage_settings_are_named_and_change_nothing() {
    let s3 = S3Server::start();
    let mut db = setup("s3_bad", &s3);
    let before = db.catalog_counts();
    for (config, code, starts) in [
        (r#"{"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": "plain"}}"#, "22023", "config.s3.secret_access_key: must be"),
        (r#"{"s3": {"bucket": "bkt", "access_key_id": "a", "secret_access_key": {"secret": "aws"}}}"#, "42501", "config.s3.endpoint: host \"s3.us-east-1.amazonaws.com:443\" is not in reverse_etl.http_allowed_hosts"),
        (r#"{"s3": {"bucket": "bkt", "endpoint": "http://127.0.0.1:9", "access_key_id": "a", "secret_access_key": {"secret": "nope"}}}"#, "42704", "config.s3.secret_access_key"),
        (r#"{"s3": {"bucket": "bkt", "endpoint": "http://127.0.0.1:9", "access_key_id": "a", "secret_access_key": {"secret": "aws"}, "part_size_mb": 2}}"#, "22023", "config.s3.part_size_mb: "),
        (r#"{"s3": {"bucket": "bkt", "endpoint": "http://127.0.0.1:9", "access_key_id": "a", "secret_access_key": {"secret": "aws"}, "bucket_name": "x"}}"#, "22023", "config.s3.bucket_name: unknown key"),
        (r#"{"s3": {"bucket": "bkt", "endpoint": "http://127.0.0.1:9", "access_key_id": "a", "secret_access_key": {"secret": "aws"}}, "directory": "/tmp"}"#, "22023", "config.directory: unknown key"),
    ] {
        let (got, message) = db.error(&format!(
            "SELECT reverse_etl.create_destination('bad', 'file', '{config}')"
        ));
        assert_eq!(got, code, "{config}: {message}");
        assert!(message.starts_with(starts), "{config}: {message}");
        assert!(!message.contains("wJalrXUtnFEMI"), "{message}");
    }
    assert_eq!(
        db.catalog_counts(),
        before,
        "a refused call changed something"
    );
}

#[test]
fn storage_going_away_mid_upload_ends_the_run_incomplete_and_the_next_run_writes_every_row() {
    let s3 = S3Server::start();
    let mut db = setup("s3_cut", &s3);
    // The line is cut 1 MB into the first 5 MB part.
    let proxy = CuttingProxy::start(s3.port, 1024 * 1024);
    db.exec(&format!(
        r#"SELECT reverse_etl.create_destination('flaky', 'file', '{{"s3": {{"bucket": "lake", "endpoint": "{}",
            "path_style": true, "access_key_id": "AKIATEST", "secret_access_key": {{"secret": "aws"}}, "part_size_mb": 5}}}}')"#,
        proxy.url()
    ));
    db.exec(
        "CREATE TABLE wide (id int PRIMARY KEY, payload text);
         INSERT INTO wide SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 60000) g;
         SELECT reverse_etl.create_model('wide', 'SELECT id, payload FROM wide', ARRAY['id']);",
    );
    db.exec(r#"SELECT reverse_etl.create_sync('w', 'wide', 'flaky', '{"mode": "diff", "format": "jsonl", "file": "wide-{{ run.id }}", "match": {"from": "id", "to": "id"},
        "mappings": [{"from": "payload", "to": "payload"}]}')"#);
    let cut = db.run("w");
    let first = db.run_summary(cut);
    assert_eq!(
        first.status,
        "incomplete",
        "{first:?} ({} bytes went up)",
        proxy.bytes_up()
    );
    assert_eq!(first.succeeded, [0, 0, 0]);
    assert_eq!(first.aborted, [60000, 0, 0], "nothing counts as delivered");
    assert!(
        s3.keys("lake").is_empty(),
        "no object appears from a cut upload: {:?}",
        s3.keys("lake")
    );
    proxy.restore();
    let next = db.run("w");
    assert_eq!(
        db.run_summary(next).succeeded,
        [60000, 0, 0],
        "every row, once"
    );
    let added = s3
        .object("lake", &format!("wide-{next}-added.jsonl"))
        .unwrap();
    assert_eq!(added.lines().count(), 60000);
    let mut ids: Vec<i64> = added
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60000, "nothing lost, nothing twice");
}

#[test]
fn an_ordinary_role_writes_with_its_own_keys_only() {
    let s3 = S3Server::start();
    let mut db = setup("s3_role", &s3);
    db.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 's3_alice') THEN CREATE ROLE s3_alice LOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA reverse_etl TO s3_alice;
         GRANT SELECT ON users TO s3_alice;",
    );
    let mut alice = db.connect_as("s3_alice");
    let config = |secret: &str| {
        format!(
            r#"{{"s3": {{"bucket": "lake", "prefix": "alice/", "endpoint": "{}", "path_style": true,
                "access_key_id": "AKIATEST", "secret_access_key": {{"secret": "{secret}"}}}}}}"#,
            s3.url("")
        )
    };
    // The owner's secret "aws" is not hers.
    let error = alice
        .batch_execute(&format!(
            "SELECT reverse_etl.create_destination('mine', 'file', '{}')",
            config("aws")
        ))
        .unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "42704");
    alice
        .batch_execute(&format!(
            "SELECT reverse_etl.set_secret('alice_aws', 'alice-secret-key');
             SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('mine', 'file', '{}');
             SELECT reverse_etl.create_sync('s_alice', 'm', 'mine', '{{\"mode\": \"snapshot\", \"file\": \"users\"}}');",
            config("alice_aws")
        ))
        .unwrap();
    alice
        .batch_execute("SELECT reverse_etl.sync_run('s_alice')")
        .unwrap();
    assert_eq!(
        s3.object("lake", "alice/users.csv")
            .map(|c| c.lines().count()),
        Some(4)
    );
}
