//! Private clusters of the tests that stop or reconfigure their server
//! (restarts on 28825, the other server of the postgres destination on
//! 28845): scripts/cluster.sh with their own port and data directory, and
//! connections that wait for the server to accept them.

use postgres::{Client, NoTls};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn cluster(port: u16, action: &str) {
    let status = Command::new("scripts/cluster.sh")
        .arg(action)
        .env("PGRE_PORT", port.to_string())
        .env("PGRE_DATA", format!("/var/tmp/pg_reverse_etl/data-{port}"))
        .status()
        .expect("scripts/cluster.sh runs");
    assert!(status.success(), "cluster {action} on port {port}");
}

/// A connection as postgres, retried for up to a minute (the server may be
/// starting or recovering).
pub fn connect(port: u16, database: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname={database}"),
            NoTls,
        ) {
            Ok(client) => return client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("cannot connect to the cluster on port {port}: {e}"),
        }
    }
}
