//! The HTTP/1.1 server loop the API fakes share: one thread per connection,
//! keep-alive, requests with a Content-Length body; each fake only answers
//! requests (`handle`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

pub struct Request {
    pub method: String,
    pub path: String,
    /// The Authorization header ("" when absent).
    pub authorization: String,
    pub body: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    /// Extra header lines, each ending in CRLF (`Retry-After: 1\r\n`).
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: String::new(),
            body: body.to_string(),
        }
    }
}

/// Serve `handle` on a free loopback port; returns the port.
pub fn start(handle: Arc<dyn Fn(Request) -> Response + Send + Sync>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || serve(stream, handle.as_ref()));
        }
    });
    port
}

fn serve(stream: TcpStream, handle: &(dyn Fn(Request) -> Response + Send + Sync)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
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
        let response = handle(Request {
            method,
            path,
            authorization,
            body,
        });
        let text = format!(
            "HTTP/1.1 {} Status\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{}",
            response.status,
            response.headers,
            response.body.len(),
            response.body
        );
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}
