//! `meta_audience`: a Meta (Facebook, Instagram) Custom Audience built
//! from a customer list, on the http engine. A list sync adds the model's
//! rows to the audience and removes those that leave it (or removes the
//! model's rows, in mode remove). Identifiers are normalized and SHA-256
//! hashed by Meta's rules in the request template, so only hashes leave
//! the database; up to 10,000 users per request; Meta's throttling error
//! codes are waited out. After a run that added users, the audience's
//! matched size is asked for: the run's match rate.

use super::named::{self, Api, Description, NamedApi};
use super::{Support, LIST_REMOVE};
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use serde_json::{json, Value};

const API_URL: &str = "https://graph.facebook.com";
const API_VERSION: &str = "v21.0";
/// Meta takes at most 10,000 users per request.
const MAX_BATCH: i64 = 10_000;
/// The Marketing API's throttling error codes (answered with HTTP 400):
/// app, user and account limits, and the custom audience's own.
const THROTTLING_CODES: &[i64] = &[4, 17, 32, 613, 80003];

const CONFIG_KEYS: &[&str] = &["access_token", "api_url", "api_version"];
pub const SYNC_KEYS: &[&str] = &["audience", "region"];

/// Meta's customer-list keys: how each value is normalized (Liquid filters
/// after the column's value; `{region}` is the sync's phone region) and
/// whether it is then hashed. EXTERN_ID and MADID are sent as they are
/// (normalized, not hashed), as Meta takes them.
const IDENTIFIERS: &[(&str, &str, bool)] = &[
    ("EMAIL", "normalize_email", true),
    ("PHONE", "normalize_phone{region} | remove: \"+\"", true),
    ("FN", "strip | downcase", true),
    ("LN", "strip | downcase", true),
    ("FI", "strip | downcase | slice: 0", true),
    ("CT", "downcase | remove: \" \"", true),
    ("ST", "strip | downcase", true),
    ("ZIP", "downcase | remove: \" \"", true),
    ("COUNTRY", "strip | downcase", true),
    ("DOBY", "strip", true),
    ("DOBM", "strip", true),
    ("DOBD", "strip", true),
    ("GEN", "strip | downcase | slice: 0", true),
    ("EXTERN_ID", "strip", false),
    ("MADID", "strip | downcase", false),
];

/// One identifier a sync sends: its key, the model column it comes from,
/// its normalization (region applied) and whether it is hashed.
struct Identifier {
    key: String,
    column: String,
    normalize: String,
    hashed: bool,
}

/// Users join the audience as rows enter the model and leave it as they
/// leave (`delete`) or stay (`nothing`); mode remove takes the model's
/// rows out of it.
pub const SUPPORT: &[Support] = &[
    Support {
        sync_type: SyncType::List,
        modes: &[SyncMode::Add],
        delete_behaviors: &[DeleteBehavior::Delete, DeleteBehavior::Nothing],
    },
    LIST_REMOVE,
];

pub struct MetaAudience;

static DESCRIPTION: Description = Description {
    name: "meta_audience",
    config_keys: CONFIG_KEYS,
    sync_keys: SYNC_KEYS,
    support: SUPPORT,
};

#[derive(Debug)]
struct Settings {
    access_token: String,
    api_url: String,
    api_version: String,
}

fn settings(config: &Value) -> Result<Settings> {
    let reader = ObjectReader::new("config", config)?;
    reader.deny_unknown(CONFIG_KEYS)?;
    let access_token = named::required_secret(
        "config.access_token",
        reader.value("access_token"),
        "a system user's access token with the ads_management permission",
    )?;
    let api_version = reader
        .string("api_version")?
        .unwrap_or_else(|| API_VERSION.to_string());
    let version_ok = api_version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        });
    if !version_ok {
        return Err(Error::invalid(
            "config.api_version",
            format!("\"{api_version}\" is not a Graph API version (e.g. \"{API_VERSION}\")"),
        ));
    }
    Ok(Settings {
        access_token,
        api_url: reader
            .string("api_url")?
            .unwrap_or_else(|| API_URL.to_string()),
        api_version,
    })
}

/// The identifier `key` (named at `field`) sent from `column`; `region`
/// is the phone region's filter argument (`: "US"`), or "".
fn identifier(field: &str, key: &str, column: &str, region: &str) -> Result<Identifier> {
    let (_, normalize, hashed) = IDENTIFIERS
        .iter()
        .find(|(name, _, _)| *name == key)
        .ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "\"{key}\" is not a Meta customer list key (expected one of: {})",
                    IDENTIFIERS
                        .iter()
                        .map(|(name, _, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    Ok(Identifier {
        key: key.to_string(),
        column: column.to_string(),
        normalize: normalize.replace("{region}", region),
        hashed: *hashed,
    })
}

/// The users' payload: the schema (the keys, in order) and one list of
/// normalized (and hashed) values per row.
fn payload_body(identifiers: &[Identifier]) -> String {
    let schema: Vec<String> = identifiers
        .iter()
        .map(|id| format!("\"{}\"", id.key))
        .collect();
    let values: Vec<String> = identifiers
        .iter()
        .map(|id| {
            let hash = if id.hashed { " | sha256" } else { "" };
            format!(
                r#"{{{{ r["{}"] | {}{hash} | json }}}}"#,
                id.column, id.normalize
            )
        })
        .collect();
    format!(
        r#"{{"payload": {{"schema": [{}], "data": [{{% for r in rows %}}{{% unless forloop.first %}}, {{% endunless %}}[{}]{{% endfor %}}]}}}}"#,
        schema.join(", "),
        values.join(", ")
    )
}

/// What a row is matched by: its identifiers, normalized and joined; a row
/// for which this is empty is not sent.
fn usable_identifiers(identifiers: &[Identifier]) -> String {
    identifiers
        .iter()
        .map(|id| format!(r#"{{{{ row["{}"] | {} }}}}"#, id.column, id.normalize))
        .collect()
}

/// The http engine's sync settings for this sync.
fn http_sync(config: &SyncConfig) -> Result<SyncConfig> {
    let audience = named::required_id(
        config,
        "audience",
        "the Custom Audience's id, e.g. \"23851234567890123\"",
        |b| b.is_ascii_digit(),
        "a Custom Audience's id (digits)",
    )?;
    let region = config.destination_string("region")?;
    if let Some(code) = &region {
        if code.parse::<phonenumber::country::Id>().is_err() {
            return Err(Error::invalid(
                "region",
                format!(
                    "\"{code}\" is not a region code (ISO 3166, e.g. \"US\"): the country of phone numbers written without one"
                ),
            ));
        }
    }
    let record_match = config.record_match.as_ref().ok_or_else(|| {
        Error::invalid(
            "match",
            "is required: {\"from\": <the model's column>, \"to\": \"EMAIL\"} (or another customer list key)",
        )
    })?;
    let region = region
        .map(|code| format!(": \"{code}\""))
        .unwrap_or_default();
    let mut identifiers = vec![identifier(
        "match.to",
        &record_match.to,
        &record_match.from,
        &region,
    )?];
    // Each column is named inside the request templates.
    named::template_column("match.from", &record_match.from)?;
    for (index, mapping) in config.mappings.iter().enumerate() {
        let field = format!("mappings[{index}]");
        let MappingSource::Column(column) = &mapping.source else {
            return Err(Error::invalid(
                &format!("{field}.from"),
                "is required: an identifier comes from a column of the model",
            ));
        };
        let id = identifier(&format!("{field}.to"), &mapping.to, column, &region)?;
        if identifiers.iter().any(|known| known.key == id.key) {
            return Err(Error::invalid(
                &format!("{field}.to"),
                format!("\"{}\" is mapped twice", mapping.to),
            ));
        }
        named::template_column(&format!("{field}.from"), column)?;
        identifiers.push(id);
    }
    named::batch_at_most(config, MAX_BATCH, "Meta")?;
    // A removed row is known by its match value alone: removals send it.
    let users = |method: &str, identifiers: &[Identifier]| {
        json!({
            "method": method,
            "path": format!("/{audience}/users"),
            "body": payload_body(identifiers),
            "require": {
                "template": usable_identifiers(identifiers),
                "message": format!(
                    "no usable identifier: none of {} is a value Meta can match (an email address, a valid phone number, …)",
                    identifiers.iter().map(|id| id.key.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
        })
    };
    let mut http = config.clone();
    // A payload lists rows: one row per request is a list of one.
    http.batch_size = config.batch_size.max(2);
    http.destination_keys = serde_json::Map::new();
    http.destination_keys.insert("list".into(), json!(audience));
    http.destination_keys.insert(
        "requests".into(),
        json!({"added": users("POST", &identifiers), "removed": users("DELETE", &identifiers[..1])}),
    );
    if config.mode == SyncMode::Add {
        http.destination_keys.insert(
            "audience_size".into(),
            json!({"path": format!("/{audience}?fields=approximate_count_lower_bound"),
                   "count": "approximate_count_lower_bound"}),
        );
    }
    Ok(http)
}

impl NamedApi for MetaAudience {
    fn description(&self) -> &'static Description {
        &DESCRIPTION
    }

    fn api(&self, config: &Value) -> Result<Api> {
        let settings = settings(config)?;
        let url = format!(
            "{}/{}",
            settings.api_url.trim_end_matches('/'),
            settings.api_version
        );
        Ok(Api {
            connection: named::connection(&json!({
                "url": url,
                "headers": {"Authorization": {"secret": settings.access_token, "prefix": "Bearer "}},
                "concurrency": 4,
                "timeout_ms": 60000,
                "retry": {"throttled_when": {"path": "error.code", "values": THROTTLING_CODES}},
            }))?,
            secrets: vec![("config.access_token", settings.access_token)],
        })
    }

    fn http_sync(&self, config: &SyncConfig) -> Result<SyncConfig> {
        http_sync(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(document: Value) -> Result<SyncConfig> {
        SyncConfig::parse(&document, SYNC_KEYS).and_then(|c| http_sync(&c))
    }

    #[test]
    fn users_are_sent_as_normalized_hashes_in_meta_payloads() {
        let http = config(
            json!({"type": "list", "mode": "add", "delete_behavior": "delete",
            "audience": "2385", "region": "US",
            "match": {"from": "email", "to": "EMAIL"},
            "mappings": [{"from": "phone", "to": "PHONE"}, {"from": "uid", "to": "EXTERN_ID"}]}),
        )
        .unwrap();
        let requests = &http.destination_keys["requests"];
        assert_eq!(requests["added"]["method"], "POST");
        assert_eq!(requests["removed"]["method"], "DELETE");
        let body = requests["added"]["body"].as_str().unwrap();
        assert!(
            body.starts_with(
                r#"{"payload": {"schema": ["EMAIL", "PHONE", "EXTERN_ID"], "data": ["#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"{{ r["email"] | normalize_email | sha256 | json }}"#),
            "{body}"
        );
        assert!(
            body.contains(
                r#"{{ r["phone"] | normalize_phone: "US" | remove: "+" | sha256 | json }}"#
            ),
            "{body}"
        );
        assert!(body.contains(r#"{{ r["uid"] | strip | json }}"#), "{body}");
        assert_eq!(
            requests["added"]["require"]["template"],
            r#"{{ row["email"] | normalize_email }}{{ row["phone"] | normalize_phone: "US" | remove: "+" }}{{ row["uid"] | strip }}"#
        );
        let removal = requests["removed"]["body"].as_str().unwrap();
        assert!(removal.contains(r#""schema": ["EMAIL"]"#), "{removal}");
        assert_eq!(http.destination_keys["list"], "2385");
        assert_eq!(
            http.destination_keys["audience_size"]["count"],
            "approximate_count_lower_bound"
        );
        let remove = config(json!({"type": "list", "mode": "remove", "audience": "2385",
            "match": {"from": "email", "to": "EMAIL"}}))
        .unwrap();
        assert!(remove.destination_keys.get("audience_size").is_none());
    }

    #[test]
    fn settings_the_api_cannot_take_are_named() {
        let message = |document| config(document).unwrap_err().message;
        let base = |extra: Value| {
            let mut document = json!({"type": "list", "mode": "add", "audience": "1",
                "match": {"from": "email", "to": "EMAIL"}});
            for (key, value) in extra.as_object().unwrap() {
                document[key] = value.clone();
            }
            document
        };
        assert!(message(base(json!({"audience": "my list"}))).starts_with("audience: must be"));
        assert!(
            message(base(json!({"match": {"from": "e", "to": "email"}})))
                .starts_with("match.to: \"email\" is not a Meta customer list key")
        );
        assert!(message(base(json!({"region": "Mars"})))
            .starts_with("region: \"Mars\" is not a region code"));
        assert!(message(base(json!({"batch_size": 20000})))
            .starts_with("batch_size: Meta takes at most 10000"));
        assert!(
            message(base(json!({"mappings": [{"static": "x", "to": "FN"}]})))
                .starts_with("mappings[0].from: is required")
        );
        let twice = message(base(
            json!({"mappings": [{"from": "p1", "to": "PHONE"}, {"from": "p2", "to": "PHONE"}]}),
        ));
        assert!(twice.starts_with("mappings[1].to: "), "{twice}");
        assert!(
            settings(&json!({"access_token": {"secret": "t"}, "api_version": "21"}))
                .unwrap_err()
                .message
                .starts_with("config.api_version: \"21\" is not a Graph API version")
        );
        assert!(settings(&json!({}))
            .unwrap_err()
            .message
            .starts_with("config.access_token: is required"));
    }
}
