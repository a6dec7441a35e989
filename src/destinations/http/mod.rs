//! The `http` destination: any JSON/REST API or webhook. Requests are built
//! from Liquid templates, sent concurrently by plain threads (which never
//! call into PostgreSQL), retried with backoff, and split on rejection so a
//! bad record is isolated from its neighbours.

pub mod config;
pub mod deliver;
mod destination;
pub mod oauth;
pub mod request;
pub mod secrets;

use super::rows::OpRow;
use super::template::{self, Template};
use super::{
    BuildContext, Destination, DestinationKind, Support, EVENTS_INSERTED, LIST_ADD, LIST_REMOVE,
    RECORD_WRITES,
};
use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result};
use crate::plan::{ModelColumn, Op};
use crate::postgres::Identity;
use config::{HttpConnection, HttpRequests, RecordErrors, RequestSpec};
use pgrx::pg_sys;
use serde_json::{Map, Value};

pub use config::SYNC_KEYS;
pub use request::PreparedRequest;

/// This kind's rows of the support matrix.
pub const SUPPORT: &[Support] = &[
    RECORD_WRITES,
    // Every row of the model each run; rows leaving it are not acted on.
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::Archive],
        delete_behaviors: &[DeleteBehavior::Nothing],
    },
    EVENTS_INSERTED,
    LIST_ADD,
    LIST_REMOVE,
];

/// The `http` kind.
pub struct Http;

impl DestinationKind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn config_keys(&self) -> &'static [&'static str] {
        config::DESTINATION_KEYS
    }

    fn sync_keys(&self) -> &'static [&'static str] {
        SYNC_KEYS
    }

    fn check_config(&self, document: &Value, owner: pg_sys::Oid) -> Result<()> {
        let connection = HttpConnection::parse(document)?;
        config::check_host(
            "config.url",
            &connection.url,
            &crate::gucs::http_allowed_hosts(),
        )?;
        for (field, secret) in connection.secret_names() {
            secret_header_value(owner, &field, &secret)?;
        }
        Ok(())
    }

    fn secret_names(&self, config: &Value) -> Vec<String> {
        HttpConnection::parse(config)
            .map(|c| c.secret_names().into_iter().map(|(_, name)| name).collect())
            .unwrap_or_default()
    }

    fn support(&self) -> &'static [Support] {
        SUPPORT
    }

    /// Columns named in request templates are sent too (the config was
    /// checked by `build` first).
    fn sent_columns(&self, config: &SyncConfig, model_columns: &[ModelColumn]) -> Vec<String> {
        let requests =
            config::parse_requests(config.destination_keys.get("requests")).unwrap_or_default();
        let templates: Vec<&str> = [&requests.added, &requests.changed, &requests.removed]
            .into_iter()
            .flatten()
            .flat_map(RequestSpec::templates)
            .collect();
        super::columns_used(config, model_columns, &templates)
    }

    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>> {
        let connection = HttpConnection::parse(&context.destination.config)
            .map_err(|e| e.context(format!("destination \"{}\"", context.destination.name)))?;
        let mut destination = HttpDestination::new(
            connection,
            context.config,
            context.model_columns,
            context.sync_name,
        )?;
        destination.identity = context.identity.clone();
        destination.secrets_owner = context.destination.owner;
        Ok(Box::new(destination))
    }
}

/// One of `owner`'s secrets, as a header sends it: one whose value an HTTP
/// header cannot carry is refused by name, never quoted.
pub fn secret_header_value(owner: pg_sys::Oid, field: &str, name: &str) -> Result<String> {
    let value = crate::catalog::secret_value(owner, field, name)?;
    if !config::header_value_ok(&value) {
        return Err(Error::invalid(
            field,
            format!(
                "secret \"{name}\" holds a line break or another control character, which an HTTP header cannot carry; set it again without"
            ),
        ));
    }
    Ok(value)
}

/// A request template compiled for one kind of operation.
#[derive(Debug)]
pub struct CompiledRequest {
    pub method: String,
    pub path: Template,
    pub body: Option<Template>,
    field: String,
    pub lookup: Option<CompiledLookup>,
    pub then: Option<Box<CompiledRequest>>,
    /// Rows for which this renders empty are not sent (with the message).
    pub require: Option<(Template, String)>,
}

/// A lookup sent before a request, and how its answer is read.
#[derive(Debug)]
pub struct CompiledLookup {
    pub request: Box<CompiledRequest>,
    pub results: String,
    pub key: String,
    pub value: String,
    pub ignore_case: bool,
    pub not_found_is_done: bool,
}

impl CompiledRequest {
    fn compile(field: &str, spec: &RequestSpec) -> Result<CompiledRequest> {
        let lookup = match &spec.lookup {
            None => None,
            Some(lookup) => Some(CompiledLookup {
                request: Box::new(CompiledRequest::compile(
                    &format!("{field}.lookup"),
                    &lookup.request,
                )?),
                results: lookup.results.clone(),
                key: lookup.key.clone(),
                value: lookup.value.clone(),
                ignore_case: lookup.ignore_case,
                not_found_is_done: lookup.not_found_is_done,
            }),
        };
        Ok(CompiledRequest {
            method: spec.method.clone(),
            path: Template::parse(&format!("{field}.path"), &spec.path)?,
            body: spec
                .body
                .as_deref()
                .map(|b| Template::parse(&format!("{field}.body"), b))
                .transpose()?,
            field: field.to_string(),
            lookup,
            then: spec
                .then
                .as_deref()
                .map(|then| CompiledRequest::compile(&format!("{field}.then"), then))
                .transpose()?
                .map(Box::new),
            require: spec
                .require
                .as_ref()
                .map(|(template, message)| -> Result<(Template, String)> {
                    Ok((
                        Template::parse(&format!("{field}.require.template"), template)?,
                        message.clone(),
                    ))
                })
                .transpose()?,
        })
    }

    /// This request's step: the request itself, its lookup or its `then`.
    pub fn step(&self, step: Step) -> Option<&CompiledRequest> {
        match step {
            Step::Lookup => self.lookup.as_ref().map(|l| l.request.as_ref()),
            Step::Request => Some(self),
            Step::Then => self.then.as_deref(),
        }
    }

    /// Its templates and those of its lookup and `then`, by field.
    fn templates(&self) -> Vec<(String, &Template)> {
        let mut all = vec![(format!("{}.path", self.field), &self.path)];
        all.extend(
            self.body
                .iter()
                .map(|b| (format!("{}.body", self.field), b)),
        );
        for step in [Step::Lookup, Step::Then] {
            if let Some(request) = self.step(step) {
                all.extend(request.templates());
            }
        }
        all
    }
}

/// The requests one unit of rows goes through, in order: an optional
/// lookup, the request, an optional follow-up (`then`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Lookup,
    Request,
    Then,
}

impl Step {
    /// The step a unit starts with.
    pub fn first(request: &CompiledRequest) -> Step {
        if request.lookup.is_some() {
            Step::Lookup
        } else {
            Step::Request
        }
    }
}

#[derive(Debug)]
pub struct HttpDestination {
    pub connection: HttpConnection,
    /// Header values with secrets resolved (only at run time).
    pub resolved_headers: Vec<(String, String)>,
    pub sync_id: i64,
    pub sync_name: String,
    pub run_id: i64,
    pub mode: SyncMode,
    pub delete_behavior: DeleteBehavior,
    /// For list syncs, the list's name (`{{ list }}` in templates).
    pub list: Option<String>,
    pub batch_size: usize,
    pub match_from: Option<String>,
    pub match_to: Option<String>,
    pub mappings: Vec<(String, MappingValue)>,
    pub added: Option<CompiledRequest>,
    pub changed: Option<CompiledRequest>,
    pub removed: Option<CompiledRequest>,
    pub record_errors: Option<RecordErrors>,
    /// An advertising audience's matched size, asked after the run.
    pub audience_size: Option<(Template, String)>,
    pub allowed_hosts: String,
    /// Rows are read as the sync's owner.
    pub identity: Identity,
    /// Whose secrets the headers name: the destination's owner's.
    pub secrets_owner: pg_sys::Oid,
    /// The resolved secret values, scrubbed from errors and responses.
    pub secrets: secrets::Secrets,
    /// When the run's time limit runs out, and the stop it means: checked
    /// while waiting on the network too.
    pub deadline: Option<(std::time::Instant, Error)>,
    /// OAuth's current token, from start_run on (refreshed on a 401).
    pub oauth: std::cell::RefCell<Option<oauth::OAuthState>>,
    /// The sending threads, from start_run to the end of the run.
    dispatcher: Option<deliver::Dispatcher>,
    /// Batches submitted and not yet delivered (by first position).
    submitted: std::collections::HashSet<i64>,
    /// Rows of submitted batches that are not sent (too large to load, or
    /// without what `require` asks), rejected when their batch is
    /// delivered (by the batch's first position).
    unsendable: std::collections::HashMap<i64, Vec<crate::destinations::Rejection>>,
}

#[derive(Debug)]
pub enum MappingValue {
    Column(String),
    Static(Value),
    Template(Template),
}

impl HttpDestination {
    /// Parse and check everything that can be checked without sending: the
    /// connection, the requests each operation needs, templates (parsed and
    /// rendered once against the model's columns so unknown names fail now).
    pub fn new(
        connection: HttpConnection,
        config: &SyncConfig,
        model_columns: &[ModelColumn],
        sync_name: &str,
    ) -> Result<HttpDestination> {
        let requests: HttpRequests =
            config::parse_requests(config.destination_keys.get("requests"))?;
        let record_errors =
            config::parse_record_errors(config.destination_keys.get("record_errors"))?;
        let audience_size =
            config::parse_audience_size(config.destination_keys.get("audience_size"))?
                .map(|spec| -> Result<(Template, String)> {
                    Ok((
                        Template::parse("audience_size.path", &spec.path)?,
                        spec.count,
                    ))
                })
                .transpose()?;
        let compile = |key: &str, spec: &Option<RequestSpec>| -> Result<Option<CompiledRequest>> {
            spec.as_ref()
                .map(|s| CompiledRequest::compile(&format!("requests.{key}"), s))
                .transpose()
        };
        let column = |field: &str, name: &str| -> Result<String> {
            if model_columns.iter().any(|c| c.name == name) {
                Ok(name.to_string())
            } else {
                Err(Error::new(
                    crate::error::SqlState::UndefinedColumn,
                    format!("{field}: column \"{name}\" is not in the model's result"),
                ))
            }
        };
        let mut mappings = Vec::new();
        for (index, mapping) in config.mappings.iter().enumerate() {
            let field = format!("mappings[{index}]");
            let value = match &mapping.source {
                MappingSource::Column(name) => {
                    MappingValue::Column(column(&format!("{field}.from"), name)?)
                }
                MappingSource::Static(value) => MappingValue::Static(value.clone()),
                MappingSource::Template(text) => {
                    MappingValue::Template(Template::parse(&format!("{field}.template"), text)?)
                }
            };
            mappings.push((mapping.to.clone(), value));
        }
        let (match_from, match_to) = match &config.record_match {
            Some(m) => (Some(column("match.from", &m.from)?), Some(m.to.clone())),
            None => (None, None),
        };
        let list = config.destination_string("list")?;
        match (config.sync_type, &list) {
            (crate::config::SyncType::List, None) => {
                return Err(Error::invalid(
                    "list",
                    "is required for list syncs: the name of the list, e.g. \"vip\"",
                ))
            }
            (crate::config::SyncType::List, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(Error::invalid(
                    "list",
                    "is only for list syncs (type \"list\")",
                ))
            }
        }
        let destination = HttpDestination {
            list,
            connection,
            resolved_headers: Vec::new(),
            sync_id: 0,
            sync_name: sync_name.to_string(),
            run_id: 0,
            mode: config.mode,
            delete_behavior: config.delete_behavior,
            batch_size: config.batch_size as usize,
            match_from,
            match_to,
            mappings,
            added: compile("added", &requests.added)?,
            changed: compile("changed", &requests.changed)?,
            removed: compile("removed", &requests.removed)?,
            record_errors,
            audience_size,
            allowed_hosts: String::new(),
            identity: Identity {
                role: pg_sys::Oid::INVALID,
                search_path: String::new(),
            },
            secrets_owner: pg_sys::Oid::INVALID,
            secrets: Default::default(),
            deadline: None,
            oauth: std::cell::RefCell::new(None),
            dispatcher: None,
            submitted: Default::default(),
            unsendable: Default::default(),
        };
        for op in Op::DELIVERY_ORDER {
            if destination.sends(op) && destination.request_for(op).is_none() {
                let needed = match op {
                    Op::Removed if destination.delete_behavior == DeleteBehavior::Delete => {
                        "requests.removed"
                    }
                    Op::Removed | Op::Changed => "requests.changed (or requests.added)",
                    Op::Added if destination.mode == SyncMode::Update => {
                        "requests.changed (or requests.added)"
                    }
                    Op::Added => "requests.added",
                };
                return Err(Error::invalid(
                    needed.split(' ').next().unwrap_or("requests"),
                    format!(
                        "is required: mode \"{}\" with delete behavior \"{}\" sends {} rows",
                        destination.mode,
                        destination.delete_behavior,
                        op.as_str()
                    ),
                ));
            }
        }
        // A template may read only the model's columns from `row`.
        let templates = destination
            .mappings
            .iter()
            .enumerate()
            .filter_map(|(index, (_, value))| match value {
                MappingValue::Template(t) => Some((format!("mappings[{index}].template"), t)),
                _ => None,
            })
            .chain(
                [
                    &destination.added,
                    &destination.changed,
                    &destination.removed,
                ]
                .into_iter()
                .flatten()
                .flat_map(CompiledRequest::templates),
            );
        for (field, template) in templates {
            for name in template::row_references(template.source()) {
                if !model_columns.iter().any(|c| c.name == name) {
                    return Err(Error::new(
                        crate::error::SqlState::UndefinedColumn,
                        format!("{field}: the template reads row.{name}, but the model has no column \"{name}\""),
                    )
                    .with_hint(format!(
                        "the model returns: {}",
                        model_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        // Render every template once with every model column present (as
        // null): anything else that cannot render fails here, not mid-run.
        let sample_row: Map<String, Value> = model_columns
            .iter()
            .map(|c| (c.name.clone(), Value::Null))
            .collect();
        for op in Op::DELIVERY_ORDER {
            if destination.request_for(op).is_none() {
                continue;
            }
            let rows = vec![OpRow {
                pos: 1,
                op,
                row_id: "1".into(),
                row_hash: Some(0),
                match_key: None,
                fields: sample_row.clone(),
            }];
            if let Some((template, _)) =
                destination.request_for(op).and_then(|r| r.require.as_ref())
            {
                let context =
                    serde_json::json!({"row": sample_row, "row_id": "1", "op": op.as_str()});
                template.render("require.template", &context)?;
            }
            for step in [Step::Lookup, Step::Request, Step::Then] {
                if destination
                    .request_for(op)
                    .and_then(|r| r.step(step))
                    .is_some()
                {
                    // What a lookup found is there (as null) after it.
                    let found = if step == Step::Lookup {
                        Vec::new()
                    } else {
                        vec![Value::Null]
                    };
                    let rendered = destination.prepare_step(
                        &rows,
                        "http://127.0.0.1",
                        step,
                        &found,
                        &Value::Null,
                    );
                    match rendered {
                        // A `then` may read the request's answer, which
                        // only the API can give: errors reading it show at
                        // run time, rejecting the row.
                        Err(error)
                            if step == Step::Then && error.message.contains("variable=answer") => {}
                        other => {
                            other?;
                        }
                    }
                }
            }
        }
        if let Some((path, _)) = &destination.audience_size {
            path.render(
                "audience_size.path",
                &serde_json::json!({"run": destination.run_context(), "list": destination.list}),
            )?;
        }
        Ok(destination)
    }

    /// Whether this sync sends operations of this kind at all.
    pub fn sends(&self, op: Op) -> bool {
        match op {
            Op::Added => true,
            Op::Changed => !matches!(
                self.mode,
                SyncMode::Insert | SyncMode::Add | SyncMode::Remove
            ),
            Op::Removed => {
                self.mode != SyncMode::Remove && self.delete_behavior != DeleteBehavior::Nothing
            }
        }
    }

    pub fn request_for(&self, op: Op) -> Option<&CompiledRequest> {
        match (op, self.mode, self.delete_behavior) {
            // List mode remove: rows in the model leave the list.
            (Op::Added, SyncMode::Remove, _) => self.removed.as_ref(),
            // Archive: every row of the model, each run, with one request.
            (Op::Added | Op::Changed, SyncMode::Archive, _) => self.added.as_ref(),
            (Op::Removed, _, DeleteBehavior::Delete) => self.removed.as_ref(),
            (Op::Removed, _, _) => self.changed.as_ref().or(self.added.as_ref()),
            (Op::Changed, _, _) | (Op::Added, SyncMode::Update, _) => {
                self.changed.as_ref().or(self.added.as_ref())
            }
            (Op::Added, _, _) => self.added.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn columns() -> Vec<ModelColumn> {
        ["id", "email", "plan"]
            .iter()
            .map(|n| ModelColumn {
                name: n.to_string(),
                type_sql: "text".into(),
                hashable: true,
                type_oid: 0,
            })
            .collect()
    }

    fn destination(sync: Value) -> Result<HttpDestination> {
        let connection = HttpConnection::parse(&json!({"url": "http://127.0.0.1:9"})).unwrap();
        let config = SyncConfig::parse(&sync, SYNC_KEYS)?;
        HttpDestination::new(connection, &config, &columns(), "s")
    }

    fn row(op: Op, email: &str) -> OpRow {
        let mut row = Map::new();
        row.insert("email".into(), json!(email));
        row.insert("plan".into(), json!("pro"));
        OpRow {
            pos: 1,
            op,
            row_id: email.into(),
            row_hash: Some(7),
            match_key: Some(email.into()),
            fields: row,
        }
    }

    #[test]
    fn per_row_requests_carry_the_record_and_an_idempotency_key() {
        let d = destination(json!({"mode": "upsert", "batch_size": 1, "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}, {"static": "dwh", "to": "source"}],
            "requests": {"added": {"method": "POST", "path": "/contacts"}, "changed": {"method": "PATCH", "path": "/contacts/{{ row.email }}"}}}))
        .unwrap();
        let added = d.prepare(&[row(Op::Added, "a@x.io")], "http://h").unwrap();
        assert_eq!(added.url, "http://h/contacts");
        assert_eq!(
            added.body.as_deref(),
            Some(r#"{"email":"a@x.io","plan_name":"pro","source":"dwh"}"#)
        );
        let key = added
            .headers
            .iter()
            .find(|(n, _)| n == "Idempotency-Key")
            .unwrap()
            .1
            .clone();
        assert_eq!(
            key,
            d.prepare(&[row(Op::Added, "a@x.io")], "http://h")
                .unwrap()
                .headers
                .iter()
                .find(|(n, _)| n == "Idempotency-Key")
                .unwrap()
                .1
        );
        let changed = d
            .prepare(&[row(Op::Changed, "a@x.io")], "http://h")
            .unwrap();
        assert_eq!(
            (changed.method.as_str(), changed.url.as_str()),
            ("PATCH", "http://h/contacts/a@x.io")
        );
    }

    #[test]
    fn batches_send_records_with_their_keys() {
        let d = destination(
            json!({"mode": "upsert", "batch_size": 10, "match": {"from": "email", "to": "email"},
            "requests": {"added": {"method": "POST", "path": "/contacts/batch"}}}),
        )
        .unwrap();
        let request = d
            .prepare(
                &[row(Op::Added, "a@x.io"), row(Op::Added, "b@x.io")],
                "http://h",
            )
            .unwrap();
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["records"].as_array().unwrap().len(), 2);
        assert!(body["records"][0]["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("0-"));
    }

    #[test]
    fn clear_sends_nulls_and_templates_render() {
        let d = destination(
            json!({"mode": "upsert", "batch_size": 1, "delete_behavior": "clear", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}],
            "requests": {"added": {"method": "PUT", "path": "/contacts/{{ row.email }}", "body": "{\"p\": {{ record.plan_name | json }}}"}}}),
        );
        // The json filter places any value as valid JSON.
        let d = d.unwrap();
        let mut tricky = row(Op::Added, "a@x.io");
        tricky
            .fields
            .insert("plan".into(), json!("say \"hi\"\nto \\ \u{1F600}"));
        let request = d.prepare(&[tricky], "http://h").unwrap();
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"p": "say \"hi\"\nto \\ \u{1F600}"}));
        let mut exact = row(Op::Added, "a@x.io");
        exact
            .fields
            .insert("plan".into(), serde_json::from_str("1.50").unwrap());
        let request = d.prepare(&[exact], "http://h").unwrap();
        assert_eq!(request.body.as_deref(), Some(r#"{"p": 1.50}"#));
        let d = destination(json!({"mode": "upsert", "batch_size": 1, "delete_behavior": "clear", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}],
            "requests": {"added": {"method": "PUT", "path": "/contacts/{{ row.email }}"}}})).unwrap();
        let mut removed = row(Op::Removed, "a@x.io");
        removed.fields.remove("plan");
        let request = d.prepare(&[removed], "http://h").unwrap();
        assert_eq!(
            request.body.as_deref(),
            Some(r#"{"email":"a@x.io","plan_name":null}"#)
        );
    }

    #[test]
    fn missing_requests_and_unknown_columns_are_refused() {
        let e = destination(json!({"mode": "upsert", "delete_behavior": "delete", "match": {"from": "email", "to": "email"},
            "requests": {"added": {"method": "POST", "path": "/c"}}})).unwrap_err();
        assert!(
            e.message.starts_with("requests.removed: is required"),
            "{}",
            e.message
        );
        let e = destination(json!({"mode": "upsert", "requests": {"added": {"method": "POST", "path": "/c/{{ row.nope }}"}}})).unwrap_err();
        assert_eq!(
            e.message,
            "requests.added.path: the template reads row.nope, but the model has no column \"nope\""
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("the model returns: id, email, plan")
        );
        let e = destination(json!({"mode": "upsert", "requests": {"added": {"method": "POST", "path": "/c/{{ row.email "}}})).unwrap_err();
        assert!(
            e.message
                .starts_with("requests.added.path: template does not parse"),
            "{}",
            e.message
        );
    }
}
