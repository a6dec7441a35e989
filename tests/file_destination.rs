//! The file destination: snapshot and diff files, CSV and JSON lines,
//! written whole or not at all, only inside an allowed directory.

mod common;
use common::TestDb;
use std::path::PathBuf;

/// A fresh directory under the cluster's allowed root, writable by the server.
fn directory(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = PathBuf::from(format!(
        "/tmp/pg_reverse_etl_files/{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    path
}

fn setup(db: &mut TestDb, dir: &std::path::Path) {
    db.exec(&format!(
        "CREATE TABLE users (id int PRIMARY KEY, email text, note text);
         INSERT INTO users VALUES (1, 'a@x.io', 'plain'), (2, 'b@x.io', 'has, comma'), (3, 'c@x.io', E'say \"hi\"\\nbye');
         SELECT reverse_etl.create_model('users', 'SELECT id, email, note FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('exports', 'file', '{{\"directory\": \"{}\"}}');",
        dir.display()
    ));
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn snapshot_files_hold_the_whole_result_as_csv() {
    let dir = directory("snapshot");
    let mut db = TestDb::new("file_snapshot");
    setup(&mut db, &dir);
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'exports', '{"mode": "snapshot", "format": "csv", "file": "users-{{ run.id }}",
        "mappings": [{"from": "id", "to": "user_id"}, {"from": "email", "to": "email"}, {"from": "note", "to": "note"}]}')"#);
    let first = db.run("s");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    let content = std::fs::read_to_string(dir.join(format!("users-{first}.csv"))).unwrap();
    assert_eq!(content, "user_id,email,note\r\n1,a@x.io,plain\r\n2,b@x.io,\"has, comma\"\r\n3,c@x.io,\"say \"\"hi\"\"\nbye\"\r\n");
    db.exec("DELETE FROM users WHERE id = 3; INSERT INTO users VALUES (4, 'd@x.io', NULL)");
    let second = db.run("s");
    let summary = db.run_summary(second);
    assert_eq!(
        summary.succeeded,
        [3, 0, 1],
        "every current row is written (counted as added); the removed one only leaves the snapshot"
    );
    let content = std::fs::read_to_string(dir.join(format!("users-{second}.csv"))).unwrap();
    assert_eq!(
        content,
        "user_id,email,note\r\n1,a@x.io,plain\r\n2,b@x.io,\"has, comma\"\r\n4,d@x.io,\r\n"
    );
    assert_eq!(
        files(&dir),
        [format!("users-{first}.csv"), format!("users-{second}.csv")],
        "no temporary file is left"
    );
}

#[test]
fn diff_files_split_added_changed_and_removed_as_json_lines() {
    let dir = directory("diff");
    let mut db = TestDb::new("file_diff");
    setup(&mut db, &dir);
    db.exec(r#"SELECT reverse_etl.create_sync('d', 'users', 'exports', '{"mode": "diff", "format": "jsonl", "file": "{{ sync }}-{{ run.id }}",
        "match": {"from": "email", "to": "email"}, "mappings": [{"from": "note", "to": "note"}, {"static": "dwh", "to": "source"}]}')"#);
    let first = db.run("d");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    let added = std::fs::read_to_string(dir.join(format!("d-{first}-added.jsonl"))).unwrap();
    assert_eq!(
        added.lines().next().unwrap(),
        r#"{"email":"a@x.io","note":"plain","source":"dwh"}"#
    );
    assert_eq!(added.lines().count(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("d-{first}-removed.jsonl"))).unwrap(),
        ""
    );
    db.exec("UPDATE users SET note = 'new' WHERE id = 1; DELETE FROM users WHERE id = 2");
    let second = db.run("d");
    assert_eq!(db.run_summary(second).succeeded, [0, 1, 1]);
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("d-{second}-changed.jsonl"))).unwrap(),
        "{\"email\":\"a@x.io\",\"note\":\"new\",\"source\":\"dwh\"}\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("d-{second}-removed.jsonl"))).unwrap(),
        "{\"row_id\":\"2\",\"email\":\"b@x.io\"}\n"
    );
    assert_eq!(files(&dir).len(), 6);
    // A run with nothing to report still makes its three (empty) files.
    let third = db.run("d");
    assert_eq!(db.run_summary(third).planned, [0, 0, 0]);
    for kind in ["added", "changed", "removed"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("d-{third}-{kind}.jsonl"))).unwrap(),
            ""
        );
    }
}

#[test]
fn files_stay_inside_the_allowed_directory() {
    let dir = directory("bad");
    let mut db = TestDb::new("file_bad");
    setup(&mut db, &dir);
    let cases = [
        ("SELECT reverse_etl.create_destination('d2', 'file', '{\"directory\": \"/etc\"}')", "42501", "config.directory: \"/etc\" is not inside reverse_etl.file_allowed_directories"),
        ("SELECT reverse_etl.create_destination('d2', 'file', '{\"directory\": \"/tmp/pg_reverse_etl_files/no/such\"}')", "22023", "config.directory: \"/tmp/pg_reverse_etl_files/no/such\" cannot be used"),
        ("SELECT reverse_etl.create_destination('d2', 'file', '{\"directory\": \"/tmp/pg_reverse_etl_files/../../etc\"}')", "42501", "config.directory:"),
        ("SELECT reverse_etl.create_sync('x', 'users', 'exports', '{\"mode\": \"snapshot\", \"file\": \"../escape\"}')", "22023", "file: \"../escape\" is not a plain file name"),
        ("SELECT reverse_etl.create_sync('x', 'users', 'exports', '{\"mode\": \"snapshot\", \"format\": \"xml\"}')", "22023", "format: unknown format \"xml\""),
        ("SELECT reverse_etl.create_sync('x', 'users', 'exports', '{\"mode\": \"upsert\"}')", "0A000", "mode: sync mode \"upsert\" is not supported for type \"object\" on destination kind \"file\""),
    ];
    for (sql, code, message) in cases {
        let before = db.catalog_counts();
        let (actual_code, actual) = db.error(sql);
        assert_eq!(
            (actual_code.as_str(), actual.starts_with(message)),
            (code, true),
            "{sql}: {actual}"
        );
        assert_eq!(db.catalog_counts(), before);
    }
}

#[test]
fn event_files_hold_each_event_once() {
    let dir = directory("events");
    let mut db = TestDb::new("file_events");
    setup(&mut db, &dir);
    db.exec(r#"SELECT reverse_etl.create_sync('e', 'users', 'exports', '{"type": "event", "mode": "diff", "format": "jsonl", "file": "events-{{ run.id }}"}')"#);
    let first = db.run("e");
    assert_eq!(db.run_summary(first).succeeded, [3, 0, 0]);
    let added = std::fs::read_to_string(dir.join(format!("events-{first}-added.jsonl"))).unwrap();
    assert_eq!(
        added.lines().next().unwrap(),
        r#"{"id":1,"email":"a@x.io","note":"plain"}"#,
        "without mappings: every model column"
    );
    db.exec("INSERT INTO users VALUES (5, 'e@x.io', 'new')");
    let second = db.run("e");
    assert_eq!(db.run_summary(second).succeeded, [1, 0, 0]);
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("events-{second}-added.jsonl")))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn a_row_too_large_to_load_is_left_out_of_the_file_and_rejected() {
    let dir = directory("oversized");
    let mut db = TestDb::new("file_oversized");
    let name = db.name.clone();
    db.exec(&format!(
        "ALTER DATABASE {name} SET reverse_etl.max_row_bytes = '64kB'"
    ));
    setup(&mut db, &dir);
    db.exec("UPDATE users SET note = repeat('x', 100000) WHERE id = 2");
    db.exec(r#"SELECT reverse_etl.create_sync('s', 'users', 'exports', '{"mode": "snapshot", "format": "csv", "file": "users-{{ run.id }}",
        "mappings": [{"from": "id", "to": "user_id"}, {"from": "note", "to": "note"}]}')"#);
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.succeeded[0], summary.rejected[0]),
        (2, 1),
        "{summary:?}"
    );
    let content = std::fs::read_to_string(dir.join(format!("users-{run}.csv"))).unwrap();
    assert_eq!(
        content,
        "user_id,note\r\n1,plain\r\n3,\"say \"\"hi\"\"\nbye\"\r\n"
    );
    let reason = db
        .text(&format!(
            "SELECT reason FROM reverse_etl.sync_changelog WHERE run_id = {run} AND row_id = '2'"
        ))
        .unwrap_or_default();
    assert!(
        reason.contains("more than reverse_etl.max_row_bytes (65536 bytes)"),
        "{reason}"
    );
}
