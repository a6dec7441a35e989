//! A second PostgreSQL server on loopback (port 28845) for the postgres
//! destination's connections: every role but postgres logs in with a
//! password. Started by the first test that needs it; each test gets a
//! database of its own there. Tests that stop the server hold the write
//! side of `SERVER`, the others the read side.

use postgres::{Client, NoTls};
use std::process::Command;
use std::sync::{Once, RwLock};
use std::time::{Duration, Instant};

pub const PORT: u16 = 28845;
pub static SERVER: RwLock<()> = RwLock::new(());
static STARTED: Once = Once::new();

pub fn cluster(action: &str) {
    let status = Command::new("scripts/cluster.sh")
        .arg(action)
        .env("PGRE_PORT", PORT.to_string())
        .env("PGRE_DATA", format!("/var/tmp/pg_reverse_etl/data-{PORT}"))
        .status()
        .expect("scripts/cluster.sh runs");
    assert!(status.success(), "remote cluster {action}");
}

pub fn connect(database: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Client::connect(
            &format!("host=127.0.0.1 port={PORT} user=postgres dbname={database}"),
            NoTls,
        ) {
            Ok(client) => return client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("cannot connect to the remote cluster: {e}"),
        }
    }
}

/// A database on the remote server, and a role `writer` (password
/// `writer-pw`) that may write to its tables.
pub struct RemoteDb {
    pub name: String,
    pub client: Client,
}

impl RemoteDb {
    pub fn new(test: &str) -> RemoteDb {
        STARTED.call_once(|| {
            cluster("password-auth");
            connect("postgres")
                .batch_execute(
                    "DO $$ BEGIN
                       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'writer') THEN
                         CREATE ROLE writer LOGIN PASSWORD 'writer-pw';
                       END IF;
                     END $$;",
                )
                .unwrap();
        });
        let name = format!("r_{test}_{}", std::process::id());
        let mut admin = connect("postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut client = connect(&name);
        client
            .batch_execute("GRANT ALL ON SCHEMA public TO writer; ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO writer;")
            .unwrap();
        RemoteDb { name, client }
    }

    pub fn exec(&mut self, sql: &str) {
        self.client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn rows(&mut self, sql: &str) -> Vec<String> {
        self.client
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.get::<_, Option<String>>(i)
                            .unwrap_or_else(|| "∅".into())
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    /// The destination config that reaches this database as `writer`.
    pub fn config(&self) -> String {
        format!(
            r#"{{"connection": {{"host": "127.0.0.1", "port": {PORT}, "dbname": "{}", "user": "writer", "password": {{"secret": "writer_pw"}}, "sslmode": "disable"}}}}"#,
            self.name
        )
    }
}
