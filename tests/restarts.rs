//! A run interrupted by `kill -9` of its worker (the server restarts every
//! backend) or by a fast shutdown: no run stays "in progress", and the next
//! run resumes from the snapshot so the destination ends equal to the model.
//! These tests restart their server, so they use a private cluster.

#[path = "support/fake_crm.rs"]
mod fake_crm;
#[path = "support/private_cluster.rs"]
mod private_cluster;

use fake_crm::FakeCrm;
use postgres::Client;
use std::process::Command;
use std::time::{Duration, Instant};

const PORT: u16 = 28825;

fn cluster(action: &str) {
    private_cluster::cluster(PORT, action);
}

fn connect(database: &str) -> Client {
    private_cluster::connect(PORT, database)
}

fn wait_for(client: &mut Client, sql: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .query_one(sql, &[])
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "timed out: {sql}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connect after the server was interrupted and wait until `sql` is true.
/// The postmaster notices a killed child asynchronously: a connection made
/// right after the kill can be accepted first and then ended by the
/// crash restart, so a broken connection is made again.
fn reconnect_and_wait_for(database: &str, sql: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = connect(database);
    loop {
        match client.query_one(sql, &[]).map(|r| r.get::<_, bool>(0)) {
            Ok(true) => return client,
            Ok(false) => {}
            Err(_) => client = connect(database),
        }
        assert!(Instant::now() < deadline, "timed out: {sql}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup(database: &str) -> Client {
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let mut db = connect(database);
    db.batch_execute(
        "CREATE EXTENSION pg_reverse_etl;
         CREATE TABLE src (id int PRIMARY KEY, email text);
         INSERT INTO src SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 300) g;
         CREATE TABLE target (email text PRIMARY KEY);
         CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
         CREATE TRIGGER slow AFTER INSERT ON target FOR EACH STATEMENT EXECUTE FUNCTION slow();
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'm', 'local', '{\"mode\": \"upsert\", \"object\": \"target\", \"batch_size\": 10,
             \"match\": {\"from\": \"email\", \"to\": \"email\"}}');",
    )
    .unwrap();
    db
}

/// Start a run, wait until some batches are delivered, interrupt it with
/// `interrupt`, then check the next run resumes and reconciles.
fn interrupted_then_resumed(database: &str, interrupt: impl FnOnce(i32)) {
    let mut db = setup(database);
    let run_id: i64 = db
        .query_one("SELECT reverse_etl.sync_run('s', wait => false)", &[])
        .unwrap()
        .get(0);
    wait_for(
        &mut db,
        &format!("SELECT succeeded_added >= 30 FROM reverse_etl.sync_runs WHERE id = {run_id}"),
    );
    let pid: i32 = db
        .query_one(
            "SELECT worker_pid FROM reverse_etl.sync_runs WHERE id = $1",
            &[&run_id],
        )
        .unwrap()
        .get(0);
    drop(db);
    interrupt(pid);
    // On start-up the database's scheduler closes the run, with the reason,
    // before anything else runs.
    let mut db = reconnect_and_wait_for(
        database,
        &format!("SELECT status = 'incomplete' FROM reverse_etl.sync_runs WHERE id = {run_id}"),
    );
    // The overview does not claim a dead run is going.
    let status: String = db
        .query_one("SELECT status FROM reverse_etl.sync_overview", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "Incomplete");
    let next: i64 = db
        .query_one("SELECT reverse_etl.sync_run('s')", &[])
        .unwrap()
        .get(0);
    let row = db
        .query_one("SELECT status, coalesce(error, ''), succeeded_added, aborted_added, planned_added FROM reverse_etl.sync_runs WHERE id = $1", &[&run_id])
        .unwrap();
    let (status, error, succeeded, aborted, planned): (String, String, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(status, "incomplete");
    assert!(
        error.starts_with("interrupted: the run's worker exited"),
        "{error}"
    );
    assert_eq!(
        planned,
        succeeded + aborted,
        "the interrupted run's counts reconcile"
    );
    let delivered: i64 = db
        .query_one("SELECT count(*) FROM target", &[])
        .unwrap()
        .get(0);
    assert_eq!(delivered, 300, "the destination equals the model");
    let resumed: i64 = db
        .query_one(
            "SELECT planned_added FROM reverse_etl.sync_runs WHERE id = $1",
            &[&next],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        resumed + succeeded,
        300,
        "only what was not recorded as delivered is sent again, and nothing is lost"
    );
    let stuck: i64 = db
        .query_one("SELECT count(*) FROM reverse_etl.sync_runs WHERE status IN ('queued', 'querying', 'preparing', 'in_progress')", &[])
        .unwrap()
        .get(0);
    assert_eq!(stuck, 0);
}

/// The tests here restart or reconfigure their server: one at a time.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn kill_9_and_fast_shutdown_mid_run_are_resumed() {
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    cluster("start");
    // kill -9 of the worker: the postmaster restarts every backend.
    interrupted_then_resumed("killed", |pid| {
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_secs(2));
    });
    // A fast shutdown while the run is delivering, then a start.
    interrupted_then_resumed("shutdown", |_| {
        cluster("stop");
        cluster("start");
    });
    cluster("stop");
}

/// A worker killed (`kill -9`) after it sent an alert's notification but
/// before it recorded the answer: nothing of the attempt is recorded, so the
/// database's scheduler sends it again after the restart, with the same
/// event id, so that the receiver can tell it is the same notification.
#[test]
fn a_notification_whose_sender_was_killed_is_sent_again_with_the_same_event_id() {
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    cluster("start");
    let hooks = FakeCrm::start();
    let mut db = setup("alert_killed");
    db.batch_execute(&format!(
        "SELECT reverse_etl.create_model('fragile', 'SELECT id, email FROM src WHERE 1 / (id - id) = 1', ARRAY['id']);
         SELECT reverse_etl.create_alert_channel('ops', 'webhook', '{{\"url\": \"{}/hooks\"}}');
         SELECT reverse_etl.create_sync('broken', 'fragile', 'local', '{{\"mode\": \"upsert\", \"object\": \"target\",
             \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"alerts\": {{\"channels\": [\"ops\"]}}}}');",
        hooks.url()
    ))
    .unwrap();
    // The receiver answers late: the worker is killed while it waits.
    hooks.delay_all(Duration::from_secs(3));
    let run_id: i64 = db
        .query_one("SELECT reverse_etl.sync_run('broken', wait => false)", &[])
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while hooks.request_count() == 0 {
        assert!(Instant::now() < deadline, "no webhook request");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: i32 = db
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE datname = 'alert_killed' AND backend_type = 'pg_reverse_etl run'",
            &[],
        )
        .unwrap()
        .get(0);
    drop(db);
    hooks.delay_all(Duration::ZERO);
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut db = reconnect_and_wait_for(
        "alert_killed",
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.alert_notifications WHERE status = 'sent')",
    );
    let requests: Vec<_> = hooks
        .requests()
        .into_iter()
        .filter(|r| r.path == "/hooks")
        .collect();
    assert_eq!(requests.len(), 2, "sent again after the restart");
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("X-Reverse-ETL-Event-Id").unwrap_or_default())
        .collect();
    assert!(!ids[0].is_empty() && ids[0] == ids[1], "{ids:?}");
    assert_eq!(requests[0].body, requests[1].body);
    let attempts: Vec<String> = db
        .query(
            "SELECT event || '|' || attempt || '|' || status FROM reverse_etl.alert_notifications",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        attempts,
        ["alert.opened|1|sent"],
        "the killed attempt left no record"
    );
    let run_status: String = db
        .query_one(
            "SELECT status FROM reverse_etl.sync_runs WHERE id = $1",
            &[&run_id],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        run_status, "failed",
        "the run itself was recorded before the notification was sent"
    );
    cluster("stop");
}

/// reverse_etl.max_parallel_runs caps scheduled runs in the whole server:
/// with a cap of 1, three syncs due at the same instant run one after
/// another, none skipped or lost.
#[test]
fn scheduled_runs_stay_within_the_parallel_cap() {
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    cluster("start");
    let mut admin = connect("postgres");
    for sql in [
        "ALTER SYSTEM SET reverse_etl.max_parallel_runs = 1",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).unwrap();
    }
    let reset = ResetSetting;
    let mut db = setup("capped");
    db.batch_execute(
        "CREATE TABLE t2 (email text PRIMARY KEY); CREATE TABLE t3 (email text PRIMARY KEY);
         SELECT reverse_etl.create_model('slow', 'SELECT id, email FROM src WHERE id <= 20 AND pg_sleep(0.1) IS NOT NULL', ARRAY['id']);
         SELECT reverse_etl.create_sync(name, 'slow', 'local', format('{\"mode\": \"upsert\", \"object\": \"%s\",
             \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"schedule\": {\"interval\": \"1 hour\"}}', object)::jsonb)
         FROM (VALUES ('c1', 'target'), ('c2', 't2'), ('c3', 't3')) v(name, object);
         -- due now: the schedule is settled only up to an hour ago
         UPDATE reverse_etl.syncs SET updated_at = now() - interval '1 hour' WHERE name LIKE 'c_';",
    )
    .unwrap();
    wait_for(
        &mut db,
        "SELECT count(*) = 3 FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
    );
    let overlapping: i64 = db
        .query_one(
            "SELECT count(*) FROM reverse_etl.sync_runs a JOIN reverse_etl.sync_runs b ON a.id < b.id \
             WHERE b.started_at < a.finished_at AND a.started_at < b.finished_at",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        overlapping, 0,
        "scheduled runs overlapped despite a cap of 1"
    );
    let due: i64 = db
        .query_one(
            "SELECT count(DISTINCT due_at) FROM reverse_etl.sync_runs WHERE trigger = 'schedule'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(due, 1, "all three were due at the same time");
    drop(reset);
    cluster("stop");
}

/// Puts the parallel-run cap back, even when the test fails.
struct ResetSetting;

impl Drop for ResetSetting {
    fn drop(&mut self) {
        let mut admin = connect("postgres");
        for sql in [
            "ALTER SYSTEM RESET reverse_etl.max_parallel_runs",
            "SELECT pg_reload_conf()",
        ] {
            let _ = admin.batch_execute(sql);
        }
    }
}
