//! The `http` destination: any JSON/REST API or webhook. Requests are built
//! from Liquid templates, sent concurrently by plain threads (which never
//! call into PostgreSQL), retried with backoff, and split on rejection so a
//! bad record is isolated from its neighbours.

pub mod config;
pub mod deliver;
pub mod template;

use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode};
use crate::engine::plan::{ModelColumn, Op};
use crate::error::{Error, Result};
use config::{HeaderValue, HttpConnection, HttpRequests, RecordErrors, RequestSpec};
use serde_json::{json, Map, Value};
use template::Template;

pub use config::SYNC_KEYS;

/// A request template compiled for one kind of operation.
#[derive(Debug)]
pub struct CompiledRequest {
    pub method: String,
    pub path: Template,
    pub body: Option<Template>,
    field: String,
}

impl CompiledRequest {
    fn compile(field: &str, spec: &RequestSpec) -> Result<CompiledRequest> {
        Ok(CompiledRequest {
            method: spec.method.clone(),
            path: Template::parse(&format!("{field}.path"), &spec.path)?,
            body: spec
                .body
                .as_deref()
                .map(|b| Template::parse(&format!("{field}.body"), b))
                .transpose()?,
            field: field.to_string(),
        })
    }
}

/// One operation as the engine hands it over: its position, kind, row id
/// and hash, and the model's values (only the match value for removals).
#[derive(Debug, Clone)]
pub struct OpRow {
    pub pos: i64,
    pub op: Op,
    pub row_id: String,
    pub row_hash: Option<i64>,
    pub row: Map<String, Value>,
}

/// A ready-to-send request.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
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
    pub allowed_hosts: String,
    /// The sending threads, from start_run to the end of the run.
    dispatcher: Option<deliver::Dispatcher>,
    /// Batches submitted and not yet delivered (by first position).
    submitted: std::collections::HashSet<i64>,
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
            allowed_hosts: String::new(),
            dispatcher: None,
            submitted: Default::default(),
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
        // Render every template once with every model column present (as
        // null): a name that is not a column fails here, not mid-run.
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
                row: sample_row.clone(),
            }];
            destination.prepare(&rows, "http://127.0.0.1")?;
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

    fn request_for(&self, op: Op) -> Option<&CompiledRequest> {
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

    /// A stable key per (sync, row, content): a destination that sees the
    /// same key twice (a re-send after a crash) can drop the repeat.
    pub fn idempotency_key(&self, row: &OpRow) -> String {
        let content = format!(
            "{}:{}:{}:{}",
            self.sync_id,
            row.op.as_str(),
            row.row_id,
            row.row_hash.map(|h| h.to_string()).unwrap_or_default()
        );
        format!("{}-{:016x}", self.sync_id, fnv1a(content.as_bytes()))
    }

    /// The destination fields of one row: the match value under match.to,
    /// then the mappings. A cleared row sends NULL for every mapped field.
    fn record(&self, row: &OpRow, context: &Value) -> Result<Map<String, Value>> {
        let mut record = Map::new();
        if let (Some(from), Some(to)) = (&self.match_from, &self.match_to) {
            record.insert(
                to.clone(),
                row.row.get(from).cloned().unwrap_or(Value::Null),
            );
        }
        let clearing = row.op == Op::Removed;
        for (index, (to, value)) in self.mappings.iter().enumerate() {
            let value = if clearing {
                Value::Null
            } else {
                match value {
                    MappingValue::Column(name) => row.row.get(name).cloned().unwrap_or(Value::Null),
                    MappingValue::Static(v) => v.clone(),
                    MappingValue::Template(t) => {
                        Value::String(t.render(&format!("mappings[{index}].template"), context)?)
                    }
                }
            };
            record.insert(to.clone(), value);
        }
        Ok(record)
    }

    /// Build the request for a unit of rows (all of one kind): one row per
    /// request when batch_size is 1, else one request for the whole unit.
    pub fn prepare(&self, rows: &[OpRow], base_url: &str) -> Result<PreparedRequest> {
        let op = rows[0].op;
        let request = self.request_for(op).ok_or_else(|| {
            Error::invalid(
                "requests",
                format!("no request is configured for {} rows", op.as_str()),
            )
        })?;
        let run = json!({"id": self.run_id, "sync_id": self.sync_id, "sync": self.sync_name, "list": self.list});
        let mut headers = self.resolved_headers.clone();
        let (context, default_body) = if self.batch_size <= 1 {
            let row = &rows[0];
            let key = self.idempotency_key(row);
            let base = json!({"row": row.row, "row_id": row.row_id, "op": op.as_str(), "run": run, "list": self.list, "idempotency_key": key});
            let record = self.record(row, &base)?;
            headers.push(("Idempotency-Key".into(), key));
            let mut context = base;
            context["record"] = Value::Object(record.clone());
            (context, Value::Object(record))
        } else {
            let mut records = Vec::with_capacity(rows.len());
            let mut keys = Vec::with_capacity(rows.len());
            for row in rows {
                let key = self.idempotency_key(row);
                let base = json!({"row": row.row, "row_id": row.row_id, "op": op.as_str(), "run": run, "idempotency_key": key});
                let mut record = self.record(row, &base)?;
                record.insert("idempotency_key".into(), Value::String(key.clone()));
                keys.push(key);
                records.push(Value::Object(record));
            }
            let batch_key = format!("{}-{:016x}", self.sync_id, fnv1a(keys.join(",").as_bytes()));
            headers.push(("Idempotency-Key".into(), batch_key.clone()));
            let context = json!({
                "records": records,
                "rows": rows.iter().map(|r| Value::Object(r.row.clone())).collect::<Vec<_>>(),
                "op": op.as_str(), "run": run, "list": self.list, "idempotency_key": batch_key,
            });
            (context, json!({"records": records}))
        };
        let path = request
            .path
            .render(&format!("{}.path", request.field), &context)?;
        let body = match (&request.body, request.method.as_str()) {
            (Some(template), _) => {
                Some(template.render(&format!("{}.body", request.field), &context)?)
            }
            (None, "GET") => None,
            (None, "DELETE") if self.batch_size <= 1 => None,
            (None, _) => Some(default_body.to_string()),
        };
        if body.is_some()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        Ok(PreparedRequest {
            method: request.method.clone(),
            url: format!("{}{}", base_url.trim_end_matches('/'), path),
            headers,
            body,
        })
    }

    pub fn resolve_secrets(&mut self, lookup: impl Fn(&str) -> Result<String>) -> Result<()> {
        self.resolved_headers = self
            .connection
            .headers
            .iter()
            .map(|(name, value)| {
                Ok((
                    name.clone(),
                    match value {
                        HeaderValue::Plain(v) => v.clone(),
                        HeaderValue::Secret(secret) => lookup(secret)?,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(())
    }
}

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The engine side: load a window of operations from the run's ops table,
/// send them, report what became of each.
impl crate::destinations::Destination for HttpDestination {
    fn mirror_removals(&self, _plan: &crate::engine::plan::RunPlan) -> Option<String> {
        None
    }

    fn start_run(&mut self, run_id: i64, sync_id: i64) -> Result<()> {
        self.run_id = run_id;
        self.sync_id = sync_id;
        self.allowed_hosts = crate::gucs::http_allowed_hosts();
        config::check_host("config.url", &self.connection.url, &self.allowed_hosts)?;
        let names = self.connection.secret_names();
        self.resolve_secrets(|secret| {
            let field = names
                .iter()
                .find(|(_, name)| name == secret)
                .map(|(field, _)| field.as_str())
                .unwrap_or("config.headers");
            crate::catalog::secret_value(field, secret)
        })?;
        let agent = ureq::AgentBuilder::new()
            .timeout(self.connection.timeout)
            .redirects(0)
            .max_idle_connections_per_host(self.connection.concurrency * 2)
            .build();
        self.dispatcher = Some(deliver::Dispatcher::new(agent, self.connection.concurrency));
        Ok(())
    }

    fn rows_per_transaction(&self, batch_size: i64) -> i64 {
        // Several rounds of `concurrency` requests per transaction, so the
        // threads stay busy while a window is recorded only once.
        batch_size * self.connection.concurrency as i64 * 4
    }

    fn submit(&mut self, batch: &crate::destinations::Batch) -> Result<()> {
        if !self.submitted.insert(batch.after) || !self.sends(batch.op) {
            return Ok(());
        }
        let rows = self.load(batch)?;
        let units: Vec<Vec<OpRow>> = rows
            .chunks(self.batch_size.max(1))
            .map(<[OpRow]>::to_vec)
            .collect();
        self.dispatcher
            .as_mut()
            .ok_or_else(|| {
                Error::new(
                    crate::error::SqlState::InternalError,
                    "http destination used before start_run",
                )
            })?
            .submit(batch.after as u64, units);
        Ok(())
    }

    fn test_row(
        &mut self,
        _plan: &crate::engine::plan::RunPlan,
        row: &crate::destinations::TestRow,
        dry_run: bool,
    ) -> Result<Value> {
        let op_row = OpRow {
            pos: 1,
            op: row.op,
            row_id: row.row_id.clone(),
            row_hash: None,
            row: row.fields.clone(),
        };
        if !self.sends(row.op) {
            return Ok(json!({"requests": [], "responses": [],
                "note": format!("nothing is sent for {} rows with mode \"{}\" and delete behavior \"{}\"", row.op.as_str(), self.mode, self.delete_behavior)}));
        }
        let request = self.prepare(
            &[op_row],
            self.connection.url.as_str().trim_end_matches('/'),
        )?;
        let secret_headers: Vec<&str> = self
            .connection
            .headers
            .iter()
            .filter(|(_, v)| matches!(v, HeaderValue::Secret(_)))
            .map(|(n, _)| n.as_str())
            .collect();
        let shown_headers: Map<String, Value> = request
            .headers
            .iter()
            .map(|(n, v)| {
                let value = if secret_headers.iter().any(|s| s.eq_ignore_ascii_case(n)) {
                    "********".to_string()
                } else {
                    v.clone()
                };
                (n.clone(), Value::String(value))
            })
            .collect();
        let shown = json!({"method": request.method, "url": request.url, "headers": shown_headers,
                           "body": request.body.as_deref().map(|b| serde_json::from_str::<Value>(b).unwrap_or(Value::String(b.to_string())))});
        if dry_run {
            return Ok(json!({"requests": [shown], "responses": []}));
        }
        let host = url::Url::parse(&request.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if !config::host_allowed(&host, &self.allowed_hosts) {
            return Err(Error::new(
                crate::error::SqlState::InsufficientPrivilege,
                format!(
                    "request url {} is not on reverse_etl.http_allowed_hosts",
                    request.url
                ),
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(self.connection.timeout)
            .redirects(0)
            .build();
        let response = match deliver::execute(&agent, &request) {
            deliver::Reply::Status { code, body, .. } => {
                json!({"status": code, "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body))})
            }
            deliver::Reply::Transport(error) => json!({"error": error}),
            deliver::Reply::NotSent => json!({"error": "not sent"}),
        };
        Ok(json!({"requests": [shown], "responses": [response]}))
    }

    fn cancel(&mut self, reason: &Error) -> bool {
        match self.dispatcher.as_mut() {
            Some(dispatcher) => {
                dispatcher.halt_with(reason.clone());
                true
            }
            None => false,
        }
    }

    fn deliver(
        &mut self,
        batch: &crate::destinations::Batch,
    ) -> Result<crate::destinations::BatchOutcome> {
        use crate::postgres::spi;
        self.submit(batch)?;
        self.submitted.remove(&batch.after);
        if !self.sends(batch.op) {
            return Ok(crate::destinations::BatchOutcome::default());
        }
        // The rate limit is shared by every run sending to this destination.
        let share: i64 = spi::one(
            "SELECT count(*) FROM reverse_etl.sync_runs r JOIN reverse_etl.syncs s ON s.id = r.sync_id \
             WHERE s.destination_id = (SELECT destination_id FROM reverse_etl.syncs WHERE id = $1) \
               AND r.status = 'in_progress'",
            &[self.sync_id.into()],
        )?
        .unwrap_or(1)
        .max(1);
        let rate = self
            .connection
            .requests_per_second
            .map(|rps| rps / share as f64);
        let interrupted = || {
            // SAFETY: reading and clearing this backend's interrupt flags from
            // its own (main) thread. The run honours the request itself: it
            // stops sending, records what was sent, and ends incomplete.
            unsafe {
                let pending =
                    pgrx::pg_sys::QueryCancelPending != 0 || pgrx::pg_sys::ProcDiePending != 0;
                if pending {
                    pgrx::pg_sys::QueryCancelPending = 0;
                    pgrx::pg_sys::ProcDiePending = 0;
                }
                pending
            }
        };
        let mut dispatcher = self.dispatcher.take().ok_or_else(|| {
            Error::new(
                crate::error::SqlState::InternalError,
                "http destination used before start_run",
            )
        })?;
        let outcome = dispatcher.wait(self, batch.after as u64, rate, &interrupted);
        self.dispatcher = Some(dispatcher);
        outcome
    }
}

impl HttpDestination {
    /// A batch's operations from the run's ops table, with the model's values.
    fn load(&self, batch: &crate::destinations::Batch) -> Result<Vec<OpRow>> {
        use crate::postgres::spi;
        let plan = batch.plan;
        let match_from = self.match_from.clone();
        spi::rows(
            &format!(
                "SELECT o.pos, o.row_id, o.row_hash, o.match_key, {} FROM {} o \
                 WHERE o.pos > $1 AND o.pos <= $2 ORDER BY o.pos",
                plan.fields_json_text("o"),
                plan.ops_table
            ),
            &[batch.after.into(), batch.upto.into()],
            |row| {
                let text: String = spi::get(row, 5)?;
                let mut values = match serde_json::from_str(&text) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                if batch.op == Op::Removed {
                    // A removed row is gone from the model: only its match value is known.
                    values = Map::new();
                    if let Some(from) = &match_from {
                        values.insert(
                            from.clone(),
                            row.get::<String>(4)?
                                .map(Value::String)
                                .unwrap_or(Value::Null),
                        );
                    }
                }
                Ok(OpRow {
                    pos: spi::get(row, 1)?,
                    op: batch.op,
                    row_id: spi::get(row, 2)?,
                    row_hash: row.get::<i64>(3)?,
                    row: values,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<ModelColumn> {
        ["id", "email", "plan"]
            .iter()
            .map(|n| ModelColumn {
                name: n.to_string(),
                type_sql: "text".into(),
                hashable: true,
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
            row,
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
        // liquid has no json filter: a clear error naming the field
        let e = d.unwrap_err();
        assert!(
            e.message.starts_with("requests.added.body: template"),
            "{}",
            e.message
        );
        let d = destination(json!({"mode": "upsert", "batch_size": 1, "delete_behavior": "clear", "match": {"from": "email", "to": "email"},
            "mappings": [{"from": "plan", "to": "plan_name"}],
            "requests": {"added": {"method": "PUT", "path": "/contacts/{{ row.email }}"}}})).unwrap();
        let mut removed = row(Op::Removed, "a@x.io");
        removed.row.remove("plan");
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
        assert!(
            e.message
                .starts_with("requests.added.path: template failed"),
            "{}",
            e.message
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
