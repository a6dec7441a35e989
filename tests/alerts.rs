//! Alerts: channels (webhook with a signature, notify), triggers that open
//! once and resolve once, notifications outside the run with their attempts
//! recorded, and named errors for bad channels and alert settings.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use common::TestDb;
use fake_crm::FakeCrm;
use hmac::{Hmac, Mac};
use postgres::fallible_iterator::FallibleIterator;
use serde_json::{json, Value};
use smtp_sink::{Security, SmtpSink};
use std::time::Duration;

/// `broken` fails while `flags.fail` is set; `ok` always succeeds.
fn setup(test: &str, hooks: &FakeCrm) -> TestDb {
    let mut db = TestDb::new(test);
    db.exec(&format!(
        "CREATE TABLE src (id int PRIMARY KEY, email text);
         INSERT INTO src SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 10) g;
         CREATE TABLE flags (fail bool); INSERT INTO flags VALUES (true);
         CREATE TABLE a (email text PRIMARY KEY);
         SELECT reverse_etl.set_secret('hook_key', 'whsec_test');
         SELECT reverse_etl.create_model('m', 'SELECT id, email FROM src', ARRAY['id']);
         SELECT reverse_etl.create_model('fragile',
           'SELECT id, email FROM src WHERE (SELECT 1 / (CASE WHEN fail THEN 0 ELSE 1 END) FROM flags) = 1', ARRAY['id']);
         SELECT reverse_etl.create_destination('local', 'postgres');
         SELECT reverse_etl.create_alert_channel('ops', 'webhook',
           '{{\"url\": \"{}/hooks\", \"signing_secret\": {{\"secret\": \"hook_key\"}}}}');
         SELECT reverse_etl.create_alert_channel('db', 'notify', '{{\"channel\": \"ops_alerts\"}}');",
        hooks.url()
    ));
    db
}

fn create_sync(db: &mut TestDb, name: &str, model: &str, alerts: &str) {
    db.exec(&format!(
        "SELECT reverse_etl.create_sync('{name}', '{model}', 'local',
           '{{\"mode\": \"upsert\", \"object\": \"a\", \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
             \"alerts\": {alerts}}}')"
    ));
}

/// Wait until no notification is pending a first attempt (they are sent
/// by the run's worker just after the run is recorded).
fn settled(db: &mut TestDb) {
    db.wait_for(
        "notifications to be sent",
        "SELECT NOT EXISTS (SELECT 1 FROM reverse_etl._alert_outbox WHERE attempts = 0)",
        Duration::from_secs(10),
    );
}

fn hook_bodies(hooks: &FakeCrm) -> Vec<Value> {
    hooks
        .requests()
        .into_iter()
        .filter(|r| r.path == "/hooks")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[test]
fn a_failing_sync_opens_one_alert_and_resolves_it_once_on_every_channel() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_failed", &hooks);
    create_sync(
        &mut db,
        "broken",
        "fragile",
        "{\"channels\": [\"ops\", \"db\"]}",
    );
    let mut listener = common::connect(&db.name, "postgres");
    listener.batch_execute("LISTEN ops_alerts").unwrap();

    let runs: Vec<i64> = (0..3).map(|_| db.run("broken")).collect();
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, level, status, last_run_id FROM reverse_etl.alerts"),
        [format!("failed|critical|open|{}", runs[2])],
        "one alert over three failed runs, following the latest"
    );
    assert_eq!(
        db.text("SELECT open_alert_level FROM reverse_etl.sync_overview"),
        Some("critical".into())
    );
    db.exec("UPDATE flags SET fail = false");
    let fixed = db.run("broken");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT status, resolved_at IS NOT NULL FROM reverse_etl.alerts"),
        ["resolved|t"]
    );
    assert_eq!(
        db.text("SELECT open_alert_level FROM reverse_etl.sync_overview"),
        None
    );
    let fourth = db.run("broken");
    settled(&mut db);

    // The webhook: exactly one opened and one resolved, in the generic shape.
    let bodies = hook_bodies(&hooks);
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "alert.opened");
    assert_eq!(bodies[0]["sync"], "broken");
    assert_eq!(bodies[0]["trigger"], "failed");
    assert_eq!(bodies[0]["level"], "critical");
    assert_eq!(bodies[0]["run_id"], json!(runs[0]));
    assert!(bodies[0]["message"]
        .as_str()
        .unwrap()
        .contains("division by zero"));
    assert_eq!(bodies[1]["event"], "alert.resolved");
    assert_eq!(bodies[1]["run_id"], json!(fixed));
    assert!(fourth > fixed);
    // Signed: HMAC-SHA256 of "<timestamp>.<body>" under the secret.
    for request in hooks.requests().iter().filter(|r| r.path == "/hooks") {
        let timestamp = request.header("X-Reverse-ETL-Timestamp").unwrap();
        let signature = request.header("X-Reverse-ETL-Signature").unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(format!("{timestamp}.{}", request.body).as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(signature, format!("v1={expected}"));
        assert!(request.header("X-Reverse-ETL-Event-Id").is_some());
    }
    // notify: the same two events.
    let mut heard = Vec::new();
    let mut notifications = listener.notifications();
    let mut iter = notifications.timeout_iter(Duration::from_secs(5));
    while heard.len() < 2 {
        let Some(n) = iter.next().unwrap() else { break };
        let body: Value = serde_json::from_str(n.payload()).unwrap();
        heard.push(body["event"].as_str().unwrap().to_string());
    }
    assert_eq!(heard, ["alert.opened", "alert.resolved"]);
    assert_eq!(
        db.rows("SELECT event, status, attempt FROM reverse_etl.alert_notifications ORDER BY id"),
        [
            "alert.opened|sent|1",
            "alert.opened|sent|1",
            "alert.resolved|sent|1",
            "alert.resolved|sent|1"
        ]
    );
}

#[test]
fn a_channel_that_is_down_never_affects_the_run_and_its_retries_are_logged() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_down", &hooks);
    create_sync(&mut db, "broken", "fragile", "{\"channels\": [\"ops\"]}");
    hooks.set_down(true);
    let run = db.run("broken");
    assert_eq!(db.run_summary(run).status, "failed");
    settled(&mut db);
    assert_eq!(
        db.rows(
            "SELECT status, attempt, left(error, 8), retry_at > now() FROM reverse_etl.alert_notifications"
        ),
        ["failed|1|HTTP 503|t"]
    );
    // The next attempt is due after its backoff; a later run sends what is due.
    hooks.set_down(false);
    db.exec("UPDATE reverse_etl._alert_outbox SET next_attempt_at = now()");
    db.run("broken");
    db.wait_for(
        "the retry",
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.alert_notifications WHERE status = 'sent')",
        Duration::from_secs(10),
    );
    assert_eq!(
        db.rows(
            "SELECT string_agg(attempt || ':' || status, ',' ORDER BY id), count(DISTINCT event_id)
             FROM reverse_etl.alert_notifications"
        ),
        ["1:failed,2:sent|1"]
    );
    // Both attempts carry the notification's id: a receiver drops a repeat.
    let ids: Vec<Option<String>> = hooks
        .requests()
        .iter()
        .filter(|r| r.path == "/hooks")
        .map(|r| r.header("X-Reverse-ETL-Event-Id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn thresholds_open_at_their_level_and_resolve_when_the_run_is_fine_again() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_volume", &hooks);
    create_sync(
        &mut db,
        "s",
        "m",
        "{\"channels\": [\"ops\"], \"triggers\": {\"volume_drop\": {\"warning\": 0.3, \"critical\": 0.6, \"runs\": 2}}}",
    );
    db.run("s");
    db.run("s");
    db.exec("DELETE FROM src WHERE id > 5"); // half the rows: a warning
    db.run("s");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, level, status FROM reverse_etl.alerts"),
        ["volume_drop|warning|open"]
    );
    db.exec("DELETE FROM src WHERE id > 1"); // the mean of the last 2 runs is 7.5
    db.run("s");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, level, status FROM reverse_etl.alerts"),
        ["volume_drop|critical|open"],
        "updated while open, not opened again"
    );
    db.exec("INSERT INTO src SELECT g, 'u' || g || '@x.io' FROM generate_series(2, 10) g");
    db.run("s");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, status FROM reverse_etl.alerts"),
        ["volume_drop|resolved"]
    );
    let events: Vec<String> = hook_bodies(&hooks)
        .iter()
        .map(|b| format!("{} {} {}", b["event"], b["trigger"], b["level"]))
        .collect();
    assert_eq!(
        events,
        [
            "\"alert.opened\" \"volume_drop\" \"warning\"",
            "\"alert.resolved\" \"volume_drop\" \"critical\""
        ]
    );
}

#[test]
fn bad_channels_and_alert_settings_are_named_and_change_nothing() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_bad", &hooks);
    let channels = || "SELECT count(*) FROM reverse_etl.alert_channels";
    let before = db.i64(channels());
    for (statement, code, start) in [
        ("SELECT reverse_etl.create_alert_channel('x', 'pager', '{}')", "22023", "kind: unknown alert channel kind"),
        ("SELECT reverse_etl.create_alert_channel('x', 'webhook', '{}')", "22023", "config.url"),
        ("SELECT reverse_etl.create_alert_channel('x', 'webhook', '{\"url\": \"http://example.com/h\"}')", "42501", "config.url: host"),
        ("SELECT reverse_etl.create_alert_channel('x', 'webhook', '{\"url\": \"http://127.0.0.1:9/h\", \"format\": \"teams\"}')", "22023", "config.format"),
        ("SELECT reverse_etl.create_alert_channel('x', 'webhook', '{\"url\": \"http://127.0.0.1:9/h\", \"signing_secret\": {\"secret\": \"nope\"}}')", "42704", "config.signing_secret"),
        ("SELECT reverse_etl.create_alert_channel('x', 'webhook', '{\"url\": \"http://127.0.0.1:9/h\", \"format\": \"pagerduty\"}')", "22023", "config.routing_key"),
        ("SELECT reverse_etl.create_alert_channel('x', 'notify', '{\"channel\": \"a b\"}')", "22023", "config.channel"),
        ("SELECT reverse_etl.create_alert_channel('ops', 'notify', '{}')", "42710", "name: an alert channel named"),
    ] {
        let (actual, message) = db.error(statement);
        assert_eq!(actual, code, "{statement}: {message}");
        assert!(message.starts_with(start), "{statement}: {message}");
    }
    assert_eq!(db.i64(channels()), before);

    let syncs = || "SELECT count(*) FROM reverse_etl.syncs";
    for (alerts, code, start) in [
        (
            "{\"channels\": [\"nobody\"]}",
            "42704",
            "alerts.channels[0]: alert channel \"nobody\" does not exist",
        ),
        (
            "{\"triggers\": {\"late\": {}}}",
            "22023",
            "alerts.triggers.late: unknown trigger",
        ),
        (
            "{\"triggers\": {\"rejected_share\": {\"warning\": 2}}}",
            "22023",
            "alerts.triggers.rejected_share.warning",
        ),
        (
            "{\"triggers\": {\"stale\": {\"critical\": \"soon\"}}}",
            "22023",
            "alerts.triggers.stale.critical",
        ),
    ] {
        let (actual, message) = db.error(&format!(
            "SELECT reverse_etl.create_sync('s', 'm', 'local', '{{\"mode\": \"upsert\", \"object\": \"a\",
               \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"alerts\": {alerts}}}')"
        ));
        assert_eq!(actual, code, "{alerts}: {message}");
        assert!(message.starts_with(start), "{alerts}: {message}");
    }
    assert_eq!(db.i64(syncs()), 0);

    // Another role's channel cannot be named, changed or dropped.
    let bob = format!("bob_{}", db.name);
    db.exec(&format!(
        "DROP ROLE IF EXISTS {bob}; CREATE ROLE {bob} LOGIN; GRANT USAGE ON SCHEMA reverse_etl TO {bob};
         GRANT SELECT ON a, src TO {bob};"
    ));
    let mut client = db.connect_as(&bob);
    client
        .batch_execute(
            "SELECT reverse_etl.create_model('bm', 'SELECT id, email FROM public.src', ARRAY['id']);
             SELECT reverse_etl.create_destination('bd', 'postgres');",
        )
        .unwrap();
    for statement in [
        "SELECT reverse_etl.create_sync('bs', 'bm', 'bd', '{\"mode\": \"upsert\", \"object\": \"public.a\", \"match\": {\"from\": \"email\", \"to\": \"email\"}, \"alerts\": {\"channels\": [\"ops\"]}}')",
        "SELECT reverse_etl.update_alert_channel('ops', '{\"channel\": \"x\"}')",
        "SELECT reverse_etl.drop_alert_channel('db')",
    ] {
        let error = client.batch_execute(statement).unwrap_err();
        let code = error.as_db_error().map(|e| e.code().code().to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {error}");
    }
    drop(client);
    // A channel in use is not dropped.
    create_sync(&mut db, "s", "m", "{\"channels\": [\"ops\"]}");
    let (code, message) = db.error("SELECT reverse_etl.drop_alert_channel('ops')");
    assert_eq!(code, "2BP01");
    assert_eq!(
        message,
        "channel: cannot drop alert channel \"ops\": sync \"s\" uses it"
    );
    db.exec("SELECT reverse_etl.drop_alert_channel('db')");
    db.exec("SELECT reverse_etl.drop_alert_channel('ops', cascade => true)");
    assert_eq!(
        db.text("SELECT config->'alerts'->>'channels' FROM reverse_etl.syncs WHERE name = 's'"),
        Some("[]".into())
    );
    db.exec(&format!("DROP OWNED BY {bob}; DROP ROLE {bob}"));
}

#[test]
fn an_email_channel_sends_one_message_per_change_of_state() {
    let hooks = FakeCrm::start();
    let sink = SmtpSink::start();
    let mut db = setup("alerts_email", &hooks);
    db.exec(&format!(
        "SELECT reverse_etl.create_alert_channel('mail', 'email', '{{\"host\": \"127.0.0.1\", \"port\": {},
           \"security\": \"none\", \"from\": \"etl@example.com\", \"to\": [\"oncall@example.com\"]}}')",
        sink.port()
    ));
    create_sync(&mut db, "broken", "fragile", "{\"channels\": [\"mail\"]}");
    db.run("broken");
    db.run("broken");
    db.exec("UPDATE flags SET fail = false");
    db.run("broken");
    settled(&mut db);
    let mails = sink.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[0].to, ["<oncall@example.com>"]);
    assert!(
        mails[0]
            .data
            .contains("Subject: [CRITICAL] sync broken: failed"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].data.contains("division by zero"));
    assert!(mails[1]
        .data
        .contains("Subject: [RESOLVED] sync broken: failed"));
    // Bad email settings are named.
    for (config, start) in [
        ("{\"from\": \"a@b.c\", \"to\": [\"d@e.f\"]}", "config.host"),
        ("{\"host\": \"127.0.0.1\", \"from\": \"nobody\", \"to\": [\"d@e.f\"]}", "config.from"),
        ("{\"host\": \"127.0.0.1\", \"from\": \"a@b.c\", \"to\": []}", "config.to"),
        ("{\"host\": \"127.0.0.1\", \"from\": \"a@b.c\", \"to\": [\"d@e.f\"], \"username\": \"u\", \"password\": {\"secret\": \"none\"}}", "config.password"),
        ("{\"host\": \"127.0.0.1\", \"from\": \"a@b.c\", \"to\": [\"d@e.f\"], \"security\": \"ssl\"}", "config.security"),
        ("{\"host\": \"smtp.example.com\", \"from\": \"a@b.c\", \"to\": [\"d@e.f\"]}", "config.host: host"),
    ] {
        let (_, message) = db.error(&format!(
            "SELECT reverse_etl.create_alert_channel('bad', 'email', '{config}')"
        ));
        assert!(message.starts_with(start), "{config}: {message}");
    }
}

/// STARTTLS (the default) and implicit TLS against servers with a private
/// certificate: the message and the password travel encrypted only. A server
/// that does not offer STARTTLS, or whose certificate is not trusted, gets
/// nothing: the attempt fails with the reason.
#[test]
fn email_is_sent_encrypted_or_not_at_all() {
    let hooks = FakeCrm::start();
    let starttls = SmtpSink::start_with(Security::StartTls);
    let wrapped = SmtpSink::start_with(Security::Wrapper);
    let plain = SmtpSink::start_with(Security::Plain);
    let mut db = setup("alerts_email_tls", &hooks);
    db.exec("SELECT reverse_etl.set_secret('smtp_password', 'hunter2')");
    let channel = |name: &str, sink: &SmtpSink, extra: Value| {
        let mut config = json!({
            "host": "127.0.0.1", "port": sink.port(), "from": "etl@example.com",
            "to": ["oncall@example.com"], "username": "etl",
            "password": {"secret": "smtp_password"},
        });
        for (key, value) in extra.as_object().unwrap() {
            config[key] = value.clone();
        }
        format!("SELECT reverse_etl.create_alert_channel('{name}', 'email', '{config}')")
    };
    let trusted = json!({"root_certificate": starttls.certificate_pem});
    db.exec(&channel("starttls", &starttls, trusted));
    db.exec(&channel(
        "wrapped",
        &wrapped,
        json!({"security": "tls", "root_certificate": wrapped.certificate_pem}),
    ));
    db.exec(&channel(
        "no_starttls",
        &plain,
        json!({"root_certificate": starttls.certificate_pem}),
    ));
    db.exec(&channel("untrusted", &starttls, json!({})));
    create_sync(
        &mut db,
        "broken",
        "fragile",
        "{\"channels\": [\"starttls\", \"wrapped\", \"no_starttls\", \"untrusted\"]}",
    );
    db.run("broken");
    settled(&mut db);
    for sink in [&starttls, &wrapped] {
        let mails = sink.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(mails[0].encrypted);
        assert_eq!(mails[0].credentials.as_deref(), Some("\0etl\0hunter2"));
        assert!(mails[0]
            .data
            .contains("Subject: [CRITICAL] sync broken: failed"));
    }
    assert!(plain.mails().is_empty(), "nothing in clear text");
    let outcomes = db.rows(
        "SELECT c.name, n.status, coalesce(n.error, '') FROM reverse_etl.alert_notifications n
         JOIN reverse_etl.alert_channels c ON c.id = n.channel_id ORDER BY c.name",
    );
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    let outcome = |name: &str| {
        outcomes
            .iter()
            .find(|o| o.starts_with(&format!("{name}|")))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        outcome("starttls").starts_with("starttls|sent|"),
        "{outcomes:?}"
    );
    assert!(
        outcome("wrapped").starts_with("wrapped|sent|"),
        "{outcomes:?}"
    );
    assert!(
        outcome("no_starttls").starts_with("no_starttls|failed|"),
        "{outcomes:?}"
    );
    assert!(
        outcome("untrusted").starts_with("untrusted|failed|")
            && outcome("untrusted").contains("certificate"),
        "{outcomes:?}"
    );
    assert!(!outcomes.iter().any(|o| o.contains("hunter2")));
    // A certificate that is not PEM is named.
    let (_, message) = db.error(
        "SELECT reverse_etl.create_alert_channel('bad', 'email', '{\"host\": \"127.0.0.1\", \"from\": \"a@b.c\", \"to\": [\"d@e.f\"], \"root_certificate\": \"not a certificate\"}')",
    );
    assert!(message.starts_with("config.root_certificate"), "{message}");
}

#[test]
fn the_scheduler_opens_slow_and_stale_alerts_between_runs_and_runs_resolve_them() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_between", &hooks);
    db.exec(
        "SELECT reverse_etl.create_model('sleepy', 'SELECT id, email FROM src WHERE pg_sleep(3) IS NOT NULL', ARRAY['id']);",
    );
    create_sync(
        &mut db,
        "s",
        "sleepy",
        "{\"channels\": [\"ops\"], \"triggers\": {\"slow\": {\"warning\": \"1 second\"}, \"stale\": {\"critical\": \"1 second\"}}}",
    );
    // The scheduler looks when the catalog changes (and every minute).
    let wake =
        |db: &mut TestDb| db.exec("SELECT reverse_etl.set_sync_folder('s', md5(random()::text))");
    std::thread::sleep(Duration::from_millis(1500));
    wake(&mut db);
    db.wait_for(
        "the stale alert",
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.alerts WHERE trigger = 'stale' AND status = 'open')",
        Duration::from_secs(10),
    );
    let run = db.i64("SELECT reverse_etl.sync_run('s', wait => false)");
    std::thread::sleep(Duration::from_millis(1500));
    wake(&mut db);
    db.wait_for(
        "the slow alert",
        "SELECT EXISTS (SELECT 1 FROM reverse_etl.alerts WHERE trigger = 'slow' AND status = 'open')",
        Duration::from_secs(10),
    );
    assert_eq!(
        db.text(&format!("SELECT reverse_etl.wait_for_run({run})")),
        Some("succeeded".into())
    );
    db.wait_for(
        "both to resolve",
        "SELECT count(*) = 2 FROM reverse_etl.alerts WHERE status = 'resolved'",
        Duration::from_secs(10),
    );
    settled(&mut db);
    let events: Vec<String> = hook_bodies(&hooks)
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["event"].as_str().unwrap(),
                b["trigger"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    for expected in [
        "alert.opened stale",
        "alert.opened slow",
        "alert.resolved slow",
        "alert.resolved stale",
    ] {
        assert!(events.contains(&expected.to_string()), "{events:?}");
    }
}

#[test]
fn rejected_share_and_incomplete_streaks_open_once_and_resolve_once() {
    let hooks = FakeCrm::start();
    let crm = FakeCrm::start();
    let mut db = setup("alerts_shares", &hooks);
    db.exec(&format!(
        "CREATE TABLE people (id int PRIMARY KEY, email text, plan text);
         INSERT INTO people SELECT g, 'p' || g || '@x.io', CASE WHEN g <= 3 THEN NULL ELSE 'pro' END
         FROM generate_series(1, 10) g;
         CREATE TABLE plans (email text PRIMARY KEY, plan text NOT NULL);
         SELECT reverse_etl.create_model('people', 'SELECT id, email, plan FROM people', ARRAY['id']);
         SELECT reverse_etl.create_sync('strict', 'people', 'local', '{{\"mode\": \"upsert\", \"object\": \"plans\",
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{{\"from\": \"plan\", \"to\": \"plan\"}}],
           \"alerts\": {{\"channels\": [\"ops\"], \"triggers\": {{\"rejected_share\": {{\"warning\": 0.2, \"critical\": 0.9}}}}}}}}');
         SELECT reverse_etl.create_destination('api', 'http', '{{\"url\": \"{}\", \"retry\": {{\"max_attempts\": 1}}}}');
         SELECT reverse_etl.create_sync('remote', 'm', 'api', '{{\"mode\": \"upsert\", \"batch_size\": 1,
           \"match\": {{\"from\": \"email\", \"to\": \"email\"}},
           \"requests\": {{\"added\": {{\"method\": \"POST\", \"path\": \"/contacts\"}}}},
           \"alerts\": {{\"channels\": [\"ops\"], \"triggers\": {{\"failed\": false, \"incomplete_streak\": {{\"warning\": 2}}}}}}}}');",
        crm.url()
    ));
    // 3 of 10 rejected (warning), then 3 of 3 (critical, silently), then none.
    db.run("strict");
    db.run("strict");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, level, status FROM reverse_etl.alerts"),
        ["rejected_share|critical|open"]
    );
    db.exec("UPDATE people SET plan = 'free' WHERE plan IS NULL");
    db.run("strict");
    // The destination down: incomplete, incomplete (streak 2: opens), incomplete, then fine.
    crm.set_down(true);
    for _ in 0..3 {
        let run = db.run("remote");
        assert_eq!(db.run_summary(run).status, "incomplete");
    }
    crm.set_down(false);
    db.run("remote");
    settled(&mut db);
    assert_eq!(
        db.rows("SELECT trigger, status FROM reverse_etl.alerts ORDER BY id"),
        ["rejected_share|resolved", "incomplete_streak|resolved"]
    );
    let events: Vec<String> = hook_bodies(&hooks)
        .iter()
        .map(|b| {
            format!(
                "{} {} {}",
                b["event"].as_str().unwrap(),
                b["trigger"].as_str().unwrap(),
                b["level"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "alert.opened rejected_share warning",
            "alert.resolved rejected_share critical",
            "alert.opened incomplete_streak warning",
            "alert.resolved incomplete_streak warning"
        ]
    );
}

#[test]
fn a_worker_terminated_while_it_sends_records_its_attempt_and_nothing_is_sent_twice() {
    let hooks = FakeCrm::start();
    let mut db = setup("alerts_terminated", &hooks);
    create_sync(&mut db, "broken", "fragile", "{\"channels\": [\"ops\"]}");
    // The receiver takes its time: the worker is terminated while it waits.
    hooks.delay_all(Duration::from_secs(3));
    db.run("broken");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hooks.request_count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no webhook request");
        std::thread::sleep(Duration::from_millis(20));
    }
    db.exec(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND backend_type = 'pg_reverse_etl run'",
        db.name
    ));
    db.wait_for(
        "the worker to end",
        &format!(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
             WHERE datname = '{}' AND backend_type = 'pg_reverse_etl run')",
            db.name
        ),
        Duration::from_secs(15),
    );
    hooks.delay_all(Duration::ZERO);
    // The request it made is recorded with its answer: the next run (and
    // the scheduler) have nothing left to send.
    assert_eq!(
        db.rows("SELECT event, attempt, status FROM reverse_etl.alert_notifications"),
        ["alert.opened|1|sent"]
    );
    db.run("broken");
    settled(&mut db);
    assert_eq!(hook_bodies(&hooks).len(), 1, "sent once");
    assert_eq!(
        db.i64("SELECT count(*) FROM reverse_etl.alert_notifications"),
        1
    );
}
