//! A fake of Mailchimp's Marketing API (3.0) audience members on loopback,
//! following its public documentation: `PUT`/`PATCH`/`DELETE
//! /3.0/lists/{list_id}/members/{subscriber_hash}` where the hash is the MD5
//! of the lower-cased email, HTTP Basic authentication with the API key as
//! the password (401 otherwise), 400 "Invalid Resource" with a `detail` for
//! a bad email or a hash that is not the email's, 404 for a member a PATCH
//! or DELETE does not find, 429 when asked to throttle.

use super::http_server::{self, Response};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// (list, subscriber hash) → member.
    members: BTreeMap<(String, String), Value>,
    /// Each request: method, path, authorization.
    requests: Vec<(String, String, String)>,
    throttle_next: usize,
}

#[derive(Clone)]
pub struct FakeMailchimp {
    pub port: u16,
    api_key: String,
    state: Arc<Mutex<State>>,
}

pub fn subscriber_hash(email: &str) -> String {
    Md5::digest(email.to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl FakeMailchimp {
    pub fn start(api_key: &str) -> FakeMailchimp {
        let mut fake = FakeMailchimp {
            port: 0,
            api_key: api_key.to_string(),
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
            Response {
                status,
                headers: String::new(),
                body: answer.map(|a| a.to_string()).unwrap_or_default(),
            }
        }));
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn throttle_next(&self, n: usize) {
        self.state.lock().unwrap().throttle_next = n;
    }

    /// A member by email, as Mailchimp holds it.
    pub fn member(&self, list: &str, email: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .members
            .get(&(list.to_string(), subscriber_hash(email)))
            .cloned()
    }

    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// A member's tags, by name.
    pub fn tags(&self, list: &str, email: &str) -> Vec<String> {
        self.member(list, email)
            .and_then(|member| member["tags"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|tag| tag["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Tag a member (as a marketer would in Mailchimp).
    pub fn tag(&self, list: &str, email: &str, name: &str) {
        let mut state = self.state.lock().unwrap();
        let body = json!({"tags": [{"name": name, "status": "active"}]});
        let answer = Self::change_tags(&mut state, list, &subscriber_hash(email), "POST", &body);
        assert_eq!(answer.0, 204, "{answer:?}");
    }

    /// `POST /lists/{list}/members/{hash}/tags`: `{"tags": [{"name",
    /// "status": "active"|"inactive"}]}` adds and removes tags; 204.
    fn change_tags(
        state: &mut State,
        list: &str,
        hash: &str,
        method: &str,
        body: &Value,
    ) -> (u16, Option<Value>) {
        if method != "POST" {
            return Self::problem(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible.",
            );
        }
        let Some(member) = state.members.get_mut(&(list.to_string(), hash.to_string())) else {
            return Self::problem(
                404,
                "Resource Not Found",
                "The requested resource could not be found.",
            );
        };
        let Some(changes) = body["tags"].as_array() else {
            return Self::problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated: tags is required.",
            );
        };
        for change in changes {
            let name = change["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                return Self::problem(400, "Invalid Resource", "Tag name cannot be empty.");
            }
            let tags = member["tags"].as_array_mut().unwrap();
            let present = tags.iter().any(|t| t["name"] == name);
            match change["status"].as_str() {
                Some("active") if !present => {
                    let id = tags.len() as u64 + 1000;
                    tags.push(json!({"id": id, "name": name}));
                }
                Some("inactive") => tags.retain(|t| t["name"] != name),
                Some("active") => {}
                _ => {
                    return Self::problem(
                        400,
                        "Invalid Resource",
                        "The resource submitted could not be validated: status must be active or inactive.",
                    )
                }
            }
        }
        let count = member["tags"].as_array().map_or(0, Vec::len);
        member["tags_count"] = json!(count);
        (204, None)
    }

    fn problem(status: u16, title: &str, detail: &str) -> (u16, Option<Value>) {
        (
            status,
            Some(
                json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                        "title": title, "status": status, "detail": detail, "instance": "0000"}),
            ),
        )
    }

    fn handle(
        &self,
        method: &str,
        path: &str,
        authorization: &str,
        body: &Value,
    ) -> (u16, Option<Value>) {
        use base64::Engine;
        let mut state = self.state.lock().unwrap();
        state.requests.push((
            method.to_string(),
            path.to_string(),
            authorization.to_string(),
        ));
        if state.throttle_next > 0 {
            state.throttle_next -= 1;
            return Self::problem(
                429,
                "Too Many Requests",
                "You have exceeded the limit of 10 simultaneous connections.",
            );
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("pg_reverse_etl:{}", self.api_key))
        );
        if authorization != expected {
            return Self::problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            );
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["3.0", "lists", list, "members", hash, "tags"] = segments.as_slice() {
            return Self::change_tags(&mut state, list, hash, method, body);
        }
        let ["3.0", "lists", list, "members", hash] = segments.as_slice() else {
            return Self::problem(
                404,
                "Resource Not Found",
                "The requested resource could not be found.",
            );
        };
        let key = (list.to_string(), hash.to_string());
        match method {
            "PUT" => {
                let email = body["email_address"].as_str().unwrap_or_default();
                if !email.contains('@') {
                    return Self::problem(
                        400,
                        "Invalid Resource",
                        &format!(
                            "{email} looks fake or invalid, please enter a real email address."
                        ),
                    );
                }
                if subscriber_hash(email) != *hash {
                    return Self::problem(400, "Invalid Resource", "The resource submitted could not be validated: the subscriber hash does not match the email address.");
                }
                let member = state.members.entry(key).or_insert_with(|| {
                    json!({"email_address": email, "status": body["status_if_new"].clone(), "merge_fields": {}, "tags": [], "tags_count": 0})
                });
                if let Some(fields) = body["merge_fields"].as_object() {
                    for (name, value) in fields {
                        member["merge_fields"][name] = value.clone();
                    }
                }
                if member["status"] == "archived" {
                    member["status"] = body["status_if_new"].clone();
                }
                (200, Some(member.clone()))
            }
            "PATCH" => match state.members.get_mut(&key) {
                Some(member) => {
                    if let Some(fields) = body["merge_fields"].as_object() {
                        for (name, value) in fields {
                            member["merge_fields"][name] = value.clone();
                        }
                    }
                    (200, Some(member.clone()))
                }
                None => Self::problem(
                    404,
                    "Resource Not Found",
                    "The requested resource could not be found.",
                ),
            },
            "DELETE" => match state.members.get_mut(&key) {
                Some(member) => {
                    member["status"] = json!("archived");
                    (204, None)
                }
                None => Self::problem(
                    404,
                    "Resource Not Found",
                    "The requested resource could not be found.",
                ),
            },
            _ => Self::problem(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible.",
            ),
        }
    }
}
