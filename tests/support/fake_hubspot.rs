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
    /// The account's daily limit is used up.
    daily_limit_reached: bool,
    /// (object, id property value) → the record's id (hs_object_id).
    record_ids: BTreeMap<(String, String), String>,
    /// List id → the record ids in it.
    lists: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl State {
    fn record_id(&mut self, object: &str, key: &str) -> String {
        // Ids count up from 501.
        let next = self
            .record_ids
            .values()
            .filter_map(|id| id.parse::<u64>().ok())
            .max()
            .unwrap_or(500)
            + 1;
        self.record_ids
            .entry((object.to_string(), key.to_lowercase()))
            .or_insert_with(|| next.to_string())
            .clone()
    }
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

    /// Every request is answered 429 for the DAILY policy until reset.
    pub fn reach_daily_limit(&self, reached: bool) {
        self.state.lock().unwrap().daily_limit_reached = reached;
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
        let mut state = self.state.lock().unwrap();
        state.record_id(object, id);
        state
            .records
            .insert((object.to_string(), id.to_string()), properties);
    }

    /// Delete a record (as if archived in HubSpot).
    pub fn delete(&self, object: &str, id: &str) {
        let mut state = self.state.lock().unwrap();
        state.records.remove(&(object.to_string(), id.to_string()));
        if let Some(record_id) = state
            .record_ids
            .remove(&(object.to_string(), id.to_lowercase()))
        {
            for members in state.lists.values_mut() {
                members.remove(&record_id);
            }
        }
    }

    /// A static list that exists in HubSpot.
    pub fn create_list(&self, list_id: &str) {
        self.state
            .lock()
            .unwrap()
            .lists
            .insert(list_id.to_string(), Default::default());
    }

    /// The id properties (emails) of a list's members, sorted.
    pub fn list_members(&self, list_id: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let members = state.lists.get(list_id).cloned().unwrap_or_default();
        let mut keys: Vec<String> = state
            .record_ids
            .iter()
            .filter(|(_, id)| members.contains(*id))
            .map(|((_, key), _)| key.clone())
            .collect();
        keys.sort();
        keys
    }

    /// `POST /crm/v3/objects/{object}/batch/read` by a unique property:
    /// the records found; 207 with OBJECT_NOT_FOUND errors for the others.
    fn batch_read(state: &mut State, object: &str, body: &Value) -> (u16, Value) {
        let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
        if inputs.len() > 100 {
            return (
                400,
                json!({"status": "error", "category": "VALIDATION_ERROR", "message": "Batch input limit is 100"}),
            );
        }
        let property = body["idProperty"]
            .as_str()
            .unwrap_or("hs_object_id")
            .to_string();
        let (mut results, mut missing) = (Vec::new(), Vec::new());
        for input in inputs {
            let key = input["id"].as_str().unwrap_or_default().to_lowercase();
            let exists = state
                .records
                .keys()
                .any(|(o, k)| o == object && k.to_lowercase() == key);
            if exists {
                let id = state.record_id(object, &key);
                results.push(
                    json!({"id": id, "properties": {property.clone(): key, "hs_object_id": id}}),
                );
            } else {
                missing.push(input["id"].clone());
            }
        }
        if missing.is_empty() {
            (200, json!({"status": "COMPLETE", "results": results}))
        } else {
            (
                207,
                json!({"status": "COMPLETE", "results": results, "numErrors": 1,
                       "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                                   "context": {"ids": missing}}]}),
            )
        }
    }

    /// `PUT /crm/v3/lists/{listId}/memberships/{add|remove}` with record ids.
    fn memberships(state: &mut State, list_id: &str, action: &str, body: &Value) -> (u16, Value) {
        let known: std::collections::BTreeSet<String> =
            state.record_ids.values().cloned().collect();
        let Some(list) = state.lists.get_mut(list_id) else {
            return (
                404,
                json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": format!("List {list_id} does not exist")}),
            );
        };
        let Some(ids) = body.as_array() else {
            return (
                400,
                json!({"status": "error", "category": "VALIDATION_ERROR", "message": "Invalid input JSON: expected an array of record ids"}),
            );
        };
        let (mut changed, mut missing) = (Vec::new(), Vec::new());
        for id in ids.iter().filter_map(Value::as_str) {
            if !known.contains(id) {
                missing.push(id.to_string());
            } else if action == "add" {
                list.insert(id.to_string());
                changed.push(id.to_string());
            } else {
                list.remove(id);
                changed.push(id.to_string());
            }
        }
        let key = if action == "add" {
            "recordIdsAdded"
        } else {
            "recordIdsRemoved"
        };
        (200, json!({key: changed, "recordIdsMissing": missing}))
    }

    fn handle(&self, method: &str, path: &str, authorization: &str, body: &Value) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        state.requests.push((
            method.to_string(),
            path.to_string(),
            authorization.to_string(),
            body.clone(),
        ));
        if state.daily_limit_reached {
            return (
                429,
                json!({"status": "error", "message": "You have reached your daily limit.",
                       "errorType": "RATE_LIMIT", "policyName": "DAILY"}),
            );
        }
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
        match segments.as_slice() {
            ["crm", "v3", "objects", object, "batch", "read"] if method == "POST" => {
                return Self::batch_read(&mut state, object, body)
            }
            ["crm", "v3", "lists", list_id, "memberships", action]
                if method == "PUT" && ["add", "remove"].contains(action) =>
            {
                return Self::memberships(&mut state, list_id, action, body)
            }
            _ => {}
        }
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
            state.record_id(&object, &id);
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
