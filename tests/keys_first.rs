//! Reruns of a large model read its keys and hashes first, then only the
//! changed rows' fields (by key); whatever that second read cannot give
//! exactly sends the run down the copy every other run makes. Each model
//! here counts its own reads with a sequence read once per statement.

mod common;

use common::TestDb;

/// 40,000 users: a snapshot larger than a small model's (1 MB), owned by
/// an ordinary role that runs the sync.
const ROWS: i64 = 40_000;

fn setup(db: &mut TestDb, role: &str, model_filter: &str) -> postgres::Client {
    setup_with(db, role, "", model_filter)
}

/// `setup`, with `prelude` run first as the owner (functions the model's
/// filter calls).
fn setup_with(db: &mut TestDb, role: &str, prelude: &str, model_filter: &str) -> postgres::Client {
    db.create_ordinary_role(role);
    let mut owner = db.connect_as(role);
    owner.batch_execute(prelude).unwrap();
    owner
        .batch_execute(&format!(
            "CREATE SEQUENCE model_reads; CREATE SEQUENCE rows_read;
             CREATE TABLE users (id int, email text, score numeric);
             INSERT INTO users SELECT g, 'u' || g || '@x.io', g / 7.0 FROM generate_series(1, {ROWS}) g;
             CREATE INDEX ON users (id);
             ANALYZE users;
             CREATE TABLE contacts (id int PRIMARY KEY, email text, score numeric);
             SELECT reverse_etl.create_model('users',
                 'SELECT id, email, score FROM users WHERE {model_filter}', ARRAY['id']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             SELECT reverse_etl.create_sync('s', 'users', 'local', '{{\"mode\": \"upsert\", \"object\": \"contacts\",
                 \"match\": {{\"from\": \"id\", \"to\": \"id\"}},
                 \"mappings\": [{{\"from\": \"email\", \"to\": \"email\"}}, {{\"from\": \"score\", \"to\": \"score\"}}]}}');",
            model_filter = model_filter.replace('\'', "''"),
        ))
        .unwrap();
    owner
}

fn reads(owner: &mut postgres::Client) -> i64 {
    owner
        .query_one("SELECT last_value FROM model_reads", &[])
        .unwrap()
        .get(0)
}

/// How many rows the model's reads went through, with a filter that
/// counts them (`nextval('rows_read') > 0`).
fn rows_read(owner: &mut postgres::Client) -> i64 {
    owner
        .query_one("SELECT last_value FROM rows_read", &[])
        .unwrap()
        .get(0)
}

fn run(owner: &mut postgres::Client) -> i64 {
    owner
        .query_one("SELECT reverse_etl.sync_run('s')", &[])
        .unwrap()
        .get(0)
}

/// The model's rows that `contacts` does not hold as they are (rows the
/// model lost stay there: the sync deletes nothing).
fn missing_or_stale(owner: &mut postgres::Client, model_filter: &str) -> i64 {
    owner
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT id, email, score FROM users WHERE {model_filter}
                                       EXCEPT SELECT id, email, score FROM contacts) AS d"
            ),
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_large_rerun_reads_its_keys_then_only_the_changed_rows() {
    let mut db = TestDb::new("keys_first");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0 AND nextval('rows_read') > 0";
    let mut owner = setup(&mut db, &role, filter);
    let first = run(&mut owner);
    assert_eq!(db.run_summary(first).succeeded, [ROWS, 0, 0]);
    assert_eq!(reads(&mut owner), 1, "a first run reads its model once");

    let nothing = run(&mut owner);
    assert_eq!(db.run_summary(nothing).planned, [0, 0, 0]);
    assert_eq!(
        reads(&mut owner),
        2,
        "nothing changed: the keys are all it reads"
    );

    owner
        .batch_execute(
            "UPDATE users SET score = score + 1 WHERE id % 400 = 0;
             DELETE FROM users WHERE id % 800 = 1;
             INSERT INTO users SELECT g, 'new' || g || '@x.io', 1.5 FROM generate_series(50001, 50070) g;",
        )
        .unwrap();
    let changed = run(&mut owner);
    let summary = db.run_summary(changed);
    assert_eq!(
        (
            summary.status.as_str(),
            summary.queried,
            summary.planned,
            summary.succeeded
        ),
        ("succeeded", ROWS - 50 + 70, [70, 100, 50], [70, 100, 50])
    );
    assert_eq!(reads(&mut owner), 4, "the keys, then the 170 rows to send");
    let second_read = rows_read(&mut owner) - (2 * ROWS + (ROWS - 50 + 70));
    assert!(
        (170..ROWS / 10).contains(&second_read),
        "the second read looked up the rows to send by key ({second_read} rows read)"
    );
    assert_eq!(
        missing_or_stale(&mut owner, "true"),
        0,
        "sent as the model has them"
    );

    // What the snapshot holds is what was sent: the next run finds nothing.
    let after = run(&mut owner);
    assert_eq!(db.run_summary(after).planned, [0, 0, 0]);
    assert_eq!(reads(&mut owner), 5);
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_row_the_second_read_misses_sends_the_run_down_the_copy() {
    let mut db = TestDb::new("keys_first_miss");
    let role = format!("owner_{}", db.name);
    // Row 5 is returned by every second read only: not by the first run
    // (read 1), by the rerun's keys (read 2), not by its read of the
    // changed rows (3), by the copy it then makes (4).
    let filter = "id <> 5 OR (SELECT nextval('model_reads')) % 2 = 0";
    let mut owner = setup(&mut db, &role, filter);
    let first = run(&mut owner);
    assert_eq!(db.run_summary(first).succeeded, [ROWS - 1, 0, 0]);
    owner
        .batch_execute("UPDATE users SET email = 'changed@x.io' WHERE id = 6")
        .unwrap();
    let rerun = run(&mut owner);
    let summary = db.run_summary(rerun);
    assert_eq!(
        (summary.status.as_str(), summary.queried, summary.succeeded),
        ("succeeded", ROWS, [1, 1, 0])
    );
    assert_eq!(reads(&mut owner), 4);
    assert_eq!(
        missing_or_stale(&mut owner, "true"),
        0,
        "row 5 added, row 6 changed, as the copy read them"
    );
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_second_read_that_gives_a_row_twice_and_misses_another_sends_the_run_down_the_copy() {
    let mut db = TestDb::new("keys_first_twice");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0";
    let mut owner = setup(&mut db, &role, filter);
    run(&mut owner);
    // The third read (the rerun's read of the changed rows; its keys are
    // read 2, the copy read 4) gives row 6 twice and row 7 not at all: as
    // many rows as were asked for, but not one for each.
    owner
        .batch_execute(
            "SELECT reverse_etl.update_model('users', $$WITH r AS MATERIALIZED (SELECT nextval('model_reads') AS n)
                 SELECT id, email, score FROM users, r WHERE NOT (id = 7 AND r.n = 3)
                 UNION ALL SELECT id, email, score FROM users, r WHERE id = 6 AND r.n = 3$$);
             UPDATE users SET email = 'changed@x.io' WHERE id IN (6, 7);",
        )
        .unwrap();
    let rerun = run(&mut owner);
    let summary = db.run_summary(rerun);
    assert_eq!(
        (summary.status.as_str(), summary.queried, summary.succeeded),
        ("succeeded", ROWS, [0, 2, 0]),
        "rows 6 and 7 changed, each sent once"
    );
    assert_eq!(
        reads(&mut owner),
        4,
        "the keys, the changed rows, then the copy"
    );
    assert_eq!(missing_or_stale(&mut owner, "true"), 0);
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_repeated_key_in_a_large_rerun_is_found_by_the_copy() {
    let mut db = TestDb::new("keys_first_repeat");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0";
    let mut owner = setup(&mut db, &role, filter);
    run(&mut owner);
    owner
        .batch_execute("INSERT INTO users VALUES (7, 'twin@x.io', 0), (NULL, 'nokey@x.io', 0)")
        .unwrap();
    let rerun = run(&mut owner);
    let summary = db.run_summary(rerun);
    assert_eq!(
        (summary.status.as_str(), summary.invalid, summary.planned),
        ("warning", 3, [0, 0, 0]),
        "both rows of key 7 and the row without a key are invalid, logged with their fields"
    );
    assert_eq!(reads(&mut owner), 3, "the keys, then the copy");
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {rerun} AND status = 'invalid' AND fields ? 'email'"
        )),
        3
    );
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_model_that_changed_much_last_time_is_copied_at_once() {
    let mut db = TestDb::new("keys_first_much");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0";
    let mut owner = setup(&mut db, &role, filter);
    run(&mut owner);
    owner
        .batch_execute("UPDATE users SET score = score + 1")
        .unwrap();
    let all = run(&mut owner);
    assert_eq!(db.run_summary(all).succeeded, [0, ROWS, 0]);
    assert_eq!(
        reads(&mut owner),
        3,
        "the keys, then (every row to send) the copy"
    );
    owner
        .batch_execute("UPDATE users SET score = score + 1")
        .unwrap();
    let again = run(&mut owner);
    assert_eq!(db.run_summary(again).succeeded, [0, ROWS, 0]);
    assert_eq!(
        reads(&mut owner),
        4,
        "the last run sent every row: the copy at once"
    );
    let quiet = run(&mut owner);
    assert_eq!(db.run_summary(quiet).planned, [0, 0, 0]);
    assert_eq!(reads(&mut owner), 5);
    let quieter = run(&mut owner);
    assert_eq!(db.run_summary(quieter).planned, [0, 0, 0]);
    assert_eq!(
        reads(&mut owner),
        6,
        "the last run sent nothing: the keys first again"
    );
    assert_eq!(missing_or_stale(&mut owner, "true"), 0);
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_composite_key_is_looked_up_by_all_its_parts() {
    let mut db = TestDb::new("keys_first_composite");
    let role = format!("owner_{}", db.name);
    db.create_ordinary_role(&role);
    let mut owner = db.connect_as(&role);
    owner
        .batch_execute(&format!(
            "CREATE SEQUENCE model_reads;
             CREATE TABLE accounts (region text, id int, email text, score numeric, PRIMARY KEY (region, id));
             INSERT INTO accounts SELECT r, g, r || g || '@x.io', g FROM generate_series(1, {half}) g, unnest(ARRAY['eu', 'us']) AS r;
             CREATE TABLE contacts (email text PRIMARY KEY, score numeric);
             SELECT reverse_etl.create_model('accounts',
                 'SELECT region, id, email, score FROM accounts WHERE (SELECT nextval(''model_reads'')) > 0', ARRAY['region', 'id']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             SELECT reverse_etl.create_sync('s', 'accounts', 'local', '{{\"mode\": \"upsert\", \"object\": \"contacts\",
                 \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{{\"from\": \"score\", \"to\": \"score\"}}]}}');",
            half = ROWS / 2
        ))
        .unwrap();
    run(&mut owner);
    // The same id in both regions: only the eu row changes.
    owner
        .batch_execute("UPDATE accounts SET score = -1 WHERE region = 'eu' AND id % 200 = 0")
        .unwrap();
    let rerun = run(&mut owner);
    assert_eq!(db.run_summary(rerun).succeeded, [0, 100, 0]);
    assert_eq!(
        reads(&mut owner),
        3,
        "the first run, the keys, the 100 rows"
    );
    let sent: i64 = owner
        .query_one(
            "SELECT count(*) FROM contacts c JOIN accounts a USING (email) WHERE c.score = -1 AND a.region = 'eu'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(sent, 100);
    assert_eq!(
        owner
            .query_one("SELECT count(*) FROM contacts WHERE score = -1", &[])
            .unwrap()
            .get::<_, i64>(0),
        100,
        "no us row with the same id was sent the eu row's values"
    );
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_model_read_once_is_copied_by_every_run() {
    let mut db = TestDb::new("keys_first_once");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0";
    let mut owner = setup(&mut db, &role, filter);
    owner
        .batch_execute(
            "SELECT reverse_etl.update_sync('s', config || '{\"read_model\": \"once\"}') FROM reverse_etl.syncs WHERE name = 's';
             -- A repeated key: a first run reading into its ops table would read again.
             INSERT INTO users VALUES (7, 'twin@x.io', 1);",
        )
        .unwrap();
    let first = run(&mut owner);
    let summary = db.run_summary(first);
    assert_eq!(
        (summary.invalid, summary.succeeded),
        (2, [ROWS - 1, 0, 0]),
        "both rows of key 7 are invalid, the others sent"
    );
    assert_eq!(
        reads(&mut owner),
        1,
        "a first run with a repeated key reads once"
    );
    owner
        .batch_execute(
            "DELETE FROM users WHERE email = 'twin@x.io';
             UPDATE users SET score = score + 1 WHERE id % 400 = 0;",
        )
        .unwrap();
    let changed = run(&mut owner);
    let summary = db.run_summary(changed);
    assert_eq!(
        (summary.planned, summary.succeeded),
        ([1, 100, 0], [1, 100, 0]),
        "key 7 is added, 100 rows changed"
    );
    assert_eq!(reads(&mut owner), 2, "a rerun with changes reads once too");
    assert_eq!(missing_or_stale(&mut owner, "true"), 0);

    owner
        .batch_execute(
            "SELECT reverse_etl.update_sync('s', config || '{\"read_model\": \"auto\"}') FROM reverse_etl.syncs WHERE name = 's'",
        )
        .unwrap();
    owner
        .batch_execute("UPDATE users SET score = score + 1 WHERE id % 400 = 0")
        .unwrap();
    let auto = run(&mut owner);
    assert_eq!(db.run_summary(auto).succeeded, [0, 100, 0]);
    assert_eq!(
        reads(&mut owner),
        4,
        "back to auto: the keys, then the changed rows"
    );
    let stored: Option<String> = owner
        .query_one(
            "SELECT config ->> 'read_model' FROM reverse_etl.syncs WHERE name = 's'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, None, "the default is not written out");
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_model_cannot_add_rows_of_its_own_to_the_diff_of_its_keys() {
    let mut db = TestDb::new("keys_first_plant");
    let role = format!("owner_{}", db.name);
    // plant() adds, once armed (a sequence: the run's rollback does not
    // disarm it), a second operation for key 7 with another hash to the
    // running run's diff, which the owner may fill while its model runs.
    let mut owner = setup_with(
        &mut db,
        &role,
        "CREATE SEQUENCE plant_calls START 2;
         CREATE FUNCTION plant() RETURNS bool LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('plant_calls') = 1 THEN
             EXECUTE format('INSERT INTO pg_temp.run_%s_rows_changes VALUES (''changed'', 2, ''7'', 1, ''7'', NULL, 7)',
               (SELECT max(id) FROM reverse_etl.sync_runs));
           END IF;
           RETURN true;
         END $$;",
        "plant()",
    );
    run(&mut owner);
    owner
        .batch_execute(
            "UPDATE users SET email = 'seven@x.io' WHERE id = 7;
             SELECT setval('plant_calls', 1, false);",
        )
        .unwrap();
    let planted: i64 = owner
        .query_one(
            "SELECT reverse_etl.sync_run('s', raise_on_failure => false)",
            &[],
        )
        .unwrap()
        .get(0);
    let summary = db.run_summary(planted);
    assert_eq!(summary.status, "failed");
    assert_eq!(summary.succeeded, [0, 0, 0], "nothing was sent");
    let error: String = owner
        .query_one(
            "SELECT error FROM reverse_etl.sync_runs WHERE id = $1",
            &[&planted],
        )
        .unwrap()
        .get(0);
    assert!(
        error.contains(
            "2 rows were written into the run's diff of the model, 1 of them by its query"
        ),
        "{error}"
    );
    let fine = run(&mut owner);
    assert_eq!(
        db.run_summary(fine).succeeded,
        [0, 1, 0],
        "the next run sends row 7"
    );
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn keys_in_a_nondeterministic_collation_are_read_first_too() {
    let mut db = TestDb::new("keys_first_collation");
    let role = format!("owner_{}", db.name);
    db.exec(
        "CREATE COLLATION public.case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    );
    db.create_ordinary_role(&role);
    let mut owner = db.connect_as(&role);
    owner
        .batch_execute(&format!(
            "CREATE SEQUENCE model_reads;
             CREATE TABLE accounts (code text COLLATE public.case_blind PRIMARY KEY, score int);
             INSERT INTO accounts SELECT 'Acc-' || g, g FROM generate_series(1, {ROWS}) g;
             ANALYZE accounts;
             CREATE TABLE crm (code text PRIMARY KEY, score int);
             SELECT reverse_etl.create_model('accounts',
                 'SELECT code, score FROM accounts WHERE (SELECT nextval(''model_reads'')) > 0', ARRAY['code']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             SELECT reverse_etl.create_sync('s', 'accounts', 'local', '{{\"mode\": \"upsert\", \"object\": \"crm\",
                 \"match\": {{\"from\": \"code\", \"to\": \"code\"}},
                 \"mappings\": [{{\"from\": \"score\", \"to\": \"score\"}}]}}');"
        ))
        .unwrap();
    run(&mut owner);
    owner
        .batch_execute("UPDATE accounts SET score = -score WHERE code IN ('Acc-7', 'Acc-70')")
        .unwrap();
    let rerun = run(&mut owner);
    assert_eq!(db.run_summary(rerun).succeeded, [0, 2, 0]);
    assert_eq!(
        reads(&mut owner),
        3,
        "the keys, then the two changed rows by key"
    );
    let scores: i64 = owner
        .query_one(
            "SELECT sum(score)::bigint FROM crm WHERE code IN ('Acc-7', 'Acc-70')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(scores, -77);
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_key_repeated_by_an_unchanged_row_is_found_by_the_count_of_rows_read() {
    let mut db = TestDb::new("keys_first_twin");
    let role = format!("owner_{}", db.name);
    let filter = "(SELECT nextval('model_reads')) > 0";
    let mut owner = setup(&mut db, &role, filter);
    run(&mut owner);
    // The same row twice, as the snapshot has it: the diff keeps no trace
    // of either, only the number of rows the model gave shows it.
    owner
        .batch_execute("INSERT INTO users SELECT * FROM users WHERE id = 7")
        .unwrap();
    let rerun = run(&mut owner);
    let summary = db.run_summary(rerun);
    assert_eq!(
        (summary.status.as_str(), summary.queried, summary.invalid),
        ("warning", ROWS + 1, 2),
        "both rows of key 7 are invalid"
    );
    assert_eq!(reads(&mut owner), 3, "the keys, then the copy");
    drop(owner);
    db.drop_with_roles(&[&role]);
}

#[test]
fn a_model_that_counts_rows_itself_is_copied_and_the_snapshot_stays_as_readable_as_it_was() {
    let mut db = TestDb::new("keys_first_counts");
    let role = format!("owner_{}", db.name);
    // Once armed, the model moves the counter the run uses to count its
    // rows: the count then says a key repeated, and the run copies the
    // model, which counts its rows itself.
    let mut owner = setup_with(
        &mut db,
        &role,
        "CREATE TABLE armed (now bool); INSERT INTO armed VALUES (false);
         CREATE FUNCTION sneaky() RETURNS bool LANGUAGE plpgsql AS $$
         BEGIN
           RETURN NOT (SELECT now FROM armed) OR reverse_etl._next_position(false) > 0;
         END $$;",
        "sneaky() AND (SELECT nextval('model_reads')) > 0",
    );
    run(&mut owner);
    owner
        .batch_execute(
            "UPDATE armed SET now = true;
             UPDATE users SET email = 'seven@x.io' WHERE id = 7;",
        )
        .unwrap();
    let before = reads(&mut owner);
    let rerun = run(&mut owner);
    let summary = db.run_summary(rerun);
    assert_eq!(
        (summary.status.as_str(), summary.queried, summary.invalid),
        ("succeeded", ROWS, 0)
    );
    assert_eq!(summary.succeeded, [0, 1, 0]);
    assert_eq!(reads(&mut owner) - before, 2, "the keys, then the copy");
    assert_eq!(missing_or_stale(&mut owner, "true"), 0);
    let snapshot: String = db
        .client
        .query_one(
            "SELECT 'reverse_etl_state.snapshot_' || id FROM reverse_etl.syncs WHERE name = 's'",
            &[],
        )
        .unwrap()
        .get(0);
    let readable = |owner: &mut postgres::Client| {
        owner
            .query_one(&format!("SELECT count(*) FROM {snapshot}"), &[])
            .map(|row| row.get::<_, i64>(0))
    };
    // The owner reads its snapshot (create_sync let it), also after a run
    // that diffed its keys as it read them.
    assert_eq!(readable(&mut owner).unwrap(), ROWS);
    // One that may not is lent it for that statement only.
    db.client
        .batch_execute(&format!("REVOKE SELECT ON {snapshot} FROM \"{role}\""))
        .unwrap();
    owner
        .batch_execute(
            "UPDATE armed SET now = false;
             UPDATE users SET email = 'eight@x.io' WHERE id = 8;",
        )
        .unwrap();
    let before = reads(&mut owner);
    let lent = run(&mut owner);
    assert_eq!(db.run_summary(lent).succeeded, [0, 1, 0]);
    assert_eq!(
        reads(&mut owner) - before,
        2,
        "the keys, then the changed row"
    );
    let denied = readable(&mut owner).unwrap_err();
    assert_eq!(
        denied.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{denied}"
    );
    drop(owner);
    db.drop_with_roles(&[&role]);
}
