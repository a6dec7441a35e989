//! A fake of Slack's `chat.postMessage` on loopback, following its public
//! documentation: a bot token as `Authorization: Bearer`, a JSON body with
//! `channel` and `text`, HTTP 200 with `{"ok": true, "channel", "ts"}` or
//! `{"ok": false, "error": "channel_not_found" | "invalid_auth" | "no_text"}`,
//! and 429 with `Retry-After` when asked to throttle.

use super::http_server::{self, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// Messages posted: (channel, text).
    messages: Vec<(String, String)>,
    requests: usize,
    throttle_next: usize,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub port: u16,
    token: String,
    state: Arc<Mutex<State>>,
}

const CHANNELS: &[&str] = &["#signups", "C0123456"];

impl FakeSlack {
    pub fn start(token: &str) -> FakeSlack {
        let mut fake = FakeSlack {
            port: 0,
            token: token.to_string(),
            state: Arc::default(),
        };
        let server = fake.clone();
        fake.port = http_server::start(Arc::new(move |request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let (status, headers, answer) =
                server.handle(&request.path, &request.authorization, &body);
            Response {
                status,
                headers: headers.to_string(),
                body: answer.to_string(),
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

    pub fn messages(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    fn handle(&self, path: &str, authorization: &str, body: &Value) -> (u16, &'static str, Value) {
        let mut state = self.state.lock().unwrap();
        state.requests += 1;
        if state.throttle_next > 0 {
            state.throttle_next -= 1;
            return (
                429,
                "Retry-After: 1\r\n",
                json!({"ok": false, "error": "ratelimited"}),
            );
        }
        if path != "/api/chat.postMessage" {
            return (404, "", json!({"ok": false, "error": "unknown_method"}));
        }
        if authorization != format!("Bearer {}", self.token) {
            return (200, "", json!({"ok": false, "error": "invalid_auth"}));
        }
        let channel = body["channel"].as_str().unwrap_or_default();
        let text = body["text"].as_str().unwrap_or_default();
        if !CHANNELS.contains(&channel) {
            return (200, "", json!({"ok": false, "error": "channel_not_found"}));
        }
        if text.trim().is_empty() {
            return (200, "", json!({"ok": false, "error": "no_text"}));
        }
        state.messages.push((channel.to_string(), text.to_string()));
        let ts = format!("1700000000.{:06}", state.messages.len());
        (
            200,
            "",
            json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": text}}),
        )
    }
}
