//! Runs as a user sees them: progress visible live from another session,
//! cancellation, the owner's privileges, and runs asked for too early.

mod common;
use common::TestDb;
use std::time::Duration;

const SETUP: &str = "
    CREATE TABLE src (id int PRIMARY KEY, email text, plan text);
    INSERT INTO src SELECT g, 'u' || g || '@x.io', 'free' FROM generate_series(1, 200) g;
    CREATE TABLE target (email text PRIMARY KEY, plan_name text);
    -- a slow destination: every statement takes 50 ms
    CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
    CREATE TRIGGER slow AFTER INSERT OR UPDATE OR DELETE ON target FOR EACH STATEMENT EXECUTE FUNCTION slow();
    SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM src', ARRAY['id']);
    SELECT reverse_etl.create_destination('local', 'postgres');
    SELECT reverse_etl.create_sync('s', 'users', 'local', '{\"mode\": \"upsert\", \"object\": \"target\", \"batch_size\": 10,
        \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"mappings\": [{\"from\": \"plan\", \"to\": \"plan_name\"}]}');
";

#[test]
fn progress_is_visible_live_from_another_session() {
    let mut db = TestDb::new("live");
    db.exec(SETUP);
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    let mut watcher = db.connect_as("postgres");
    let mut seen_partial = false;
    for _ in 0..500 {
        let row = watcher
            .query_one("SELECT status, succeeded_added, planned_added FROM reverse_etl.sync_runs WHERE id = $1", &[&run_id])
            .unwrap();
        let (status, done, planned): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if status == "in_progress" && done > 0 && done < planned {
            seen_partial = true;
            // Committed batches are visible in the destination too.
            let delivered: i64 = watcher
                .query_one("SELECT count(*) FROM target", &[])
                .unwrap()
                .get(0);
            assert!(
                delivered >= done,
                "{delivered} rows in target, {done} recorded"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        seen_partial,
        "never saw a run in progress with partial counts"
    );
    db.wait_for(
        "run end",
        &format!("SELECT status = 'succeeded' FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(60),
    );
    assert_eq!(db.run_summary(run_id).succeeded, [200, 0, 0]);
}

#[test]
fn cancel_stops_at_a_batch_boundary_and_the_next_run_resumes() {
    let mut db = TestDb::new("cancel");
    db.exec(SETUP);
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "some batches",
        &format!("SELECT succeeded_added >= 30 FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(30),
    );
    assert_eq!(
        db.text(&format!("SELECT reverse_etl.cancel_run({run_id})::text"))
            .as_deref(),
        Some("true")
    );
    db.wait_for(
        "run end",
        &format!("SELECT finished_at IS NOT NULL FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(30),
    );
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "incomplete");
    assert!(
        summary.aborted[0] > 0 && summary.succeeded[0] >= 30,
        "{summary:?}"
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM target"),
        summary.succeeded[0],
        "delivered rows are exactly those recorded"
    );
    assert_eq!(
        db.i64(&format!("SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run_id} AND status = 'aborted'")),
        summary.aborted[0]
    );
    // Cancelling an ended run says so.
    assert_eq!(
        db.text(&format!("SELECT reverse_etl.cancel_run({run_id})::text"))
            .as_deref(),
        Some("false")
    );

    let next = db.run("s");
    let resumed = db.run_summary(next);
    assert_eq!(
        resumed.planned[0],
        200 - summary.succeeded[0],
        "only what was not delivered is sent"
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), 200);
}

#[test]
fn a_cancelled_wait_cancels_the_run() {
    let mut db = TestDb::new("cancel_wait");
    db.exec(SETUP);
    let (code, _) = db.error("SET statement_timeout = '300ms'; SELECT reverse_etl.sync_run('s')");
    assert_eq!(code, "57014");
    db.exec("RESET statement_timeout");
    db.wait_for(
        "run end",
        "SELECT bool_and(finished_at IS NOT NULL) FROM reverse_etl.sync_runs",
        Duration::from_secs(30),
    );
    let run_id = db.i64("SELECT max(id) FROM reverse_etl.sync_runs");
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(summary.succeeded[0] < 200);
}

#[test]
fn the_model_runs_with_the_sync_owners_privileges() {
    let mut db = TestDb::new("owner");
    db.exec(SETUP);
    let role = format!("alice_{}", db.name);
    db.exec(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
         GRANT USAGE ON SCHEMA reverse_etl TO {role};
         CREATE TABLE secret (id int PRIMARY KEY, email text);
         INSERT INTO secret VALUES (1, 'ceo@x.io');
         GRANT SELECT ON src TO {role};
         GRANT SELECT, INSERT, UPDATE ON target TO {role};"
    ));
    let mut alice = db.connect_as(&role);
    // No SELECT on the table: a permission error, not the data.
    let error = alice
        .batch_execute("SELECT reverse_etl.create_model('stolen', 'SELECT id, email FROM secret', ARRAY['id'])")
        .unwrap_err();
    let error = error.as_db_error().unwrap();
    assert_eq!(error.code().code(), "42501");
    assert_eq!(error.message(), "query: permission denied for table secret");

    // Her sync runs as her: when she loses access, the run fails on permissions.
    alice.batch_execute(
        "SELECT reverse_etl.create_model('hers', 'SELECT id, email, plan FROM src', ARRAY['id']);
         SELECT reverse_etl.create_destination('her_db', 'postgres');
         SELECT reverse_etl.create_sync('hers', 'hers', 'her_db', '{\"mode\": \"upsert\", \"object\": \"target\", \"batch_size\": 100,
             \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    ).unwrap();
    let ok: i64 = alice
        .query_one("SELECT reverse_etl.sync_run('hers')", &[])
        .unwrap()
        .get(0);
    assert_eq!(db.run_summary(ok).status, "succeeded");
    db.exec(&format!(
        "REVOKE SELECT ON src FROM {role}; INSERT INTO src VALUES (1000, 'n@x.io', 'x')"
    ));
    let denied = db.run("hers");
    let summary = db.run_summary(denied);
    assert_eq!(summary.status, "failed");
    assert!(
        summary.error.contains("permission denied for table src"),
        "{}",
        summary.error
    );
    drop(alice);
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
}

#[test]
fn a_run_in_the_transaction_that_created_the_sync_is_refused() {
    let mut db = TestDb::new("same_txn");
    db.exec(
        "CREATE TABLE src (id int, email text); CREATE TABLE target (email text PRIMARY KEY);
             SELECT reverse_etl.create_model('m', 'SELECT * FROM src', ARRAY['id']);
             SELECT reverse_etl.create_destination('local', 'postgres');",
    );
    let (code, message) = db.error(
        "BEGIN; SELECT reverse_etl.create_sync('s', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"target\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');
         SELECT reverse_etl.sync_run('s');",
    );
    db.exec("ROLLBACK");
    assert_eq!(code, "55000");
    assert!(
        message.contains("was created or changed in this transaction"),
        "{message}"
    );
}

#[test]
fn disabled_syncs_do_not_run() {
    let mut db = TestDb::new("disabled");
    db.exec(SETUP);
    db.exec("SELECT reverse_etl.disable_sync('s')");
    let (code, message) = db.error("SELECT reverse_etl.sync_run('s')");
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("55000", "sync: sync \"s\" is disabled")
    );
    db.exec("SELECT reverse_etl.enable_sync('s')");
    let run_id = db.run("s");
    assert_eq!(db.run_summary(run_id).status, "succeeded");
}

/// A run of `s` that has delivered some batches when its worker is
/// terminated; returns once the worker is gone.
fn start_then_terminate_its_worker(db: &mut TestDb) -> i64 {
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "some batches",
        &format!("SELECT succeeded_added >= 30 FROM reverse_etl.sync_runs WHERE id = {run_id}"),
        Duration::from_secs(30),
    );
    db.exec(&format!(
        "SELECT pg_terminate_backend(worker_pid) FROM reverse_etl.sync_runs WHERE id = {run_id}"
    ));
    db.wait_for(
        "worker gone",
        &format!(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN reverse_etl.sync_runs r ON a.pid = r.worker_pid WHERE r.id = {run_id})"
        ),
        Duration::from_secs(30),
    );
    run_id
}

#[test]
fn a_terminated_worker_leaves_no_run_stuck_and_the_next_run_resumes() {
    let mut db = TestDb::new("terminated");
    db.exec(SETUP);
    let run_id = start_then_terminate_its_worker(&mut db);
    assert_eq!(
        db.text("SELECT status FROM reverse_etl.sync_overview WHERE name = 's'")
            .as_deref(),
        Some("Incomplete"),
        "a run whose worker is gone is not shown as going"
    );
    let next = db.run("s");
    let interrupted = db.run_summary(run_id);
    assert_eq!(interrupted.status, "incomplete");
    assert!(
        interrupted
            .error
            .starts_with("interrupted: the run's worker exited"),
        "{}",
        interrupted.error
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), 200);
    let resumed = db.run_summary(next);
    assert_eq!(resumed.status, "succeeded");
    assert_eq!(
        resumed.planned[0] + interrupted.succeeded[0],
        200,
        "nothing sent twice, nothing lost"
    );
    assert_eq!(db.i64("SELECT count(*) FROM pg_tables WHERE schemaname = 'reverse_etl_state' AND tablename LIKE 'run_%'"), 0);
}

#[test]
fn the_overview_shows_runs_in_progress_and_incomplete() {
    let mut db = TestDb::new("overview_live");
    db.exec(SETUP);
    let run_id = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "in progress",
        "SELECT status = 'In Progress' FROM reverse_etl.sync_overview WHERE name = 's'",
        Duration::from_secs(30),
    );
    db.exec(&format!("SELECT reverse_etl.cancel_run({run_id})"));
    db.wait_for(
        "incomplete",
        "SELECT status = 'Incomplete' FROM reverse_etl.sync_overview WHERE name = 's'",
        Duration::from_secs(30),
    );
}

#[test]
fn a_time_limit_ends_the_run_incomplete_and_the_next_run_resumes() {
    let mut db = TestDb::new("time_limit");
    db.exec(SETUP);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"time_limit": "1 second"}')"#);
    let run_id = db.run("s");
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "incomplete", "{summary:?}");
    assert!(
        summary.error.starts_with("time limit of 1 second reached"),
        "{}",
        summary.error
    );
    assert!(
        summary.succeeded[0] > 0 && summary.aborted[0] > 0,
        "{summary:?}"
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), summary.succeeded[0]);
    db.exec(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') - 'time_limit')"#);
    let next = db.run("s");
    assert_eq!(
        db.run_summary(next).succeeded[0],
        200 - summary.succeeded[0]
    );
    let (code, message) = db.error(r#"SELECT reverse_etl.update_sync('s', reverse_etl.sync_config('s') || '{"time_limit": "soon"}')"#);
    assert_eq!(
        (
            code.as_str(),
            message.starts_with("time_limit: \"soon\" is not")
        ),
        ("22023", true),
        "{message}"
    );
}

#[test]
fn a_run_asked_for_while_one_is_going_is_queued_once() {
    let mut db = TestDb::new("queue_once");
    db.exec(SETUP);
    let first = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    db.wait_for(
        "first running",
        &format!("SELECT status = 'in_progress' FROM reverse_etl.sync_runs WHERE id = {first}"),
        Duration::from_secs(30),
    );
    // Four asks at the same instant from four sessions: one queued run.
    let asks: Vec<i64> = (0..4)
        .map(|_| {
            let mut client = db.connect_as("postgres");
            std::thread::spawn(move || -> i64 {
                client
                    .query_one("SELECT reverse_etl.sync_run('s', wait => false)", &[])
                    .unwrap()
                    .get(0)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    let second = asks[0];
    assert_ne!(first, second);
    assert!(
        asks.iter().all(|id| *id == second),
        "every ask joins the one queued run: {asks:?}"
    );
    let third = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    assert_eq!(second, third, "a later ask joins it too");
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM reverse_etl.sync_runs WHERE id = {second}"
        ))
        .as_deref(),
        Some("queued")
    );
    db.wait_for("both done", &format!("SELECT bool_and(finished_at IS NOT NULL) FROM reverse_etl.sync_runs WHERE id IN ({first}, {second})"), Duration::from_secs(60));
    assert_eq!(db.run_summary(first).succeeded[0], 200);
    let queued = db.run_summary(second);
    assert_eq!(
        (queued.status.as_str(), queued.planned),
        ("succeeded", [0, 0, 0]),
        "it ran after the first, with nothing left to send"
    );
    assert_eq!(db.i64("SELECT count(*) FROM reverse_etl.sync_runs"), 2);
}

#[test]
fn pg_cron_can_schedule_a_sync() {
    let mut db = TestDb::new("pg_cron");
    db.exec(SETUP);
    let job = format!("sync {}", db.name);
    let mut cron = common::connect("postgres", "postgres");
    cron.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        .unwrap();
    let job_id: i64 = cron
        .query_one(
            "SELECT cron.schedule_in_database($1, '* * * * *', $$SELECT reverse_etl.sync_run('s', wait => false)$$, $2)",
            &[&job, &db.name],
        )
        .unwrap()
        .get(0);
    // A sync that fails, run with wait: pg_cron records the job as failed.
    db.exec(
        "CREATE TABLE b (email text PRIMARY KEY);
         SELECT reverse_etl.create_model('fragile', 'SELECT id, email FROM src WHERE 1 / (id - id) = 1', ARRAY['id']);
         SELECT reverse_etl.create_sync('broken', 'fragile', 'local', '{\"mode\": \"upsert\", \"object\": \"b\", \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    );
    let failing_job: i64 = cron
        .query_one(
            "SELECT cron.schedule_in_database($1, '* * * * *', $$SELECT reverse_etl.sync_run('broken')$$, $2)",
            &[&format!("{job} broken"), &db.name],
        )
        .unwrap()
        .get(0);
    // pg_cron 1.4 (Debian bookworm) fires at most once a minute. Now and
    // then its launcher misses the change to cron.job (seen in the full
    // suite: jobs that never fired until another job was scheduled); a
    // minute without a run touches the jobs so it reads them again.
    let mut both_ran = false;
    for _ in 0..3 {
        let deadline = std::time::Instant::now() + Duration::from_secs(65);
        while std::time::Instant::now() < deadline && !both_ran {
            both_ran = db.i64("SELECT count(DISTINCT sync_id) FROM reverse_etl.sync_runs") == 2;
            std::thread::sleep(Duration::from_millis(100));
        }
        if both_ran {
            break;
        }
        for job in [job_id, failing_job] {
            cron.execute("SELECT cron.alter_job($1::bigint, active => true)", &[&job])
                .unwrap();
        }
    }
    assert!(both_ran, "pg_cron started a run of each sync");
    cron.execute("SELECT cron.unschedule($1::bigint)", &[&job_id])
        .unwrap();
    db.wait_for(
        "the run ends",
        "SELECT bool_and(finished_at IS NOT NULL) FROM reverse_etl.sync_runs",
        Duration::from_secs(60),
    );
    let run_id = db.i64("SELECT min(r.id) FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id WHERE s.name = 's'");
    assert_eq!(db.run_summary(run_id).succeeded[0], 200);
    let status: String = cron
        .query_one(
            "SELECT status FROM cron.job_run_details WHERE jobid = $1 ORDER BY runid LIMIT 1",
            &[&job_id],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "succeeded");
    let mut failed = (String::new(), String::new());
    for _ in 0..600 {
        let row = cron
            .query_opt(
                "SELECT status, return_message FROM cron.job_run_details WHERE jobid = $1 AND status IN ('failed', 'succeeded') ORDER BY runid LIMIT 1",
                &[&failing_job],
            )
            .unwrap();
        if let Some(row) = row {
            failed = (row.get(0), row.get(1));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Unscheduled only now: pg_cron cancels a job it no longer has while it still runs.
    cron.execute("SELECT cron.unschedule($1::bigint)", &[&failing_job])
        .unwrap();
    assert_eq!(failed.0, "failed", "{failed:?}");
    assert!(
        failed.1.contains("sync \"broken\" run ") && failed.1.contains("ended failed"),
        "{failed:?}"
    );
}

#[test]
fn cancelling_a_run_whose_worker_is_gone_closes_it_at_once() {
    let mut db = TestDb::new("cancel_gone");
    db.exec(SETUP);
    let run_id = start_then_terminate_its_worker(&mut db);
    // No WARNING about signalling a process that is not there, and the run
    // is closed before cancel_run returns: a poller on finished_at ends.
    let (mut client, notices) = common::connect_with_notices(&db.name, "postgres");
    let cancelled: bool = client
        .query_one(&format!("SELECT reverse_etl.cancel_run({run_id})"), &[])
        .unwrap()
        .get(0);
    assert!(cancelled);
    assert!(
        notices.lock().unwrap().is_empty(),
        "{:?}",
        notices.lock().unwrap()
    );
    let summary = db.run_summary(run_id);
    assert_eq!(summary.status, "incomplete");
    assert!(
        summary
            .error
            .starts_with("cancelled by cancel_run: the run's worker had already exited"),
        "{}",
        summary.error
    );
    assert_eq!(
        db.i64(&format!("SELECT count(*) FROM reverse_etl.sync_runs WHERE id = {run_id} AND finished_at IS NOT NULL")),
        1
    );
    assert_eq!(
        db.i64(&format!(
            "SELECT (reverse_etl.cancel_run({run_id}))::int::int8"
        )),
        0,
        "a second cancel finds it ended"
    );
    // The next run resumes: nothing lost.
    let next = db.run("s");
    assert_eq!(db.run_summary(next).status, "succeeded");
    assert_eq!(db.i64("SELECT count(*) FROM target"), 200);
}

#[test]
fn waiting_for_a_run_whose_worker_is_gone_ends_the_wait() {
    let mut db = TestDb::new("wait_gone");
    db.exec(SETUP);
    let run_id = start_then_terminate_its_worker(&mut db);
    let started = std::time::Instant::now();
    assert_eq!(
        db.text(&format!(
            "SELECT reverse_etl.wait_for_run({run_id}, '60 seconds')"
        ))
        .as_deref(),
        Some("incomplete")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    let summary = db.run_summary(run_id);
    assert!(
        summary
            .error
            .starts_with("interrupted: the run's worker exited"),
        "{summary:?}"
    );
    // What it delivered stays delivered; the next run sends the rest.
    let delivered = summary.succeeded[0];
    assert!(delivered >= 30);
    let next = db.run("s");
    assert_eq!(db.run_summary(next).succeeded[0], 200 - delivered);
}
