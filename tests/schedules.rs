//! Schedules run by the launcher (the test cluster preloads the library):
//! an interval fires on its due times, a cron schedule fires on the minute,
//! changes take effect without a restart, disabled syncs never run, a tick
//! that finds the sync running is recorded as skipped, sequences have
//! schedules of their own.

mod common;
use common::TestDb;
use std::time::Duration;

fn setup(db: &mut TestDb, model_query: &str, schedule: &str) {
    db.exec(&format!(
        "CREATE TABLE src (id int PRIMARY KEY, email text);
         INSERT INTO src SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 20) g;
         CREATE TABLE target (email text PRIMARY KEY);
         SELECT reverse_etl.create_model('m', $q${model_query}$q$, ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_sync('s', 'm', 'local', '{{\"mode\": \"upsert\", \"object\": \"target\",
             \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"schedule\": {schedule}}}');"
    ));
}

fn scheduled_runs(db: &mut TestDb, status: &str) -> i64 {
    db.i64(&format!(
        "SELECT count(*) FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = '{status}'"
    ))
}

#[test]
fn the_launcher_is_running() {
    let mut db = TestDb::new("launcher_running");
    assert_eq!(
        db.i64(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_reverse_etl launcher'"
        ),
        1
    );
    db.wait_for(
        "this database in the launcher's registry",
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.scheduler_status() WHERE database = current_database() AND launcher_pid > 0)",
        Duration::from_secs(10),
    );
}

#[test]
fn an_interval_schedule_fires_on_its_due_times() {
    let mut db = TestDb::new("interval_fires");
    setup(
        &mut db,
        "SELECT id, email FROM src",
        r#"{"interval": "5 seconds"}"#,
    );
    db.wait_for(
        "two scheduled runs",
        "SELECT count(*) >= 2 FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
        Duration::from_secs(30),
    );
    // Due times fall on multiples of the interval since the epoch, one run each.
    let rows = db.rows(
        "SELECT (extract(epoch FROM due_at)::numeric % 5 = 0), started_at >= due_at \
         FROM reverse_etl.sync_runs WHERE trigger = 'schedule' ORDER BY id",
    );
    assert!(rows.iter().all(|r| r == "t|t"), "{rows:?}");
    assert_eq!(
        db.i64("SELECT count(*) - count(DISTINCT due_at) FROM reverse_etl.sync_runs WHERE trigger = 'schedule'"),
        0,
        "a due time is run once"
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), 20);
    // A new row reaches the destination by the schedule alone.
    db.exec("INSERT INTO src VALUES (21, 'u21@x.io')");
    db.wait_for(
        "the new row delivered",
        "SELECT count(*) = 21 FROM target",
        Duration::from_secs(20),
    );
    let overview = db
        .text("SELECT (next_run_at > now())::text FROM reverse_etl.sync_overview")
        .unwrap_or_default();
    assert_eq!(overview, "true");
}

#[test]
fn schedule_changes_and_disabling_take_effect_without_a_restart() {
    let mut db = TestDb::new("schedule_changes");
    setup(&mut db, "SELECT id, email FROM src", r#"{"manual": true}"#);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs"),
        0,
        "manual never runs"
    );
    let config = db
        .text("SELECT reverse_etl.sync_config('s')::text")
        .unwrap()
        .replace(
            r#""schedule": {"manual": true}"#,
            r#""schedule": {"interval": "5 seconds"}"#,
        );
    db.exec(&format!("SELECT reverse_etl.update_sync('s', '{config}')"));
    db.wait_for(
        "a run after the schedule was set",
        "SELECT count(*) >= 1 FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
        Duration::from_secs(20),
    );
    db.exec("SELECT reverse_etl.disable_sync('s')");
    db.wait_for(
        "no run going",
        "SELECT NOT EXISTS (SELECT 1 FROM reverse_etl.sync_runs WHERE status IN ('queued', 'querying', 'preparing', 'in_progress'))",
        Duration::from_secs(20),
    );
    let before = db.i64("SELECT count(*) FROM reverse_etl.sync_runs");
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs"),
        before,
        "a disabled sync never runs"
    );
    db.exec("SELECT reverse_etl.enable_sync('s')");
    db.wait_for(
        "runs again once enabled",
        &format!(
            "SELECT count(*) > {before} FROM reverse_etl.sync_runs WHERE trigger = 'schedule'"
        ),
        Duration::from_secs(20),
    );
}

#[test]
fn a_tick_that_finds_the_sync_running_is_recorded_as_skipped() {
    let mut db = TestDb::new("schedule_skip");
    // Each run takes about 8 seconds: longer than the 5-second interval.
    setup(
        &mut db,
        "SELECT id, email FROM src WHERE pg_sleep(0.4) IS NOT NULL",
        r#"{"interval": "5 seconds"}"#,
    );
    db.wait_for(
        "a skipped tick",
        "SELECT count(*) >= 1 FROM reverse_etl.sync_runs WHERE status = 'skipped'",
        Duration::from_secs(40),
    );
    let skipped = db.rows(
        "SELECT trigger, due_at IS NOT NULL, finished_at IS NOT NULL, error ~ '^skipped: run [0-9]+ was still going$' \
         FROM reverse_etl.sync_runs WHERE status = 'skipped'",
    );
    assert!(skipped.iter().all(|r| r == "schedule|t|t|t"), "{skipped:?}");
    // The skipped tick named a run that was going at its due time.
    let named_run_was_going = db.i64(
        "SELECT count(*) FROM reverse_etl.sync_runs k JOIN reverse_etl.sync_runs r \
           ON r.id = substring(k.error FROM 'run ([0-9]+)')::bigint \
         WHERE k.status = 'skipped' AND r.started_at <= k.due_at \
           AND (r.finished_at IS NULL OR r.finished_at >= k.due_at)",
    );
    assert_eq!(
        named_run_was_going,
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs WHERE status = 'skipped'")
    );
    // Never two runs at once, and the overview is not fooled by skipped rows.
    let overlapping = db.i64(
        "SELECT count(*) FROM reverse_etl.sync_runs a JOIN reverse_etl.sync_runs b ON a.id < b.id \
         WHERE a.status NOT IN ('skipped', 'queued') AND b.status NOT IN ('skipped', 'queued') \
           AND b.started_at < coalesce(a.finished_at, 'infinity')",
    );
    assert_eq!(overlapping, 0);
    let overview = db
        .text("SELECT status FROM reverse_etl.sync_overview")
        .unwrap();
    assert!(
        ["Querying", "Preparing", "In Progress", "Healthy"].contains(&overview.as_str()),
        "{overview}"
    );
    db.exec("SELECT reverse_etl.disable_sync('s')");
}

#[test]
fn a_cron_schedule_fires_on_the_minute() {
    let mut db = TestDb::new("cron_fires");
    setup(
        &mut db,
        "SELECT id, email FROM src",
        r#"{"cron": "* * * * *"}"#,
    );
    db.wait_for(
        "a run from the cron schedule",
        "SELECT count(*) >= 1 FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
        Duration::from_secs(75),
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND extract(second FROM due_at) <> 0"),
        0
    );
    assert_eq!(db.i64("SELECT count(*) FROM target"), 20);
    db.exec("SELECT reverse_etl.disable_sync('s')");
}

#[test]
fn a_sequence_runs_on_its_own_schedule() {
    let mut db = TestDb::new("sequence_schedule");
    setup(&mut db, "SELECT id, email FROM src", r#"{"manual": true}"#);
    db.exec(
        r#"CREATE TABLE target2 (email text PRIMARY KEY);
           SELECT reverse_etl.create_sync('s2', 'm', 'local', '{"mode": "upsert", "object": "target2", "match": {"from": "email", "to": "email"}}');
           SELECT reverse_etl.create_sequence('nightly', '["s", "s2"]', '{"interval": "5 seconds"}');"#,
    );
    db.wait_for(
        "a scheduled sequence run",
        "SELECT count(*) >= 1 FROM reverse_etl.sequence_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
        Duration::from_secs(30),
    );
    assert_eq!(
        db.rows("SELECT (extract(epoch FROM due_at)::numeric % 5 = 0)::text FROM reverse_etl.sequence_runs WHERE trigger = 'schedule' LIMIT 1"),
        ["true"]
    );
    assert_eq!(db.i64("SELECT count(*) FROM target2"), 20);
    // The sync's own schedule is manual: its runs came from the sequence.
    assert_eq!(scheduled_runs(&mut db, "succeeded"), 0);
    // A new schedule for the sequence, then disabling it, take effect.
    db.exec(r#"SELECT reverse_etl.update_sequence('nightly', schedule => '{"cron": "0 3 * * *", "timezone": "Europe/Berlin"}')"#);
    assert_eq!(
        db.text("SELECT schedule->>'cron' FROM reverse_etl.sequences")
            .as_deref(),
        Some("0 3 * * *")
    );
    db.exec("SELECT reverse_etl.disable_sequence('nightly')");
    let before = db.i64("SELECT count(*) FROM reverse_etl.sequence_runs");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sequence_runs"),
        before
    );
}

#[test]
fn next_due_times_can_be_checked_from_sql() {
    let mut db = TestDb::new("schedule_next_runs");
    // 02:30 does not exist in Berlin on 29 March 2026 (clocks go forward):
    // it runs right after the gap, at 03:00 CEST (01:00 UTC).
    assert_eq!(
        db.rows(
            r#"SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM reverse_etl.schedule_next_runs('{"cron": "30 2 * * *", "timezone": "Europe/Berlin"}', 3, '2026-03-28 00:00Z') t"#
        ),
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"]
    );
    assert_eq!(
        db.rows(
            r#"SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM reverse_etl.schedule_next_runs('{"at": [{"days": ["mon", "wed"], "time": "09:00"}], "timezone": "Europe/Berlin"}', 2, '2026-10-24 00:00Z') t"#
        ),
        ["2026-10-26 08:00", "2026-10-28 08:00"]
    );
    assert_eq!(
        db.text(r#"SELECT reverse_etl.schedule_next_run('{"manual": true}')::text"#),
        None
    );
    let (code, message) =
        db.error(r#"SELECT reverse_etl.schedule_next_runs('{"interval": "5 fortnights"}')"#);
    assert_eq!(code, "22023");
    assert!(
        message.starts_with("schedule.interval: unknown unit"),
        "{message}"
    );
    let (code, message) =
        db.error(r#"SELECT reverse_etl.schedule_next_runs('{"interval": "1 hour"}', 0)"#);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("22023", "count: must be between 1 and 1000")
    );
}

#[test]
fn sequence_updates_with_bad_input_change_nothing() {
    let mut db = TestDb::new("sequence_update_bad");
    setup(&mut db, "SELECT id, email FROM src", r#"{"manual": true}"#);
    db.exec(r#"SELECT reverse_etl.create_sequence('q', '["s"]')"#);
    let before =
        db.rows("SELECT steps::text, schedule::text, updated_at::text FROM reverse_etl.sequences");
    for (sql, field) in [
        (
            r#"SELECT reverse_etl.update_sequence('q', schedule => '{"interval": "0 minutes"}')"#,
            "schedule.interval",
        ),
        (
            r#"SELECT reverse_etl.update_sequence('q', schedule => '{"cron": "61 * * * *"}')"#,
            "schedule.cron",
        ),
        (
            r#"SELECT reverse_etl.update_sequence('q', schedule => '{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}')"#,
            "schedule.timezone",
        ),
        (
            r#"SELECT reverse_etl.update_sequence('q', schedule => '{"interval": "1 hour", "start": "2027-01-02T00:00:00Z", "end": "2027-01-01T00:00:00Z"}')"#,
            "schedule.end",
        ),
        (
            r#"SELECT reverse_etl.update_sequence('q', steps => '["s", "missing"]')"#,
            "steps[1].sync",
        ),
        (
            r#"SELECT reverse_etl.update_sequence('q', steps => '["s", "s"]')"#,
            "steps[1].sync",
        ),
    ] {
        let (code, message) = db.error(sql);
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{sql}: {message}"
        );
        assert!(["22023", "42704"].contains(&code.as_str()), "{sql}: {code}");
    }
    let (code, message) =
        db.error("SELECT reverse_etl.update_sequence('nope', schedule => '{\"manual\": true}')");
    assert_eq!(code, "42704");
    assert!(message.starts_with("sequence: "), "{message}");
    assert_eq!(
        db.rows("SELECT steps::text, schedule::text, updated_at::text FROM reverse_etl.sequences"),
        before
    );
}

#[test]
fn ticks_missed_while_nothing_ran_them_run_once() {
    let mut db = TestDb::new("schedule_catch_up");
    setup(
        &mut db,
        "SELECT id, email FROM src",
        r#"{"interval": "10 minutes"}"#,
    );
    // As if the server had been down for an hour: six ticks were missed.
    db.exec("UPDATE reverse_etl.syncs SET updated_at = now() - interval '1 hour'");
    db.wait_for(
        "the catch-up run",
        "SELECT count(*) = 1 FROM reverse_etl.sync_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs"),
        1,
        "missed ticks run once, not once each"
    );
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.sync_runs WHERE due_at < now() - interval '40 minutes'"),
        1,
        "the run records the first due time it stands for"
    );
}
