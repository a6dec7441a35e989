//! A fake of HubSpot's CRM v3 batch API on loopback, following its public
//! documentation: `POST /crm/v3/objects/{contacts|companies}/batch/{upsert|update}`
//! with `{"inputs": [{"idProperty", "id", "properties"}]}` (at most 100),
//! a private app's bearer token (401 otherwise), 200 with `results` when
//! every input was written, 207 with `errors` (`category`, `message`,
//! `context.ids`) for the inputs it refused (an email without `@`, a record
//! an update does not find), and 429 with HubSpot's rate-limit body when
//! asked to throttle.

use super::http_server::{self, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// (object, id) → properties.
    records: BTreeMap<(String, String), serde_json::Map<String, Value>>,
    /// Each request: method, path, authorization, body.
    requests: Vec<(String, String, String, Value)>,
    throttle_next: usize,
}

#[derive(Clone)]
pub struct FakeHubSpot {
    pub port: u16,
    pub token: String,
    state: Arc<Mutex<State>>,
}

impl FakeHubSpot {
    pub fn start(token: &str) -> FakeHubSpot {
        let state: Arc<Mutex<State>> = Arc::default();
        let mut fake = FakeHubSpot {
            port: 0,
            token: token.to_string(),
            state,
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

    /// The next `n` requests are answered 429 (HubSpot's secondly limit).
    pub fn throttle_next(&self, n: usize) {
        self.state.lock().unwrap().throttle_next = n;
    }

    /// A record's properties, as HubSpot holds them.
    pub fn record(&self, object: &str, id: &str) -> Option<serde_json::Map<String, Value>> {
        self.state
            .lock()
            .unwrap()
            .records
            .get(&(object.to_string(), id.to_string()))
            .cloned()
    }

    pub fn record_count(&self, object: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .records
            .keys()
            .filter(|(o, _)| o == object)
            .count()
    }

    /// Requests so far: (method, path, authorization header, body).
    pub fn requests(&self) -> Vec<(String, String, String, Value)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Put a record in place (as if created in HubSpot).
    pub fn insert(&self, object: &str, id: &str, properties: Value) {
        let Value::Object(properties) = properties else {
            panic!("properties are an object")
        };
        self.state
            .lock()
            .unwrap()
            .records
            .insert((object.to_string(), id.to_string()), properties);
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
            return (
                429,
                json!({"status": "error", "message": "You have reached your secondly limit.",
                       "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}),
            );
        }
        if authorization != format!("Bearer {}", self.token) {
            return (
                401,
                json!({"status": "error", "category": "INVALID_AUTHENTICATION",
                       "message": "Authentication credentials not found."}),
            );
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (object, action) = match segments.as_slice() {
            ["crm", "v3", "objects", object, "batch", action]
                if method == "POST"
                    && ["contacts", "companies"].contains(object)
                    && ["upsert", "update"].contains(action) =>
            {
                (object.to_string(), action.to_string())
            }
            _ => {
                return (
                    404,
                    json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Unknown path"}),
                )
            }
        };
        let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
            return (
                400,
                json!({"status": "error", "category": "VALIDATION_ERROR", "message": "Invalid input JSON: inputs is required"}),
            );
        };
        if inputs.len() > 100 {
            return (
                400,
                json!({"status": "error", "category": "VALIDATION_ERROR", "message": "Batch input limit is 100"}),
            );
        }
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in inputs {
            let id = input
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let properties = input
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let bad_email = properties
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| !e.is_empty() && !e.contains('@'));
            let key = (object.clone(), id.clone());
            if bad_email {
                errors.push(json!({"status": "error", "category": "VALIDATION_ERROR",
                    "message": format!("Property values were not valid: email {id} is invalid"),
                    "context": {"ids": [id]}}));
                continue;
            }
            if action == "update" && !state.records.contains_key(&key) {
                errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                    "context": {"ids": [id]}}));
                continue;
            }
            let record = state.records.entry(key).or_default();
            for (name, value) in properties {
                record.insert(name, value);
            }
            results.push(json!({"id": id, "properties": record.clone()}));
        }
        if errors.is_empty() {
            (200, json!({"status": "COMPLETE", "results": results}))
        } else {
            (
                207,
                json!({"status": "COMPLETE", "results": results, "numErrors": errors.len(), "errors": errors}),
            )
        }
    }
}
