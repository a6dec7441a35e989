//! Sending a window of operations: `concurrency` threads do the HTTP (and
//! nothing else: no thread calls into PostgreSQL); the calling thread builds
//! requests, paces them to the rate limit, and decides on every reply:
//! success, per-record errors, retry with backoff (honouring Retry-After;
//! a 429 wait does not use up the retry budget), split a rejected batch in
//! halves to isolate the bad records, or stop when the destination stays
//! down or the run is cancelled. Nothing sent is ever forgotten: a request
//! in flight when the run stops is waited for and its outcome recorded, and
//! queued requests that were not sent yet are reported as not attempted.

use super::{HttpDestination, OpRow, Step};
use crate::destinations::{BatchOutcome, Rejection};
use crate::error::{Error, SqlState};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many 429 answers one unit may wait out before it counts as down.
const MAX_THROTTLES: u32 = 100;
/// How much of a rejecting response body a reason keeps.
const REASON_BODY_LIMIT: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status {
        code: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    Transport(String),
    /// The run stopped before this request was sent.
    NotSent,
}

struct Unit {
    window: u64,
    rows: Vec<OpRow>,
    /// Which of the rows' requests is next, and what their lookup found
    /// (one value per row, in order; empty before it ran).
    step: Step,
    found: Vec<Value>,
    /// The request's answer (JSON; null if none), for its `then`.
    answer: Value,
    attempts: u32,
    throttles: u32,
    not_before: Instant,
    /// The OAuth token the unit was last sent with, and whether it was
    /// sent again after a refresh (a second 401 is the API's answer).
    token_generation: u64,
    reauthorized: bool,
    /// The unit's last request, without its headers: what a rejected
    /// row's changelog entry shows as sent.
    sent: Option<Sent>,
}

impl Unit {
    /// Rows not sent yet at `step` (what their lookup `found`, and the
    /// request's `answer`, when past those steps), due from `not_before`.
    fn fresh(
        window: u64,
        rows: Vec<OpRow>,
        step: Step,
        found: Vec<Value>,
        answer: Value,
        not_before: Instant,
    ) -> Unit {
        Unit {
            window,
            rows,
            step,
            found,
            answer,
            attempts: 0,
            throttles: 0,
            not_before,
            token_generation: 0,
            reauthorized: false,
            sent: None,
        }
    }
}

struct Sent {
    method: String,
    url: String,
    body: Option<String>,
}

impl Sent {
    /// What was sent for row `index` of a unit of `rows`: the whole request
    /// for one row; for a batch, the row's record where the body lists one
    /// record per row, else the whole body.
    fn payload(&self, index: usize, rows: usize) -> Value {
        let body = self.body.as_deref().map(json_or_text);
        let record = match &body {
            Some(Value::Object(map)) if rows > 1 => map
                .get("records")
                .and_then(Value::as_array)
                .filter(|records| records.len() == rows)
                .and_then(|records| records.get(index))
                .cloned(),
            _ => None,
        };
        match record {
            Some(record) => {
                serde_json::json!({"method": self.method, "url": self.url, "record": record})
            }
            None => serde_json::json!({"method": self.method, "url": self.url, "body": body}),
        }
    }
}

/// What to do with a reply: a pure decision, unit-tested below.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Delivered { record_errors: Vec<(usize, String)> },
    Retry { after: Duration, counts: bool },
    Split,
    Reject(String),
    Unavailable(String),
}

pub fn decide(
    destination: &HttpDestination,
    reply: &Reply,
    keys: &[Option<&str>],
    attempts: u32,
    throttles: u32,
    jitter: f64,
) -> Decision {
    let records = keys.len();
    let policy = &destination.connection.retry;
    let backoff = |attempt: u32| {
        let exponential = policy.initial_backoff.as_secs_f64() * 2f64.powi(attempt.min(30) as i32);
        Duration::from_secs_f64(
            exponential.min(policy.max_backoff.as_secs_f64()) * (0.5 + 0.5 * jitter),
        )
    };
    let describe = |reply: &Reply| match reply {
        Reply::Status { code, body, .. } => format!("HTTP {code}: {}", truncate(body)),
        Reply::Transport(error) => error.clone(),
        Reply::NotSent => "not sent".to_string(),
    };
    match reply {
        Reply::Status { code, body, .. } if (200..300).contains(code) => Decision::Delivered {
            record_errors: destination
                .record_errors
                .as_ref()
                .map(|spec| record_errors(body, spec, keys))
                .unwrap_or_default(),
        },
        Reply::Status { code, body, .. }
            if answer_matches(&policy.unavailable_when, *code, body) =>
        {
            Decision::Unavailable(format!("the API's limit is reached: {}", describe(reply)))
        }
        Reply::Status {
            code,
            retry_after,
            body,
        } if throttles < MAX_THROTTLES
            && ((*code == 429 && policy.on_status.contains(&429))
                || answer_matches(&policy.throttled_when, *code, body)) =>
        {
            Decision::Retry {
                after: retry_after
                    .map(|wait| wait.min(policy.max_backoff))
                    .unwrap_or_else(|| backoff(throttles)),
                counts: false,
            }
        }
        Reply::Status {
            code, retry_after, ..
        } if policy.on_status.contains(code) => {
            if attempts + 1 >= policy.max_attempts {
                Decision::Unavailable(format!(
                    "{} (after {} attempts)",
                    describe(reply),
                    attempts + 1
                ))
            } else {
                Decision::Retry {
                    after: retry_after
                        .map(|wait| wait.min(policy.max_backoff))
                        .unwrap_or_else(|| backoff(attempts)),
                    counts: true,
                }
            }
        }
        Reply::Transport(_) | Reply::NotSent => {
            if attempts + 1 >= policy.max_attempts {
                Decision::Unavailable(format!(
                    "{} (after {} attempts)",
                    describe(reply),
                    attempts + 1
                ))
            } else {
                Decision::Retry {
                    after: backoff(attempts),
                    counts: true,
                }
            }
        }
        Reply::Status { .. } if records > 1 => Decision::Split,
        Reply::Status { .. } => Decision::Reject(describe(reply)),
    }
}

/// Whether an error answer's JSON matches a rule of the retry policy
/// (`retry.throttled_when`, `retry.unavailable_when`).
fn answer_matches(rule: &Option<(String, Vec<Value>)>, code: u16, body: &str) -> bool {
    let Some((path, values)) = rule else {
        return false;
    };
    !(200..300).contains(&code)
        && serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|document| at_path(&document, path))
            .is_some_and(|value| values.contains(&value))
}

pub fn truncate(body: &str) -> String {
    let body = body.trim();
    if body.len() <= REASON_BODY_LIMIT {
        return body.to_string();
    }
    let mut end = REASON_BODY_LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

/// A body as a log or test shows it: its JSON, or its text when it is not
/// JSON.
pub fn json_or_text(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The value at a dotted path; a number indexes a list (`errors.0.message`).
fn at_path(value: &Value, path: &str) -> Option<Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |value, key| match (value, key.parse::<usize>()) {
            (Value::Array(items), Ok(at)) => items.get(at),
            _ => value.get(key),
        })
        .cloned()
}

/// A count in an answer (a number, or a number written as text), at a
/// dotted path; None when absent or negative (a platform that will not say).
pub fn count_at(body: &str, path: &str) -> Option<i64> {
    let value = at_path(&serde_json::from_str::<Value>(body).ok()?, path)?;
    let count = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }?;
    (count >= 0).then_some(count)
}

/// What a lookup's 2xx answer found for each of the unit's rows (by their
/// match values `keys`, in order): the item's `value`, or None for a row
/// no item names.
pub fn lookup_found(
    body: &str,
    lookup: &super::CompiledLookup,
    keys: &[Option<&str>],
) -> Result<Vec<Option<Value>>, String> {
    let document = serde_json::from_str::<Value>(body)
        .map_err(|e| format!("not JSON ({e}): {}", truncate(body)))?;
    let items = match at_path(&document, &lookup.results) {
        Some(Value::Array(items)) => items,
        Some(item @ Value::Object(_)) => vec![item],
        Some(Value::Null) => Vec::new(),
        // Not an answer that says what it found: nothing may count as
        // not found (a removal would count as done).
        None => {
            return Err(format!(
                "no \"{}\" in it: {}",
                lookup.results,
                truncate(body)
            ))
        }
        Some(other) => {
            return Err(format!(
                "\"{}\" is not a list: {}",
                lookup.results,
                truncate(&other.to_string())
            ))
        }
    };
    let text = |value: Value| match value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let found: Vec<(String, Value)> = items
        .iter()
        .filter_map(|item| {
            let key = text(at_path(item, &lookup.key)?);
            let value = at_path(item, &lookup.value).filter(|v| !v.is_null())?;
            Some((key, value))
        })
        .collect();
    Ok(keys
        .iter()
        .map(|key| {
            let key = (*key)?;
            found
                .iter()
                .find(|(k, _)| {
                    if lookup.ignore_case {
                        k.to_lowercase() == key.to_lowercase()
                    } else {
                        k == key
                    }
                })
                .map(|(_, value)| value.clone())
        })
        .collect())
}

/// Per-record errors in a 2xx batch response, as (record index, message).
/// An error names its record by position in the request (`index`) or by
/// the record's match value (`id`: a string, or a list of them) among
/// `keys`, the match values of the request's records in order.
pub fn record_errors(
    body: &str,
    spec: &super::config::RecordErrors,
    keys: &[Option<&str>],
) -> Vec<(usize, String)> {
    let Ok(document) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    let message_of = |item: &Value| -> String {
        let text = match at_path(item, &spec.message) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => item.to_string(),
        };
        format!("record error: {}", truncate(&text))
    };
    if spec.positional {
        let Some(Value::Array(items)) = at_path(&document, &spec.path) else {
            return Vec::new();
        };
        let flag = spec.success_flag.as_deref().unwrap_or("success");
        return items
            .iter()
            .take(keys.len())
            .enumerate()
            .filter(|(_, item)| item.get(flag) == Some(&Value::Bool(false)))
            .map(|(at, item)| (at, message_of(item)))
            .collect();
    }
    if let Some(flag) = &spec.success_flag {
        // One answer for the whole request: a false flag rejects its records.
        let Some(answer) = at_path(&document, &spec.path) else {
            return Vec::new();
        };
        if answer.get(flag) != Some(&Value::Bool(false)) {
            return Vec::new();
        }
        let reason = message_of(&answer);
        return (0..keys.len()).map(|at| (at, reason.clone())).collect();
    }
    let Some(Value::Array(items)) = at_path(&document, &spec.path) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for item in &items {
        let reason = message_of(item);
        let indexes: Vec<usize> = match &spec.id {
            Some(id_path) => {
                let ids: Vec<String> = match at_path(item, id_path) {
                    Some(Value::Array(ids)) => ids
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect(),
                    Some(Value::String(id)) => vec![id],
                    Some(other) => vec![other.to_string()],
                    None => Vec::new(),
                };
                keys.iter()
                    .enumerate()
                    .filter(|(_, key)| key.is_some_and(|k| ids.iter().any(|id| id == k)))
                    .map(|(at, _)| at)
                    .collect()
            }
            None => item
                .get(&spec.index)
                .and_then(Value::as_u64)
                .map(|at| at as usize)
                .filter(|at| *at < keys.len())
                .into_iter()
                .collect(),
        };
        found.extend(indexes.into_iter().map(|at| (at, reason.clone())));
    }
    found
}

/// Send one request. Secret values are scrubbed from what comes back (a
/// client error may quote a header; a server may echo one).
pub fn execute(
    agent: &ureq::Agent,
    request: &super::PreparedRequest,
    secrets: &super::secrets::Secrets,
) -> Reply {
    let mut call = agent.request(&request.method, &request.url);
    for (name, value) in &request.headers {
        call = call.set(name, value);
    }
    let result = match &request.body {
        Some(body) => call.send_string(body),
        None => call.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(error)) => {
            return Reply::Transport(secrets.scrub(&format!("network error: {error}")))
        }
    };
    let code = response.status();
    let retry_after = response.header("retry-after").and_then(parse_retry_after);
    let body = secrets.scrub(&response.into_string().unwrap_or_default());
    Reply::Status {
        code,
        retry_after,
        body,
    }
}

/// A Retry-After header: seconds, or an HTTP date (how long until then).
/// The caller caps it at the retry policy's longest backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A small xorshift generator for backoff jitter.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Job {
    unit: usize,
    request: super::PreparedRequest,
    send_at: Instant,
}

/// Requests queued per sending thread: enough that the threads keep sending
/// while the calling thread records the previous window and loads the next.
/// Measured against a server answering at once: 3 left threads waiting
/// (12,700 one-row requests/s with 32 threads, 66,000 rows/s batched); 8
/// gives 17,000 and 72,000. Only rows of submitted windows are queued, so
/// memory stays within the in-flight bounds.
const QUEUE_PER_THREAD: usize = 8;

/// The sending threads and every unit not yet settled, across windows: the
/// engine submits window k+1 before it waits for (and records) window k, so
/// the threads never run dry while PostgreSQL work is done.
pub struct Dispatcher {
    jobs: Option<mpsc::Sender<Job>>,
    replies: mpsc::Receiver<(usize, Reply)>,
    threads: Vec<std::thread::JoinHandle<()>>,
    halt: Arc<AtomicBool>,
    units: Vec<Option<Unit>>,
    pending: VecDeque<usize>,
    queued: usize,
    next_send: Instant,
    jitter: Jitter,
    open: HashMap<u64, usize>,
    outcomes: HashMap<u64, BatchOutcome>,
    stop: Option<Error>,
}

impl Dispatcher {
    pub fn new(
        agent: ureq::Agent,
        concurrency: usize,
        secrets: super::secrets::Secrets,
    ) -> Dispatcher {
        let (job_sender, job_receiver) = mpsc::channel::<Job>();
        let job_receiver = Arc::new(Mutex::new(job_receiver));
        let (reply_sender, replies) = mpsc::channel::<(usize, Reply)>();
        let halt = Arc::new(AtomicBool::new(false));
        let threads = (0..concurrency)
            .map(|_| {
                let jobs = Arc::clone(&job_receiver);
                let reply_sender = reply_sender.clone();
                let agent = agent.clone();
                let halt = Arc::clone(&halt);
                let secrets = secrets.clone();
                std::thread::spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let reply = if halt.load(Ordering::SeqCst) {
                        Reply::NotSent
                    } else {
                        std::thread::sleep(job.send_at.saturating_duration_since(Instant::now()));
                        execute(&agent, &job.request, &secrets)
                    };
                    if reply_sender.send((job.unit, reply)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Dispatcher {
            jobs: Some(job_sender),
            replies,
            threads,
            halt,
            units: Vec::new(),
            pending: VecDeque::new(),
            queued: 0,
            next_send: Instant::now(),
            jitter: Jitter(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1,
            ),
            open: HashMap::new(),
            outcomes: HashMap::new(),
            stop: None,
        }
    }

    /// Queue a window's units (rows of one kind, at most batch_size each).
    pub fn submit(&mut self, window: u64, units: Vec<Vec<OpRow>>, first: Step) {
        self.outcomes.entry(window).or_default();
        *self.open.entry(window).or_default() += units.len();
        let now = Instant::now();
        for rows in units {
            self.units.push(Some(Unit::fresh(
                window,
                rows,
                first,
                Vec::new(),
                Value::Null,
                now,
            )));
            self.pending.push_back(self.units.len() - 1);
        }
    }

    /// Takes a unit out of play; None if it was already settled (a unit
    /// settles once, and a stray second settlement must not count its rows
    /// twice or end the run with a panic).
    fn settle(&mut self, id: usize) -> Option<Unit> {
        let unit = self.units.get_mut(id)?.take()?;
        if let Some(open) = self.open.get_mut(&unit.window) {
            *open -= 1;
        }
        Some(unit)
    }

    /// Settle a unit: every row of it rejected with `reason`.
    fn reject(&mut self, id: usize, reason: &str) {
        let Some(unit) = self.settle(id) else {
            return;
        };
        let every_row = (0..unit.rows.len()).map(|index| (index, reason.to_string()));
        let rejections = rejections_of(&unit, every_row.collect());
        self.outcome(unit.window).rejections.extend(rejections);
    }

    /// Settle a unit: none of its rows counts as delivered (they are
    /// aborted and sent again by the next run).
    fn unattempted(&mut self, id: usize) {
        let Some(unit) = self.settle(id) else {
            return;
        };
        let positions: Vec<i64> = unit.rows.iter().map(|r| r.pos).collect();
        self.outcome(unit.window).unattempted.extend(positions);
    }

    fn outcome(&mut self, window: u64) -> &mut BatchOutcome {
        self.outcomes.entry(window).or_default()
    }

    /// Stop: nothing more is sent; pending units count as not attempted.
    pub fn halt_with(&mut self, error: Error) {
        if self.stop.is_none() {
            self.stop = Some(error);
        }
        self.halt.store(true, Ordering::SeqCst);
        for id in std::mem::take(&mut self.pending) {
            self.unattempted(id);
        }
    }

    /// Send and settle until every unit of `window` is settled; return what
    /// became of it. Units of later windows are sent meanwhile.
    pub fn wait(
        &mut self,
        destination: &HttpDestination,
        window: u64,
        requests_per_second: Option<f64>,
        interrupted: &dyn Fn() -> Option<Error>,
    ) -> Result<BatchOutcome, Error> {
        let depth = destination.connection.concurrency * QUEUE_PER_THREAD;
        let interval =
            requests_per_second.and_then(|rps| Duration::try_from_secs_f64(1.0 / rps).ok());
        loop {
            if self.stop.is_none() {
                if let Some(reason) = interrupted() {
                    self.halt_with(reason);
                }
            }
            while self.stop.is_none() && self.queued < depth {
                let now = Instant::now();
                let Some(position) = self
                    .pending
                    .iter()
                    .position(|&u| self.units[u].as_ref().is_some_and(|u| u.not_before <= now))
                else {
                    break;
                };
                let Some(id) = self.pending.remove(position) else {
                    break;
                };
                // The position search above only finds units still in play.
                let Some(unit) = self.units.get(id).and_then(Option::as_ref) else {
                    continue;
                };
                // The base URL and token may change during the run (OAuth).
                match destination.prepare_step(
                    &unit.rows,
                    &destination.base_url(),
                    unit.step,
                    &unit.found,
                    &unit.answer,
                ) {
                    Ok(request) => {
                        if let Some(Some(unit)) = self.units.get_mut(id) {
                            unit.sent = Some(Sent {
                                method: request.method.clone(),
                                url: request.url.clone(),
                                body: request.body.clone(),
                            });
                            unit.token_generation = destination.token_generation();
                        }
                        let host_ok = url::Url::parse(&request.url)
                            .map(|u| {
                                super::config::host_allowed(
                                    u.host_str().unwrap_or_default(),
                                    u.port_or_known_default(),
                                    &destination.allowed_hosts,
                                )
                            })
                            .unwrap_or(false);
                        if !host_ok {
                            self.halt_with(Error::new(SqlState::InsufficientPrivilege, "stopped"));
                            return Err(Error::new(
                                SqlState::InsufficientPrivilege,
                                format!(
                                    "request url {} is not on reverse_etl.http_allowed_hosts",
                                    request.url
                                ),
                            ));
                        }
                        let send_at = match interval {
                            Some(interval) => {
                                let at = self.next_send.max(now);
                                self.next_send = at + interval;
                                at
                            }
                            None => now,
                        };
                        let Some(sender) = self.jobs.as_ref() else {
                            return Err(Error::new(
                                SqlState::InternalError,
                                "http sending threads stopped",
                            ));
                        };
                        sender
                            .send(Job {
                                unit: id,
                                request,
                                send_at,
                            })
                            .map_err(|_| {
                                Error::new(SqlState::InternalError, "http sending threads stopped")
                            })?;
                        self.queued += 1;
                    }
                    Err(error) => {
                        self.reject(
                            id,
                            &format!("could not build the request: {}", error.message),
                        );
                    }
                }
            }
            // Stopping: nothing more is sent, so nothing may wait to be.
            if self.stop.is_some() && !self.pending.is_empty() {
                for id in std::mem::take(&mut self.pending) {
                    self.unattempted(id);
                }
            }
            let settled = self.open.get(&window).copied().unwrap_or(0) == 0;
            if settled && (self.stop.is_none() || self.queued == 0) {
                let mut outcome = self.outcomes.remove(&window).unwrap_or_default();
                self.open.remove(&window);
                if outcome.stop.is_none() {
                    outcome.stop = self.stop.clone();
                }
                return Ok(outcome);
            }
            let wait = self
                .pending
                .iter()
                .filter_map(|&u| self.units[u].as_ref().map(|u| u.not_before))
                .min()
                .map(|due| due.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(20))
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            let Ok((id, reply)) = self.replies.recv_timeout(wait) else {
                continue;
            };
            self.queued -= 1;
            self.handle(destination, id, reply);
        }
    }

    fn handle(&mut self, destination: &HttpDestination, id: usize, reply: Reply) {
        // A reply only comes for a unit that was sent and is still in play.
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        if reply == Reply::NotSent {
            self.unattempted(id);
            return;
        }
        // An expired OAuth token: one refresh for all the requests sent
        // with it, and each of them sent again once.
        if let Reply::Status { code: 401, .. } = reply {
            if destination.connection.oauth.is_some() && !unit.reauthorized && self.stop.is_none() {
                let sent_with = unit.token_generation;
                unit.reauthorized = true;
                unit.not_before = Instant::now();
                match destination.refresh_token(sent_with) {
                    Ok(()) => self.pending.push_back(id),
                    Err(error) => {
                        self.halt_with(error);
                        self.unattempted(id);
                    }
                }
                return;
            }
        }
        let (attempts, throttles) = if self.stop.is_some() {
            // Stopping: no more retries or splits; settle as is.
            (u32::MAX - 1, MAX_THROTTLES)
        } else {
            (unit.attempts, unit.throttles)
        };
        let keys: Vec<Option<&str>> = unit.rows.iter().map(|r| r.match_key.as_deref()).collect();
        let decision = decide(
            destination,
            &reply,
            &keys,
            attempts,
            throttles,
            self.jitter.next(),
        );
        match decision {
            Decision::Delivered { record_errors } => match unit.step {
                Step::Lookup => self.looked_up(destination, id, &reply),
                Step::Request => {
                    let then = unit
                        .rows
                        .first()
                        .and_then(|row| destination.request_for(row.op))
                        .is_some_and(|request| request.then.is_some());
                    if let (true, Reply::Status { body, .. }) = (then, &reply) {
                        unit.answer = serde_json::from_str(body).unwrap_or(Value::Null);
                    }
                    self.delivered(id, record_errors, then);
                }
                Step::Then => self.delivered(id, Vec::new(), false),
            },
            Decision::Retry { after, counts } => {
                if counts {
                    unit.attempts += 1;
                } else {
                    unit.throttles += 1;
                }
                unit.not_before = Instant::now() + after;
                self.pending.push_back(id);
            }
            Decision::Split if self.stop.is_none() => {
                let Some(mut unit) = self.settle(id) else {
                    return;
                };
                let half = unit.rows.len() / 2;
                let second = unit.rows.split_off(half);
                let second_found = unit.found.split_off(half.min(unit.found.len()));
                let answer = unit.answer;
                for (rows, found) in [(second, second_found), (unit.rows, unit.found)] {
                    *self.open.entry(unit.window).or_default() += 1;
                    self.units.push(Some(Unit::fresh(
                        unit.window,
                        rows,
                        unit.step,
                        found,
                        answer.clone(),
                        Instant::now(),
                    )));
                    self.pending.push_front(self.units.len() - 1);
                }
            }
            Decision::Reject(reason) => self.reject(id, &reason),
            Decision::Unavailable(_) | Decision::Split => {
                self.unattempted(id);
                if let Decision::Unavailable(reason) = decision {
                    self.halt_with(Error::new(
                        SqlState::Other(*b"08000"),
                        format!("destination unavailable: {reason}"),
                    ));
                }
            }
        }
    }
}

impl Dispatcher {
    /// A unit's request succeeded: its record errors reject those rows;
    /// the rest are delivered, or go on to the `then` request.
    fn delivered(&mut self, id: usize, record_errors: Vec<(usize, String)>, then: bool) {
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let rejected: Vec<usize> = record_errors.iter().map(|(at, _)| *at).collect();
        let rejections = rejections_of(unit, record_errors);
        let window = unit.window;
        self.outcome(window).rejections.extend(rejections);
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        if then {
            keep_rows(unit, |at| !rejected.contains(&at));
            if !unit.rows.is_empty() {
                self.next_step(id, Step::Then);
                return;
            }
        }
        self.settle(id);
    }

    /// A unit whose step succeeded goes on to `step`, sent afresh; unless
    /// the run is stopping: then its rows count as not attempted (the next
    /// run sends them again, every step: each is idempotent).
    fn next_step(&mut self, id: usize, step: Step) {
        if self.stop.is_some() {
            self.unattempted(id);
            return;
        }
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        unit.step = step;
        unit.attempts = 0;
        unit.throttles = 0;
        unit.reauthorized = false;
        unit.not_before = Instant::now();
        self.pending.push_back(id);
    }

    /// A unit's lookup answered: rows it did not find are rejected as not
    /// found; the others go on to the request with what was found.
    fn looked_up(&mut self, destination: &HttpDestination, id: usize, reply: &Reply) {
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let lookup = unit
            .rows
            .first()
            .and_then(|row| destination.request_for(row.op))
            .and_then(|request| request.lookup.as_ref());
        let (Some(lookup), Reply::Status { body, .. }) = (lookup, reply) else {
            self.reject(id, "the lookup was not answered");
            return;
        };
        let keys: Vec<Option<&str>> = unit.rows.iter().map(|r| r.match_key.as_deref()).collect();
        let found = match lookup_found(body, lookup, &keys) {
            Ok(found) => found,
            Err(problem) => {
                self.reject(
                    id,
                    &format!("the lookup's answer could not be read: {problem}"),
                );
                return;
            }
        };
        let not_found: Vec<(usize, String)> = found
            .iter()
            .enumerate()
            .filter(|(_, value)| value.is_none() && !lookup.not_found_is_done)
            .map(|(at, _)| {
                let key = keys[at].unwrap_or("(no match value)");
                (
                    at,
                    format!("not found: the lookup found no record for \"{key}\""),
                )
            })
            .collect();
        let rejections = rejections_of(unit, not_found);
        let window = unit.window;
        self.outcome(window).rejections.extend(rejections);
        let Some(unit) = self.units.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let missing: Vec<bool> = found.iter().map(Option::is_none).collect();
        keep_rows(unit, |at| !missing[at]);
        unit.found = found.into_iter().flatten().collect();
        if unit.rows.is_empty() {
            self.settle(id);
            return;
        }
        self.next_step(id, Step::Request);
    }
}

/// Rejections of a unit's rows (by index), with what was sent for each.
fn rejections_of(unit: &Unit, errors: Vec<(usize, String)>) -> Vec<Rejection> {
    errors
        .into_iter()
        .filter_map(|(index, reason)| {
            Some(Rejection {
                pos: unit.rows.get(index)?.pos,
                reason,
                payload: unit
                    .sent
                    .as_ref()
                    .map(|sent| sent.payload(index, unit.rows.len())),
            })
        })
        .collect()
}

/// Keep the unit's rows (and what was found for them) whose index `keep`
/// accepts.
fn keep_rows(unit: &mut Unit, keep: impl Fn(usize) -> bool) {
    let rows = std::mem::take(&mut unit.rows);
    let mut found = std::mem::take(&mut unit.found).into_iter();
    for (at, row) in rows.into_iter().enumerate() {
        let value = found.next();
        if keep(at) {
            unit.rows.push(row);
            unit.found.extend(value);
        }
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dispatcher({} threads, {} pending)",
            self.threads.len(),
            self.pending.len()
        )
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.halt.store(true, Ordering::SeqCst);
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncConfig;
    use crate::destinations::http::config::HttpConnection;
    use crate::plan::ModelColumn;
    use serde_json::json;

    fn destination() -> HttpDestination {
        let connection = HttpConnection::parse(&json!({"url": "http://127.0.0.1:9",
            "retry": {"max_attempts": 3, "initial_backoff_ms": 100, "max_backoff_ms": 1000}}))
        .unwrap();
        let config = SyncConfig::parse(
            &json!({"mode": "upsert", "batch_size": 10, "requests": {"added": {"method": "POST", "path": "/b"}},
                    "record_errors": {"path": "errors"}}),
            super::super::SYNC_KEYS,
        )
        .unwrap();
        let columns = [ModelColumn {
            name: "email".into(),
            type_sql: "text".into(),
            hashable: true,
            type_oid: 0,
        }];
        HttpDestination::new(connection, &config, &columns, "s").unwrap()
    }

    fn status(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn a_lookup_finds_each_rows_record_by_its_match_value() {
        let connection = HttpConnection::parse(&json!({"url": "http://127.0.0.1:9"})).unwrap();
        let config = SyncConfig::parse(
            &json!({"type": "list", "mode": "add", "list": "vip", "batch_size": 10, "delete_behavior": "nothing",
                    "match": {"from": "email", "to": "email"},
                    "requests": {"added": {"method": "PUT", "path": "/lists/1/add",
                        "body": "[{% for r in records %}{% unless forloop.first %},{% endunless %}{{ found[forloop.index0] | json }}{% endfor %}]",
                        "lookup": {"method": "POST", "path": "/read", "results": "results",
                                   "key": "properties.email", "value": "id", "ignore_case": true},
                        "then": {"method": "POST", "path": "/after"}}}}),
            super::super::SYNC_KEYS,
        )
        .unwrap();
        let columns = [ModelColumn {
            name: "email".into(),
            type_sql: "text".into(),
            hashable: true,
            type_oid: 0,
        }];
        let d = HttpDestination::new(connection, &config, &columns, "s").unwrap();
        let added = d.added.as_ref().unwrap();
        let lookup = added.lookup.as_ref().unwrap();
        let body = r#"{"results": [{"id": "901", "properties": {"email": "b@x.io"}},
                                   {"id": 17, "properties": {"email": "a@x.io"}},
                                   {"properties": {"email": "c@x.io"}}]}"#;
        assert_eq!(
            lookup_found(
                body,
                lookup,
                &[Some("A@x.io"), Some("c@x.io"), Some("b@x.io"), None]
            ),
            Ok(vec![Some(json!(17)), None, Some(json!("901")), None])
        );
        // An answer that does not say what it found is not "not found".
        assert!(
            lookup_found(r#"{"status": "error"}"#, lookup, &[Some("a@x.io")])
                .unwrap_err()
                .starts_with("no \"results\" in it")
        );
        assert_eq!(
            lookup_found(r#"{"results": null}"#, lookup, &[Some("a@x.io")]),
            Ok(vec![None])
        );
        assert!(lookup_found("not json", lookup, &[Some("a@x.io")]).is_err());
        let row = |email: &str| OpRow {
            pos: 1,
            op: crate::plan::Op::Added,
            row_id: email.into(),
            row_hash: None,
            match_key: Some(email.into()),
            fields: json!({"email": email}).as_object().unwrap().clone(),
        };
        let request = d
            .prepare_step(
                &[row("a@x.io"), row("b@x.io")],
                "http://h",
                Step::Request,
                &[json!(17), json!("901")],
                &Value::Null,
            )
            .unwrap();
        assert_eq!(request.body.as_deref(), Some(r#"[17,"901"]"#));
        let then = d
            .prepare_step(&[row("a@x.io")], "http://h", Step::Then, &[], &Value::Null)
            .unwrap();
        assert_eq!(then.url, "http://h/after");
        assert_eq!(Step::first(added), Step::Lookup);
    }

    #[test]
    fn answers_that_say_slow_down_or_stop() {
        let connection = HttpConnection::parse(&json!({"url": "http://127.0.0.1:9",
            "retry": {"throttled_when": {"path": "error.code", "values": [17, 80003]},
                      "unavailable_when": {"path": "0.errorCode", "values": ["REQUEST_LIMIT_EXCEEDED"]}}}))
        .unwrap();
        let config = SyncConfig::parse(
            &json!({"mode": "upsert", "batch_size": 10, "requests": {"added": {"method": "POST", "path": "/b"}}}),
            super::super::SYNC_KEYS,
        )
        .unwrap();
        let d = HttpDestination::new(connection, &config, &[], "s").unwrap();
        let throttled = decide(
            &d,
            &status(400, r#"{"error": {"code": 80003}}"#),
            &[None; 2],
            4,
            0,
            0.5,
        );
        assert!(
            matches!(throttled, Decision::Retry { counts: false, .. }),
            "{throttled:?}"
        );
        let limit = decide(
            &d,
            &status(
                403,
                r#"[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]"#,
            ),
            &[None; 2],
            0,
            0,
            0.5,
        );
        assert!(
            matches!(&limit, Decision::Unavailable(reason) if reason.starts_with("the API's limit is reached: HTTP 403")),
            "{limit:?}"
        );
        // Another 400 is the records' problem: split.
        assert_eq!(
            decide(
                &d,
                &status(400, r#"{"error": {"code": 100}}"#),
                &[None; 2],
                0,
                0,
                0.5
            ),
            Decision::Split
        );
    }

    #[test]
    fn decisions() {
        let d = destination();
        assert_eq!(
            decide(&d, &status(200, "{}"), &[None; 2], 0, 0, 0.5),
            Decision::Delivered {
                record_errors: vec![]
            }
        );
        assert_eq!(
            decide(
                &d,
                &status(
                    200,
                    r#"{"errors": [{"index": 1, "message": "bad email"}, {"index": 9}]}"#
                ),
                &[None; 2],
                0,
                0,
                0.5
            ),
            Decision::Delivered {
                record_errors: vec![(1, "record error: bad email".into())]
            }
        );
        // By match value, as HubSpot's multi-status answers name records.
        let by_id = super::super::config::RecordErrors {
            path: "errors".into(),
            index: "index".into(),
            id: Some("context.ids".into()),
            success_flag: None,
            positional: false,
            message: "message".into(),
        };
        // A success flag, as Slack answers: false rejects the request's records.
        let flagged = super::super::config::RecordErrors {
            path: String::new(),
            index: "index".into(),
            id: None,
            success_flag: Some("ok".into()),
            positional: false,
            message: "error".into(),
        };
        assert_eq!(
            record_errors(
                r#"{"ok": false, "error": "channel_not_found"}"#,
                &flagged,
                &[None]
            ),
            vec![(0, "record error: channel_not_found".into())]
        );
        assert!(record_errors(r#"{"ok": true}"#, &flagged, &[None]).is_empty());
        // In order, as Salesforce's collections answer.
        let positional = super::super::config::RecordErrors {
            path: String::new(),
            index: "index".into(),
            id: None,
            success_flag: Some("success".into()),
            positional: true,
            message: "errors.0.message".into(),
        };
        assert_eq!(
            record_errors(
                r#"[{"id": "003A", "success": true, "errors": []}, {"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]"}]}]"#,
                &positional,
                &[None, None]
            ),
            vec![(
                1,
                "record error: Required fields are missing: [LastName]".into()
            )]
        );
        assert_eq!(
            record_errors(
                r#"{"errors": [{"message": "Property values were not valid", "context": {"ids": ["b@x.io", "zz@x.io"]}}]}"#,
                &by_id,
                &[Some("a@x.io"), Some("b@x.io"), None]
            ),
            vec![(1, "record error: Property values were not valid".into())]
        );
        assert_eq!(
            decide(&d, &status(400, "no"), &[None; 4], 0, 0, 0.5),
            Decision::Split
        );
        assert_eq!(
            decide(&d, &status(400, "no"), &[None; 1], 0, 0, 0.5),
            Decision::Reject("HTTP 400: no".into())
        );
        assert!(matches!(
            decide(&d, &status(503, ""), &[None; 1], 0, 0, 1.0),
            Decision::Retry { counts: true, .. }
        ));
        assert!(
            matches!(decide(&d, &status(503, "down"), &[None; 1], 2, 0, 1.0), Decision::Unavailable(r) if r == "HTTP 503: down (after 3 attempts)")
        );
        assert!(matches!(
            decide(&d, &Reply::Transport("reset".into()), &[None; 1], 2, 0, 1.0),
            Decision::Unavailable(_)
        ));
        // A 429 waits as long as asked (up to the longest backoff) and does
        // not use up the retry budget.
        let throttled = Reply::Status {
            code: 429,
            retry_after: Some(Duration::from_millis(500)),
            body: String::new(),
        };
        assert_eq!(
            decide(&d, &throttled, &[None; 1], 2, 0, 1.0),
            Decision::Retry {
                after: Duration::from_millis(500),
                counts: false
            }
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let d = destination();
        let after = |attempts| match decide(&d, &status(503, ""), &[None; 1], attempts, 0, 1.0) {
            Decision::Retry { after, .. } => after,
            other => panic!("{other:?}"),
        };
        assert_eq!(after(0), Duration::from_millis(100));
        assert_eq!(after(1), Duration::from_millis(200));
        let mut d = destination();
        d.connection.retry.max_attempts = 50;
        let capped = match decide(&d, &status(503, ""), &[None; 1], 20, 0, 1.0) {
            Decision::Retry { after, .. } => after,
            _ => unreachable!(),
        };
        assert_eq!(capped, Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_never_longer_than_the_longest_backoff() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&soon).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert_eq!(parse_retry_after("soon"), None);
        let d = destination();
        let huge = Reply::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(u64::MAX)),
            body: String::new(),
        };
        assert_eq!(
            decide(&d, &huge, &[None; 1], 0, 0, 1.0),
            Decision::Retry {
                after: Duration::from_millis(1000),
                counts: false
            },
            "capped at retry.max_backoff_ms"
        );
    }

    #[test]
    fn long_bodies_are_truncated() {
        let reason = truncate(&"x".repeat(2000));
        assert!(reason.ends_with("… (2000 bytes)") && reason.len() < 600);
    }
}
