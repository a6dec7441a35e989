//! `hubspot`: HubSpot CRM objects (contacts, companies) through the v3
//! batch API, on the http engine. The kind turns its few settings into an
//! http connection (bearer token from a secret, HubSpot's rate limit) and
//! the sync into requests: batch upsert (or update) by a unique property,
//! 100 records per request, the property values written exactly (`| json`),
//! and the per-record errors of HubSpot's multi-status answers (207) read
//! by the ids they name.

use super::named::{self, Api, Description, NamedApi};
use super::{Support, LIST_REMOVE};
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use serde_json::{json, Value};

const API_URL: &str = "https://api.hubapi.com";
/// HubSpot takes at most 100 inputs per batch request.
const MAX_BATCH: i64 = 100;
/// Private apps may send 100 requests per 10 seconds (the lowest tier).
const REQUESTS_PER_SECOND: f64 = 10.0;
const OBJECTS: &[&str] = &["contacts", "companies"];

const CONFIG_KEYS: &[&str] = &["token", "api_url", "requests_per_second"];
pub const SYNC_KEYS: &[&str] = &["object", "list_id"];

/// Records are created or updated by a unique property; HubSpot's batch API
/// cannot archive by that property, so rows leaving the model are left
/// (`nothing`) or have their properties emptied (`clear`). List syncs add
/// the model's records to a static list (and take those leaving the model
/// out, with `delete`), or take them out (mode remove).
pub const SUPPORT: &[Support] = &[
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::Upsert, SyncMode::Update],
        delete_behaviors: &[DeleteBehavior::Nothing, DeleteBehavior::Clear],
    },
    Support {
        sync_type: SyncType::List,
        modes: &[SyncMode::Add],
        delete_behaviors: &[DeleteBehavior::Delete, DeleteBehavior::Nothing],
    },
    LIST_REMOVE,
];

pub struct HubSpot;

static DESCRIPTION: Description = Description {
    name: "hubspot",
    config_keys: CONFIG_KEYS,
    sync_keys: SYNC_KEYS,
    support: SUPPORT,
};

#[derive(Debug)]
struct Settings {
    token: String,
    api_url: String,
    requests_per_second: f64,
}

fn settings(config: &Value) -> Result<Settings> {
    let reader = ObjectReader::new("config", config)?;
    reader.deny_unknown(CONFIG_KEYS)?;
    let token = named::required_secret(
        "config.token",
        reader.value("token"),
        "the private app's access token",
    )?;
    let requests_per_second = named::requests_per_second(
        reader.value("requests_per_second"),
        REQUESTS_PER_SECOND,
        1000.0,
    )?;
    Ok(Settings {
        token,
        api_url: reader
            .string("api_url")?
            .unwrap_or_else(|| API_URL.to_string()),
        requests_per_second,
    })
}

/// A HubSpot property's internal name: lower-case letters, digits, `_`.
fn property_name(field: &str, name: &str) -> Result<()> {
    named::api_name(
        field,
        name,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
        "a HubSpot property's internal name (lower-case letters, digits and _)",
    )
}

/// The batch body: every record an input found by `id_property`, its
/// properties written as JSON (a property emptied is `""`, as HubSpot
/// clears one).
fn batch_body(id_property: &str, properties: &[String]) -> String {
    let values: Vec<String> = properties
        .iter()
        .map(|p| {
            format!(
                r#""{p}": {{% if r["{p}"] == nil %}}""{{% else %}}{{{{ r["{p}"] | json }}}}{{% endif %}}"#
            )
        })
        .collect();
    format!(
        r#"{{"inputs": [{{% for r in records %}}{{% unless forloop.first %}}, {{% endunless %}}{{"idProperty": "{id_property}", "id": {{{{ r["{id_property}"] | json }}}}, "properties": {{{}}}}}{{% endfor %}}]}}"#,
        values.join(", ")
    )
}

/// The http engine's sync settings for this sync: the requests and where
/// HubSpot's answers name failed records.
fn http_sync(config: &SyncConfig) -> Result<SyncConfig> {
    let object = config
        .destination_string("object")?
        .unwrap_or_else(|| "contacts".into());
    if !OBJECTS.contains(&object.as_str()) {
        return Err(Error::invalid(
            "object",
            format!(
                "unknown HubSpot object \"{object}\" (expected one of: {})",
                OBJECTS.join(", ")
            ),
        ));
    }
    named::batch_at_most(config, MAX_BATCH, "HubSpot")?;
    let mut http = config.clone();
    http.destination_keys = serde_json::Map::new();
    if config.sync_type == SyncType::List {
        list_requests(config, &object, &mut http.destination_keys)?;
        return Ok(http);
    }
    if config.destination_string("list_id")?.is_some() {
        return Err(Error::invalid(
            "list_id",
            "is only for list syncs (type \"list\")",
        ));
    }
    let properties = named::record_fields(
        config,
        "<a unique property, e.g. \"email\" or \"domain\">",
        property_name,
    )?;
    let action = if config.mode == SyncMode::Update {
        "update"
    } else {
        "upsert"
    };
    let request = json!({
        "method": "POST",
        "path": format!("/crm/v3/objects/{object}/batch/{action}"),
        "body": batch_body(&properties[0], &properties),
    });
    http.destination_keys.insert(
        "requests".into(),
        json!({"added": request, "changed": request}),
    );
    http.destination_keys.insert(
        "record_errors".into(),
        json!({"path": "errors", "id": "context.ids", "message": "message"}),
    );
    Ok(http)
}

/// A list sync's requests: HubSpot's list memberships take record ids, so
/// each batch first reads its records by the unique property (rows with
/// no record are rejected as not found; a removal of a record that is gone
/// needs nothing), then adds or removes the ids it found.
fn list_requests(
    config: &SyncConfig,
    object: &str,
    keys: &mut serde_json::Map<String, Value>,
) -> Result<()> {
    let list_id = named::required_id(
        config,
        "list_id",
        "the id of a static (MANUAL) list, e.g. \"123\"",
        |b| b.is_ascii_digit(),
        "a list's id (digits)",
    )?;
    if !config.mappings.is_empty() {
        return Err(Error::invalid(
            "mappings",
            "a list sync changes list membership only; sync properties with an object sync",
        ));
    }
    let property =
        &named::record_fields(config, "\"email\" (a unique property)", property_name)?[0];
    let lookup = |not_found: &str| {
        json!({
            "method": "POST",
            "path": format!("/crm/v3/objects/{object}/batch/read"),
            "body": format!(
                r#"{{"idProperty": "{property}", "properties": ["{property}"], "inputs": [{{% for r in records %}}{{% unless forloop.first %}}, {{% endunless %}}{{"id": {{{{ r["{property}"] | json }}}}}}{{% endfor %}}]}}"#
            ),
            "results": "results",
            "key": format!("properties.{property}"),
            "value": "id",
            "ignore_case": true,
            "not_found": not_found,
        })
    };
    let ids = "[{% for r in records %}{% unless forloop.first %}, {% endunless %}{{ found[forloop.index0] | json }}{% endfor %}]";
    let membership = |action: &str, not_found: &str| {
        json!({
            "method": "PUT",
            "path": format!("/crm/v3/lists/{list_id}/memberships/{action}"),
            "body": ids,
            "lookup": lookup(not_found),
        })
    };
    keys.insert("list".into(), json!(list_id));
    keys.insert(
        "requests".into(),
        json!({"added": membership("add", "reject"), "removed": membership("remove", "done")}),
    );
    Ok(())
}

impl NamedApi for HubSpot {
    fn description(&self) -> &'static Description {
        &DESCRIPTION
    }

    fn api(&self, config: &Value) -> Result<Api> {
        let settings = settings(config)?;
        Ok(Api {
            connection: named::connection(&json!({
                "url": settings.api_url,
                "headers": {"Authorization": {"secret": settings.token, "prefix": "Bearer "}},
                "concurrency": 4,
                "rate_limit": {"requests_per_second": settings.requests_per_second},
                "timeout_ms": 30000,
                // The daily limit (a 429 naming the DAILY policy) is not
                // waited out: the run stops and the next one resumes.
                "retry": {"unavailable_when": {"path": "policyName", "values": ["DAILY"]}},
            }))?,
            secrets: vec![("config.token", settings.token)],
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
    fn syncs_become_batch_requests_by_a_unique_property() {
        let http = config(
            json!({"mode": "upsert", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "first", "to": "firstname"}]}),
        )
        .unwrap();
        let request = &http.destination_keys["requests"]["added"];
        assert_eq!(request["path"], "/crm/v3/objects/contacts/batch/upsert");
        let body = request["body"].as_str().unwrap();
        assert!(
            body.contains(r#""idProperty": "email", "id": {{ r["email"] | json }}"#),
            "{body}"
        );
        assert!(body.contains(r#""firstname": {% if r["firstname"] == nil %}""{% else %}{{ r["firstname"] | json }}{% endif %}"#), "{body}");
        let update = config(json!({"mode": "update", "object": "companies", "match": {"from": "d", "to": "domain"}})).unwrap();
        assert_eq!(
            update.destination_keys["requests"]["changed"]["path"],
            "/crm/v3/objects/companies/batch/update"
        );
    }

    #[test]
    fn list_syncs_look_records_up_then_change_memberships() {
        let http = config(
            json!({"type": "list", "mode": "add", "delete_behavior": "delete",
            "list_id": "42", "match": {"from": "email", "to": "email"}}),
        )
        .unwrap();
        let requests = &http.destination_keys["requests"];
        let added = &requests["added"];
        assert_eq!(added["method"], "PUT");
        assert_eq!(added["path"], "/crm/v3/lists/42/memberships/add");
        assert_eq!(
            added["body"],
            "[{% for r in records %}{% unless forloop.first %}, {% endunless %}{{ found[forloop.index0] | json }}{% endfor %}]"
        );
        let lookup = &added["lookup"];
        assert_eq!(lookup["path"], "/crm/v3/objects/contacts/batch/read");
        assert_eq!(lookup["key"], "properties.email");
        assert_eq!(lookup["not_found"], "reject");
        assert_eq!(
            requests["removed"]["path"],
            "/crm/v3/lists/42/memberships/remove"
        );
        assert_eq!(requests["removed"]["lookup"]["not_found"], "done");
        let message = |document| config(document).unwrap_err().message;
        assert!(message(
            json!({"type": "list", "mode": "add", "match": {"from": "e", "to": "email"}})
        )
        .starts_with("list_id: is required"));
        assert!(message(json!({"type": "list", "mode": "add", "list_id": "vip", "match": {"from": "e", "to": "email"}}))
            .starts_with("list_id: must be a list's id"));
        assert!(message(json!({"type": "list", "mode": "add", "list_id": "4", "match": {"from": "e", "to": "email"},
            "mappings": [{"from": "f", "to": "firstname"}]}))
        .starts_with("mappings: a list sync changes list membership only"));
        assert!(message(
            json!({"mode": "upsert", "list_id": "4", "match": {"from": "e", "to": "email"}})
        )
        .starts_with("list_id: is only for list syncs"));
    }

    #[test]
    fn settings_the_api_cannot_take_are_named() {
        let message = |document| config(document).unwrap_err().message;
        assert!(message(json!({"mode": "upsert"})).starts_with("match: is required"));
        assert!(message(
            json!({"mode": "upsert", "object": "deals", "match": {"from": "e", "to": "email"}})
        )
        .starts_with("object: unknown HubSpot object \"deals\""));
        assert!(message(
            json!({"mode": "upsert", "batch_size": 500, "match": {"from": "e", "to": "email"}})
        )
        .starts_with("batch_size: HubSpot takes at most 100"));
        assert!(message(
            json!({"mode": "upsert", "match": {"from": "e", "to": "email"},
            "mappings": [{"from": "x", "to": "First Name"}]})
        )
        .starts_with("mappings[0].to: \"First Name\" is not a HubSpot property"));
        assert!(settings(&json!({"token": "pat-123"}))
            .unwrap_err()
            .message
            .starts_with("config.token: must be {\"secret\""));
        assert!(settings(&json!({}))
            .unwrap_err()
            .message
            .starts_with("config.token: is required"));
    }
}
