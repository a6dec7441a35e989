//! `slack`: a Slack message for each new row of an event sync, through
//! `chat.postMessage` with a bot token; the message is a Liquid template of
//! the row. Slack answers 200 with `{"ok": false, "error": …}` when it
//! refuses a message: that row is rejected with Slack's error.

use super::named::{self, Api, Description, NamedApi};
use super::Support;
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use serde_json::{json, Value};

const API_URL: &str = "https://slack.com";
/// chat.postMessage allows about one message per second per channel.
const REQUESTS_PER_SECOND: f64 = 1.0;
const CONFIG_KEYS: &[&str] = &["token", "api_url", "requests_per_second"];
pub const SYNC_KEYS: &[&str] = &["channel", "text"];

/// A message per row that enters the model; a message is never edited.
pub const SUPPORT: &[Support] = &[Support {
    sync_type: SyncType::Event,
    modes: &[SyncMode::Insert],
    delete_behaviors: &[DeleteBehavior::Nothing],
}];

pub struct Slack;

static DESCRIPTION: Description = Description {
    name: "slack",
    config_keys: CONFIG_KEYS,
    sync_keys: SYNC_KEYS,
    support: SUPPORT,
};

impl NamedApi for Slack {
    fn description(&self) -> &'static Description {
        &DESCRIPTION
    }

    fn api(&self, config: &Value) -> Result<Api> {
        let reader = ObjectReader::new("config", config)?;
        reader.deny_unknown(CONFIG_KEYS)?;
        let token = named::required_secret(
            "config.token",
            reader.value("token"),
            "the bot token (xoxb-…)",
        )?;
        let requests_per_second = named::requests_per_second(
            reader.value("requests_per_second"),
            REQUESTS_PER_SECOND,
            100.0,
        )?;
        Ok(Api {
            connection: named::connection(&json!({
                "url": reader.string("api_url")?.unwrap_or_else(|| API_URL.into()),
                "headers": {"Authorization": {"secret": token, "prefix": "Bearer "}},
                "concurrency": 1,
                "rate_limit": {"requests_per_second": requests_per_second},
                "timeout_ms": 30000,
            }))?,
            secrets: vec![("config.token", token)],
        })
    }

    fn http_sync(&self, config: &SyncConfig) -> Result<SyncConfig> {
        let channel = config.destination_string("channel")?.ok_or_else(|| {
            Error::invalid(
                "channel",
                "is required: the channel id (C0123…) or name (#signups) the bot posts to",
            )
        })?;
        named::api_name(
            "channel",
            &channel,
            |b| b.is_ascii_alphanumeric() || b"#@._-".contains(&b),
            "a Slack channel id or name (C0123…, #signups)",
        )?;
        let text = config.destination_string("text")?.ok_or_else(|| {
            Error::invalid(
                "text",
                "is required: the message, a template of the row, e.g. \"New signup: {{ row.email }}\"",
            )
        })?;
        if text.contains("endcapture") {
            return Err(Error::invalid("text", "cannot contain {% endcapture %}"));
        }
        // The template's output is captured and written as a JSON string.
        let body = format!(
            "{{% capture message %}}{text}{{% endcapture %}}{{\"channel\": {}, \"text\": {{{{ message | json }}}}}}",
            serde_json::to_string(&channel).unwrap_or_default()
        );
        let mut http = config.clone();
        http.batch_size = 1;
        http.destination_keys = serde_json::Map::new();
        http.destination_keys.insert(
            "requests".into(),
            json!({"added": {"method": "POST", "path": "/api/chat.postMessage", "body": body}}),
        );
        http.destination_keys.insert(
            "record_errors".into(),
            json!({"success_flag": "ok", "message": "error"}),
        );
        Ok(http)
    }

    fn own_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[("requests.added.body", "text")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(document: Value) -> Result<SyncConfig> {
        SyncConfig::parse(&document, SYNC_KEYS).and_then(|c| Slack.http_sync(&c))
    }

    #[test]
    fn each_row_is_a_message_from_the_template() {
        let http = config(
            json!({"type": "event", "mode": "insert", "channel": "#signups",
            "text": "New signup: {{ row.email }}"}),
        )
        .unwrap();
        let request = &http.destination_keys["requests"]["added"];
        assert_eq!(request["path"], "/api/chat.postMessage");
        assert_eq!(
            request["body"],
            "{% capture message %}New signup: {{ row.email }}{% endcapture %}{\"channel\": \"#signups\", \"text\": {{ message | json }}}"
        );
        assert_eq!(http.batch_size, 1);
    }

    #[test]
    fn missing_settings_are_named() {
        let message = |document| config(document).unwrap_err().message;
        assert!(
            message(json!({"type": "event", "mode": "insert", "text": "x"}))
                .starts_with("channel: is required")
        );
        assert!(
            message(json!({"type": "event", "mode": "insert", "channel": "C1"}))
                .starts_with("text: is required")
        );
        assert!(Slack
            .api(&json!({"token": "xoxb-1"}))
            .err()
            .unwrap()
            .message
            .starts_with("config.token: must be"));
    }
}
