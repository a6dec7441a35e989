//! Bad input gets a clear error (SQLSTATE and a message naming the field)
//! and changes nothing in the catalog.

mod common;
use common::TestDb;

const SETUP: &str = "
    CREATE TABLE src (id int, email text, plan text, doc json);
    CREATE TABLE target (email text PRIMARY KEY, plan_name text, n int, d date);
    CREATE TABLE not_unique (email text, plan_name text);
    SELECT reverse_etl.create_model('users', 'SELECT id, email, plan, doc FROM src', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('taken', 'users', 'local',
        '{\"mode\": \"upsert\", \"object\": \"target\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
";

fn sync_sql(config: &str) -> String {
    format!(
        "SELECT reverse_etl.create_sync('s2', 'users', 'local', '{}')",
        config.replace('\'', "''")
    )
}

/// Each case: the statement, the SQLSTATE, and the start of the message.
fn assert_rejected(db: &mut TestDb, sql: &str, code: &str, message: &str) {
    let before = db.catalog_counts();
    let (actual_code, actual_message) = db.error(sql);
    assert_eq!(actual_code, code, "{sql}: {actual_message}");
    assert!(
        actual_message.starts_with(message),
        "{sql}:\n expected: {message}\n actual:   {actual_message}"
    );
    assert_eq!(db.catalog_counts(), before, "{sql} changed the catalog");
}

#[test]
fn bad_models() {
    let mut db = TestDb::new("bad_models");
    db.exec(SETUP);
    let cases = [
        ("SELECT reverse_etl.create_model('m', 'SELEC id FROM src', ARRAY['id'])", "42601", "query: syntax error at or near"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id FROM missing_table', ARRAY['id'])", "42P01", "query: relation \"missing_table\" does not exist"),
        ("SELECT reverse_etl.create_model('m', 'SELECT 1/0 AS id', ARRAY['id'])", "22012", "query: division by zero"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id FROM src; DROP TABLE src', ARRAY['id'])", "42601", "query: a model is one query; this text holds 2 statements"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id FROM src', ARRAY['id', NULL])", "22023", "primary_key[1]: must not be null"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['idd'])", "42703", "primary_key[0]: column \"idd\" is not in the model's result"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY[]::text[])", "22023", "primary_key: needs at least one column"),
        ("SELECT reverse_etl.create_model('m', 'SELECT id, id FROM src', ARRAY['id'])", "42701", "query: the model returns two columns named \"id\""),
        ("SELECT reverse_etl.create_model('m', '  ', ARRAY['id'])", "22023", "query: the model query is empty"),
        ("SELECT reverse_etl.create_model('users', 'SELECT id FROM src', ARRAY['id'])", "42710", "name: a model named \"users\" already exists"),
    ];
    for (sql, code, message) in cases {
        assert_rejected(&mut db, sql, code, message);
    }
    // A semicolon at the end is fine.
    db.exec("SELECT reverse_etl.create_model('ok', 'SELECT id FROM src;', ARRAY['id'])");
}

#[test]
fn bad_destinations() {
    let mut db = TestDb::new("bad_destinations");
    db.exec(SETUP);
    assert_rejected(
        &mut db,
        "SELECT reverse_etl.create_destination('d', 'ftp', '{}')",
        "22023",
        "kind: unknown destination kind \"ftp\"",
    );
    assert_rejected(
        &mut db,
        "SELECT reverse_etl.create_destination('d', 'postgres', '{\"host\": \"x\"}')",
        "22023",
        "config.host: unknown key",
    );
    assert_rejected(
        &mut db,
        "SELECT reverse_etl.create_destination('local', 'postgres')",
        "42710",
        "name: a destination named \"local\" already exists",
    );
}

#[test]
fn bad_sync_configs() {
    let mut db = TestDb::new("bad_syncs");
    db.exec(SETUP);
    let base = r#""object": "target", "match": {"from": "email", "to": "email"}"#;
    let cases: Vec<(String, &str, &str)> = vec![
        (format!(r#"{{"mode": "upsrt", {base}}}"#), "22023", "mode: unknown sync mode \"upsrt\""),
        (format!(r#"{{"mode": "upsert", "type": "objekt", {base}}}"#), "22023", "type: unknown sync type \"objekt\""),
        (format!(r#"{{"mode": "add", {base}}}"#), "0A000", "mode: sync mode \"add\" is not supported for type \"object\" on destination kind \"postgres\""),
        (format!(r#"{{"mode": "upsert", "type": "event", {base}}}"#), "0A000", "mode: sync mode \"upsert\" is not supported for type \"event\" on destination kind \"postgres\""),
        (format!(r#"{{"mode": "archive", {base}}}"#), "0A000", "mode: sync mode \"archive\" is not supported for type \"object\" on destination kind \"postgres\""),
        (format!(r#"{{"mode": "upsert", "batch_size": 0, {base}}}"#), "22023", "batch_size: must be between 1 and 100000, not 0"),
        (format!(r#"{{"mode": "upsert", "batch_size": -5, {base}}}"#), "22023", "batch_size: must be between 1 and 100000, not -5"),
        (format!(r#"{{"mode": "upsert", "batch_size": 1000000000, {base}}}"#), "22023", "batch_size: must be between 1 and 100000"),
        (format!(r#"{{"mode": "upsert", "mapings": [], {base}}}"#), "22023", "mapings: unknown key"),
        (format!(r#"{{"mode": "upsert", "requests": {{}}, {base}}}"#), "22023", "requests: unknown key"),
        (format!(r#"{{"mode": "upsert", {base}, "mappings": [{{"from": "plann", "to": "plan_name"}}]}}"#), "42703", "mappings[0].from: column \"plann\" is not in the model's result"),
        (format!(r#"{{"mode": "upsert", {base}, "mappings": [{{"from": "plan", "to": "nope"}}]}}"#), "42703", "mappings[0].to: table public.target has no column \"nope\""),
        (format!(r#"{{"mode": "upsert", {base}, "mappings": [{{"from": "id", "to": "d"}}]}}"#), "42846", "mappings[0]: the model's integer values cannot be written to column \"d\" (date)"),
        (format!(r#"{{"mode": "upsert", {base}, "mappings": [{{"static": "abc", "to": "n"}}]}}"#), "22P02", "mappings[0].static: \"abc\" is not a valid integer"),
        (format!(r#"{{"mode": "upsert", {base}, "mappings": [{{"template": "{{{{ row.plan }}}}", "to": "plan_name"}}]}}"#), "0A000", "mappings[0].template: template mappings are not supported by the postgres destination"),
        (r#"{"mode": "upsert", "object": "not_unique", "match": {"from": "email", "to": "email"}}"#.into(), "42P10", "match.to: column \"email\" of public.not_unique has no unique index"),
        (r#"{"mode": "upsert", "object": "target", "match": {"from": "mail", "to": "email"}}"#.into(), "42703", "match.from: column \"mail\" is not in the model's result"),
        (r#"{"mode": "upsert", "object": "target", "match": {"from": "email", "to": "mail"}}"#.into(), "42703", "match.to: table public.target has no column \"mail\""),
        (r#"{"mode": "upsert", "object": "target"}"#.into(), "22023", "match: is required for the postgres destination"),
        (r#"{"mode": "upsert", "object": "missing_table", "match": {"from": "email", "to": "email"}}"#.into(), "42P01", "object: table \"missing_table\" does not exist"),
        (r#"{"mode": "upsert", "match": {"from": "email", "to": "email"}}"#.into(), "22023", "object: is required"),
        (format!(r#"{{"mode": "all", "delete_behavior": "nothing", {base}}}"#), "22023", "delete_behavior: mode \"all\" mirrors the model"),
        (format!(r#"{{"mode": "upsert", "delete_behavior": "purge", {base}}}"#), "22023", "delete_behavior: unknown delete behavior \"purge\""),
        (format!(r#"{{"mode": "upsert", "schedule": {{"interval": "0 minutes"}}, {base}}}"#), "22023", "schedule.interval: the interval must be greater than zero"),
        (format!(r#"{{"mode": "upsert", "schedule": {{"cron": "61 * * * *"}}, {base}}}"#), "22023", "schedule.cron: \"61\" is not a valid minute"),
        (format!(r#"{{"mode": "upsert", "schedule": {{"interval": "5 fortnights"}}, {base}}}"#), "22023", "schedule.interval: unknown unit \"fortnights\""),
        (format!(r#"{{"mode": "upsert", "schedule": {{"interval": "-5 minutes"}}, {base}}}"#), "22023", "schedule.interval: the interval must be greater than zero"),
        (format!(r#"{{"mode": "upsert", "schedule": {{"interval": "4 seconds"}}, {base}}}"#), "22023", "schedule.interval: the shortest interval is 5 seconds"),
        (format!(r#"{{"mode": "upsert", "schedule": {{"cron": "0 9 * *"}}, {base}}}"#), "22023", "schedule.cron: "),
        (format!(r#"{{"mode": "upsert", "schedule": {{"cron": "0 9 * * 1", "timezone": "Europe/Atlantis"}}, {base}}}"#), "22023", "schedule.timezone: unknown time zone \"Europe/Atlantis\""),
        (format!(r#"{{"mode": "upsert", "schedule": {{"interval": "1 hour", "start": "2027-01-02T00:00:00Z", "end": "2027-01-01T00:00:00Z"}}, {base}}}"#), "22023", "schedule.end: is not after start"),
        ("[1, 2]".into(), "22023", "config: must be a JSON object"),
    ];
    for (config, code, message) in &cases {
        assert_rejected(&mut db, &sync_sql(config), code, message);
    }
    assert_rejected(
        &mut db,
        &format!("SELECT reverse_etl.create_sync('taken', 'users', 'local', '{{\"mode\": \"upsert\", {base}}}')"),
        "42710",
        "name: a sync named \"taken\" already exists",
    );
    assert_rejected(&mut db, &format!("SELECT reverse_etl.create_sync('s3', 'nobody', 'local', '{{\"mode\": \"upsert\", {base}}}')"), "42704", "model: model \"nobody\" does not exist");
    assert_rejected(&mut db, &format!("SELECT reverse_etl.create_sync('s3', 'users', 'nowhere', '{{\"mode\": \"upsert\", {base}}}')"), "42704", "destination: destination \"nowhere\" does not exist");
    assert_rejected(
        &mut db,
        "SELECT reverse_etl.sync_run('nosuch')",
        "42704",
        "sync: sync \"nosuch\" does not exist",
    );
    assert_rejected(
        &mut db,
        "SELECT reverse_etl.sync_run(999)",
        "42704",
        "sync: sync 999 does not exist",
    );

    // update_sync validates the same way and keeps the old config on error.
    let config_before = db.text("SELECT reverse_etl.sync_config('taken')::text");
    assert_rejected(&mut db, "SELECT reverse_etl.update_sync('taken', '{\"mode\": \"upsert\", \"object\": \"target\", \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"colour\": 1}')", "22023", "colour: unknown key");
    assert_eq!(
        db.text("SELECT reverse_etl.sync_config('taken')::text"),
        config_before
    );
}

#[test]
fn unhashable_column_types_still_work() {
    let mut db = TestDb::new("unhashable");
    db.exec(SETUP);
    db.exec("CREATE TABLE docs (email text PRIMARY KEY, doc json)");
    db.exec("INSERT INTO src VALUES (1, 'a@x.io', 'p', '{\"a\": 1}')");
    db.exec(r#"SELECT reverse_etl.create_sync('d', 'users', 'local', '{"mode": "upsert", "object": "docs",
        "match": {"from": "email", "to": "email"}, "mappings": [{"from": "doc", "to": "doc"}]}')"#);
    let first = db.run("d");
    assert_eq!(db.run_summary(first).succeeded, [1, 0, 0]);
    db.exec("UPDATE src SET doc = '{\"a\": 2}'");
    let second = db.run("d");
    assert_eq!(db.run_summary(second).succeeded, [0, 1, 0]);
    assert_eq!(
        db.text("SELECT doc::text FROM docs").as_deref(),
        Some("{\"a\": 2}")
    );
}

#[test]
fn documents_nested_too_deeply_are_named_errors() {
    let mut db = TestDb::new("bad_nesting");
    db.exec(SETUP);
    // PostgreSQL stores it; the extension cannot read it back past 128 levels.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let wrapped = format!("{{\"mode\": \"upsert\", \"labels\": {deep}}}");
    let cases = [
        (
            format!("SELECT reverse_etl.create_destination('d', 'postgres', '{wrapped}')"),
            "config",
        ),
        (
            format!("SELECT reverse_etl.create_sync('s2', 'users', 'local', '{wrapped}')"),
            "config",
        ),
        (
            format!("SELECT reverse_etl.update_sync('taken', '{wrapped}')"),
            "config",
        ),
        (
            format!("SELECT reverse_etl.create_sequence('q', '{deep}')"),
            "steps",
        ),
        (
            format!("SELECT reverse_etl.create_sequence('q', '[\"taken\"]', '{wrapped}')"),
            "schedule",
        ),
        (
            format!("SELECT reverse_etl.update_sequence('q', schedule => '{wrapped}')"),
            "schedule",
        ),
        (
            format!("SELECT * FROM reverse_etl.schedule_next_runs('{wrapped}')"),
            "schedule",
        ),
        (
            format!("SELECT reverse_etl.sync_test_row('taken', '1', 'added', '{wrapped}', true)"),
            "values",
        ),
    ];
    for (sql, field) in cases {
        assert_rejected(
            &mut db,
            &sql,
            "22023",
            &format!("{field}: is not a document this function can read: nested more than 128 levels deep"),
        );
    }
}
