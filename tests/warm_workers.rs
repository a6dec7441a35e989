//! Warm run workers: after its run a worker waits a moment for another run
//! of a sync of the same owner (and database, and settings). It never takes
//! another owner's run, what a run's code left in the session (session
//! locks) does not outlive the run, a cancel reaches only the run it was
//! meant for, and a worker that is gone is replaced.

mod common;

use common::TestDb;
use postgres::Client;
use std::time::{Duration, Instant};

/// A database with two ordinary roles, each with a table and a sync of it
/// into a table of its own; the model of each calls `note_lock()`, which
/// takes a session advisory lock (4242 for the first role, 4243 for the
/// second).
fn two_owners(test: &str) -> (TestDb, [String; 2]) {
    let mut db = TestDb::new(test);
    let roles = [format!("ann_{}", db.name), format!("ben_{}", db.name)];
    for (lock, role) in (4242..).zip(&roles) {
        db.exec(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA reverse_etl TO {role};
             CREATE SCHEMA {role} AUTHORIZATION {role};"
        ));
        let mut client = db.connect_as(role);
        client
            .batch_execute(&format!(
                "SET search_path = {role};
                 CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL);
                 INSERT INTO people SELECT g, 'p' || g || '@x.io' FROM generate_series(1, 10) g;
                 CREATE TABLE copies (id int PRIMARY KEY, email text);
                 CREATE FUNCTION note_lock() RETURNS int LANGUAGE plpgsql AS
                   'BEGIN PERFORM pg_advisory_lock({lock}); RETURN 0; END';
                 SELECT reverse_etl.create_model('{role}_people', 'SELECT id, email FROM people WHERE note_lock() = 0', ARRAY['id']);
                 SELECT reverse_etl.create_destination('{role}_db', 'postgres');
                 SELECT reverse_etl.create_sync('{role}_sync', '{role}_people', '{role}_db',
                   '{{\"mode\": \"upsert\", \"object\": \"copies\", \"match\": {{\"from\": \"id\", \"to\": \"id\"}},
                     \"mappings\": [{{\"from\": \"email\", \"to\": \"email\"}}]}}');"
            ))
            .unwrap();
    }
    (db, roles)
}

/// Run a sync, waiting; returns the run's status and its worker's pid.
fn run(client: &mut Client, sync: &str) -> (String, i32) {
    let run_id: i64 = client
        .query_one("SELECT reverse_etl.sync_run($1)", &[&sync])
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "SELECT status, worker_pid FROM reverse_etl.sync_runs WHERE id = $1",
            &[&run_id],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn alive(client: &mut Client, pid: i32) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND backend_type = 'pg_reverse_etl run')",
            &[&pid],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_warm_worker_serves_only_its_owners_runs() {
    let (mut db, roles) = two_owners("warm_owner");
    let [ann, ben] = &roles;
    let mut ann_client = db.connect_as(ann);
    let mut ben_client = db.connect_as(ben);
    let (status, first) = run(&mut ann_client, &format!("{ann}_sync"));
    assert_eq!(status, "succeeded");
    // The same owner's next run is done by the same (warm) process.
    let (status, second) = run(&mut ann_client, &format!("{ann}_sync"));
    assert_eq!(status, "succeeded");
    assert_eq!(
        second, first,
        "ann's second run should reuse her warm worker"
    );
    // Another owner's run never is, while ann's worker waits.
    assert!(alive(&mut db.client, first));
    let (status, bens) = run(&mut ben_client, &format!("{ben}_sync"));
    assert_eq!(status, "succeeded");
    assert_ne!(bens, first, "ben's run must not be done by ann's worker");
    // The lock ann's model took in her worker's session was released when
    // her run ended, although the worker is still there.
    assert!(alive(&mut db.client, first));
    let free: bool = db
        .client
        .query_one("SELECT pg_try_advisory_lock(4242)", &[])
        .unwrap()
        .get(0);
    assert!(
        free,
        "a session lock taken by a run's code outlived the run"
    );
    db.exec("SELECT pg_advisory_unlock(4242)");
    // Idle workers leave after reverse_etl.worker_idle_timeout (2 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(&mut db.client, first) || alive(&mut db.client, bens) {
        assert!(
            Instant::now() < deadline,
            "idle workers still there after 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop((ann_client, ben_client));
    db.drop_with_roles(&roles);
}

#[test]
fn a_cancelled_wait_cancels_only_its_own_run_in_a_warm_worker() {
    let (mut db, roles) = two_owners("warm_cancel");
    let ann = &roles[0];
    let mut client = db.connect_as(ann);
    let (_, warm) = run(&mut client, &format!("{ann}_sync"));
    // A slow model, run by the warm worker; the caller gives up after 300 ms.
    client
        .batch_execute(&format!(
            "SELECT reverse_etl.update_model('{ann}_people', query => 'SELECT id, email FROM {ann}.people WHERE pg_sleep(30) IS NOT NULL')"
        ))
        .unwrap();
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .unwrap();
    let started = Instant::now();
    let error = client
        .batch_execute(&format!("SELECT reverse_etl.sync_run('{ann}_sync')"))
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&postgres::error::SqlState::QUERY_CANCELED),
        "{error}"
    );
    client.batch_execute("RESET statement_timeout").unwrap();
    // The run was cancelled at once (not after the model's 30 s), in the
    // warm worker, and recorded as such.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, pid) = loop {
        let row = client
            .query_one(
                "SELECT status, worker_pid FROM reverse_etl.sync_runs ORDER BY id DESC LIMIT 1",
                &[],
            )
            .unwrap();
        let status: String = row.get(0);
        if !["queued", "querying", "preparing", "in_progress"].contains(&status.as_str()) {
            break (status, row.get::<_, i32>(1));
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled run is still going"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(pid, warm);
    assert_eq!(status, "incomplete");
    // The worker goes on serving: the cancel was for that run only.
    client
        .batch_execute(&format!(
            "SELECT reverse_etl.update_model('{ann}_people', query => 'SELECT id, email FROM {ann}.people')"
        ))
        .unwrap();
    let (status, _) = run(&mut client, &format!("{ann}_sync"));
    assert_eq!(status, "succeeded");
    drop(client);
    db.drop_with_roles(&roles);
}

#[test]
fn a_terminated_warm_worker_is_replaced_and_settings_changes_get_a_new_one() {
    let (mut db, roles) = two_owners("warm_replaced");
    let ann = &roles[0];
    let sync = format!("{ann}_sync");
    let mut client = db.connect_as(ann);
    let (_, first) = run(&mut client, &sync);
    db.exec(&format!("SELECT pg_terminate_backend({first})"));
    let (status, second) = run(&mut client, &sync);
    assert_eq!(status, "succeeded");
    assert_ne!(second, first);
    // A worker connected before the database's settings changed does not
    // take runs that would be given the new ones.
    db.exec(&format!(
        "ALTER DATABASE {} SET reverse_etl.changelog = 'none'",
        db.name
    ));
    assert!(alive(&mut db.client, second));
    let (status, third) = run(&mut client, &sync);
    assert_eq!(status, "succeeded");
    assert_ne!(third, second);
    let logged: i64 = client
        .query_one(
            "SELECT count(*) FROM reverse_etl.sync_changelog c JOIN reverse_etl.sync_runs r ON r.id = c.run_id WHERE r.worker_pid = $1",
            &[&third],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged, 0, "the run did not get the database's new setting");
    drop(client);
    db.drop_with_roles(&roles);
}
