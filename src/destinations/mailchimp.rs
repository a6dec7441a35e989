//! `mailchimp`: the members of a Mailchimp audience, on the http engine.
//! Each row is one request to the member's own resource, whose id is the
//! MD5 of the lower-cased email (`PUT` to add or update, `PATCH` to update
//! only, `DELETE` to archive); mapped fields are merge fields (`FNAME`).
//! The API key is a secret, sent with HTTP Basic authentication.

use super::named::{self, Api, Description, NamedApi};
use super::Support;
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use serde_json::{json, Value};

const CONFIG_KEYS: &[&str] = &["api_key", "server", "api_url"];
pub const SYNC_KEYS: &[&str] = &["audience", "status", "tags"];
const STATUSES: &[&str] = &["subscribed", "pending", "transactional"];
/// Mailchimp allows 10 simultaneous connections per account.
const CONCURRENCY: usize = 8;

/// Members are records found by their email: added and changed with PUT
/// (or PATCH in mode update), archived when they leave the model
/// (`delete`) or left (`nothing`).
pub const SUPPORT: &[Support] = &[Support {
    sync_type: SyncType::Object,
    modes: &[SyncMode::Upsert, SyncMode::Update],
    delete_behaviors: &[DeleteBehavior::Nothing, DeleteBehavior::Delete],
}];

pub struct Mailchimp;

static DESCRIPTION: Description = Description {
    name: "mailchimp",
    config_keys: CONFIG_KEYS,
    sync_keys: SYNC_KEYS,
    support: SUPPORT,
};

#[derive(Debug)]
struct Settings {
    api_key: String,
    api_url: String,
}

fn settings(config: &Value) -> Result<Settings> {
    let reader = ObjectReader::new("config", config)?;
    reader.deny_unknown(CONFIG_KEYS)?;
    let api_key = named::required_secret("config.api_key", reader.value("api_key"), "the API key")?;
    let api_url = match (reader.string("api_url")?, reader.string("server")?) {
        (Some(url), _) => url,
        (None, Some(server))
            if !server.is_empty() && server.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!("https://{server}.api.mailchimp.com")
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "config.server",
                "must be the data center of the account, e.g. \"us6\" (the end of the API key)",
            ))
        }
        (None, None) => return Err(Error::invalid(
            "config.server",
            "is required: the data center of the account, e.g. \"us6\" (the end of the API key)",
        )),
    };
    Ok(Settings { api_key, api_url })
}

/// A merge field's tag: upper-case letters, digits, `_` (FNAME, LTV_USD).
fn merge_tag(field: &str, name: &str) -> Result<()> {
    named::api_name(
        field,
        name,
        |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_',
        "a Mailchimp merge tag (upper-case letters, digits and _, e.g. FNAME)",
    )
}

/// The http engine's sync settings for this sync: one request per member.
fn http_sync(config: &SyncConfig) -> Result<SyncConfig> {
    let audience = named::required_id(
        config,
        "audience",
        "the audience (list) id, e.g. \"a1b2c3d4e5\"",
        |b| b.is_ascii_alphanumeric(),
        "an audience id (letters and digits)",
    )?;
    let status = config
        .destination_string("status")?
        .unwrap_or_else(|| "subscribed".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(Error::invalid(
            "status",
            format!(
                "unknown status \"{status}\" (expected one of: {})",
                STATUSES.join(", ")
            ),
        ));
    }
    let record_match = config.record_match.as_ref().ok_or_else(|| {
        Error::invalid(
            "match",
            "is required: {\"from\": <the model's email column>, \"to\": \"email_address\"}",
        )
    })?;
    // The column is named inside the request templates.
    named::template_column("match.from", &record_match.from)?;
    if record_match.to != "email_address" {
        return Err(Error::invalid(
            "match.to",
            "must be \"email_address\": Mailchimp finds members by their email",
        ));
    }
    let mut merge_fields = Vec::new();
    for (index, mapping) in config.mappings.iter().enumerate() {
        merge_tag(&format!("mappings[{index}].to"), &mapping.to)?;
        merge_fields.push(format!(
            r#""{tag}": {{% if record["{tag}"] == nil %}}""{{% else %}}{{{{ record["{tag}"] | json }}}}{{% endif %}}"#,
            tag = mapping.to
        ));
    }
    let email = format!(r#"row["{}"]"#, record_match.from);
    let path = format!("/3.0/lists/{audience}/members/{{{{ {email} | downcase | md5 }}}}");
    let merge_fields = merge_fields.join(", ");
    let put = json!({
        "method": "PUT",
        "path": path,
        "body": format!(
            r#"{{"email_address": {{{{ {email} | json }}}}, "status_if_new": "{status}", "merge_fields": {{{merge_fields}}}}}"#
        ),
    });
    let patch = json!({
        "method": "PATCH",
        "path": path,
        "body": format!(r#"{{"merge_fields": {{{merge_fields}}}}}"#),
    });
    let mut write = if config.mode == SyncMode::Update {
        patch
    } else {
        put
    };
    if let Some(then) = tags_request(config, &path)? {
        write["then"] = then;
    }
    let mut http = config.clone();
    http.batch_size = 1;
    http.destination_keys = serde_json::Map::new();
    http.destination_keys.insert(
        "requests".into(),
        json!({"added": write, "changed": write, "removed": {"method": "DELETE", "path": path}}),
    );
    Ok(http)
}

/// `tags: {"from": <column>, "remove_others": false}`: after a member is
/// written, the tags the column lists (a text[] or JSON array) are made
/// active on it; with `remove_others`, the member's other tags (from the
/// write's answer) are made inactive, so its tags are the column's.
fn tags_request(config: &SyncConfig, member_path: &str) -> Result<Option<Value>> {
    let Some(value) = config.destination_keys.get("tags") else {
        return Ok(None);
    };
    let reader = ObjectReader::new("tags", value)?;
    reader.deny_unknown(&["from", "remove_others"])?;
    let column = reader.required_string("from")?;
    named::template_column("tags.from", &column)?;
    let mut body = format!(
        r#"{{"tags": [{{% assign separator = "" %}}{{% for tag in row["{column}"] %}}{{{{ separator }}}}{{"name": {{{{ tag | json }}}}, "status": "active"}}{{% assign separator = ", " %}}{{% endfor %}}"#
    );
    if reader.boolean("remove_others")?.unwrap_or(false) {
        body.push_str(&format!(
            r#"{{% for tag in answer.tags %}}{{% unless row["{column}"] contains tag.name %}}{{{{ separator }}}}{{"name": {{{{ tag.name | json }}}}, "status": "inactive"}}{{% assign separator = ", " %}}{{% endunless %}}{{% endfor %}}"#
        ));
    }
    body.push_str("]}");
    Ok(Some(json!({
        "method": "POST",
        "path": format!("{member_path}/tags"),
        "body": body,
    })))
}

impl NamedApi for Mailchimp {
    fn description(&self) -> &'static Description {
        &DESCRIPTION
    }

    fn api(&self, config: &Value) -> Result<Api> {
        let settings = settings(config)?;
        Ok(Api {
            connection: named::connection(&json!({
                "url": settings.api_url,
                "headers": {"Authorization": {"secret": settings.api_key, "basic_user": "pg_reverse_etl"}},
                "concurrency": CONCURRENCY,
                "timeout_ms": 30000,
            }))?,
            secrets: vec![("config.api_key", settings.api_key)],
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
    fn members_are_put_at_the_md5_of_their_email() {
        let http = config(
            json!({"mode": "upsert", "audience": "a1b2c3", "delete_behavior": "delete",
            "match": {"from": "email", "to": "email_address"},
            "mappings": [{"from": "first", "to": "FNAME"}]}),
        )
        .unwrap();
        let requests = &http.destination_keys["requests"];
        assert_eq!(requests["added"]["method"], "PUT");
        assert_eq!(
            requests["added"]["path"],
            r#"/3.0/lists/a1b2c3/members/{{ row["email"] | downcase | md5 }}"#
        );
        let body = requests["added"]["body"].as_str().unwrap();
        assert!(body.contains(r#""status_if_new": "subscribed""#), "{body}");
        assert!(body.contains(r#""FNAME": {% if record["FNAME"] == nil %}""{% else %}{{ record["FNAME"] | json }}{% endif %}"#), "{body}");
        assert_eq!(requests["removed"]["method"], "DELETE");
        assert_eq!(http.batch_size, 1);
        let update = config(json!({"mode": "update", "audience": "a1", "match": {"from": "e", "to": "email_address"}})).unwrap();
        assert_eq!(
            update.destination_keys["requests"]["changed"]["method"],
            "PATCH"
        );
    }

    #[test]
    fn tags_follow_the_member_write() {
        let http = config(json!({"mode": "upsert", "audience": "a1",
            "match": {"from": "email", "to": "email_address"},
            "tags": {"from": "segments", "remove_others": true}}))
        .unwrap();
        let then = &http.destination_keys["requests"]["added"]["then"];
        assert_eq!(then["method"], "POST");
        assert_eq!(
            then["path"],
            r#"/3.0/lists/a1/members/{{ row["email"] | downcase | md5 }}/tags"#
        );
        let template =
            crate::destinations::template::Template::parse("b", then["body"].as_str().unwrap())
                .unwrap();
        let render = |segments: Value, tags: Value| -> Value {
            let text = template
                .render(
                    "b",
                    &json!({"row": {"segments": segments}, "answer": {"tags": tags}}),
                )
                .unwrap();
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        assert_eq!(
            render(
                json!(["vip", "beta"]),
                json!([{"id": 1, "name": "beta"}, {"id": 2, "name": "old"}])
            ),
            json!({"tags": [{"name": "vip", "status": "active"}, {"name": "beta", "status": "active"},
                            {"name": "old", "status": "inactive"}]})
        );
        assert_eq!(
            render(json!([]), json!([{"id": 2, "name": "old"}])),
            json!({"tags": [{"name": "old", "status": "inactive"}]})
        );
        assert_eq!(render(Value::Null, json!([])), json!({"tags": []}));
        let only_add = config(json!({"mode": "upsert", "audience": "a1",
            "match": {"from": "email", "to": "email_address"}, "tags": {"from": "segments"}}))
        .unwrap();
        let body = only_add.destination_keys["requests"]["changed"]["then"]["body"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!body.contains("inactive"), "{body}");
        assert!(config(json!({"mode": "upsert", "audience": "a1",
            "match": {"from": "email", "to": "email_address"}, "tags": {"column": "s"}}))
        .unwrap_err()
        .message
        .starts_with("tags.column: unknown key"));
    }

    #[test]
    fn settings_the_api_cannot_take_are_named() {
        let message = |document| config(document).unwrap_err().message;
        assert!(
            message(json!({"mode": "upsert", "match": {"from": "e", "to": "email_address"}}))
                .starts_with("audience: is required")
        );
        assert!(message(
            json!({"mode": "upsert", "audience": "a1", "match": {"from": "e", "to": "email"}})
        )
        .starts_with("match.to: must be \"email_address\""));
        assert!(message(json!({"mode": "upsert", "audience": "a1", "status": "cleaned", "match": {"from": "e", "to": "email_address"}}))
            .starts_with("status: unknown status \"cleaned\""));
        assert!(message(json!({"mode": "upsert", "audience": "a1", "match": {"from": "e", "to": "email_address"},
            "mappings": [{"from": "x", "to": "fname"}]}))
        .starts_with("mappings[0].to: \"fname\" is not a Mailchimp merge tag"));
        assert!(settings(&json!({"api_key": {"secret": "k"}}))
            .unwrap_err()
            .message
            .starts_with("config.server: is required"));
        assert_eq!(
            settings(&json!({"api_key": {"secret": "k"}, "server": "us6"}))
                .unwrap()
                .api_url,
            "https://us6.api.mailchimp.com"
        );
    }
}
