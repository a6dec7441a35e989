//! The lifecycle of models, destinations, syncs and sequences managed as
//! code: definitions applied idempotently (replace => true), changed in place
//! with their dependants checked again, and dropped with their state, keeping
//! or removing their history.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;

use common::TestDb;
use fake_crm::FakeCrm;
use std::time::Duration;

const DEPLOY: &str = "
    SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id'], replace => true);
    SELECT reverse_etl.create_destination('local', 'postgres', replace => true);
    SELECT reverse_etl.create_sync('users_to_crm', 'users', 'local',
      '{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {\"from\": \"email\", \"to\": \"email\"},
        \"mappings\": [{\"from\": \"plan\", \"to\": \"plan\"}]}', replace => true);
    SELECT reverse_etl.create_sequence('nightly', '[\"users_to_crm\"]', replace => true);
";

fn setup(test: &str) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text);
         INSERT INTO users SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 5) g;
         CREATE TABLE crm (email text PRIMARY KEY, plan text, user_id int);",
    );
    db.exec(DEPLOY);
    db
}

/// Everything a re-run of a deploy script could touch.
fn definitions(db: &mut TestDb) -> Vec<String> {
    db.rows(
        "SELECT 'model', id, name, query, primary_key::text, updated_at::text FROM reverse_etl.models
         UNION ALL SELECT 'destination', id, name, kind, config::text, updated_at::text FROM reverse_etl.destinations
         UNION ALL SELECT 'sync', id, name, model_id::text, config::text, updated_at::text FROM reverse_etl.syncs
         UNION ALL SELECT 'sequence', id, name, steps::text, schedule::text, updated_at::text FROM reverse_etl.sequences
         UNION ALL SELECT 'activity', count(*), '', '', '', '' FROM reverse_etl.sync_activity
         ORDER BY 1, 2",
    )
}

#[test]
fn a_deploy_script_runs_again_as_a_no_op_and_a_changed_one_updates_in_place() {
    let mut db = setup("lifecycle_replace");
    let before = definitions(&mut db);
    db.exec(DEPLOY);
    assert_eq!(
        definitions(&mut db),
        before,
        "re-running the script changed something"
    );

    let sync = db.i64("SELECT id FROM reverse_etl.syncs WHERE name = 'users_to_crm'");
    let run = db.run("users_to_crm");
    assert_eq!(db.run_summary(run).succeeded, [5, 0, 0]);

    // A changed definition: same ids, history kept, the change logged.
    db.exec(
        &DEPLOY
            .replace(
                "SELECT id, email, plan FROM users",
                "SELECT id, email, upper(plan) AS plan FROM users",
            )
            .replace("\"mappings\"", "\"batch_size\": 2, \"mappings\""),
    );
    assert_eq!(
        db.i64("SELECT id FROM reverse_etl.syncs WHERE name = 'users_to_crm'"),
        sync
    );
    assert_eq!(
        db.text("SELECT query FROM reverse_etl.models WHERE name = 'users'")
            .unwrap(),
        "SELECT id, email, upper(plan) AS plan FROM users"
    );
    assert_eq!(
        db.i64("SELECT (config->>'batch_size')::bigint FROM reverse_etl.syncs"),
        2
    );
    assert_eq!(
        db.rows("SELECT action FROM reverse_etl.sync_activity ORDER BY id"),
        ["created", "model_changed", "updated"]
    );
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_runs"), 1);
    // The snapshot was kept: the next run sends only what changed (every plan).
    let run = db.run("users_to_crm");
    assert_eq!(db.run_summary(run).succeeded, [0, 5, 0]);
    assert_eq!(db.i64("SELECT count(*) FROM crm WHERE plan = 'FREE'"), 5);

    // What a sync sends and where cannot change in place.
    db.exec("CREATE TABLE others (id int PRIMARY KEY, email text);
             SELECT reverse_etl.create_model('others', 'SELECT id, email FROM others', ARRAY['id']);");
    let before = definitions(&mut db);
    let (code, message) = db.error(
        "SELECT reverse_etl.create_sync('users_to_crm', 'others', 'local',
           '{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}', replace => true)",
    );
    assert_eq!(code, "22023");
    assert!(
        message.starts_with("model: sync \"users_to_crm\" sends another model"),
        "{message}"
    );
    let (code, message) =
        db.error("SELECT reverse_etl.create_destination('local', 'http', '{\"url\": \"http://127.0.0.1:1\"}', replace => true)");
    assert_eq!(code, "22023");
    assert!(
        message.starts_with("kind: destination \"local\" is of kind postgres"),
        "{message}"
    );
    // Without replace a taken name is still an error.
    let (code, _) =
        db.error("SELECT reverse_etl.create_model('users', 'SELECT 1 AS id', ARRAY['id'])");
    assert_eq!(code, "42710");
    assert_eq!(definitions(&mut db), before);
}

#[test]
fn update_model_checks_every_sync_and_refuses_or_disables_what_it_would_break() {
    let mut db = setup("lifecycle_update_model");
    db.run("users_to_crm");
    let before = definitions(&mut db);

    // The mapped column goes: refused, naming the sync and the field.
    let (code, message) = db
        .error("SELECT reverse_etl.update_model('users', query => 'SELECT id, email FROM users')");
    assert_eq!(code, "42703", "{message}");
    assert!(
        message.starts_with("sync \"users_to_crm\": mappings[0].from:") && message.contains("plan"),
        "{message}"
    );
    assert_eq!(
        definitions(&mut db),
        before,
        "a refused change changed something"
    );
    // Bad input to update_model itself.
    let (code, message) =
        db.error("SELECT reverse_etl.update_model('users', primary_key => ARRAY['nope'])");
    assert_eq!(code, "42703", "{message}");
    assert!(message.starts_with("primary_key"), "{message}");
    let (code, _) =
        db.error("SELECT reverse_etl.update_model('nobody', query => 'SELECT 1 AS id')");
    assert_eq!(code, "42704");
    assert_eq!(definitions(&mut db), before);

    // With force the model changes and the sync it breaks is disabled, with why.
    db.exec("SELECT reverse_etl.update_model('users', query => 'SELECT id, email FROM users', force => true)");
    assert_eq!(
        db.text("SELECT enabled::text FROM reverse_etl.syncs")
            .unwrap(),
        "false"
    );
    let reason = db
        .text(
            "SELECT new_value->>'reason' FROM reverse_etl.sync_activity WHERE action = 'disabled'",
        )
        .unwrap();
    assert!(
        reason.starts_with("sync \"users_to_crm\": mappings[0].from:"),
        "{reason}"
    );

    // Fixed, re-enabled; then a new primary key: the next run sends every row as added.
    db.exec(
        "SELECT reverse_etl.update_model('users', query => 'SELECT id, email, plan FROM users');
         SELECT reverse_etl.enable_sync('users_to_crm');
         SELECT reverse_etl.update_model('users', primary_key => ARRAY['email']);",
    );
    assert_eq!(
        db.rows("SELECT action FROM reverse_etl.sync_activity ORDER BY id")
            .last()
            .map(String::as_str),
        Some("reset_cdc")
    );
    let run = db.run("users_to_crm");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.succeeded, summary.status.as_str()),
        ([5, 0, 0], "succeeded")
    );
    let ids = db.rows("SELECT row_id FROM reverse_etl.sync_changelog WHERE run_id = (SELECT max(id) FROM reverse_etl.sync_runs) ORDER BY 1 LIMIT 1");
    assert_eq!(ids, ["u1@x.io"], "rows are identified by the new key");
}

#[test]
fn update_destination_is_validated_and_applies_to_the_next_run() {
    let (old_crm, new_crm) = (FakeCrm::start(), FakeCrm::start());
    let mut db = setup("lifecycle_update_destination");
    db.exec(&format!(
        "SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\"}}');
         SELECT reverse_etl.create_sync('to_api', 'users', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{{\"from\": \"plan\", \"to\": \"plan\"}}],
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}},
                           \"changed\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}}}}');",
        old_crm.url()
    ));
    let run = db.run("to_api");
    let summary = db.run_summary(run);
    assert_eq!(summary.succeeded, [5, 0, 0], "{summary:?}");
    let before = definitions(&mut db);
    for (config, field) in [
        ("{\"url\": \"ftp://x\"}", "url"),
        ("{\"bogus\": 1}", "bogus"),
        ("{\"url\": 42}", "url"),
    ] {
        let (code, message) = db.error(&format!(
            "SELECT reverse_etl.update_destination('api', '{config}')"
        ));
        assert_eq!(code, "22023", "{config}: {message}");
        assert!(message.contains(field), "{config}: {message}");
    }
    assert_eq!(
        definitions(&mut db),
        before,
        "a refused change changed something"
    );
    // The same config is a no-op; a new one is used by the next run and logged.
    db.exec(&format!(
        "SELECT reverse_etl.update_destination('api', '{{\"url\": \"{}\"}}')",
        old_crm.url()
    ));
    assert_eq!(definitions(&mut db), before);
    db.exec(&format!(
        "SELECT reverse_etl.update_destination('api', '{{\"url\": \"{}\"}}');
         UPDATE users SET plan = 'pro' WHERE id = 1;",
        new_crm.url()
    ));
    let run = db.run("to_api");
    assert_eq!(db.run_summary(run).succeeded, [0, 1, 0]);
    assert_eq!((old_crm.request_count(), new_crm.request_count()), (5, 1));
    assert_eq!(
        db.text("SELECT action FROM reverse_etl.sync_activity WHERE sync_id = (SELECT id FROM reverse_etl.syncs WHERE name = 'to_api') ORDER BY id DESC LIMIT 1").unwrap(),
        "destination_changed"
    );
}

#[test]
fn dropping_a_sync_removes_its_state_and_keeps_or_removes_its_history() {
    let mut db = setup("lifecycle_drop_sync");
    let first = db.i64("SELECT id FROM reverse_etl.syncs");
    db.run("users_to_crm");
    db.exec("DELETE FROM users WHERE id = 5");
    db.run("users_to_crm");
    let state =
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'reverse_etl_state'::regnamespace";
    assert!(db.i64(state) > 0);

    // Still in a sequence: refused, naming it.
    let before = definitions(&mut db);
    let (code, message) = db.error("SELECT reverse_etl.drop_sync('users_to_crm')");
    assert_eq!(code, "2BP01");
    assert_eq!(
        message,
        "sync: cannot drop sync \"users_to_crm\": sequence \"nightly\" uses it"
    );
    assert_eq!(definitions(&mut db), before);

    db.exec("SELECT reverse_etl.drop_sync('users_to_crm', cascade => true)");
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.syncs"), 0);
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sequences"), 0);
    assert_eq!(db.i64(state), 0, "nothing is left in reverse_etl_state");
    // The history stays, joined through dropped_objects.
    assert_eq!(
        db.rows(
            "SELECT d.kind, d.name, count(r.id) FROM reverse_etl.dropped_objects d
             LEFT JOIN reverse_etl.sync_runs r ON r.sync_id = d.id AND d.kind = 'sync'
             GROUP BY 1, 2 ORDER BY 1"
        ),
        ["sequence|nightly|0", "sync|users_to_crm|2"]
    );
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_changelog"), 6);
    assert_eq!(
        db.text("SELECT action FROM reverse_etl.sync_activity ORDER BY id DESC LIMIT 1")
            .unwrap(),
        "dropped"
    );
    // What was delivered stays delivered.
    assert_eq!(db.i64("SELECT count(*) FROM crm"), 5);

    // The name is free again; a new sync starts from nothing.
    db.exec(DEPLOY);
    let second = db.i64("SELECT id FROM reverse_etl.syncs");
    assert_ne!(second, first);
    let run = db.run("users_to_crm");
    assert_eq!(db.run_summary(run).planned, [4, 0, 0]);

    // Without history: nothing of it is left.
    db.exec(
        "SELECT reverse_etl.drop_sequence('nightly', keep_history => false);
             SELECT reverse_etl.drop_sync('users_to_crm', keep_history => false);",
    );
    for table in ["sync_runs", "sync_changelog", "sync_activity"] {
        assert_eq!(
            db.i64(&format!(
                "SELECT count(*) FROM reverse_etl.{table} WHERE sync_id = {second}"
            )),
            0,
            "{table}"
        );
    }
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.dropped_objects"),
        2
    );
    assert_eq!(db.i64(state), 0);
}

#[test]
fn dropping_a_sync_cancels_its_running_run() {
    let mut db = setup("lifecycle_drop_running");
    db.exec(
        "SELECT reverse_etl.create_model('slow', 'SELECT id, email FROM users WHERE pg_sleep(2) IS NOT NULL', ARRAY['id']);
         SELECT reverse_etl.create_sync('slow_sync', 'slow', 'local',
           '{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    );
    let run = db.i64("SELECT reverse_etl.sync_run('slow_sync', wait => false)");
    db.wait_for(
        "the run to query",
        &format!("SELECT status = 'querying' FROM reverse_etl.sync_runs WHERE id = {run}"),
        Duration::from_secs(10),
    );
    db.exec("SELECT reverse_etl.drop_sync('slow_sync')");
    let summary = db.run_summary(run);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert_eq!(
        db.i64(&format!(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'reverse_etl_state'::regnamespace
             AND relname LIKE 'run_{run}%'"
        )),
        0
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.syncs WHERE name = 'slow_sync'"),
        0
    );
}

#[test]
fn dropping_a_model_or_destination_in_use_is_refused_unless_cascade() {
    let mut db = setup("lifecycle_drop_model");
    db.exec("SELECT reverse_etl.drop_sequence('nightly')");
    let before = definitions(&mut db);
    let (code, message) = db.error("SELECT reverse_etl.drop_model('users')");
    assert_eq!(code, "2BP01");
    assert_eq!(
        message,
        "model: cannot drop model \"users\": sync \"users_to_crm\" uses it"
    );
    let (code, message) = db.error("SELECT reverse_etl.drop_destination('local')");
    assert_eq!(code, "2BP01");
    assert_eq!(
        message,
        "destination: cannot drop destination \"local\": sync \"users_to_crm\" uses it"
    );
    let (code, _) = db.error("SELECT reverse_etl.drop_model('nobody')");
    assert_eq!(code, "42704");
    assert_eq!(definitions(&mut db), before);

    db.exec("SELECT reverse_etl.drop_model('users', cascade => true)");
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.syncs"), 0);
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.models"), 0);
    db.exec("SELECT reverse_etl.drop_destination('local')");
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.destinations"), 0);
    assert_eq!(
        db.rows("SELECT kind, name FROM reverse_etl.dropped_objects ORDER BY 1"),
        ["sequence|nightly", "sync|users_to_crm"]
    );
}

#[test]
fn an_ordinary_role_manages_only_its_own_objects_and_keeps_seeing_its_dropped_history() {
    let mut db = setup("lifecycle_roles");
    let alice = format!("alice_{}", db.name);
    let bob = format!("bob_{}", db.name);
    for role in [&alice, &bob] {
        db.create_ordinary_role(role);
    }
    let mut a = db.connect_as(&alice);
    a.batch_execute(
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text);
         INSERT INTO users VALUES (1, 'a@x.io', 'pro');
         CREATE TABLE crm (email text PRIMARY KEY, plan text);
         SELECT reverse_etl.create_model('alice_users', 'SELECT id, email, plan FROM users', ARRAY['id']);
         SELECT reverse_etl.create_destination('alice_db', 'postgres');
         SELECT reverse_etl.create_sync('alice_sync', 'alice_users', 'alice_db',
           '{\"mode\": \"upsert\", \"object\": \"crm\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    )
    .unwrap();
    a.batch_execute("SELECT reverse_etl.sync_run('alice_sync')")
        .unwrap();
    let mut b = db.connect_as(&bob);
    for statement in [
        "SELECT reverse_etl.drop_sync('alice_sync')",
        "SELECT reverse_etl.drop_model('alice_users', cascade => true)",
        "SELECT reverse_etl.update_model('alice_users', query => 'SELECT 1 AS id')",
        "SELECT reverse_etl.update_destination('alice_db', '{}')",
        "SELECT reverse_etl.create_sync('alice_sync', 'alice_users', 'alice_db', '{}', replace => true)",
        "SELECT reverse_etl.create_destination('alice_db', 'postgres', replace => true)",
    ] {
        let error = b.batch_execute(statement).unwrap_err();
        let code = error.as_db_error().map(|e| e.code().code().to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {error}");
    }
    a.batch_execute("SELECT reverse_etl.drop_sync('alice_sync')")
        .unwrap();
    let runs = |client: &mut postgres::Client| -> i64 {
        client
            .query_one("SELECT count(*) FROM reverse_etl.sync_runs", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(runs(&mut a), 1, "alice still sees her dropped sync's run");
    assert_eq!(runs(&mut b), 0, "bob does not");
    let changelog: i64 = a
        .query_one("SELECT count(*) FROM reverse_etl.sync_changelog", &[])
        .unwrap()
        .get(0);
    assert_eq!(changelog, 1);
    drop(a);
    drop(b);
    for role in [&alice, &bob] {
        db.exec(&format!("DROP OWNED BY {role} CASCADE"));
    }
    let name = db.name.clone();
    let mut admin = common::connect("postgres", "postgres");
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    for role in [&alice, &bob] {
        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
    }
}

#[test]
fn after_match_changes_removals_act_on_records_as_they_were_matched() {
    let mut db = setup("lifecycle_match_change");
    db.exec(
        "SELECT reverse_etl.drop_sequence('nightly');
         SELECT reverse_etl.drop_sync('users_to_crm');
         ALTER TABLE crm ADD UNIQUE (user_id);
         SELECT reverse_etl.create_sync('by_email', 'users', 'local',
           '{\"mode\": \"upsert\", \"object\": \"crm\", \"delete_behavior\": \"delete\",
             \"match\": {\"from\": \"email\", \"to\": \"email\"},
             \"mappings\": [{\"from\": \"id\", \"to\": \"user_id\"}, {\"from\": \"plan\", \"to\": \"plan\"}]}');",
    );
    let run = db.run("by_email");
    assert_eq!(db.run_summary(run).succeeded, [5, 0, 0]);
    // Records are now matched by id; row 2 leaves the model.
    db.exec(
        "SELECT reverse_etl.update_sync('by_email',
           '{\"mode\": \"upsert\", \"object\": \"crm\", \"delete_behavior\": \"delete\",
             \"match\": {\"from\": \"id\", \"to\": \"user_id\"},
             \"mappings\": [{\"from\": \"email\", \"to\": \"email\"}, {\"from\": \"plan\", \"to\": \"plan\"}]}');
         DELETE FROM users WHERE id = 2;",
    );
    let run = db.run("by_email");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.succeeded, summary.rejected),
        ("succeeded", [0, 4, 1], [0, 0, 0]),
        "{summary:?}"
    );
    assert_eq!(
        db.rows("SELECT email, user_id FROM crm ORDER BY user_id"),
        ["u1@x.io|1", "u3@x.io|3", "u4@x.io|4", "u5@x.io|5"]
    );
    // Nothing of the earlier configuration is kept once no row needs it.
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl._earlier_configs"),
        0
    );
    // Later removals use the new match.
    db.exec("DELETE FROM users WHERE id = 3");
    let run = db.run("by_email");
    assert_eq!(db.run_summary(run).succeeded, [0, 0, 1]);
    assert_eq!(db.i64("SELECT count(*) FROM crm WHERE user_id = 3"), 0);
}

#[test]
fn a_removal_whose_earlier_match_no_longer_applies_is_rejected_and_kept() {
    let mut db = setup("lifecycle_match_gone");
    db.exec(
        "SELECT reverse_etl.drop_sequence('nightly');
         SELECT reverse_etl.drop_sync('users_to_crm');
         CREATE TABLE crm2 (email text UNIQUE, user_id int UNIQUE, plan text);
         SELECT reverse_etl.create_sync('s', 'users', 'local',
           '{\"mode\": \"upsert\", \"object\": \"crm2\", \"delete_behavior\": \"delete\",
             \"match\": {\"from\": \"email\", \"to\": \"email\"},
             \"mappings\": [{\"from\": \"id\", \"to\": \"user_id\"}]}');",
    );
    db.run("s");
    db.exec(
        "SELECT reverse_etl.update_sync('s',
           '{\"mode\": \"upsert\", \"object\": \"crm2\", \"delete_behavior\": \"delete\",
             \"match\": {\"from\": \"id\", \"to\": \"user_id\"}}');
         DELETE FROM users WHERE id = 2;
         ALTER TABLE crm2 DROP COLUMN email;",
    );
    let run = db.run("s");
    let summary = db.run_summary(run);
    assert_eq!(
        (summary.status.as_str(), summary.rejected),
        ("warning", [0, 0, 1]),
        "{summary:?}"
    );
    let reason = db
        .text(&format!(
            "SELECT reason FROM reverse_etl.sync_changelog WHERE run_id = {run} AND status = 'rejected'"
        ))
        .unwrap();
    assert!(
        reason.starts_with("not removed: the configuration this row was delivered under (before match changed) no longer applies:")
            && reason.contains("email"),
        "{reason}"
    );
    // Still there for the next run to try: the record was not removed.
    assert_eq!(db.i64("SELECT count(*) FROM crm2 WHERE user_id = 2"), 1);
    let run = db.run("s");
    assert_eq!(db.run_summary(run).rejected, [0, 0, 1]);
}

#[test]
fn after_a_server_upgrade_that_hashes_differently_rows_are_rehashed_not_resent() {
    let mut db = setup("lifecycle_rehash");
    db.run("users_to_crm");
    let sync = db.i64("SELECT id FROM reverse_etl.syncs");
    // As if the snapshot had been written by an older major that hashed
    // every row differently.
    db.exec(&format!(
        "UPDATE reverse_etl._snapshot_hashing SET server_major = server_major - 1, probe = probe + 1;
         UPDATE reverse_etl_state.snapshot_{sync} SET row_hash = row_hash # 1;
         INSERT INTO users VALUES (6, 'u6@x.io', 'free');"
    ));
    let run = db.run("users_to_crm");
    let summary = db.run_summary(run);
    assert_eq!(
        summary.planned,
        [1, 0, 0],
        "only the new row is sent: {summary:?}"
    );
    let rehashed = db
        .text("SELECT new_value->>'rows' FROM reverse_etl.sync_activity WHERE action = 'rehashed'")
        .unwrap();
    assert_eq!(rehashed, "5");
    // Hashes now compare as before: a change is sent.
    db.exec("UPDATE users SET plan = 'pro' WHERE id = 1");
    let run = db.run("users_to_crm");
    assert_eq!(db.run_summary(run).planned, [0, 1, 0]);

    // A new major that hashes alike changes nothing: a real change is still sent.
    db.exec(&format!(
        "UPDATE reverse_etl._snapshot_hashing SET server_major = server_major - 1;
         UPDATE reverse_etl_state.snapshot_{sync} SET row_hash = row_hash # 1 WHERE row_id = '3';"
    ));
    let run = db.run("users_to_crm");
    assert_eq!(db.run_summary(run).planned, [0, 1, 0]);
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_activity WHERE action = 'rehashed'"),
        1
    );
}
