//! `salesforce`: records of an sObject (Contact, Account, a custom object)
//! upserted by an external id through sObject Collections, 200 per
//! request, on the http engine. A connected app's refresh token (a secret)
//! is exchanged for an access token when a run starts and again when
//! Salesforce answers 401; the token's answer names the instance the
//! requests go to. Salesforce answers each record in order
//! (`{"success": false, "errors": [...]}`): those records are rejected.

use super::named::{self, Api, Description, NamedApi};
use super::Support;
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use serde_json::{json, Value};

const LOGIN_URL: &str = "https://login.salesforce.com";
const API_VERSION: &str = "v59.0";
/// sObject Collections take at most 200 records per request.
const MAX_BATCH: i64 = 200;
const CONFIG_KEYS: &[&str] = &[
    "login_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "api_version",
];
pub const SYNC_KEYS: &[&str] = &["object"];

/// Upserts by external id; rows leaving the model are left or have their
/// fields emptied (collections cannot delete by external id).
pub const SUPPORT: &[Support] = &[Support {
    sync_type: SyncType::Object,
    modes: &[SyncMode::Upsert],
    delete_behaviors: &[DeleteBehavior::Nothing, DeleteBehavior::Clear],
}];

pub struct Salesforce;

static DESCRIPTION: Description = Description {
    name: "salesforce",
    config_keys: CONFIG_KEYS,
    sync_keys: SYNC_KEYS,
    support: SUPPORT,
};

/// A Salesforce API name: letters, digits, `_` (Contact, Email, Ext_Id__c).
fn api_name(field: &str, name: &str) -> Result<()> {
    named::api_name(
        field,
        name,
        |b| b.is_ascii_alphanumeric() || b == b'_',
        "a Salesforce API name (letters, digits and _, e.g. External_Id__c)",
    )
}

impl NamedApi for Salesforce {
    fn description(&self) -> &'static Description {
        &DESCRIPTION
    }

    fn api(&self, config: &Value) -> Result<Api> {
        let reader = ObjectReader::new("config", config)?;
        reader.deny_unknown(CONFIG_KEYS)?;
        let login_url = reader
            .string("login_url")?
            .unwrap_or_else(|| LOGIN_URL.into());
        let client_id = reader.required_string("client_id")?;
        let client_secret = named::required_secret(
            "config.client_secret",
            reader.value("client_secret"),
            "the connected app's consumer secret",
        )?;
        let refresh_token = named::required_secret(
            "config.refresh_token",
            reader.value("refresh_token"),
            "the refresh token",
        )?;
        let connection = named::connection(&json!({
            "url": login_url,
            "concurrency": 4,
            "timeout_ms": 60000,
            // The org's API requests for the day are used up: stop and
            // resume next run, instead of trying every record alone.
            "retry": {"unavailable_when": {"path": "0.errorCode", "values": ["REQUEST_LIMIT_EXCEEDED"]}},
            "oauth": {
                "token_url": format!("{}/services/oauth2/token", login_url.trim_end_matches('/')),
                "client_id": client_id,
                "client_secret": {"secret": client_secret},
                "refresh_token": {"secret": refresh_token},
                "base_url_from": "instance_url",
            },
        }))
        .map_err(|e| {
            Error::new(
                e.state,
                e.message.replace("config.api_url", "config.login_url"),
            )
        })?;
        Ok(Api {
            connection,
            secrets: vec![
                ("config.client_secret", client_secret),
                ("config.refresh_token", refresh_token),
            ],
        })
    }

    fn url_field(&self) -> &'static str {
        "config.login_url"
    }

    fn http_sync(&self, config: &SyncConfig) -> Result<SyncConfig> {
        let object = config.destination_string("object")?.ok_or_else(|| {
            Error::invalid("object", "is required: the sObject, e.g. \"Contact\"")
        })?;
        api_name("object", &object)?;
        let fields = named::record_fields(
            config,
            "<an external id field, e.g. \"External_Id__c\">",
            api_name,
        )?;
        named::batch_at_most(config, MAX_BATCH, "Salesforce")?;
        let version = API_VERSION;
        let values: Vec<String> = fields
            .iter()
            .map(|f| format!(r#""{f}": {{{{ r["{f}"] | json }}}}"#))
            .collect();
        let body = format!(
            r#"{{"allOrNone": false, "records": [{{% for r in records %}}{{% unless forloop.first %}}, {{% endunless %}}{{"attributes": {{"type": "{object}"}}, {}}}{{% endfor %}}]}}"#,
            values.join(", ")
        );
        let request = json!({
            "method": "PATCH",
            "path": format!("/services/data/{version}/composite/sobjects/{object}/{}", fields[0]),
            "body": body,
        });
        let mut http = config.clone();
        http.destination_keys = serde_json::Map::new();
        http.destination_keys.insert(
            "requests".into(),
            json!({"added": request, "changed": request}),
        );
        http.destination_keys.insert(
            "record_errors".into(),
            json!({"positional": true, "success_flag": "success", "message": "errors.0.message"}),
        );
        Ok(http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(document: Value) -> Result<SyncConfig> {
        SyncConfig::parse(&document, SYNC_KEYS).and_then(|c| Salesforce.http_sync(&c))
    }

    #[test]
    fn records_are_upserted_by_external_id_in_collections() {
        let http = config(json!({"mode": "upsert", "object": "Contact",
            "match": {"from": "email", "to": "Email__c"}, "mappings": [{"from": "last", "to": "LastName"}]}))
        .unwrap();
        let request = &http.destination_keys["requests"]["added"];
        assert_eq!(request["method"], "PATCH");
        assert_eq!(
            request["path"],
            "/services/data/v59.0/composite/sobjects/Contact/Email__c"
        );
        let body = request["body"].as_str().unwrap();
        assert!(body.contains(r#"{"attributes": {"type": "Contact"}, "Email__c": {{ r["Email__c"] | json }}, "LastName": {{ r["LastName"] | json }}}"#), "{body}");
        let api = Salesforce
            .api(&json!({"client_id": "3MVG", "client_secret": {"secret": "cs"}, "refresh_token": {"secret": "rt"}}))
            .unwrap();
        let oauth = api.connection.oauth.unwrap();
        assert_eq!(
            oauth.token_url.as_str(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        assert_eq!(oauth.base_url_from.as_deref(), Some("instance_url"));
    }

    #[test]
    fn settings_the_api_cannot_take_are_named() {
        let message = |document| config(document).unwrap_err().message;
        assert!(
            message(json!({"mode": "upsert", "match": {"from": "e", "to": "Email"}}))
                .starts_with("object: is required")
        );
        assert!(message(json!({"mode": "upsert", "object": "Contact; DROP", "match": {"from": "e", "to": "Email"}}))
            .starts_with("object: \"Contact; DROP\" is not a Salesforce API name"));
        assert!(message(json!({"mode": "upsert", "object": "Contact", "batch_size": 201, "match": {"from": "e", "to": "Email"}}))
            .starts_with("batch_size: Salesforce takes at most 200"));
        let api_error = |document| Salesforce.api(&document).err().unwrap().message;
        assert!(
            api_error(json!({"client_id": "x", "client_secret": {"secret": "cs"}}))
                .starts_with("config.refresh_token: is required")
        );
        assert!(api_error(
            json!({"client_id": "x", "client_secret": "plain", "refresh_token": {"secret": "rt"}})
        )
        .starts_with("config.client_secret: must be"));
    }
}
