//! A fake of Salesforce on loopback, following its public documentation:
//! the OAuth 2.0 refresh-token flow at `POST /services/oauth2/token`
//! (form-encoded; answers `access_token` and `instance_url`), and sObject
//! Collections upsert by external id at
//! `PATCH /services/data/v59.0/composite/sobjects/{SObject}/{ExternalIdField}`
//! with `{"allOrNone": false, "records": [...]}` (at most 200), answered
//! with one result per record in order. Only the newest access token is
//! valid; `expire_token_after(n)` makes it expire after n more API calls,
//! as a session timing out mid-run (401 `INVALID_SESSION_ID`). A record
//! without a LastName is refused (`REQUIRED_FIELD_MISSING`).

use super::http_server::{self, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "3MVG9fake";
pub const CLIENT_SECRET: &str = "consumer-secret-0000";
pub const REFRESH_TOKEN: &str = "5Aep861-refresh-0000";

#[derive(Default)]
struct State {
    /// (sObject, external id) → fields.
    records: BTreeMap<(String, String), serde_json::Map<String, Value>>,
    token: Option<String>,
    tokens_issued: usize,
    api_calls: usize,
    /// Whether each API call carried a valid token.
    authorized: Vec<bool>,
    expire_after: Option<usize>,
    /// API calls left before the org's daily limit (None: no limit).
    calls_left: Option<usize>,
    /// The URL token answers name (this server's).
    instance_url: String,
}

#[derive(Clone)]
pub struct FakeSalesforce {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeSalesforce {
    pub fn start() -> FakeSalesforce {
        let mut fake = FakeSalesforce {
            port: 0,
            state: Arc::default(),
        };
        let server = fake.clone();
        fake.port = http_server::start(Arc::new(move |request| {
            let (status, answer) = server.handle(
                &request.method,
                &request.path,
                &request.authorization,
                &request.body,
            );
            Response::json(status, &answer)
        }));
        let url = fake.url();
        fake.state.lock().unwrap().instance_url = url;
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn expire_token_after(&self, calls: usize) {
        self.state.lock().unwrap().expire_after = Some(calls);
    }

    /// The org may make `calls` more API calls today.
    pub fn limit_calls_to(&self, calls: Option<usize>) {
        self.state.lock().unwrap().calls_left = calls;
    }

    pub fn tokens_issued(&self) -> usize {
        self.state.lock().unwrap().tokens_issued
    }

    /// Each API call so far: whether its token was valid.
    pub fn calls(&self) -> Vec<bool> {
        self.state.lock().unwrap().authorized.clone()
    }

    pub fn record(&self, object: &str, id: &str) -> Option<serde_json::Map<String, Value>> {
        self.state
            .lock()
            .unwrap()
            .records
            .get(&(object.to_string(), id.to_string()))
            .cloned()
    }

    pub fn record_count(&self) -> usize {
        self.state.lock().unwrap().records.len()
    }

    fn handle(&self, method: &str, path: &str, authorization: &str, body: &[u8]) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        if method == "POST" && path == "/services/oauth2/token" {
            let form: BTreeMap<String, String> =
                url::form_urlencoded::parse(body).into_owned().collect();
            let ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
                && form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN);
            if !ok {
                return (
                    400,
                    json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
                );
            }
            state.tokens_issued += 1;
            let token = format!("00Dfake!token-{}", state.tokens_issued);
            state.token = Some(token.clone());
            return (
                200,
                json!({"access_token": token, "instance_url": state.instance_url,
                "id": "https://login.salesforce.com/id/00D/005", "token_type": "Bearer",
                "issued_at": "1700000000000", "signature": "x"}),
            );
        }
        let valid = state
            .token
            .as_ref()
            .is_some_and(|t| authorization == format!("Bearer {t}"));
        state.api_calls += 1;
        state.authorized.push(valid);
        if let Some(left) = state.expire_after {
            if left == 0 {
                state.token = None;
                state.expire_after = None;
            } else {
                state.expire_after = Some(left - 1);
            }
        }
        match state.calls_left {
            Some(0) => {
                return (
                    403,
                    json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
                )
            }
            Some(left) => state.calls_left = Some(left - 1),
            None => {}
        }
        if !valid {
            return (
                401,
                json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
            );
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ["services", "data", "v59.0", "composite", "sobjects", object, external_id] =
            segments.as_slice()
        else {
            return (
                404,
                json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]),
            );
        };
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(records) = body.get("records").and_then(Value::as_array) else {
            return (
                400,
                json!([{"message": "records is required", "errorCode": "JSON_PARSER_ERROR"}]),
            );
        };
        if records.len() > 200 {
            return (
                400,
                json!([{"message": "Maximum number of records is 200", "errorCode": "EXCEEDED_ID_LIMIT"}]),
            );
        }
        let mut results = Vec::new();
        for record in records {
            let Some(fields) = record.as_object() else {
                continue;
            };
            let id = fields
                .get(*external_id)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if fields.get("LastName").is_none_or(Value::is_null) {
                results.push(json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]}));
                continue;
            }
            let key = (object.to_string(), id);
            let created = !state.records.contains_key(&key);
            let stored = state.records.entry(key).or_default();
            for (name, value) in fields {
                if name != "attributes" {
                    stored.insert(name.clone(), value.clone());
                }
            }
            results
                .push(json!({"id": "003fake", "success": true, "errors": [], "created": created}));
        }
        (200, Value::Array(results))
    }
}
