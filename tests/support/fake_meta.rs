//! A fake of Meta's Marketing API for Custom Audiences on loopback,
//! following its public documentation: `POST` and `DELETE
//! /{version}/{audience_id}/users` with `{"payload": {"schema": [...],
//! "data": [[...], ...]}}` (at most 10,000 users), the access token as a
//! bearer token (OAuthException code 190 otherwise), answers with
//! `audience_id`, `session_id`, `num_received`, `num_invalid_entries` and
//! `invalid_entry_samples`; `GET /{version}/{audience_id}?fields=…` with
//! `approximate_count_lower_bound`; throttling as Meta does it: HTTP 400
//! with error code 80003.
#![allow(dead_code)]

use super::http_server::{self, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Keys whose values Meta takes hashed (SHA-256, lower-case hex).
const HASHED: &[&str] = &[
    "EMAIL", "PHONE", "FN", "LN", "FI", "CT", "ST", "ZIP", "COUNTRY", "DOBY", "DOBM", "DOBD", "GEN",
];

#[derive(Default)]
struct State {
    /// Audience id → its users, each the list of (key, value) it was sent with.
    audiences: BTreeMap<String, BTreeSet<Vec<(String, String)>>>,
    /// Hashes of the people Meta "knows": a user matches if any of its
    /// hashed values is one of them.
    known: BTreeSet<String>,
    /// Each request: method, path, authorization, body.
    requests: Vec<(String, String, String, Value)>,
    throttle_next: usize,
}

#[derive(Clone)]
pub struct FakeMeta {
    pub port: u16,
    pub token: String,
    pub version: String,
    state: Arc<Mutex<State>>,
}

impl FakeMeta {
    pub fn start(token: &str) -> FakeMeta {
        let mut fake = FakeMeta {
            port: 0,
            token: token.to_string(),
            version: "v21.0".to_string(),
            state: Arc::default(),
        };
        let server = fake.clone();
        fake.port = http_server::start(Arc::new(move |request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let (status, answer) = server.handle(
                &request.method,
                &request.path,
                &request.authorization,
                &body,
            );
            Response::json(status, &answer)
        }));
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn create_audience(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .audiences
            .insert(id.to_string(), Default::default());
    }

    /// A person Meta knows, by the SHA-256 of one of their identifiers.
    pub fn know(&self, hash: &str) {
        self.state.lock().unwrap().known.insert(hash.to_string());
    }

    /// The next `n` requests are throttled (error code 80003).
    pub fn throttle_next(&self, n: usize) {
        self.state.lock().unwrap().throttle_next = n;
    }

    /// The audience's users: each the (key, value) pairs it was sent with.
    pub fn users(&self, audience: &str) -> Vec<Vec<(String, String)>> {
        self.state
            .lock()
            .unwrap()
            .audiences
            .get(audience)
            .map(|users| users.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<(String, String, String, Value)> {
        self.state.lock().unwrap().requests.clone()
    }

    fn error(code: i64, kind: &str, message: &str) -> (u16, Value) {
        (
            400,
            json!({"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}}),
        )
    }

    fn handle(&self, method: &str, path: &str, authorization: &str, body: &Value) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        state.requests.push((
            method.to_string(),
            path.to_string(),
            authorization.to_string(),
            body.clone(),
        ));
        if state.throttle_next > 0 {
            state.throttle_next -= 1;
            return Self::error(
                80003,
                "OAuthException",
                "There have been too many calls to this ad-account. Wait a bit and try again.",
            );
        }
        if authorization != format!("Bearer {}", self.token) {
            return Self::error(
                190,
                "OAuthException",
                "Invalid OAuth access token - Cannot parse access token",
            );
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            [version, audience] if method == "GET" && *version == self.version => {
                let Some(users) = state.audiences.get(*audience) else {
                    return Self::error(
                        100,
                        "GraphMethodException",
                        &format!(
                            "Unsupported get request. Object with ID '{audience}' does not exist"
                        ),
                    );
                };
                let matched = users
                    .iter()
                    .filter(|user| user.iter().any(|(_, value)| state.known.contains(value)))
                    .count();
                let mut answer = json!({"id": audience});
                if query.contains("approximate_count_lower_bound") {
                    answer["approximate_count_lower_bound"] = json!(matched);
                }
                (200, answer)
            }
            [version, audience, "users"]
                if ["POST", "DELETE"].contains(&method) && *version == self.version =>
            {
                let known_audience = state.audiences.contains_key(*audience);
                if !known_audience {
                    return Self::error(100, "GraphMethodException", &format!("Unsupported post request. Object with ID '{audience}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"));
                }
                let schema: Vec<String> = body["payload"]["schema"]
                    .as_array()
                    .map(|keys| {
                        keys.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let Some(data) = body["payload"]["data"].as_array() else {
                    return Self::error(
                        100,
                        "OAuthException",
                        "(#100) Missing data: payload.data is required",
                    );
                };
                if schema.is_empty() {
                    return Self::error(
                        100,
                        "OAuthException",
                        "(#100) Missing schema: payload.schema is required",
                    );
                }
                if data.len() > 10_000 {
                    return Self::error(
                        100,
                        "OAuthException",
                        "(#100) Too many users: at most 10000 per request",
                    );
                }
                let mut invalid = 0;
                let mut samples = serde_json::Map::new();
                let mut users = Vec::new();
                for row in data {
                    let values: Vec<String> = row
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .map(|v| v.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    let well_formed = values.len() == schema.len()
                        && schema.iter().zip(&values).all(|(key, value)| {
                            !HASHED.contains(&key.as_str())
                                || value.is_empty()
                                || (value.len() == 64
                                    && value
                                        .bytes()
                                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                        })
                        && values.iter().any(|v| !v.is_empty());
                    if !well_formed {
                        invalid += 1;
                        samples.insert(row.to_string(), json!("invalid format"));
                        continue;
                    }
                    users.push(
                        schema
                            .iter()
                            .cloned()
                            .zip(values)
                            .filter(|(_, v)| !v.is_empty())
                            .collect::<Vec<_>>(),
                    );
                }
                let audience_users = state.audiences.get_mut(*audience).unwrap();
                for user in users {
                    if method == "POST" {
                        audience_users.insert(user);
                    } else {
                        // A removal matches a user by any identifier.
                        audience_users.retain(|held| !held.iter().any(|pair| user.contains(pair)));
                    }
                }
                (
                    200,
                    json!({"audience_id": audience, "session_id": "9778993",
                           "num_received": data.len(), "num_invalid_entries": invalid,
                           "invalid_entry_samples": samples}),
                )
            }
            _ => Self::error(
                803,
                "OAuthException",
                "(#803) Some of the aliases you requested do not exist",
            ),
        }
    }
}
