//! An S3-compatible server on loopback for the file destination's object
//! storage: moto (installed by scripts/install-deps.sh), one process per
//! test on a port of its own, stopped when the test ends. Its API is read
//! without signatures (moto does not check them unless asked to).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MOTO: &str = "/var/tmp/pg_reverse_etl/moto-venv/bin/moto_server";

pub struct S3Server {
    pub port: u16,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(MOTO)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{MOTO} starts (scripts/install-deps.sh installs it): {e}"));
        let server = S3Server { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&server.url("/")).call().is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn create_bucket(&self, bucket: &str) {
        ureq::put(&self.url(&format!("/{bucket}")))
            .call()
            .expect("bucket created");
    }

    /// An object's content, or None if there is none.
    pub fn object(&self, bucket: &str, key: &str) -> Option<String> {
        match ureq::get(&self.url(&format!("/{bucket}/{key}"))).call() {
            Ok(response) => Some(response.into_string().unwrap()),
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    /// An object's ETag (`"<md5>-<parts>"` for a multipart upload).
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        ureq::head(&self.url(&format!("/{bucket}/{key}")))
            .call()
            .expect("object exists")
            .header("ETag")
            .unwrap_or_default()
            .to_string()
    }

    /// The object names of a bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let body = ureq::get(&self.url(&format!("/{bucket}?list-type=2")))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        body.split("<Key>")
            .skip(1)
            .filter_map(|part| part.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// Uploads started and neither completed nor given up.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let body = ureq::get(&self.url(&format!("/{bucket}?uploads")))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        body.matches("<UploadId>").count()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of the server that can cut the line: once more
/// than `limit` bytes went up (requests), every connection is closed and
/// new ones are refused, as storage going away mid-upload; `restore`
/// lets everything through again.
pub struct CuttingProxy {
    pub port: u16,
    state: std::sync::Arc<ProxyState>,
}

struct ProxyState {
    up: std::sync::atomic::AtomicUsize,
    limit: std::sync::atomic::AtomicUsize,
}

impl CuttingProxy {
    pub fn start(upstream: u16, limit: usize) -> CuttingProxy {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = std::sync::Arc::new(ProxyState {
            up: std::sync::atomic::AtomicUsize::new(0),
            limit: std::sync::atomic::AtomicUsize::new(limit),
        });
        let shared = std::sync::Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if shared.up.load(Ordering::SeqCst) > shared.limit.load(Ordering::SeqCst) {
                    continue; // refused: dropped at once
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let counting = std::sync::Arc::clone(&shared);
                let (client_read, server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                // Requests: counted, cut past the limit.
                std::thread::spawn(move || {
                    let mut from = client_read;
                    let mut to = server_write;
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        let n = match std::io::Read::read(&mut from, &mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let total = counting.up.fetch_add(n, Ordering::SeqCst) + n;
                        if total > counting.limit.load(Ordering::SeqCst)
                            || std::io::Write::write_all(&mut to, &buffer[..n]).is_err()
                        {
                            break;
                        }
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
                // Answers: passed back as they come.
                std::thread::spawn(move || {
                    let mut from = server;
                    let mut to = client;
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        CuttingProxy { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Bytes that went up so far.
    pub fn bytes_up(&self) -> usize {
        self.state.up.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn restore(&self) {
        use std::sync::atomic::Ordering;
        self.state.limit.store(usize::MAX, Ordering::SeqCst);
    }
}
