//! `webhook` channels: a JSON POST to a URL on the http allow-list, in the
//! generic shape, Slack's incoming-webhook shape or PagerDuty's Events API
//! v2 shape (one dedup key per alert, so the resolve closes the incident);
//! optionally signed with HMAC-SHA256 of `<timestamp>.<body>` under a secret.

use super::{ChannelKind, Event};
use crate::catalog::alerts::ChannelRow;
use crate::config::json::ObjectReader;
use crate::destinations::http::config::check_host;
use crate::error::{Error, Result};
use hmac::{Hmac, Mac};
use pgrx::pg_sys;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Webhook;

const TIMEOUT: Duration = Duration::from_secs(10);
const FORMATS: &[&str] = &["generic", "slack", "pagerduty"];

/// Headers of a signed body: receivers recompute the signature over
/// `<timestamp>.<body>` and refuse old timestamps (replays).
pub const TIMESTAMP_HEADER: &str = "X-Reverse-ETL-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Reverse-ETL-Signature";
pub const EVENT_ID_HEADER: &str = "X-Reverse-ETL-Event-Id";

fn format(config: &Value) -> &str {
    config
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("generic")
}

/// `{"secret": name}` → the name.
fn secret_name(value: Option<&Value>) -> Option<&str> {
    value?.get("secret")?.as_str()
}

/// `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

impl ChannelKind for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn check_config(&self, config: &Value, owner: pg_sys::Oid) -> Result<()> {
        let reader = ObjectReader::new("config", config)?;
        reader.deny_unknown(&["url", "format", "signing_secret", "routing_key"])?;
        let url = reader.required_string("url")?;
        let parsed = url::Url::parse(&url)
            .map_err(|e| Error::invalid("config.url", format!("is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid("config.url", "must be an http or https URL"));
        }
        check_host("config.url", &parsed, &crate::gucs::http_allowed_hosts())?;
        let format = reader.string("format")?.unwrap_or_else(|| "generic".into());
        if !FORMATS.contains(&format.as_str()) {
            return Err(Error::invalid(
                "config.format",
                format!(
                    "unknown format \"{format}\" (expected one of: {})",
                    FORMATS.join(", ")
                ),
            ));
        }
        for key in ["signing_secret", "routing_key"] {
            let Some(value) = reader.value(key) else {
                continue;
            };
            let field = format!("config.{key}");
            match (value, secret_name(Some(value))) {
                (Value::String(_), None) if key == "routing_key" => {}
                (_, Some(name)) => {
                    crate::catalog::secret_value(owner, &field, name)?;
                }
                _ => {
                    return Err(Error::invalid(
                        &field,
                        "must be {\"secret\": \"<name of one of your secrets>\"}",
                    ))
                }
            }
        }
        if format == "pagerduty" && reader.value("routing_key").is_none() {
            return Err(Error::invalid(
                "config.routing_key",
                "is required by the pagerduty format (the integration's routing key, or {\"secret\": …})",
            ));
        }
        Ok(())
    }

    fn body(&self, config: &Value, event: &Event) -> Value {
        match format(config) {
            "slack" => {
                let text = if event.opened() {
                    format!(
                        ":rotating_light: [{}] sync {}: {} — {}",
                        event.level.to_uppercase(),
                        event.sync,
                        event.trigger,
                        event.message
                    )
                } else {
                    format!(
                        ":white_check_mark: resolved: sync {}: {} — {}",
                        event.sync, event.trigger, event.message
                    )
                };
                json!({"text": text})
            }
            "pagerduty" => {
                // The routing key is added when sending: it may be a secret.
                let dedup_key = format!("pg_reverse_etl-alert-{}", event.alert_id);
                if event.opened() {
                    json!({
                        "event_action": "trigger",
                        "dedup_key": dedup_key,
                        "payload": {
                            "summary": format!("sync {}: {}: {}", event.sync, event.trigger, event.message),
                            "source": "pg_reverse_etl",
                            "severity": event.level,
                            "timestamp": event.at,
                            "custom_details": event.generic(),
                        },
                    })
                } else {
                    json!({"event_action": "resolve", "dedup_key": dedup_key})
                }
            }
            _ => event.generic(),
        }
    }

    fn send(
        &self,
        channel: &ChannelRow,
        id: i64,
        body: &Value,
    ) -> std::result::Result<String, String> {
        let config = &channel.config;
        let url = config
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let allowed = crate::gucs::http_allowed_hosts();
        let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        check_host("url", &parsed, &allowed).map_err(|e| e.message)?;
        let secret = |field: &str| -> std::result::Result<Option<String>, String> {
            match secret_name(config.get(field)) {
                Some(name) => crate::catalog::secret_value(channel.owner, field, name)
                    .map(Some)
                    .map_err(|e| e.message),
                None => Ok(None),
            }
        };
        let mut body = body.clone();
        if format(config) == "pagerduty" {
            let key = match secret("routing_key")? {
                Some(key) => key,
                None => config
                    .get("routing_key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
            body["routing_key"] = Value::String(key);
        }
        let text = body.to_string();
        let agent = ureq::AgentBuilder::new()
            .timeout(TIMEOUT)
            .redirects(0)
            .resolver(crate::destinations::http::secrets::guarded_resolver(
                allowed,
            ))
            .build();
        let mut request = agent
            .post(url)
            .set("Content-Type", "application/json")
            .set(EVENT_ID_HEADER, &id.to_string());
        if let Some(secret) = secret("signing_secret")? {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .set(TIMESTAMP_HEADER, &timestamp.to_string())
                .set(SIGNATURE_HEADER, &signature(&secret, timestamp, &text));
        }
        let answer = |status: u16, response: ureq::Response| {
            let body = response.into_string().unwrap_or_default();
            format!(
                "HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            )
        };
        match request.send_string(&text) {
            Ok(response) => Ok(answer(response.status(), response)),
            Err(ureq::Error::Status(status, response)) => Err(answer(status, response)),
            Err(error) => Err(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &'static str) -> Event {
        Event {
            event: name,
            alert_id: 3,
            sync_id: 1,
            sync: "users_to_crm".into(),
            trigger: "failed".into(),
            level: "critical".into(),
            message: "run 9 failed: boom".into(),
            run_id: Some(9),
            at: "2026-12-02T10:00:00Z".into(),
        }
    }

    #[test]
    fn bodies_follow_each_format() {
        let generic = Webhook.body(&json!({}), &event("alert.opened"));
        assert_eq!(generic["event"], "alert.opened");
        assert_eq!(generic["alert_id"], 3);
        let slack = Webhook.body(&json!({"format": "slack"}), &event("alert.opened"));
        assert_eq!(
            slack["text"],
            ":rotating_light: [CRITICAL] sync users_to_crm: failed — run 9 failed: boom"
        );
        let opened = Webhook.body(&json!({"format": "pagerduty"}), &event("alert.opened"));
        let resolved = Webhook.body(&json!({"format": "pagerduty"}), &event("alert.resolved"));
        assert_eq!(opened["event_action"], "trigger");
        assert_eq!(resolved["event_action"], "resolve");
        assert_eq!(opened["dedup_key"], resolved["dedup_key"]);
        assert_eq!(opened["payload"]["severity"], "critical");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_and_body() {
        // Computed independently: python3 -c "import hmac, hashlib; print(hmac.new(b'key', b'1700000000.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            signature("key", 1700000000, "{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
