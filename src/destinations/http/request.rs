//! Building a request for a unit of operations: the record of each row,
//! the templates rendered, the idempotency keys.

use super::config::HeaderValue;
use super::{HttpDestination, MappingValue, Step};
use crate::destinations::rows::OpRow;
use crate::error::{Error, Result};
use crate::plan::Op;
use serde_json::{json, Map, Value};

/// A ready-to-send request.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpDestination {
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
                row.fields.get(from).cloned().unwrap_or(Value::Null),
            );
        }
        let clearing = row.op == Op::Removed;
        for (index, (to, value)) in self.mappings.iter().enumerate() {
            let value = if clearing {
                Value::Null
            } else {
                match value {
                    MappingValue::Column(name) => {
                        row.fields.get(name).cloned().unwrap_or(Value::Null)
                    }
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
        self.prepare_step(rows, base_url, Step::Request, &[], &Value::Null)
    }

    /// Build one step's request for a unit of rows. `found` holds what the
    /// unit's lookup found for each row, in order (empty before it ran):
    /// templates read it as `found` (one row) or `found[forloop.index0]`.
    /// `answer` is the request's answer, for its `then` (`answer.tags`).
    pub fn prepare_step(
        &self,
        rows: &[OpRow],
        base_url: &str,
        step: Step,
        found: &[Value],
        answer: &Value,
    ) -> Result<PreparedRequest> {
        let op = rows[0].op;
        let request = self
            .request_for(op)
            .and_then(|request| request.step(step))
            .ok_or_else(|| {
                Error::invalid(
                    "requests",
                    format!("no request is configured for {} rows", op.as_str()),
                )
            })?;
        let run = self.run_context();
        let mut headers = self.headers();
        let (context, default_body) = if self.batch_size <= 1 {
            let row = &rows[0];
            let key = self.idempotency_key(row);
            let base = json!({"row": row.fields, "row_id": row.row_id, "op": op.as_str(), "run": run, "list": self.list, "idempotency_key": key});
            let record = self.record(row, &base)?;
            headers.push(("Idempotency-Key".into(), key));
            let mut context = base;
            context["record"] = Value::Object(record.clone());
            context["found"] = found.first().cloned().unwrap_or(Value::Null);
            context["answer"] = answer.clone();
            (context, Value::Object(record))
        } else {
            let mut records = Vec::with_capacity(rows.len());
            let mut keys = Vec::with_capacity(rows.len());
            for row in rows {
                let key = self.idempotency_key(row);
                let base = json!({"row": row.fields, "row_id": row.row_id, "op": op.as_str(), "run": run, "idempotency_key": key});
                let mut record = self.record(row, &base)?;
                record.insert("idempotency_key".into(), Value::String(key.clone()));
                keys.push(key);
                records.push(Value::Object(record));
            }
            let batch_key = format!("{}-{:016x}", self.sync_id, fnv1a(keys.join(",").as_bytes()));
            headers.push(("Idempotency-Key".into(), batch_key.clone()));
            let context = json!({
                "records": records,
                "rows": rows.iter().map(|r| Value::Object(r.fields.clone())).collect::<Vec<_>>(),
                "op": op.as_str(), "run": run, "list": self.list, "idempotency_key": batch_key,
                "found": found, "answer": answer,
            });
            (context, json!({"records": records}))
        };
        // Each step is its own request to the API: an API that honours
        // the key must not take a lookup or a `then` for the request.
        let suffix = match step {
            Step::Lookup => "-lookup",
            Step::Request => "",
            Step::Then => "-then",
        };
        if let Some((_, key)) = headers.iter_mut().find(|(n, _)| n == "Idempotency-Key") {
            key.push_str(suffix);
        }
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

    /// Why a row cannot be sent (its request's `require` renders empty),
    /// or None.
    pub fn missing_requirement(&self, row: &OpRow) -> Option<String> {
        let (template, message) = self
            .request_for(row.op)
            .and_then(|request| request.require.as_ref())?;
        let context = json!({"row": row.fields, "row_id": row.row_id, "op": row.op.as_str()});
        match template.render("require.template", &context) {
            Ok(rendered) if rendered.trim().is_empty() => Some(format!("not sent: {message}")),
            Ok(_) => None,
            Err(error) => Some(format!("not sent: {}", error.message)),
        }
    }

    /// What templates know of the run (`run.id`, `run.sync`, `run.list`).
    pub fn run_context(&self) -> Value {
        json!({"id": self.run_id, "sync_id": self.sync_id, "sync": self.sync_name, "list": self.list})
    }

    /// The headers every request carries: the configured ones (secrets
    /// resolved) and OAuth's current token.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = self.resolved_headers.clone();
        if let Some(oauth) = self.oauth.borrow().as_ref() {
            headers.push((
                "Authorization".into(),
                format!("Bearer {}", oauth.access_token),
            ));
        }
        headers
    }

    /// Where requests go: the URL an OAuth token answer named, else `url`.
    pub fn base_url(&self) -> String {
        self.oauth
            .borrow()
            .as_ref()
            .and_then(|oauth| oauth.base_url.clone())
            .unwrap_or_else(|| {
                self.connection
                    .url
                    .as_str()
                    .trim_end_matches('/')
                    .to_string()
            })
    }

    /// How many OAuth tokens this run asked for (0 without OAuth).
    pub fn token_generation(&self) -> u64 {
        self.oauth.borrow().as_ref().map_or(0, |o| o.generation)
    }

    /// Ask for a new access token (once for every request that was sent
    /// with the current one).
    pub fn refresh_token(&self, sent_with: u64) -> Result<()> {
        let mut oauth = self.oauth.borrow_mut();
        let Some(oauth) = oauth.as_mut() else {
            return Ok(());
        };
        if oauth.generation != sent_with {
            return Ok(()); // already refreshed since
        }
        let agent = self.agent().build();
        oauth.refresh(&agent, &self.allowed_hosts)?;
        // The sending threads mask the new token too.
        self.secrets.add(vec![oauth.access_token.clone()]);
        Ok(())
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
                        HeaderValue::Secret {
                            name,
                            prefix,
                            basic_user,
                        } => header_with_secret(prefix, basic_user.as_deref(), &lookup(name)?),
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(())
    }
}

/// A header's value around a secret: `prefix` + secret, or Basic
/// authentication with the secret as the password.
pub fn header_with_secret(prefix: &str, basic_user: Option<&str>, secret: &str) -> String {
    use base64::Engine;
    match basic_user {
        Some(user) => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
        ),
        None => format!("{prefix}{secret}"),
    }
}

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
