//! Named API destinations (HubSpot, Mailchimp, …) on the http engine. A
//! named kind says what its settings are and turns them into an http
//! connection and the engine's requests; everything else — checks of the
//! allow-list and the secret, building the run-time destination, retries,
//! rate limits, splitting, test a row — is the http destination's.

use super::http::config::{check_host, HttpConnection};
use super::http::{secret_header_value, HttpDestination};
use super::{BuildContext, Destination, DestinationKind, Support};
use crate::config::json::secret_reference;
use crate::config::SyncConfig;
use crate::error::{Error, Result};
use crate::plan::ModelColumn;
use pgrx::pg_sys;
use serde_json::Value;

/// The API a named destination reaches: its connection and the secrets its
/// credentials come from.
pub struct Api {
    pub connection: HttpConnection,
    /// The secrets it uses: where the config names each (`config.token`),
    /// and its name.
    pub secrets: Vec<(&'static str, String)>,
}

/// What a named kind is: its name, its keys and its support rows.
pub struct Description {
    pub name: &'static str,
    pub config_keys: &'static [&'static str],
    pub sync_keys: &'static [&'static str],
    pub support: &'static [Support],
}

pub trait NamedApi: Sync {
    fn description(&self) -> &'static Description;
    /// The destination's settings as an http connection.
    fn api(&self, config: &Value) -> Result<Api>;
    /// The sync's settings as the http engine's (`requests`, `record_errors`).
    fn http_sync(&self, config: &SyncConfig) -> Result<SyncConfig>;

    /// Where the config names the API's URL (for the allow-list's error).
    fn url_field(&self) -> &'static str {
        "config.api_url"
    }

    /// The engine's field names (`requests.added.body`) that are the kind's
    /// own settings (`text`), so errors name what the user wrote.
    fn own_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

impl<T: NamedApi> DestinationKind for T {
    fn name(&self) -> &'static str {
        self.description().name
    }

    fn config_keys(&self) -> &'static [&'static str] {
        self.description().config_keys
    }

    fn sync_keys(&self) -> &'static [&'static str] {
        self.description().sync_keys
    }

    fn check_config(&self, config: &Value, owner: pg_sys::Oid) -> Result<()> {
        let api = self.api(config)?;
        check_host(
            self.url_field(),
            &api.connection.url,
            &crate::gucs::http_allowed_hosts(),
        )?;
        for (field, name) in &api.secrets {
            secret_header_value(owner, field, name)?;
        }
        Ok(())
    }

    fn secret_names(&self, config: &Value) -> Vec<String> {
        self.api(config)
            .map(|api| api.secrets.into_iter().map(|(_, name)| name).collect())
            .unwrap_or_default()
    }

    fn support(&self) -> &'static [Support] {
        self.description().support
    }

    /// Columns the requests' templates name are sent too.
    fn sent_columns(&self, config: &SyncConfig, model_columns: &[ModelColumn]) -> Vec<String> {
        match self.http_sync(config) {
            Ok(http) => super::http::Http.sent_columns(&http, model_columns),
            Err(_) => super::columns_used(config, model_columns, &[]),
        }
    }

    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>> {
        let api = self.api(&context.destination.config)?;
        let mut destination = HttpDestination::new(
            api.connection,
            &self.http_sync(context.config)?,
            context.model_columns,
            context.sync_name,
        )
        .map_err(|mut error| {
            for (engine, own) in self.own_fields() {
                if let Some(rest) = error.message.strip_prefix(engine) {
                    error.message = format!("{own}{rest}");
                }
            }
            error
        })?;
        destination.identity = context.identity.clone();
        destination.secrets_owner = context.destination.owner;
        Ok(Box::new(destination))
    }
}

/// The http connection of a named destination: `document` as the http
/// kind reads it, with errors naming the named kind's own `api_url`.
pub fn connection(document: &Value) -> Result<HttpConnection> {
    HttpConnection::parse(document)
        .map_err(|e| Error::new(e.state, e.message.replace("config.url", "config.api_url")))
}

/// A required `{"secret": …}` setting.
pub fn required_secret(field: &str, value: Option<&Value>, what: &str) -> Result<String> {
    match value {
        Some(value) => secret_reference(field, value),
        None => Err(Error::invalid(
            field,
            format!("is required: {{\"secret\": \"<name of the secret holding {what}>\"}}"),
        )),
    }
}

/// A name the API accepts (a property, a merge tag): checked by `allowed`
/// on each byte, refused naming the field and `what` it must be.
pub fn api_name(field: &str, name: &str, allowed: fn(u8) -> bool, what: &str) -> Result<()> {
    if !name.is_empty() && name.bytes().all(allowed) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("\"{name}\" is not {what}")))
    }
}

/// A model column a kind names inside its request templates
/// (`row["<column>"]`): one a Liquid string literal can hold.
pub fn template_column(field: &str, column: &str) -> Result<()> {
    api_name(
        field,
        column,
        |b| !b"\"{}%\\".contains(&b),
        "a column name a template can name (no quotes, braces, % or backslashes)",
    )
}

/// A required id setting of a sync (`audience`, `list_id`): present, and
/// every byte `allowed`; `example` completes "is required", `what` "must be".
pub fn required_id(
    config: &SyncConfig,
    key: &str,
    example: &str,
    allowed: fn(u8) -> bool,
    what: &str,
) -> Result<String> {
    let id = config
        .destination_string(key)?
        .ok_or_else(|| Error::invalid(key, format!("is required: {example}")))?;
    if id.is_empty() || !id.bytes().all(allowed) {
        return Err(Error::invalid(key, format!("must be {what}")));
    }
    Ok(id)
}

/// The fields a record carries, `match.to` then each mapping's `to`, each
/// checked by `check` (the API's naming rule); `match_to` says what
/// `match.to` must be, for the error when there is no match.
pub fn record_fields(
    config: &SyncConfig,
    match_to: &str,
    check: impl Fn(&str, &str) -> Result<()>,
) -> Result<Vec<String>> {
    let record_match = config.record_match.as_ref().ok_or_else(|| {
        Error::invalid(
            "match",
            format!("is required: {{\"from\": <model column>, \"to\": {match_to}}}"),
        )
    })?;
    check("match.to", &record_match.to)?;
    let mut fields = vec![record_match.to.clone()];
    for (index, mapping) in config.mappings.iter().enumerate() {
        check(&format!("mappings[{index}].to"), &mapping.to)?;
        fields.push(mapping.to.clone());
    }
    Ok(fields)
}

/// A batch size the API takes.
pub fn batch_at_most(config: &SyncConfig, most: i64, api: &str) -> Result<()> {
    if config.batch_size > most {
        return Err(Error::invalid(
            "batch_size",
            format!(
                "{api} takes at most {most} records per request, not {}",
                config.batch_size
            ),
        ));
    }
    Ok(())
}

/// The `requests_per_second` setting of a named kind: `default` when
/// absent, else a number from 0.01 to `most`.
pub fn requests_per_second(value: Option<&Value>, default: f64, most: f64) -> Result<f64> {
    match value {
        None => Ok(default),
        Some(value) => value
            .as_f64()
            .filter(|rps| (0.01..=most).contains(rps))
            .ok_or_else(|| {
                Error::invalid(
                    "config.requests_per_second",
                    format!("must be between 0.01 and {most}"),
                )
            }),
    }
}
