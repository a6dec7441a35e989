//! Values arrive exactly as they left: one table of awkward values of every
//! common type goes through the http body (default and template), CSV,
//! JSON lines and the postgres destination, and each is compared with what
//! went in.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use serde_json::Value;
use std::collections::BTreeMap;

/// The columns after `email` (the match column), in order.
const COLUMNS: [&str; 24] = [
    "c_int2",
    "c_int4",
    "c_int8",
    "c_num38",
    "c_num30",
    "c_num",
    "c_float4",
    "c_float8",
    "c_text",
    "c_empty",
    "c_bool",
    "c_date",
    "c_time",
    "c_ts",
    "c_tstz",
    "c_interval",
    "c_uuid",
    "c_jsonb",
    "c_texts",
    "c_ints",
    "c_bytea",
    "c_enum",
    "c_domain",
    "c_char",
];

const SETUP: &str = r#"
    SET timezone = 'Asia/Kolkata';
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN positive AS int CHECK (VALUE > 0);
    CREATE TABLE t (
        id int PRIMARY KEY, email text NOT NULL,
        c_int2 int2, c_int4 int4, c_int8 int8, c_num38 numeric(38,18), c_num30 numeric(30,0), c_num numeric,
        c_float4 float4, c_float8 float8, c_text text, c_empty text, c_bool bool, c_date date, c_time time,
        c_ts timestamp, c_tstz timestamptz, c_interval interval, c_uuid uuid, c_jsonb jsonb,
        c_texts text[], c_ints int[], c_bytea bytea, c_enum mood, c_domain positive, c_char char(3));
    INSERT INTO t VALUES
      (1, 'max@x.io', 32767, 2147483647, 9223372036854775807, 12345678901234567890.123456789012345678,
       123456789012345678901234567890, 1.50, 3.4028235e38, 1.7976931348623157e308,
       E'quote " backslash \\ newline \n tab \t emoji 😀 ünïcødé', '', true, '2026-12-02', '23:59:59.999999',
       '2026-12-02 01:02:03.456789', '2026-12-02 01:02:03.456789+05:30', '1 year 2 mons 3 days 04:05:06.789',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, {"b": null, "c": "x\"y"}], "n": 1.10}',
       ARRAY['a,b', 'say "hi"', NULL, ''], ARRAY[1, -2, NULL], '\xdeadbeef00', 'happy', 5, 'ab'),
      (2, 'min@x.io', -32768, -2147483648, -9223372036854775808, -0.000000000000000001,
       -123456789012345678901234567890, 'NaN', 'NaN', '-Infinity',
       '  edge spaces  ', NULL, false, '0001-01-01', '00:00:00', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00',
       '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', '', 'sad', 1, ''),
      (3, 'nulls@x.io', NULL, NULL, NULL, NULL, NULL, 'Infinity', NULL, 'Infinity',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

fn mappings() -> String {
    COLUMNS
        .iter()
        .map(|c| format!(r#"{{"from": "{c}", "to": "{c}"}}"#))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What went in, as PostgreSQL writes each value as JSON, per email. Runs
/// write timestamptz values in the database's time zone (UTC here), not
/// the session's that inserted them.
fn expected(db: &mut TestDb) -> BTreeMap<String, Value> {
    db.exec("SET timezone = 'UTC'");
    let pairs = COLUMNS
        .iter()
        .map(|c| format!("'{c}', {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    db.rows(&format!(
        "SELECT email || E'\\t' || json_build_object({pairs})::text FROM t ORDER BY id"
    ))
    .into_iter()
    .map(|line| {
        let (email, json) = line.split_once('\t').unwrap();
        (email.to_string(), serde_json::from_str(json).unwrap())
    })
    .collect()
}

fn fields_only(record: &Value) -> Value {
    let mut record = record.clone();
    if let Some(map) = record.as_object_mut() {
        map.retain(|k, _| COLUMNS.contains(&k.as_str()));
    }
    record
}

#[test]
fn http_bodies_carry_every_value_exactly() {
    let crm = FakeCrm::start();
    let mut db = TestDb::new("fidelity_http");
    db.exec(SETUP);
    let expected = expected(&mut db);
    // Exactly: 38 digits, the int8 limits, 3.4028235e+38 as written.
    assert_eq!(
        expected["max@x.io"]["c_num38"].to_string(),
        "12345678901234567890.123456789012345678"
    );
    let template_body = COLUMNS
        .iter()
        .map(|c| format!(r#""{c}": {{{{ row.{c} | json }}}}"#))
        .collect::<Vec<_>>()
        .join(", ");
    db.exec(&format!(
        "SELECT reverse_etl.create_model('m', 'SELECT * FROM t', ARRAY['id']);
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{url}\"}}');
         SELECT reverse_etl.create_sync('plain', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{mappings}],
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');
         SELECT reverse_etl.create_sync('templated', 'm', 'api', $${{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
           \"requests\": {{\"added\": {{\"method\": \"PUT\", \"path\": \"/contacts/{{{{ row.email }}}}\",
             \"body\": \"{{\\\"email\\\": {{{{ row.email | json }}}}, {body}}}\"}}}}}}$$);",
        url = crm.url(),
        mappings = mappings(),
        body = template_body.replace('"', "\\\""),
    ));
    for sync in ["plain", "templated"] {
        crm.clear_requests();
        let run = db.run(sync);
        let summary = db.run_summary(run);
        let reasons = db.rows(&format!(
            "SELECT row_id || ': ' || coalesce(reason, '') FROM reverse_etl.sync_changelog WHERE run_id = {run} AND status <> 'succeeded'"
        ));
        assert_eq!(summary.succeeded[0], 3, "{sync}: {summary:?} {reasons:?}");
        let mut seen = 0;
        for request in crm.requests() {
            let body: Value = serde_json::from_str(&request.body)
                .unwrap_or_else(|e| panic!("{sync}: not JSON ({e}): {}", request.body));
            let email = body["email"].as_str().unwrap().to_string();
            // Default body and `| json` in a template alike: every value
            // as PostgreSQL wrote it (digits, nested JSON, NaN as "NaN").
            let want = &expected[&email];
            assert_eq!(fields_only(&body), fields_only(want), "{sync} {email}");
            seen += 1;
        }
        assert_eq!(seen, 3, "{sync}: {:?}", crm.requests());
    }
}

/// A fresh directory under the cluster's allowed root, writable by the server.
fn directory(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = std::path::PathBuf::from(format!(
        "/tmp/pg_reverse_etl_files/{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    path
}

#[test]
fn files_carry_every_value_exactly_and_csv_reads_back_with_copy() {
    let dir = directory("fidelity");
    let mut db = TestDb::new("fidelity_files");
    db.exec(SETUP);
    let expected = expected(&mut db);
    let all = format!(r#"{{"from": "email", "to": "email"}}, {}"#, mappings());
    db.exec(&format!(
        "SELECT reverse_etl.create_model('m', 'SELECT * FROM t', ARRAY['id']);
         SELECT reverse_etl.create_destination('files', 'file', '{{\"directory\": \"{}\"}}');
         SELECT reverse_etl.create_sync('csv', 'm', 'files', '{{\"mode\": \"snapshot\", \"format\": \"csv\", \"file\": \"t-{{{{ run.id }}}}\", \"mappings\": [{all}]}}');
         SELECT reverse_etl.create_sync('jsonl', 'm', 'files', '{{\"mode\": \"snapshot\", \"format\": \"jsonl\", \"file\": \"t-{{{{ run.id }}}}\", \"mappings\": [{all}]}}');",
        dir.display()
    ));
    // JSON lines: each record as PostgreSQL wrote its values.
    let run = db.run("jsonl");
    let text = std::fs::read_to_string(dir.join(format!("t-{run}.jsonl"))).unwrap();
    let mut lines = 0;
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let email = record["email"].as_str().unwrap();
        assert_eq!(
            fields_only(&record),
            fields_only(&expected[email]),
            "{email}"
        );
        lines += 1;
    }
    assert_eq!(lines, 3);
    // CSV: read back by COPY … CSV HEADER into the same types (arrays as
    // the JSON arrays they were sent as), then compared row by row; an
    // empty string stays empty and NULL stays NULL.
    let run = db.run("csv");
    let path = dir.join(format!("t-{run}.csv"));
    db.exec(&format!(
        "CREATE TABLE back (email text, c_int2 int2, c_int4 int4, c_int8 int8, c_num38 numeric(38,18), c_num30 numeric(30,0), c_num numeric,
           c_float4 float4, c_float8 float8, c_text text, c_empty text, c_bool bool, c_date date, c_time time,
           c_ts timestamp, c_tstz timestamptz, c_interval interval, c_uuid uuid, c_jsonb jsonb,
           c_texts jsonb, c_ints jsonb, c_bytea bytea, c_enum mood, c_domain positive, c_char char(3));
         COPY back FROM '{}' CSV HEADER;",
        path.display()
    ));
    let columns = COLUMNS
        .iter()
        .map(|c| match *c {
            "c_texts" | "c_ints" => format!("to_jsonb({c})"),
            _ => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let differences = db.i64(&format!(
        "SELECT count(*) FROM ((SELECT email, {columns} FROM t EXCEPT SELECT * FROM back)
                               UNION ALL (SELECT * FROM back EXCEPT SELECT email, {columns} FROM t)) d"
    ));
    assert_eq!(
        differences,
        0,
        "{}",
        std::fs::read_to_string(&path).unwrap()
    );
    assert_eq!(
        db.rows("SELECT email || ':' || (c_empty IS NULL) || ':' || coalesce(length(c_empty), -1) FROM back ORDER BY email"),
        vec!["max@x.io:false:0", "min@x.io:true:-1", "nulls@x.io:true:-1"]
    );
}

#[test]
fn the_postgres_destination_keeps_every_value() {
    let mut db = TestDb::new("fidelity_postgres");
    db.exec(SETUP);
    db.exec(&format!(
        "CREATE TABLE target (LIKE t);
         ALTER TABLE target DROP COLUMN id, ADD PRIMARY KEY (email);
         SELECT reverse_etl.create_model('m', 'SELECT * FROM t', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'm', 'local', '{{\"mode\": \"upsert\", \"object\": \"target\",
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{}]}}');",
        mappings()
    ));
    let run = db.run("s");
    assert_eq!(db.run_summary(run).succeeded[0], 3);
    let columns = COLUMNS.join(", ");
    let differences = db.i64(&format!(
        "SELECT count(*) FROM ((SELECT email, {columns} FROM t EXCEPT SELECT email, {columns} FROM target)
                               UNION ALL (SELECT email, {columns} FROM target EXCEPT SELECT email, {columns} FROM t)) d"
    ));
    assert_eq!(differences, 0);
}
