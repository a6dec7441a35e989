//! Sending a window of operations: `concurrency` threads do the HTTP (and
//! nothing else: no thread calls into PostgreSQL); the calling thread builds
//! requests, paces them to the rate limit, and decides on every reply:
//! success, per-record errors, retry with backoff (honouring Retry-After;
//! a 429 wait does not use up the retry budget), split a rejected batch in
//! halves to isolate the bad records, or stop when the destination stays
//! down or the run is cancelled. Nothing sent is ever forgotten: a request
//! in flight when the run stops is waited for and its outcome recorded.

use super::{HttpDestination, OpRow};
use crate::destinations::{BatchOutcome, Rejection};
use crate::error::{Error, SqlState};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many 429 answers one unit may wait out before it counts as down.
const MAX_THROTTLES: u32 = 100;
/// How much of a rejecting response body a reason keeps.
const REASON_BODY_LIMIT: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status { code: u16, retry_after: Option<Duration>, body: String },
    Transport(String),
}

struct Unit {
    rows: Vec<OpRow>,
    attempts: u32,
    throttles: u32,
    not_before: Instant,
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
    records: usize,
    attempts: u32,
    throttles: u32,
    jitter: f64,
) -> Decision {
    let policy = &destination.connection.retry;
    let backoff = |attempt: u32| {
        let exponential = policy.initial_backoff.as_secs_f64() * 2f64.powi(attempt.min(30) as i32);
        Duration::from_secs_f64(exponential.min(policy.max_backoff.as_secs_f64()) * (0.5 + 0.5 * jitter))
    };
    let describe = |reply: &Reply| match reply {
        Reply::Status { code, body, .. } => format!("HTTP {code}: {}", truncate(body)),
        Reply::Transport(error) => error.clone(),
    };
    match reply {
        Reply::Status { code, body, .. } if (200..300).contains(code) => Decision::Delivered {
            record_errors: destination
                .record_errors
                .as_ref()
                .map(|spec| record_errors(body, &spec.path, &spec.index, &spec.message, records))
                .unwrap_or_default(),
        },
        Reply::Status { code: 429, retry_after, .. } if throttles < MAX_THROTTLES && policy.on_status.contains(&429) => {
            Decision::Retry { after: retry_after.unwrap_or_else(|| backoff(throttles)), counts: false }
        }
        Reply::Status { code, retry_after, .. } if policy.on_status.contains(code) => {
            if attempts + 1 >= policy.max_attempts {
                Decision::Unavailable(format!("{} (after {} attempts)", describe(reply), attempts + 1))
            } else {
                Decision::Retry { after: retry_after.unwrap_or_else(|| backoff(attempts)), counts: true }
            }
        }
        Reply::Transport(_) => {
            if attempts + 1 >= policy.max_attempts {
                Decision::Unavailable(format!("{} (after {} attempts)", describe(reply), attempts + 1))
            } else {
                Decision::Retry { after: backoff(attempts), counts: true }
            }
        }
        Reply::Status { .. } if records > 1 => Decision::Split,
        Reply::Status { .. } => Decision::Reject(describe(reply)),
    }
}

fn truncate(body: &str) -> String {
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

/// Per-record errors in a 2xx batch response, as (record index, message).
pub fn record_errors(body: &str, path: &str, index: &str, message: &str, records: usize) -> Vec<(usize, String)> {
    let Ok(document) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    let list = path
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(&document, |value, key| value.get(key));
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let at = item.get(index)?.as_u64()? as usize;
                    let text = match item.get(message) {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => item.to_string(),
                    };
                    (at < records).then(|| (at, format!("record error: {}", truncate(&text))))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn execute(agent: &ureq::Agent, request: &super::PreparedRequest) -> Reply {
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
        Err(ureq::Error::Transport(error)) => return Reply::Transport(format!("network error: {error}")),
    };
    let code = response.status();
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.into_string().unwrap_or_default();
    Reply::Status { code, retry_after, body }
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

/// Send every unit (rows of one kind, at most batch_size each). `interrupted`
/// is polled by the calling thread; once it says so, nothing new is sent.
pub fn send_all(
    destination: &HttpDestination,
    agent: &ureq::Agent,
    units: Vec<Vec<OpRow>>,
    requests_per_second: Option<f64>,
    interrupted: &dyn Fn() -> bool,
) -> Result<BatchOutcome, Error> {
    let base_url = destination.connection.url.as_str().trim_end_matches('/').to_string();
    let concurrency = destination.connection.concurrency;
    let interval = requests_per_second.map(|rps| Duration::from_secs_f64(1.0 / rps));
    let mut jitter = Jitter(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1,
    );
    let now = Instant::now();
    let mut units: Vec<Option<Unit>> = units
        .into_iter()
        .map(|rows| Some(Unit { rows, attempts: 0, throttles: 0, not_before: now }))
        .collect();
    let mut pending: VecDeque<usize> = (0..units.len()).collect();
    let mut outcome = BatchOutcome::default();

    let (job_sender, job_receiver) = mpsc::channel::<(usize, super::PreparedRequest)>();
    let job_receiver = Arc::new(Mutex::new(job_receiver));
    let (reply_sender, replies) = mpsc::channel::<(usize, Reply)>();

    std::thread::scope(|scope| -> Result<(), Error> {
        for _ in 0..concurrency {
            let jobs = Arc::clone(&job_receiver);
            let reply_sender = reply_sender.clone();
            scope.spawn(move || loop {
                let job = match jobs.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((unit, request)) = job else { return };
                if reply_sender.send((unit, execute(agent, &request))).is_err() {
                    return;
                }
            });
        }
        drop(reply_sender);

        let mut in_flight = 0usize;
        let mut next_send = Instant::now();
        let result = (|| -> Result<(), Error> {
            loop {
                if outcome.stop.is_none() && interrupted() {
                    outcome.stop = Some(Error::new(SqlState::Other(*b"57014"), "run cancelled"));
                }
                // Dispatch what is due, within concurrency and rate.
                while outcome.stop.is_none() && in_flight < concurrency {
                    let now = Instant::now();
                    let Some(position) = pending.iter().position(|&u| units[u].as_ref().is_some_and(|u| u.not_before <= now)) else { break };
                    if interval.is_some() && now < next_send {
                        break;
                    }
                    let id = pending.remove(position).expect("position is in range");
                    let unit = units[id].as_ref().expect("pending units exist");
                    match destination.prepare(&unit.rows, &base_url) {
                        Ok(request) => {
                            let host_ok = url::Url::parse(&request.url)
                                .map(|u| super::config::host_allowed(u.host_str().unwrap_or_default(), &destination.allowed_hosts))
                                .unwrap_or(false);
                            if !host_ok {
                                return Err(Error::new(
                                    SqlState::InsufficientPrivilege,
                                    format!("request url {} is not on reverse_etl.http_allowed_hosts", request.url),
                                ));
                            }
                            if let Some(interval) = interval {
                                next_send = next_send.max(now) + interval;
                            }
                            job_sender.send((id, request)).map_err(|_| Error::new(SqlState::InternalError, "http threads stopped"))?;
                            in_flight += 1;
                        }
                        Err(error) => {
                            let unit = units[id].take().expect("unit exists");
                            for row in unit.rows {
                                outcome.rejections.push(Rejection { pos: row.pos, reason: format!("could not build the request: {}", error.message) });
                            }
                        }
                    }
                }
                if in_flight == 0 && (pending.is_empty() || outcome.stop.is_some()) {
                    return Ok(());
                }
                let wait = pending
                    .iter()
                    .filter_map(|&u| units[u].as_ref().map(|u| u.not_before))
                    .min()
                    .map(|due| due.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_millis(20))
                    .min(Duration::from_millis(20))
                    .max(if interval.is_some() { next_send.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)) } else { Duration::ZERO });
                let Ok((id, reply)) = replies.recv_timeout(wait.max(Duration::from_millis(1))) else { continue };
                in_flight -= 1;
                let unit = units[id].as_mut().expect("replied units exist");
                match decide(destination, &reply, unit.rows.len(), unit.attempts, unit.throttles, jitter.next()) {
                    Decision::Delivered { record_errors } => {
                        let unit = units[id].take().expect("unit exists");
                        for (index, reason) in record_errors {
                            outcome.rejections.push(Rejection { pos: unit.rows[index].pos, reason });
                        }
                    }
                    Decision::Retry { after, counts } => {
                        if counts {
                            unit.attempts += 1;
                        } else {
                            unit.throttles += 1;
                        }
                        unit.not_before = Instant::now() + after;
                        pending.push_back(id);
                    }
                    Decision::Split => {
                        let mut unit = units[id].take().expect("unit exists");
                        let second = unit.rows.split_off(unit.rows.len() / 2);
                        for rows in [unit.rows, second] {
                            units.push(Some(Unit { rows, attempts: 0, throttles: 0, not_before: Instant::now() }));
                            pending.push_front(units.len() - 1);
                        }
                    }
                    Decision::Reject(reason) => {
                        let unit = units[id].take().expect("unit exists");
                        for row in unit.rows {
                            outcome.rejections.push(Rejection { pos: row.pos, reason: reason.clone() });
                        }
                    }
                    Decision::Unavailable(reason) => {
                        let unit = units[id].take().expect("unit exists");
                        outcome.unattempted.extend(unit.rows.iter().map(|r| r.pos));
                        if outcome.stop.is_none() {
                            outcome.stop = Some(Error::new(
                                SqlState::Other(*b"08000"),
                                format!("destination unavailable: {reason}"),
                            ));
                        }
                    }
                }
            }
        })();
        drop(job_sender);
        // Never leave a request unaccounted for: wait for what is in flight.
        while in_flight > 0 {
            match replies.recv() {
                Ok((id, reply)) => {
                    in_flight -= 1;
                    if let Some(unit) = units[id].take() {
                        match decide(destination, &reply, unit.rows.len(), u32::MAX - 1, MAX_THROTTLES, 0.0) {
                            Decision::Delivered { record_errors } => {
                                for (index, reason) in record_errors {
                                    outcome.rejections.push(Rejection { pos: unit.rows[index].pos, reason });
                                }
                            }
                            Decision::Reject(reason) => outcome.rejections.extend(unit.rows.iter().map(|r| Rejection { pos: r.pos, reason: reason.clone() })),
                            _ => outcome.unattempted.extend(unit.rows.iter().map(|r| r.pos)),
                        }
                    }
                }
                Err(_) => break,
            }
        }
        result
    })?;
    for unit in units.into_iter().flatten() {
        outcome.unattempted.extend(unit.rows.iter().map(|r| r.pos));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncConfig;
    use crate::destinations::http::config::HttpConnection;
    use crate::engine::plan::ModelColumn;
    use serde_json::json;

    fn destination() -> HttpDestination {
        let connection = HttpConnection::parse(&json!({"url": "http://127.0.0.1:9",
            "retry": {"max_attempts": 3, "initial_backoff_ms": 100, "max_backoff_ms": 1000}})).unwrap();
        let config = SyncConfig::parse(
            &json!({"mode": "upsert", "batch_size": 10, "requests": {"added": {"method": "POST", "path": "/b"}},
                    "record_errors": {"path": "errors"}}),
            super::super::SYNC_KEYS,
        )
        .unwrap();
        let columns = [ModelColumn { name: "email".into(), type_sql: "text".into(), hashable: true }];
        HttpDestination::new(connection, &config, &columns, "s").unwrap()
    }

    fn status(code: u16, body: &str) -> Reply {
        Reply::Status { code, retry_after: None, body: body.into() }
    }

    #[test]
    fn decisions() {
        let d = destination();
        assert_eq!(decide(&d, &status(200, "{}"), 2, 0, 0, 0.5), Decision::Delivered { record_errors: vec![] });
        assert_eq!(
            decide(&d, &status(200, r#"{"errors": [{"index": 1, "message": "bad email"}, {"index": 9}]}"#), 2, 0, 0, 0.5),
            Decision::Delivered { record_errors: vec![(1, "record error: bad email".into())] }
        );
        assert_eq!(decide(&d, &status(400, "no"), 4, 0, 0, 0.5), Decision::Split);
        assert_eq!(decide(&d, &status(400, "no"), 1, 0, 0, 0.5), Decision::Reject("HTTP 400: no".into()));
        assert!(matches!(decide(&d, &status(503, ""), 1, 0, 0, 1.0), Decision::Retry { counts: true, .. }));
        assert!(matches!(decide(&d, &status(503, "down"), 1, 2, 0, 1.0), Decision::Unavailable(r) if r == "HTTP 503: down (after 3 attempts)"));
        assert!(matches!(decide(&d, &Reply::Transport("reset".into()), 1, 2, 0, 1.0), Decision::Unavailable(_)));
        // A 429 waits as long as asked and does not use up the retry budget.
        let throttled = Reply::Status { code: 429, retry_after: Some(Duration::from_secs(2)), body: String::new() };
        assert_eq!(decide(&d, &throttled, 1, 2, 0, 1.0), Decision::Retry { after: Duration::from_secs(2), counts: false });
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let d = destination();
        let after = |attempts| match decide(&d, &status(503, ""), 1, attempts, 0, 1.0) {
            Decision::Retry { after, .. } => after,
            other => panic!("{other:?}"),
        };
        assert_eq!(after(0), Duration::from_millis(100));
        assert_eq!(after(1), Duration::from_millis(200));
        let mut d = destination();
        d.connection.retry.max_attempts = 50;
        let capped = match decide(&d, &status(503, ""), 1, 20, 0, 1.0) { Decision::Retry { after, .. } => after, _ => unreachable!() };
        assert_eq!(capped, Duration::from_millis(1000));
    }

    #[test]
    fn long_bodies_are_truncated() {
        let reason = truncate(&"x".repeat(2000));
        assert!(reason.ends_with("… (2000 bytes)") && reason.len() < 600);
    }
}
