//! Integration-test support: every test gets a fresh database with the
//! extension, on the cluster that `scripts/test.sh` started
//! (127.0.0.1:$PGRE_PORT, default 28815).
#![allow(dead_code)]

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn port() -> u16 {
    std::env::var("PGRE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(28815)
}

pub fn connect(database: &str, user: &str) -> Client {
    Client::connect(
        &format!(
            "host=127.0.0.1 port={} user={user} dbname={database}",
            port()
        ),
        NoTls,
    )
    .unwrap_or_else(|e| {
        panic!(
            "cannot connect to test cluster on port {}: {e} (run scripts/test.sh)",
            port()
        )
    })
}

/// A connection whose notices (WARNING, NOTICE) are collected.
pub fn connect_with_notices(
    database: &str,
    user: &str,
) -> (Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&notices);
    let client = postgres::Config::new()
        .host("127.0.0.1")
        .port(port())
        .user(user)
        .dbname(database)
        .notice_callback(move |notice| {
            sink.lock()
                .unwrap()
                .push(format!("{}: {}", notice.severity(), notice.message()))
        })
        .connect(NoTls)
        .expect("connect to the test cluster");
    (client, notices)
}

pub struct TestDb {
    pub name: String,
    pub client: Client,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// A new database named after the test, with the extension created.
    pub fn new(test: &str) -> TestDb {
        let mut db = TestDb::empty(test);
        db.exec("CREATE EXTENSION pg_reverse_etl");
        db
    }

    /// A new database named after the test, without the extension.
    pub fn empty(test: &str) -> TestDb {
        let name = format!(
            "t_{}_{}_{}",
            test,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = connect("postgres", "postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let client = connect(&name, "postgres");
        TestDb { name, client }
    }

    /// Drop the database and `roles` (whose objects are in it) once a test
    /// with roles of its own is done.
    pub fn drop_with_roles<S: AsRef<str>>(&mut self, roles: &[S]) {
        for role in roles {
            self.exec(&format!("DROP OWNED BY {} CASCADE", role.as_ref()));
        }
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        for role in roles {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", role.as_ref()));
        }
    }

    /// Run a file of SQL with psql (for what only psql reads, e.g. a
    /// pg_dump with COPY data), stopping at the first error.
    pub fn psql_file(&self, path: &str) {
        let output = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port().to_string(),
                "-U",
                "postgres",
                "-X",
                "-q",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-d", &self.name, "-f", path])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql -f {path}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// An ordinary login role that may use the extension, with a schema of
    /// its own first on its search_path in this database.
    pub fn create_ordinary_role(&mut self, role: &str) {
        self.exec(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA reverse_etl TO {role};
             CREATE SCHEMA {role} AUTHORIZATION {role};
             ALTER ROLE {role} IN DATABASE {} SET search_path = {role};",
            self.name
        ));
    }

    pub fn connect_as(&self, user: &str) -> Client {
        connect(&self.name, user)
    }

    pub fn exec(&mut self, sql: &str) {
        self.client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
    }

    pub fn i64(&mut self, sql: &str) -> i64 {
        self.client
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
            .get(0)
    }

    pub fn text(&mut self, sql: &str) -> Option<String> {
        self.client
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
            .get(0)
    }

    /// Rows of a query rendered as text, one string per row ("a|b|c").
    pub fn rows(&mut self, sql: &str) -> Vec<String> {
        let rows = self
            .client
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
        rows.into_iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or("∅").to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect()
    }

    /// Run a statement that must fail; returns (SQLSTATE, message).
    pub fn error(&mut self, sql: &str) -> (String, String) {
        match self.client.batch_execute(sql) {
            Ok(()) => panic!("expected an error from: {sql}"),
            Err(e) => {
                let db = e
                    .as_db_error()
                    .unwrap_or_else(|| panic!("not a database error: {e}"));
                (db.code().code().to_string(), db.message().to_string())
            }
        }
    }

    /// Run a sync and return its run id (waits for the run to end; a run
    /// that fails returns its id too, for the test to look at).
    pub fn run(&mut self, sync: &str) -> i64 {
        self.i64(&format!(
            "SELECT reverse_etl.sync_run('{sync}', raise_on_failure => false)"
        ))
    }

    /// The run's status and counts, and a check that they reconcile.
    pub fn run_summary(&mut self, run_id: i64) -> RunSummary {
        let row = self
            .client
            .query_one(
                "SELECT status, rows_queried, rows_invalid, planned_added, planned_changed, planned_removed, \
                 succeeded_added, succeeded_changed, succeeded_removed, rejected_added, rejected_changed, \
                 rejected_removed, aborted_added, aborted_changed, aborted_removed, coalesce(error, '') \
                 FROM reverse_etl.sync_runs WHERE id = $1",
                &[&run_id],
            )
            .unwrap();
        let summary = RunSummary {
            status: row.get(0),
            queried: row.get(1),
            invalid: row.get(2),
            planned: [row.get(3), row.get(4), row.get(5)],
            succeeded: [row.get(6), row.get(7), row.get(8)],
            rejected: [row.get(9), row.get(10), row.get(11)],
            aborted: [row.get(12), row.get(13), row.get(14)],
            error: row.get(15),
        };
        for i in 0..3 {
            assert_eq!(
                summary.planned[i],
                summary.succeeded[i] + summary.rejected[i] + summary.aborted[i],
                "counts do not reconcile: {summary:?}"
            );
        }
        // Every planned operation has exactly one changelog row.
        let logged = self.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run_id} AND op IS NOT NULL"
        ));
        assert_eq!(
            logged,
            summary.planned.iter().sum::<i64>(),
            "changelog rows vs planned: {summary:?}"
        );
        let invalid = self.i64(&format!(
            "SELECT count(*) FROM reverse_etl.sync_changelog WHERE run_id = {run_id} AND status = 'invalid'"
        ));
        assert_eq!(invalid, summary.invalid);
        summary
    }

    /// Counts of the catalog tables, to show a failed call changed nothing.
    pub fn catalog_counts(&mut self) -> Vec<i64> {
        let mut counts: Vec<i64> = [
            "models",
            "destinations",
            "syncs",
            "sync_runs",
            "sync_changelog",
        ]
        .iter()
        .map(|t| self.i64(&format!("SELECT count(*) FROM reverse_etl.{t}")))
        .collect();
        counts.push(
            self.i64("SELECT count(*) FROM pg_tables WHERE schemaname = 'reverse_etl_state'"),
        );
        counts
    }

    pub fn wait_for(&mut self, what: &str, sql: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let row = self.client.query_one(sql, &[]).unwrap();
            if row.get::<_, bool>(0) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // keep the database for a look
        }
        let mut admin = connect("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub status: String,
    pub queried: i64,
    pub invalid: i64,
    /// added, changed, removed
    pub planned: [i64; 3],
    pub succeeded: [i64; 3],
    pub rejected: [i64; 3],
    pub aborted: [i64; 3],
    pub error: String,
}

pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}
