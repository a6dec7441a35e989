//! A fake of Slack's `chat.postMessage` on loopback, following its public
//! documentation: a bot token as `Authorization: Bearer`, a JSON body with
//! `channel` and `text`, HTTP 200 with `{"ok": true, "channel", "ts"}` or
//! `{"ok": false, "error": "channel_not_found" | "invalid_auth" | "no_text"}`,
//! and 429 with `Retry-After` when asked to throttle.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeSlack {
            port,
            token: token.to_string(),
            state: Arc::default(),
        };
        let server = fake.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                thread::spawn(move || server.serve(stream));
            }
        });
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

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut length = 0usize;
            let mut authorization = String::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    match name.trim().to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "authorization" => authorization = value.trim().to_string(),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, extra, answer) = self.handle(&path, &authorization, &body);
            let text = answer.to_string();
            let response = format!(
                "HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{text}",
                text.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
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
