//! A shared database: two ordinary roles, alice and bob, with only
//! `GRANT USAGE ON SCHEMA reverse_etl` (the one documented grant). Runs hold
//! only their owner's privileges, every object is its owner's alone, secrets
//! stay secret, and nothing a user creates makes the extension run their
//! code with more privilege than they have.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::{connect_with_notices, TestDb};
use fake_crm::FakeCrm;
use postgres::Client;
use std::time::Duration;

/// A database with alice and bob, each with a schema of their own (first on
/// their search_path) and the one grant.
fn shared(test: &str) -> (TestDb, String, String) {
    let mut db = TestDb::new(test);
    let alice = format!("alice_{}", db.name);
    let bob = format!("bob_{}", db.name);
    for role in [&alice, &bob] {
        db.create_ordinary_role(role);
    }
    (db, alice, bob)
}

/// The roles go once the test is done (their objects are in its database).
fn finish(db: &mut TestDb, roles: &[&str]) {
    db.drop_with_roles(roles);
}

/// Alice's sync of her users into her contacts table, and a sequence of it.
fn alice_sync(db: &TestDb, alice: &str) -> Client {
    let mut client = db.connect_as(alice);
    client
        .batch_execute(
            "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text);
             INSERT INTO users SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 20) g;
             CREATE TABLE contacts (email text PRIMARY KEY, plan text);
             SELECT reverse_etl.create_model('alice_users', 'SELECT id, email, plan FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('alice_db', 'postgres');
             SELECT reverse_etl.create_sync('alice_sync', 'alice_users', 'alice_db',
               '{\"mode\": \"upsert\", \"object\": \"contacts\", \"match\": {\"from\": \"email\", \"to\": \"email\"},
                 \"mappings\": [{\"from\": \"plan\", \"to\": \"plan\"}], \"batch_size\": 5}');
             SELECT reverse_etl.create_sequence('alice_nightly', '[\"alice_sync\"]');",
        )
        .unwrap();
    client
}

fn error(client: &mut Client, sql: &str) -> (String, String) {
    match client.batch_execute(sql) {
        Ok(()) => panic!("expected an error from: {sql}"),
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
            (db.code().code().to_string(), db.message().to_string())
        }
    }
}

fn json_of(client: &mut Client, sql: &str) -> serde_json::Value {
    let text: String = client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {}", common::describe(&e)))
        .get(0);
    serde_json::from_str(&text).unwrap()
}

fn i64_of(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {}", common::describe(&e)))
        .get(0)
}

#[test]
fn a_users_checks_casts_and_triggers_run_as_that_user_never_as_superuser() {
    let (mut db, alice_role, bob_role) = shared("sec_code");
    let mut alice = db.connect_as(&alice_role);
    // A function that notes who runs it and whether that role is a superuser.
    alice
        .batch_execute(
            "CREATE TABLE spied (who name, super bool, at text);
             CREATE FUNCTION spy(place text) RETURNS bool LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO spied SELECT current_user, rolsuper, place FROM pg_roles WHERE rolname = current_user;
               RETURN true;
             END $$;
             CREATE DOMAIN checked AS text CHECK (spy('domain check'));
             CREATE TYPE mood AS ENUM ('ok', 'fine');
             CREATE FUNCTION mood_json(m mood) RETURNS json LANGUAGE plpgsql AS $$
             BEGIN PERFORM spy('cast to json'); RETURN to_json(m::text); END $$;
             CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood);
             CREATE FUNCTION on_write() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM spy('trigger'); RETURN NEW; END $$;
             CREATE TABLE src (id int PRIMARY KEY, email text, plan text, feel mood);
             INSERT INTO src VALUES (1, 'a@x.io', 'free', 'ok'), (2, 'b@x.io', NULL, 'fine');
             CREATE TABLE target (email text PRIMARY KEY, plan checked NOT NULL, feel text);
             CREATE TRIGGER on_write BEFORE INSERT OR UPDATE ON target FOR EACH ROW EXECUTE FUNCTION on_write();
             SELECT reverse_etl.create_destination('d', 'postgres');
             SELECT reverse_etl.create_model('m', 'SELECT id, email, plan, feel FROM src', ARRAY['id']);",
        )
        .unwrap();
    alice
        .batch_execute(
            "SELECT reverse_etl.create_sync('s', 'm', 'd', '{\"mode\": \"upsert\", \"object\": \"target\",
               \"match\": {\"from\": \"email\", \"to\": \"email\"},
               \"mappings\": [{\"from\": \"plan\", \"to\": \"plan\"}, {\"from\": \"feel\", \"to\": \"feel\"}]}');",
        )
        .unwrap();
    // The run writes the table (domain check, trigger), rejects the NULL
    // plan and logs its fields (the enum's cast to json); a preview shows
    // sample fields (the cast again); a test row writes one.
    let run = i64_of(&mut alice, "SELECT reverse_etl.sync_run('s')");
    alice
        .batch_execute("SELECT reverse_etl.sync_plan('s')")
        .unwrap();
    alice
        .batch_execute(
            "SELECT reverse_etl.sync_test_row('s', '1', 'changed', '{\"plan\": \"team\"}')",
        )
        .unwrap();
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "warning", "{summary:?}");
    assert_eq!(summary.rejected[0], 1);
    let places = db.rows(&format!(
        "SELECT DISTINCT who::text = '{alice_role}', super, at FROM {alice_role}.spied ORDER BY at"
    ));
    assert_eq!(
        places,
        vec!["t|f|cast to json", "t|f|domain check", "t|f|trigger"],
        "alice's code ran, and only as alice"
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn a_users_settings_and_deferred_triggers_never_reach_the_workers_own_work() {
    let (mut db, alice_role, bob_role) = shared("sec_escape");
    let mut alice = db.connect_as(&alice_role);
    // An `=` on bigint that notes who runs it, and a deferred constraint
    // trigger (which would fire at commit, as whoever commits) on a second
    // target table.
    alice
        .batch_execute(&format!(
            "CREATE TABLE spied (who name, super bool, at text);
             GRANT INSERT ON spied TO PUBLIC;
             CREATE FUNCTION spy(place text) RETURNS bool LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO {alice_role}.spied SELECT current_user, rolsuper, place FROM pg_catalog.pg_roles WHERE rolname = current_user;
               RETURN true;
             END $$;
             CREATE FUNCTION spying_eq(a bigint, b bigint) RETURNS bool LANGUAGE plpgsql AS $$
             BEGIN PERFORM {alice_role}.spy('bigint ='); RETURN a OPERATOR(pg_catalog.=) b; END $$;
             CREATE OPERATOR = (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = spying_eq);
             CREATE FUNCTION at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM {alice_role}.spy('deferred trigger'); RETURN NULL; END $$;
             CREATE TABLE src (id int PRIMARY KEY, email text);
             INSERT INTO src VALUES (1, 'a@x.io'), (2, 'b@x.io');
             CREATE TABLE target (email text PRIMARY KEY);
             CREATE TABLE deferring (email text PRIMARY KEY);
             CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON deferring DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW EXECUTE FUNCTION at_commit();
             SELECT reverse_etl.create_destination('d', 'postgres');
             -- The model puts her schema, with its `=`, first on the
             -- session's search_path (a plain set_config, not a local one).
             SELECT reverse_etl.create_model('m',
               'SELECT id, email FROM {alice_role}.src WHERE pg_catalog.set_config(''search_path'', ''{alice_role}, pg_catalog'', false) IS NOT NULL',
               ARRAY['id']);
             SELECT reverse_etl.create_model('plain', 'SELECT id, email FROM {alice_role}.src', ARRAY['id']);
             SELECT reverse_etl.create_sync('s', 'm', 'd', '{{\"mode\": \"upsert\", \"object\": \"target\",
               \"match\": {{\"from\": \"email\", \"to\": \"email\"}}}}');
             SELECT reverse_etl.create_sync('deferred', 'plain', 'd', '{{\"mode\": \"upsert\", \"object\": \"deferring\",
               \"match\": {{\"from\": \"email\", \"to\": \"email\"}}}}');"
        ))
        .unwrap();
    // Twice: the second run may be done by the same (warm) worker, which
    // must not have kept her search_path either.
    for _ in 0..2 {
        let run = i64_of(
            &mut alice,
            "SELECT reverse_etl.sync_run('s', full_resync => true)",
        );
        let summary = db.run_summary(run);
        assert_eq!(summary.status, "succeeded", "{summary:?}");
    }
    // A deferred trigger cannot be queued in a security-restricted
    // operation (PostgreSQL refuses it), so it never fires at commit.
    let run = db.i64("SELECT reverse_etl.sync_run('deferred', wait => false)");
    db.wait_for(
        "the run to end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {run}"),
        std::time::Duration::from_secs(30),
    );
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "failed", "{summary:?}");
    let error = db.text(&format!(
        "SELECT error FROM reverse_etl.sync_runs WHERE id = {run}"
    ));
    assert!(
        error.as_deref().is_some_and(
            |e| e.contains("cannot fire deferred trigger within security-restricted operation")
        ),
        "{error:?}"
    );
    assert_eq!(
        db.rows(&format!("SELECT DISTINCT at FROM {alice_role}.spied")),
        Vec::<String>::new(),
        "her `=` never ran for the worker's bookkeeping, her deferred trigger never as anyone"
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

/// A first run reads the model straight into the run's ops table, which
/// the model's owner may insert into while it runs: whatever her code
/// writes there is refused, or never delivered.
#[test]
fn a_model_cannot_plant_operations_in_a_first_run() {
    let (mut db, alice_role, bob_role) = shared("sec_first_run");
    let mut alice = db.connect_as(&alice_role);
    // plant(row) adds a row to the running run's ops table, and a view on
    // it (which must not keep it from being dropped); errors (the table is
    // gone when the model is read again) are swallowed.
    alice
        .batch_execute(
            "CREATE TABLE src (id int PRIMARY KEY, email text);
             INSERT INTO src VALUES (1, 'a@x.io'), (2, 'b@x.io'), (3, 'c@x.io');
             CREATE TABLE target (email text PRIMARY KEY);
             CREATE TABLE planted (row text);
             CREATE FUNCTION plant() RETURNS bool LANGUAGE plpgsql AS $$
             DECLARE r text;
             BEGIN
               FOR r IN SELECT row FROM planted LOOP
                 BEGIN
                   EXECUTE format('INSERT INTO reverse_etl_state.run_%s_ops (pos, op, op_rank, row_id, row_hash, match_key, delivered_under, c1) VALUES %s',
                     (SELECT max(id) FROM reverse_etl.sync_runs), r);
                 EXCEPTION WHEN undefined_table THEN NULL;
                 END;
                 BEGIN
                   EXECUTE format('CREATE VIEW pin AS SELECT * FROM reverse_etl_state.run_%s_ops',
                     (SELECT max(id) FROM reverse_etl.sync_runs));
                 EXCEPTION WHEN OTHERS THEN NULL;
                 END;
               END LOOP;
               DELETE FROM planted;
               RETURN true;
             END $$;
             CREATE FUNCTION extra_position() RETURNS bool LANGUAGE sql AS
               'SELECT reverse_etl._next_position(false) > 0';
             SELECT reverse_etl.create_destination('d', 'postgres');
             SELECT reverse_etl.create_model('planting', 'SELECT id, email FROM src WHERE plant()', ARRAY['id']);
             SELECT reverse_etl.create_model('counting', 'SELECT id, email FROM src WHERE extra_position()', ARRAY['id']);
             SELECT reverse_etl.create_sync('s', 'planting', 'd', '{\"mode\": \"upsert\", \"object\": \"target\",
               \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
             SELECT reverse_etl.create_sync('c', 'counting', 'd', '{\"mode\": \"upsert\", \"object\": \"target\",
               \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
        )
        .unwrap();
    let run_status = |alice: &mut Client, sync: &str| {
        let run = i64_of(
            alice,
            &format!("SELECT reverse_etl.sync_run('{sync}', full_resync => true, raise_on_failure => false)"),
        );
        let row = alice
            .query_one(
                "SELECT status, coalesce(error, ''), rows_queried FROM reverse_etl.sync_runs WHERE id = $1",
                &[&run],
            )
            .unwrap();
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, i64>(2),
        )
    };
    // A removal of an earlier configuration's record (another sync's
    // destination, were it read): the table refuses it.
    alice
        .execute(
            "INSERT INTO planted VALUES ('(-9, ''removed'', 1, ''1'', 0, ''a@x.io'', 1, NULL)')",
            &[],
        )
        .unwrap();
    let (status, error, _) = run_status(&mut alice, "s");
    assert_eq!(status, "failed");
    assert!(error.contains("written_by_the_run"), "{error}");
    alice.execute("DELETE FROM planted", &[]).unwrap();
    // An added row that passes the table's check: the counts do not add
    // up, so the model is read again, into a copy, and only its rows go.
    alice
        .execute(
            "INSERT INTO planted VALUES ('(1000, ''added'', 3, ''99'', 0, ''planted@x.io'', NULL, ''planted@x.io'')')",
            &[],
        )
        .unwrap();
    let (status, error, rows) = run_status(&mut alice, "s");
    assert_eq!(
        (status.as_str(), error.as_str(), rows),
        ("succeeded", "", 3)
    );
    assert_eq!(
        db.rows(&format!("SELECT email FROM {alice_role}.target ORDER BY 1")),
        vec!["a@x.io", "b@x.io", "c@x.io"]
    );
    // Positions taken by the model itself leave gaps: refused. The run
    // failed before planning anything: nothing is logged as aborted.
    let (status, error, _) = run_status(&mut alice, "c");
    assert_eq!(status, "failed");
    assert!(error.contains("not 1 to their count"), "{error}");
    assert_eq!(
        db.i64(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = (SELECT max(id) FROM reverse_etl.sync_runs)"
        ),
        0
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_failures WHERE status = 'aborted'"),
        0
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn work_tables_belong_to_the_extension_and_a_view_on_one_cannot_pin_it() {
    let crm = FakeCrm::start();
    crm.delay_all(Duration::from_millis(150));
    let (mut db, alice_role, bob_role) = shared("sec_work");
    let mut alice = db.connect_as(&alice_role);
    alice
        .batch_execute(&format!(
            "CREATE TABLE users (id int PRIMARY KEY, email text);
             INSERT INTO users VALUES (1, 'u1@x.io');
             SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"concurrency\": 1}}');
             SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
               \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
               \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
            crm.url()
        ))
        .unwrap();
    // A first run reads its model straight into its operations; the next
    // one copies it into a work table.
    alice
        .batch_execute(
            "SELECT reverse_etl.sync_run('s');
             INSERT INTO users SELECT g, 'u' || g || '@x.io' FROM generate_series(2, 12) g;",
        )
        .unwrap();
    let run = i64_of(
        &mut alice,
        "SELECT reverse_etl.sync_run('s', wait => false)",
    );
    db.wait_for(
        "delivering",
        &format!("SELECT status = 'in_progress' FROM reverse_etl.sync_runs WHERE id = {run}"),
        Duration::from_secs(30),
    );
    let ops = format!("reverse_etl_state.run_{run}_ops");
    assert_eq!(
        db.rows(&format!(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'reverse_etl_state' AND tablename LIKE 'run_{run}_%'"
        )),
        vec!["postgres"]
    );
    // She may read her run's operations, not own or change them.
    for sql in [
        format!("ALTER TABLE {ops} ADD COLUMN x int"),
        format!("CREATE RULE \"_RETURN\" AS ON SELECT TO {ops} DO INSTEAD SELECT * FROM users"),
        format!("CREATE TRIGGER t BEFORE INSERT ON {ops} FOR EACH ROW EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()"),
        format!("DROP TABLE {ops}"),
        format!("INSERT INTO {ops} (pos) VALUES (-1)"),
    ] {
        let (code, message) = error(&mut alice, &sql);
        assert_eq!(code, "42501", "{sql}: {message}");
    }
    // The model's copy is the worker's temporary table: no other session
    // can touch it at all.
    let rows_table = db.rows(&format!(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = 'run_{run}_rows' AND n.nspname LIKE 'pg_temp_%'"
    ));
    assert_eq!(rows_table.len(), 1, "{rows_table:?}");
    for sql in [
        format!("INSERT INTO {} (row_id) VALUES ('forged')", rows_table[0]),
        format!("SELECT * FROM {}", rows_table[0]),
    ] {
        let (code, message) = error(&mut alice, &sql);
        assert!(
            ["0A000", "42501"].contains(&code.as_str()),
            "{sql}: {code} {message}"
        );
    }
    alice
        .batch_execute(&format!("CREATE VIEW pin AS SELECT * FROM {ops}"))
        .unwrap();
    db.wait_for(
        "the run to end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {run}"),
        Duration::from_secs(60),
    );
    assert_eq!(db.run_summary(run).status, "succeeded");
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'reverse_etl_state' AND tablename LIKE 'run_{run}_%'"
        )),
        0,
        "the work tables are gone; her view went with them"
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn another_roles_objects_are_out_of_reach_and_the_catalog_is_read_only() {
    let (mut db, alice_role, bob_role) = shared("sec_reach");
    let mut alice = alice_sync(&db, &alice_role);
    let run = i64_of(&mut alice, "SELECT reverse_etl.sync_run('alice_sync')");
    // Her own run she may wait for.
    let status: String = alice
        .query_one(&format!("SELECT reverse_etl.wait_for_run({run})"), &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "succeeded");
    let mut bob = db.connect_as(&bob_role);
    bob.batch_execute(
        "CREATE TABLE t (email text PRIMARY KEY);
         SELECT reverse_etl.create_destination('bob_db', 'postgres');
         SELECT reverse_etl.create_model('bob_users', 'SELECT 1 AS id, ''x'' AS email', ARRAY['id']);",
    )
    .unwrap();
    let config = "'{\"mode\": \"upsert\", \"object\": \"t\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}'";
    let attempts = [
        "SELECT reverse_etl.sync_config('alice_sync')".to_string(),
        format!("SELECT reverse_etl.update_sync('alice_sync', {config})"),
        "SELECT reverse_etl.disable_sync('alice_sync')".into(),
        "SELECT reverse_etl.enable_sync('alice_sync')".into(),
        "SELECT reverse_etl.set_sync_folder('alice_sync', 'mine')".into(),
        "SELECT reverse_etl.set_sync_labels('alice_sync', ARRAY['mine'])".into(),
        "SELECT reverse_etl.sync_run('alice_sync')".into(),
        "SELECT reverse_etl.sync_run(1)".into(),
        "SELECT reverse_etl.sync_plan('alice_sync')".into(),
        "SELECT reverse_etl.sync_test_row('alice_sync', '1', dry_run => true)".into(),
        "SELECT reverse_etl.sync_reset_cdc('alice_sync')".into(),
        "SELECT reverse_etl.sync_clear_and_fill('alice_sync')".into(),
        format!("SELECT reverse_etl.cancel_run({run})"),
        format!("SELECT reverse_etl.wait_for_run({run})"),
        format!("SELECT reverse_etl.create_sync('stolen', 'alice_users', 'bob_db', {config})"),
        format!("SELECT reverse_etl.create_sync('stolen', 'bob_users', 'alice_db', {config})"),
        "SELECT reverse_etl.create_sequence('bobs', '[\"alice_sync\"]')".into(),
        "SELECT reverse_etl.sequence_run('alice_nightly')".into(),
        "SELECT reverse_etl.update_sequence('alice_nightly', schedule => '{\"interval\": \"1 hour\"}')".into(),
        "SELECT reverse_etl.disable_sequence('alice_nightly')".into(),
    ];
    let before = db.rows(&before_sql());
    for sql in &attempts {
        let (code, message) = error(&mut bob, sql);
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(
            message.contains("permission denied for sync \"alice_sync\"")
                || message.contains("permission denied for model \"alice_users\"")
                || message.contains("permission denied for destination \"alice_db\"")
                || message.contains("permission denied for sequence \"alice_nightly\""),
            "{sql}: {message}"
        );
    }
    // Straight at the catalog: read-only, and only his own rows.
    for sql in [
        "UPDATE reverse_etl.syncs SET owner = 'postgres'".to_string(),
        "UPDATE reverse_etl.models SET query = 'SELECT 1'".into(),
        "DELETE FROM reverse_etl.sync_runs".into(),
        "INSERT INTO reverse_etl._changelog_entries (run_id, sync_id, status) VALUES (1, 1, 'invalid')"
            .into(),
        "DELETE FROM reverse_etl._changelog_successes".into(),
        "SELECT * FROM reverse_etl._secrets".into(),
        "SELECT * FROM reverse_etl._plan_previews".into(),
        "SELECT reverse_etl._wake_scheduler()".into(),
    ] {
        let (code, message) = error(&mut bob, &sql);
        assert_eq!(code, "42501", "{sql}: {message}");
    }
    // The changelog is a view of the two tables above, not updatable.
    let (code, message) = error(
        &mut bob,
        "INSERT INTO reverse_etl.sync_changelog (run_id, sync_id, status) VALUES (1, 1, 'invalid')",
    );
    assert_eq!(code, "55000", "{message}");
    for table in [
        "syncs",
        "models",
        "destinations",
        "sync_runs",
        "sync_changelog",
        "_changelog_entries",
        "_changelog_successes",
        "sync_activity",
        "sequences",
        "sequence_runs",
        "sync_overview",
        "sequence_run_details",
    ] {
        let alices = i64_of(
            &mut bob,
            &format!(
                "SELECT count(*) FROM reverse_etl.{table} WHERE {}",
                if table == "sync_overview" {
                    "name = 'alice_sync'".to_string()
                } else if (table.starts_with("sync_") && table != "syncs")
                    || table.starts_with("_changelog")
                {
                    "sync_id = 1".to_string()
                } else if table == "sequence_run_details" {
                    "sequence = 'alice_nightly'".to_string()
                } else if table == "sequence_runs" {
                    "sequence_id = 1".to_string()
                } else {
                    "true".to_string()
                }
            ),
        );
        let expected = match table {
            "models" | "destinations" => 1, // his own
            _ => 0,
        };
        assert_eq!(alices, expected, "bob reads {table}");
    }
    assert_eq!(
        db.rows(&before_sql()),
        before,
        "bob's attempts changed nothing"
    );
    // Alice reads her own.
    assert_eq!(
        i64_of(
            &mut alice,
            "SELECT count(*) FROM reverse_etl.sync_changelog"
        ),
        20
    );
    assert_eq!(
        i64_of(&mut alice, "SELECT count(*) FROM reverse_etl.sync_overview"),
        1
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

fn before_sql() -> String {
    "SELECT s.config::text, s.enabled, s.folder, s.labels::text, (SELECT count(*) FROM reverse_etl.sync_runs), \
            (SELECT count(*) FROM reverse_etl.sequence_runs), (SELECT count(*) FROM reverse_etl.syncs), \
            q.schedule::text, q.enabled FROM reverse_etl.syncs s, reverse_etl.sequences q"
        .into()
}

#[test]
fn secrets_are_their_owners_and_never_appear_anywhere() {
    let crm = FakeCrm::start();
    let (mut db, alice_role, bob_role) = shared("sec_secrets");
    let mut alice = db.connect_as(&alice_role);
    let mut bob = db.connect_as(&bob_role);
    alice
        .batch_execute(&format!(
            "SELECT reverse_etl.set_secret('token', 'alice-s3cret');
             CREATE TABLE users (id int PRIMARY KEY, email text);
             INSERT INTO users VALUES (1, 'a@x.io');
             SELECT reverse_etl.create_model('m', 'SELECT id, email FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\",
               \"headers\": {{\"Authorization\": {{\"secret\": \"token\"}}}}, \"retry\": {{\"max_attempts\": 1}}}}');
             SELECT reverse_etl.create_sync('s', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
               \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
               \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
            crm.url()
        ))
        .unwrap();
    // Bob cannot use her secret: his "token" is his own namespace.
    let (code, message) = error(
        &mut bob,
        &format!(
            "SELECT reverse_etl.create_destination('steal', 'http', '{{\"url\": \"{}\", \"headers\": {{\"X\": {{\"secret\": \"token\"}}}}}}')",
            crm.url()
        ),
    );
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "42704",
            "config.headers.X.secret: secret \"token\" does not exist"
        )
    );
    bob.batch_execute("SELECT reverse_etl.set_secret('token', 'bob-value')")
        .unwrap();
    assert_eq!(
        i64_of(&mut bob, "SELECT count(*) FROM reverse_etl.secrets"),
        1
    );
    assert_eq!(
        i64_of(&mut alice, "SELECT count(*) FROM reverse_etl.secrets"),
        1
    );
    // Her run still sends her value.
    let run = i64_of(&mut alice, "SELECT reverse_etl.sync_run('s')");
    assert_eq!(db.run_summary(run).status, "succeeded");
    assert_eq!(
        crm.requests()
            .last()
            .unwrap()
            .header("Authorization")
            .as_deref(),
        Some("alice-s3cret")
    );
    // A value a header cannot carry is refused by the secret's name: the
    // value appears in no error, warning or log row.
    alice
        .batch_execute("SELECT reverse_etl.set_secret('token', E'alice-s3cret\\n'); UPDATE users SET email = 'b@x.io'")
        .unwrap();
    let (mut watched, notices) = connect_with_notices(&db.name, &alice_role);
    let failed: i64 = watched
        .query_one(
            "SELECT reverse_etl.sync_run('s', raise_on_failure => false)",
            &[],
        )
        .unwrap()
        .get(0);
    let summary = db.run_summary(failed);
    assert_eq!(summary.status, "failed");
    assert!(
        summary
            .error
            .contains("secret \"token\" holds a line break"),
        "{}",
        summary.error
    );
    let everything = format!(
        "{} {:?} {:?}",
        summary.error,
        notices.lock().unwrap(),
        db.rows("SELECT coalesce(reason, '') || coalesce(fields::text, '') FROM reverse_etl.sync_changelog")
    );
    assert!(!everything.contains("alice-s3cret"), "{everything}");
    let (_, tested) = error(
        &mut alice,
        "SELECT reverse_etl.sync_test_row('s', '1', dry_run => true)",
    );
    assert!(
        tested.contains("secret \"token\" holds a line break") && !tested.contains("alice-s3cret"),
        "{tested}"
    );
    // delete_secret: refused while her destination uses it, her own only.
    let (code, _) = error(&mut alice, "SELECT reverse_etl.delete_secret('token')");
    assert_eq!(code, "2BP01");
    bob.batch_execute("SELECT reverse_etl.delete_secret('token')")
        .unwrap();
    assert_eq!(
        i64_of(&mut alice, "SELECT count(*) FROM reverse_etl.secrets"),
        1
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn quoting_holds_with_standard_conforming_strings_off() {
    let mut db = TestDb::new("sec_quoting");
    let name = db.name.clone();
    db.exec(&format!(
        "ALTER DATABASE {name} SET standard_conforming_strings = off"
    ));
    let mut db2 = db.connect_as("postgres");
    db2.batch_execute(
        r#"CREATE TABLE canary (x int);
           CREATE TABLE src (k text, email text);
           INSERT INTO src VALUES ('a', 'a@x.io'), ('a', 'dup@x.io'), ('b', 'b@x.io');
           CREATE TABLE target (email text PRIMARY KEY);
           SELECT reverse_etl.create_model('m', $q$SELECT k AS "it's \'); DROP TABLE canary; --", email FROM src$q$,
                                           ARRAY[$k$it's \'); DROP TABLE canary; --$k$]);
           SELECT reverse_etl.create_destination('d', 'postgres');
           SELECT reverse_etl.create_sync('s', 'm', 'd', '{"mode": "upsert", "object": "target", "match": {"from": "email", "to": "email"}}');"#,
    )
    .unwrap();
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.invalid),
        ("warning", 2),
        "{summary:?}"
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM canary"),
        0,
        "the canary table is still there"
    );
    let reasons =
        db.rows("SELECT DISTINCT reason FROM reverse_etl.sync_changelog WHERE status = 'invalid'");
    assert_eq!(
        reasons,
        vec![r"duplicate primary key (it's \'); DROP TABLE canary; --): 2 rows share it"]
    );
}

#[test]
fn an_ordinary_role_does_everything_on_its_own_syncs() {
    let (mut db, alice_role, bob_role) = shared("sec_happy");
    let mut alice = alice_sync(&db, &alice_role);
    // Run, watch, plan, test a row, a sequence.
    let run = i64_of(&mut alice, "SELECT reverse_etl.sync_run('alice_sync')");
    assert_eq!(
        i64_of(
            &mut alice,
            &format!("SELECT succeeded_added FROM reverse_etl.sync_runs WHERE id = {run}")
        ),
        20
    );
    assert_eq!(i64_of(&mut alice, "SELECT count(*) FROM contacts"), 20);
    alice
        .batch_execute("UPDATE users SET plan = 'pro' WHERE id <= 3")
        .unwrap();
    let plan = json_of(
        &mut alice,
        "SELECT reverse_etl.sync_plan('alice_sync')::text",
    );
    assert_eq!(plan["changed"], 3, "{plan}");
    let test = json_of(
        &mut alice,
        "SELECT reverse_etl.sync_test_row('alice_sync', '1', 'changed')::text",
    );
    assert_eq!(test["responses"][0]["rows_affected"], 1, "{test}");
    alice
        .batch_execute("SELECT reverse_etl.sequence_run('alice_nightly')")
        .unwrap();
    assert_eq!(
        i64_of(
            &mut alice,
            "SELECT count(*) FROM reverse_etl.sequence_run_details WHERE step_status = 'succeeded'"
        ),
        1
    );
    // Her table, named on her search_path, is stored schema-qualified: runs
    // find it whatever their search_path.
    let object: String = alice
        .query_one(
            "SELECT reverse_etl.sync_config('alice_sync')->>'object'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(object, format!("{alice_role}.contacts"));
    // Cancel her own run (the model sleeps, so it is still querying).
    alice
        .batch_execute(
            "SELECT reverse_etl.create_model('slow', 'SELECT id, email, plan FROM users, pg_sleep(0.2)', ARRAY['id']);
             SELECT reverse_etl.create_sync('slow_sync', 'slow', 'alice_db', '{\"mode\": \"upsert\", \"object\": \"contacts\",
               \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
        )
        .unwrap();
    let slow = i64_of(
        &mut alice,
        "SELECT reverse_etl.sync_run('slow_sync', wait => false)",
    );
    db.wait_for(
        "querying",
        &format!("SELECT status = 'querying' FROM reverse_etl.sync_runs WHERE id = {slow}"),
        Duration::from_secs(30),
    );
    let cancelled: bool = alice
        .query_one(&format!("SELECT reverse_etl.cancel_run({slow})"), &[])
        .unwrap()
        .get(0);
    assert!(cancelled);
    db.wait_for(
        "the cancelled run to end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {slow}"),
        Duration::from_secs(30),
    );
    let cancelled_run = db.run_summary(slow);
    assert_eq!(cancelled_run.status, "incomplete", "{cancelled_run:?}");
    // Actors are current_user: a superuser acting as alice is logged as alice.
    db.exec(&format!(
        "SET ROLE {alice_role}; SELECT reverse_etl.set_sync_folder('alice_sync', 'CRM'); RESET ROLE"
    ));
    assert_eq!(
        db.text("SELECT actor::text FROM reverse_etl.sync_activity WHERE action = 'folder'"),
        Some(alice_role.clone())
    );
    assert_eq!(
        db.text("SELECT created_by::text FROM reverse_etl.syncs WHERE name = 'alice_sync'"),
        Some(alice_role.clone())
    );
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn the_monitoring_grant_sees_statuses_and_runs_but_no_row_data() {
    let (mut db, alice_role, bob_role) = shared("sec_monitor");
    let mut alice = alice_sync(&db, &alice_role);
    i64_of(&mut alice, "SELECT reverse_etl.sync_run('alice_sync')");
    db.exec(&format!("GRANT pg_monitor TO {bob_role}"));
    let mut bob = db.connect_as(&bob_role);
    assert_eq!(
        i64_of(&mut bob, "SELECT count(*) FROM reverse_etl.sync_overview WHERE name = 'alice_sync' AND status = 'Healthy'"),
        1
    );
    assert_eq!(
        i64_of(&mut bob, "SELECT count(*) FROM reverse_etl.sync_runs"),
        1
    );
    assert_eq!(
        i64_of(&mut bob, "SELECT count(*) FROM reverse_etl.sync_changelog"),
        0,
        "no row data"
    );
    assert_eq!(
        i64_of(&mut bob, "SELECT count(*) FROM reverse_etl.secrets"),
        0
    );
    // Seeing is not using.
    let (code, _) = error(&mut bob, "SELECT reverse_etl.sync_run('alice_sync')");
    assert_eq!(code, "42501");
    finish(&mut db, &[&alice_role, &bob_role]);
}

#[test]
fn a_file_sync_never_writes_another_syncs_file_and_paths_outside_reveal_nothing() {
    let (mut db, alice_role, bob_role) = shared("sec_files");
    let dir = format!("/tmp/pg_reverse_etl_files/{}", db.name);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::process::Command::new("chmod")
        .args(["777", &dir])
        .status();
    let mut alice = db.connect_as(&alice_role);
    let mut bob = db.connect_as(&bob_role);
    for (client, who) in [(&mut alice, "a"), (&mut bob, "b")] {
        client
            .batch_execute(&format!(
                "CREATE TABLE users (id int PRIMARY KEY, email text);
                 INSERT INTO users VALUES (1, '{who}@x.io');
                 SELECT reverse_etl.create_model('{who}_m', 'SELECT id, email FROM users', ARRAY['id']);
                 SELECT reverse_etl.create_destination('{who}_files', 'file', '{{\"directory\": \"{dir}\"}}');
                 SELECT reverse_etl.create_sync('{who}_s', '{who}_m', '{who}_files', '{{\"mode\": \"snapshot\", \"file\": \"shared\"}}');"
            ))
            .unwrap();
    }
    let first = i64_of(&mut alice, "SELECT reverse_etl.sync_run('a_s')");
    assert_eq!(db.run_summary(first).status, "succeeded");
    let second = i64_of(&mut alice, "SELECT reverse_etl.sync_run('a_s')");
    assert_eq!(
        db.run_summary(second).status,
        "succeeded",
        "a sync rewrites its own file"
    );
    let stolen = i64_of(
        &mut bob,
        "SELECT reverse_etl.sync_run('b_s', raise_on_failure => false)",
    );
    let summary = db.run_summary(stolen);
    assert_eq!(summary.status, "failed");
    assert!(
        summary
            .error
            .contains("shared.csv in the destination's directory was written by sync"),
        "{}",
        summary.error
    );
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/shared.csv")).unwrap(),
        "id,email\r\n1,a@x.io\r\n"
    );
    // A file the extension did not write (here a symlink) is never replaced.
    std::os::unix::fs::symlink("/etc/passwd", format!("{dir}/planted.csv")).unwrap();
    bob.batch_execute(
        "SELECT reverse_etl.update_sync('b_s', '{\"mode\": \"snapshot\", \"file\": \"planted\"}')",
    )
    .unwrap();
    let planted = i64_of(
        &mut bob,
        "SELECT reverse_etl.sync_run('b_s', raise_on_failure => false)",
    );
    assert!(db
        .run_summary(planted)
        .error
        .contains("exists and was not written by pg_reverse_etl"));
    // Files are rw-r-----.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(format!("{dir}/shared.csv"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    // Outside the allowed directories nothing about a path is told.
    for outside in [
        "/etc/ssl/private",
        "/nonexistent/dir",
        "/tmp/pg_reverse_etl_files/../../etc",
        "relative/dir",
    ] {
        let (code, message) = error(
            &mut bob,
            &format!("SELECT reverse_etl.create_destination('x', 'file', '{{\"directory\": \"{outside}\"}}')"),
        );
        assert_eq!(
            (code.as_str(), message),
            ("42501", format!("config.directory: \"{outside}\" is not inside reverse_etl.file_allowed_directories"))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    finish(&mut db, &[&alice_role, &bob_role]);
}
