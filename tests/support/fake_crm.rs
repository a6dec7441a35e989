#![allow(dead_code)]
//! A fake CRM HTTP API for integration tests and benchmarks of the HTTP
//! destination.
//!
//! The server listens on 127.0.0.1 on a port chosen by the OS and serves each
//! TCP connection on its own thread, with HTTP/1.1 keep-alive. It is written on
//! `std::net` directly (no HTTP library) so that `drop_next` can really close a
//! connection without writing any response, which tiny_http cannot do: its
//! request writer shares the socket with the connection's reader thread, so
//! dropping it leaves the connection open and the client hanging.
//!
//! Endpoints (JSON in and out):
//! - `POST /contacts`            create or replace by the body's "email"; 201 `{"id": email}`
//! - `GET /contacts`             200, array of every record
//! - `GET /contacts/{email}`     200 record, or 404
//! - `PUT /contacts/{email}`     replace or create; 200 with the stored record
//! - `PATCH /contacts/{email}`   merge the body's fields; 200 with the merged record, 404 if absent
//! - `DELETE /contacts/{email}`  204, or 404 if absent
//! - `POST /contacts/batch`      `{"records": [...]}`; see `handle_batch`
//! - `POST /hooks`               200 `{"ok": true}` (a webhook receiver)
//! - anything else               404
//!
//! Every request is recorded (before any fault applies). Faults are checked in
//! this order, and only the first that applies is used (and its counter
//! decremented): down (503), drop_next, throttle_next (429 + Retry-After),
//! fail_next; a request that none of these catch waits for delay_next (or, when
//! no delay_next is pending, delay_all) and is then handled normally. With
//! `latency` set, its answer is then held back until that long after the
//! request arrived (the benchmark's servers). Requests are handled side by
//! side: only the store's update is under the lock.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// Longest request line or header line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 200;

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent, percent-encoding and query string included.
    pub path: String,
    /// Header names as sent (case preserved), in order.
    pub headers: Vec<(String, String)>,
    /// The body (lossily decoded as UTF-8; chunked bodies are de-chunked).
    pub body: String,
}

impl Recorded {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The body parsed as JSON; `Value::Null` if it is empty or not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct State {
    contacts: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    down: bool,
    drop_next: usize,
    throttle_next: usize,
    retry_after_secs: u64,
    fail_next: usize,
    fail_status: u16,
    delay_next: usize,
    delay_next_for: Duration,
    delay_all: Option<Duration>,
    latency: Option<Duration>,
    /// email -> (status, message)
    reject: HashMap<String, (u16, String)>,
    /// email -> message
    record_errors: HashMap<String, String>,
}

struct Shared {
    state: Mutex<State>,
    stopped: Mutex<bool>,
    stop_cv: Condvar,
    /// A clone of every open connection's socket, so stop() can shut them down.
    conns: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// TCP connections accepted so far.
    accepted: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps for `d`, waking early if the server stops. True if it slept it all.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            stopped = self
                .stop_cv
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// A running fake CRM. Stops (closing its port and every open connection)
/// when `stop()` is called or when it is dropped.
pub struct FakeCrm {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl FakeCrm {
    /// Starts a server on 127.0.0.1 on a port the OS picks.
    pub fn start() -> FakeCrm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake CRM: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake CRM: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stopped: Mutex::new(false),
            stop_cv: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fake-crm-accept".into())
                .spawn(move || accept_loop(listener, shared))
                .expect("fake CRM: spawn accept thread")
        };
        FakeCrm {
            shared,
            addr,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// "http://127.0.0.1:PORT"
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// email -> the stored record.
    pub fn contacts(&self) -> BTreeMap<String, Value> {
        self.shared.state().contacts.clone()
    }

    /// Every request received, in arrival order (faulted and dropped ones too).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }

    /// How many TCP connections the server has accepted (to check keep-alive reuse).
    pub fn connections_accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    pub fn request_count(&self) -> usize {
        self.shared.state().requests.len()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// The next `n` requests answer `status` with `{"error":"injected"}`, changing nothing.
    /// Replaces (does not add to) any pending count.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut st = self.shared.state();
        st.fail_next = n;
        st.fail_status = status;
    }

    /// The next `n` requests answer 429 with `Retry-After: <retry_after_secs>`.
    pub fn throttle_next(&self, n: usize, retry_after_secs: u64) {
        let mut st = self.shared.state();
        st.throttle_next = n;
        st.retry_after_secs = retry_after_secs;
    }

    /// Every request that reaches normal handling first waits `d` (zero turns it off).
    pub fn delay_all(&self, d: Duration) {
        self.shared.state().delay_all = if d.is_zero() { None } else { Some(d) };
    }

    /// Every request that reaches normal handling is handled at once and
    /// answered `d` after it arrived, its handling included: a server whose
    /// requests take `d` each, as the benchmark's ceilings assume (zero
    /// turns it off). `delay_all` instead waits `d` and then handles the
    /// request, so each took `d` plus its handling.
    pub fn latency(&self, d: Duration) {
        self.shared.state().latency = if d.is_zero() { None } else { Some(d) };
    }

    /// The next `n` requests that reach normal handling first wait `d`
    /// (instead of delay_all). The request is still applied after the wait,
    /// even if the client has given up by then.
    pub fn delay_next(&self, n: usize, d: Duration) {
        let mut st = self.shared.state();
        st.delay_next = n;
        st.delay_next_for = d;
    }

    /// The next `n` requests get no response: the connection is closed.
    pub fn drop_next(&self, n: usize) {
        self.shared.state().drop_next = n;
    }

    /// Create/update requests and batch items for this email are refused:
    /// single-record requests answer `status` with `{"error": message}`; a batch
    /// containing it answers `status` with `{"error": message, "email": email}`
    /// and stores nothing.
    pub fn reject_email(&self, email: &str, status: u16, message: &str) {
        self.shared
            .state()
            .reject
            .insert(email.to_string(), (status, message.to_string()));
    }

    /// In a batch, items with this email are not stored and are reported in the
    /// 200 response's "errors". No effect on single-record requests.
    pub fn record_error_email(&self, email: &str, message: &str) {
        self.shared
            .state()
            .record_errors
            .insert(email.to_string(), message.to_string());
    }

    /// Clears every fault: counters, delays, rejected and error emails, and down.
    pub fn clear_faults(&self) {
        let mut st = self.shared.state();
        st.down = false;
        st.drop_next = 0;
        st.throttle_next = 0;
        st.fail_next = 0;
        st.delay_next = 0;
        st.delay_all = None;
        st.latency = None;
        st.reject.clear();
        st.record_errors.clear();
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        self.shared.state().down = down;
    }

    /// Preloads a record (stored as given).
    pub fn insert_contact(&self, email: &str, record: Value) {
        self.shared
            .state()
            .contacts
            .insert(email.to_string(), record);
    }

    /// Stops the server: the port is closed, open connections are shut down,
    /// pending delays end without a response, and all threads are joined.
    /// Idempotent; also done on drop.
    pub fn stop(&self) {
        {
            let mut stopped = lock(&self.shared.stopped);
            if *stopped {
                return;
            }
            *stopped = true;
        }
        self.shared.stop_cv.notify_all();
        // Wake the accept thread, which then drops the listener.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(handle) = lock(&self.acceptor).take() {
            if woke {
                let _ = handle.join();
            }
        }
        for (_, conn) in lock(&self.shared.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let workers: Vec<JoinHandle<()>> = lock(&self.shared.workers).drain(..).collect();
        for worker in workers {
            let _ = worker.join();
        }
    }
}

impl Drop for FakeCrm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id: u64 = 0;
    for incoming in listener.incoming() {
        if shared.is_stopped() {
            break;
        }
        let stream = match incoming {
            Ok(s) => s,
            Err(_) => {
                // e.g. too many open files: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        match stream.try_clone() {
            Ok(clone) => {
                lock(&shared.conns).insert(id, clone);
            }
            Err(_) => continue,
        }
        let conn_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("fake-crm-conn".into())
            .spawn(move || {
                serve_connection(&conn_shared, stream);
                lock(&conn_shared.conns).remove(&id);
            });
        match spawned {
            Ok(handle) => {
                let mut workers = lock(&shared.workers);
                workers.retain(|h| !h.is_finished());
                workers.push(handle);
            }
            Err(_) => {
                if let Some(conn) = lock(&shared.conns).remove(&id) {
                    let _ = conn.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

struct Request {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let conn = self.header("Connection").map(|v| v.to_ascii_lowercase());
        match conn {
            Some(v) if v.split(',').any(|t| t.trim() == "close") => false,
            Some(v) if v.split(',').any(|t| t.trim() == "keep-alive") => true,
            _ => !self.http10,
        }
    }
}

enum ReadError {
    /// The client closed the connection (or it failed) between requests.
    Closed,
    /// The bytes were not an HTTP request we can parse: answer 400 and close.
    Malformed(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Closed
    }
}

/// Reads one line (without CRLF). `Ok(None)` at EOF before any byte.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return if n as u64 >= MAX_LINE {
            Err(ReadError::Malformed("line too long"))
        } else {
            Err(ReadError::Closed)
        };
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Request, ReadError> {
    // Request line, skipping empty lines before it (RFC 9112 2.2).
    let line = loop {
        match read_line(reader)? {
            None => return Err(ReadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m.to_string(), t.to_string(), v),
        _ => return Err(ReadError::Malformed("bad request line")),
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Malformed("unsupported HTTP version")),
    };
    let mut headers = Vec::new();
    loop {
        let line = match read_line(reader)? {
            None => return Err(ReadError::Closed),
            Some(l) => l,
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Malformed("too many headers"));
        }
        match line.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() => {
                headers.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(ReadError::Malformed("bad header line")),
        }
    }
    let mut req = Request {
        method,
        target,
        http10,
        headers,
        body: Vec::new(),
    };

    let chunked = req
        .header("Transfer-Encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    let length = match req.header("Content-Length") {
        Some(v) => match v.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return Err(ReadError::Malformed("bad Content-Length")),
        },
        None => None,
    };
    let has_body = chunked || length.map(|n| n > 0).unwrap_or(false);
    if has_body && !req.http10 {
        if let Some(expect) = req.header("Expect") {
            if expect.eq_ignore_ascii_case("100-continue") {
                writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
        }
    }
    if chunked {
        loop {
            let size_line = read_line(reader)?.ok_or(ReadError::Closed)?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| ReadError::Malformed("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    match read_line(reader)? {
                        None => return Err(ReadError::Closed),
                        Some(l) if l.is_empty() => break,
                        Some(_) => continue,
                    }
                }
                break;
            }
            let start = req.body.len();
            req.body.resize(start + size, 0);
            reader.read_exact(&mut req.body[start..])?;
            match read_line(reader)? {
                Some(l) if l.is_empty() => {}
                _ => return Err(ReadError::Malformed("bad chunk terminator")),
            }
        }
    } else if let Some(n) = length {
        req.body.resize(n, 0);
        reader.read_exact(&mut req.body)?;
    }
    Ok(req)
}

struct Response {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

impl Response {
    fn json(status: u16, body: Value) -> Response {
        Response {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str) -> Response {
        Response::json(status, json!({ "error": message }))
    }

    fn empty(status: u16) -> Response {
        Response {
            status,
            body: None,
            headers: Vec::new(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(
    writer: &mut TcpStream,
    resp: &Response,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let bodyless = resp.status < 200 || resp.status == 204 || resp.status == 304;
    let body: Vec<u8> = match (&resp.body, bodyless) {
        (Some(v), false) => serde_json::to_vec(v).unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if !bodyless {
        if resp.body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in &resp.headers {
        head.push_str(&format!("{}: {}\r\n", k, v));
    }
    head.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(&body);
    }
    writer.write_all(&out)?;
    writer.flush()
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.is_stopped() {
            break;
        }
        let req = match read_request(&mut reader, &mut writer) {
            Ok(r) => r,
            Err(ReadError::Closed) => break,
            Err(ReadError::Malformed(msg)) => {
                let _ = write_response(&mut writer, &Response::error(400, msg), false, true);
                break;
            }
        };
        let close = !req.keep_alive();
        let head_only = req.method == "HEAD";
        match process(shared, req, Instant::now()) {
            None => {
                // Dropped: no response at all.
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(resp) => {
                let close = close || shared.is_stopped();
                if write_response(&mut writer, &resp, head_only, close).is_err() || close {
                    break;
                }
            }
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Records the request, applies faults, and handles it. `None` means close
/// the connection without responding.
fn process(shared: &Shared, req: Request, arrived: Instant) -> Option<Response> {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let recorded = Recorded {
        method: req.method.clone(),
        path: req.target.clone(),
        headers: req.headers,
        body,
    };
    let (delay, latency) = {
        let mut st = shared.state();
        st.requests.push(recorded.clone());
        if st.down {
            return Some(Response::error(503, "service unavailable"));
        }
        if st.drop_next > 0 {
            st.drop_next -= 1;
            return None;
        }
        if st.throttle_next > 0 {
            st.throttle_next -= 1;
            let mut resp = Response::error(429, "rate limited");
            resp.headers
                .push(("Retry-After".to_string(), st.retry_after_secs.to_string()));
            return Some(resp);
        }
        if st.fail_next > 0 {
            st.fail_next -= 1;
            return Some(Response::error(st.fail_status, "injected"));
        }
        let delay = if st.delay_next > 0 {
            st.delay_next -= 1;
            Some(st.delay_next_for)
        } else {
            st.delay_all
        };
        (delay, st.latency)
    };
    if let Some(d) = delay {
        if !shared.sleep(d) {
            return None; // stopped while waiting
        }
    }
    // Parsed before the lock: a real server handles its requests side by
    // side, and the benchmark's rates must not wait on this one's lock.
    let parsed = serde_json::from_str::<Value>(&recorded.body).ok();
    let response = route(&mut shared.state(), &req.method, &req.target, parsed);
    if let Some(latency) = latency {
        let answer_at = arrived + latency;
        if !shared.sleep(answer_at.saturating_duration_since(Instant::now())) {
            return None; // stopped while holding the answer back
        }
    }
    Some(response)
}

/// Decodes %XX escapes (invalid escapes are kept as they are). '+' stays '+'.
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn object_of(body: Option<Value>) -> Option<Map<String, Value>> {
    match body {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn email_of(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("email") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn rejected(st: &State, email: &str) -> Option<Response> {
    st.reject
        .get(email)
        .map(|(status, message)| Response::error(*status, message))
}

/// `body` is the request's body parsed as JSON (None when it is not JSON).
fn route(st: &mut State, method: &str, target: &str, body: Option<Value>) -> Response {
    // Absolute-form targets ("http://host/path") are reduced to their path.
    let mut path = target;
    if let Some(rest) = path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
    {
        path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    }
    let path = path.split(['?', '#']).next().unwrap_or("");

    // A webhook receiver (alert channels): takes any JSON body.
    if path == "/hooks" && method == "POST" {
        return Response::json(200, json!({"ok": true}));
    }
    if path == "/contacts" || path == "/contacts/" {
        return match method {
            "POST" => create(st, body),
            "GET" => Response::json(200, Value::Array(st.contacts.values().cloned().collect())),
            _ => Response::error(404, "not found"),
        };
    }
    let segment = match path.strip_prefix("/contacts/") {
        Some(s) if !s.is_empty() && !s.contains('/') => s,
        _ => return Response::error(404, "not found"),
    };
    if segment == "batch" && method == "POST" {
        return batch(st, body);
    }
    let email = percent_decode(segment);
    match method {
        "GET" => match st.contacts.get(&email) {
            Some(rec) => Response::json(200, rec.clone()),
            None => Response::error(404, "not found"),
        },
        "PUT" => {
            let obj = match object_of(body) {
                Some(o) => o,
                None => return Response::error(400, "body must be a JSON object"),
            };
            if let Some(resp) = rejected(st, &email) {
                return resp;
            }
            if let Some(resp) = email_of(&obj).and_then(|e| rejected(st, &e)) {
                return resp;
            }
            let rec = Value::Object(obj);
            st.contacts.insert(email, rec.clone());
            Response::json(200, rec)
        }
        "PATCH" => {
            let obj = match object_of(body) {
                Some(o) => o,
                None => return Response::error(400, "body must be a JSON object"),
            };
            if let Some(resp) = rejected(st, &email) {
                return resp;
            }
            if let Some(resp) = email_of(&obj).and_then(|e| rejected(st, &e)) {
                return resp;
            }
            match st.contacts.get_mut(&email) {
                Some(Value::Object(existing)) => {
                    for (k, v) in obj {
                        existing.insert(k, v);
                    }
                    Response::json(200, Value::Object(existing.clone()))
                }
                Some(other) => {
                    // A preloaded non-object record: the patch replaces it.
                    *other = Value::Object(obj);
                    Response::json(200, other.clone())
                }
                None => Response::error(404, "not found"),
            }
        }
        "DELETE" => match st.contacts.remove(&email) {
            Some(_) => Response::empty(204),
            None => Response::error(404, "not found"),
        },
        _ => Response::error(404, "not found"),
    }
}

fn create(st: &mut State, body: Option<Value>) -> Response {
    let obj = match body {
        Some(Value::Object(m)) => m,
        Some(_) => return Response::error(400, "body must be a JSON object"),
        None => return Response::error(400, "invalid JSON"),
    };
    let email = match email_of(&obj) {
        Some(e) => e,
        None => return Response::error(400, "email is required"),
    };
    if let Some(resp) = rejected(st, &email) {
        return resp;
    }
    st.contacts.insert(email.clone(), Value::Object(obj));
    Response::json(201, json!({ "id": email }))
}

/// `{"records": [..]}`. A rejected email anywhere refuses the whole request
/// (that email's status, `{"error", "email"}`, nothing stored). Otherwise each
/// record is applied ("op": "delete" removes, anything else upserts with "op"
/// stripped) except those with a record-error email, no email, or that are not
/// objects; 200 `{"ok": applied, "errors": [{"index", "message"}]}`.
fn batch(st: &mut State, body: Option<Value>) -> Response {
    let records = match body {
        Some(Value::Object(mut m)) => match m.remove("records") {
            Some(Value::Array(a)) => a,
            _ => return Response::error(400, "records is required"),
        },
        Some(_) => return Response::error(400, "body must be a JSON object"),
        None => return Response::error(400, "invalid JSON"),
    };
    for rec in &records {
        if let Some(email) = rec.get("email").and_then(Value::as_str) {
            if let Some((status, message)) = st.reject.get(email) {
                return Response::json(*status, json!({ "error": message, "email": email }));
            }
        }
    }
    let mut ok = 0usize;
    let mut errors = Vec::new();
    for (index, rec) in records.into_iter().enumerate() {
        let mut obj = match rec {
            Value::Object(m) => m,
            _ => {
                errors.push(json!({ "index": index, "message": "record must be a JSON object" }));
                continue;
            }
        };
        let email = match email_of(&obj) {
            Some(e) => e,
            None => {
                errors.push(json!({ "index": index, "message": "email is required" }));
                continue;
            }
        };
        if let Some(message) = st.record_errors.get(&email) {
            errors.push(json!({ "index": index, "message": message }));
            continue;
        }
        let delete = obj.get("op").and_then(Value::as_str) == Some("delete");
        if delete {
            st.contacts.remove(&email);
        } else {
            obj.remove("op");
            st.contacts.insert(email, Value::Object(obj));
        }
        ok += 1;
    }
    Response::json(200, json!({ "ok": ok, "errors": errors }))
}
