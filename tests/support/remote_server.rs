//! A second PostgreSQL server on loopback (port 28845) for the postgres
//! destination's connections: every role but postgres logs in with a
//! password. Started by the first test that needs it; each test gets a
//! database of its own there. Tests that stop the server hold the write
//! side of `SERVER`, the others the read side.

use postgres::Client;
use std::process::Command;
use std::sync::{Once, OnceLock, RwLock};

pub const PORT: u16 = 28845;
pub static SERVER: RwLock<()> = RwLock::new(());
static STARTED: Once = Once::new();
/// The server's TLS certificate (self-signed for 127.0.0.1 and localhost),
/// made when the server is first used by this test process.
static CERTIFICATE: OnceLock<String> = OnceLock::new();

pub fn certificate_pem() -> String {
    CERTIFICATE.get().cloned().unwrap_or_default()
}

/// TLS on, with a certificate made now (connections without TLS still work).
fn enable_tls() {
    let data = format!("/var/tmp/pg_reverse_etl/data-{PORT}");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let pem = certified.cert.pem();
    std::fs::write(format!("{data}/server.crt"), &pem).unwrap();
    std::fs::write(
        format!("{data}/server.key"),
        certified.key_pair.serialize_pem(),
    )
    .unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chown postgres: {data}/server.crt {data}/server.key && chmod 600 {data}/server.key"
        ))
        .status()
        .unwrap();
    assert!(status.success());
    connect("postgres")
        .batch_execute("ALTER SYSTEM SET ssl = on")
        .unwrap();
    connect("postgres")
        .batch_execute("SELECT pg_reload_conf()")
        .unwrap();
    let _ = CERTIFICATE.set(pem);
}

pub fn cluster(action: &str) {
    super::private_cluster::cluster(PORT, action);
}

pub fn connect(database: &str) -> Client {
    super::private_cluster::connect(PORT, database)
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
            enable_tls();
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
