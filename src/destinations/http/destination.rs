//! The engine side of the http destination: load a window of operations
//! from the run's ops table, hand it to the sending threads, report what
//! became of each.

use super::config::{self, HeaderValue};
use super::secrets::{guarded_resolver, Secrets};
use super::{deliver, HttpDestination};
use crate::destinations::rows::{self, OpRow};
use crate::destinations::{Batch, BatchOutcome, Destination, TestRow};
use crate::error::{Error, Result, SqlState};
use crate::plan::RunPlan;
use serde_json::{json, Map, Value};

impl Destination for HttpDestination {
    fn mirror_removals(&self, _plan: &RunPlan) -> Option<String> {
        None
    }

    fn start_run(&mut self, run_id: i64, sync_id: i64) -> Result<()> {
        self.run_id = run_id;
        self.sync_id = sync_id;
        self.allowed_hosts = crate::gucs::http_allowed_hosts();
        config::check_host("config.url", &self.connection.url, &self.allowed_hosts)?;
        // The destination's owner's secrets, checked again at every run.
        let owner = self.secrets_owner;
        let names = self.connection.secret_names();
        let raw = std::cell::RefCell::new(Vec::new());
        self.resolve_secrets(|secret| {
            let field = names
                .iter()
                .find(|(_, name)| name == secret)
                .map(|(field, _)| field.as_str())
                .unwrap_or("config.headers");
            let value = super::secret_header_value(owner, field, secret)?;
            raw.borrow_mut().push(value.clone());
            Ok(value)
        })?;
        // OAuth: the first access token, asked for now.
        if let Some(settings) = self.connection.oauth.clone() {
            let client_secret = crate::catalog::secret_value(
                owner,
                "config.oauth.client_secret",
                &settings.client_secret,
            )?;
            let refresh_token = crate::catalog::secret_value(
                owner,
                "config.oauth.refresh_token",
                &settings.refresh_token,
            )?;
            let mut state = super::oauth::OAuthState::new(settings, client_secret, refresh_token);
            state.refresh(&self.agent().build(), &self.allowed_hosts)?;
            raw.borrow_mut().extend(state.secret_values());
            *self.oauth.borrow_mut() = Some(state);
        }
        // Scrubbed wherever they could appear: each secret, and each header
        // made from one (a Basic authentication's encoding).
        let mut values = raw.into_inner();
        values.extend(
            self.resolved_headers
                .iter()
                .zip(&self.connection.headers)
                .filter(|(_, (_, value))| matches!(value, HeaderValue::Secret { .. }))
                .flat_map(|((_, resolved), _)| {
                    // "Basic <credential>": the credential alone too.
                    let credential = resolved.strip_prefix("Basic ").map(str::to_string);
                    std::iter::once(resolved.clone()).chain(credential)
                }),
        );
        self.secrets = Secrets::new(values);
        let agent = self
            .agent()
            .max_idle_connections_per_host(self.connection.concurrency * 2);
        self.dispatcher = Some(deliver::Dispatcher::new(
            agent.build(),
            self.connection.concurrency,
            self.secrets.clone(),
        ));
        Ok(())
    }

    fn rows_per_transaction(&self, batch_size: i64) -> i64 {
        // Several rounds of `concurrency` requests per transaction, so the
        // threads stay busy while a window is recorded only once; the window
        // being delivered and the next one stay within the memory bound.
        let rounds = batch_size.saturating_mul(self.connection.concurrency as i64 * 4);
        rounds.min(crate::gucs::in_flight().rows / 2).max(1)
    }

    fn bytes_per_transaction(&self) -> Option<i64> {
        Some(crate::gucs::in_flight().bytes / 2)
    }

    fn submit(&mut self, batch: &Batch) -> Result<()> {
        if !self.submitted.insert(batch.after) || !self.sends(batch.op) {
            return Ok(());
        }
        let loaded = self.load(batch)?;
        let mut unsendable = loaded.oversized;
        let mut sendable = Vec::with_capacity(loaded.rows.len());
        for row in loaded.rows {
            match self.missing_requirement(&row) {
                Some(reason) => unsendable.push(crate::destinations::Rejection {
                    pos: row.pos,
                    reason,
                    payload: None,
                }),
                None => sendable.push(row),
            }
        }
        if !unsendable.is_empty() {
            self.unsendable.insert(batch.after, unsendable);
        }
        let first = self
            .request_for(batch.op)
            .map_or(super::Step::Request, super::Step::first);
        let mut rows = sendable.into_iter().peekable();
        let mut units: Vec<Vec<OpRow>> = Vec::new();
        while rows.peek().is_some() {
            units.push(rows.by_ref().take(self.batch_size.max(1)).collect());
        }
        self.dispatcher
            .as_mut()
            .ok_or_else(|| {
                Error::new(
                    SqlState::InternalError,
                    "http destination used before start_run",
                )
            })?
            .submit(batch.after as u64, units, first);
        Ok(())
    }

    fn test_row(&mut self, _plan: &RunPlan, row: &TestRow, dry_run: bool) -> Result<Value> {
        let op_row = OpRow {
            pos: 1,
            op: row.op,
            row_id: row.row_id.clone(),
            row_hash: None,
            match_key: row.match_key.clone(),
            fields: row.fields.clone(),
        };
        if !self.sends(row.op) {
            return Ok(json!({"requests": [], "responses": [],
                "note": format!("nothing is sent for {} rows with mode \"{}\" and delete behavior \"{}\"", row.op.as_str(), self.mode, self.delete_behavior)}));
        }
        let mut secret_headers: Vec<&str> = self
            .connection
            .headers
            .iter()
            .filter(|(_, v)| matches!(v, HeaderValue::Secret { .. }))
            .map(|(n, _)| n.as_str())
            .collect();
        // OAuth's access token is a secret too.
        if self.connection.oauth.is_some() {
            secret_headers.push("Authorization");
        }
        let show = |request: &super::PreparedRequest| {
            let headers: Map<String, Value> = request
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
            json!({"method": request.method, "url": request.url, "headers": headers,
                   "body": request.body.as_deref().map(deliver::json_or_text)})
        };
        let Some(compiled) = self.request_for(row.op) else {
            return Ok(json!({"requests": [], "responses": []}));
        };
        // A run would not send it: neither does the test.
        if let Some(reason) = self.missing_requirement(&op_row) {
            return Ok(json!({"requests": [], "responses": [], "note": reason}));
        }
        let agent = self.agent().build();
        let (mut requests, mut responses, mut found) = (Vec::new(), Vec::new(), Vec::new());
        let mut answer = Value::Null;
        let mut note: Option<String> = None;
        for step in [super::Step::Lookup, super::Step::Request, super::Step::Then] {
            if compiled.step(step).is_none() {
                continue;
            }
            let request = match self.prepare_step(
                std::slice::from_ref(&op_row),
                &self.base_url(),
                step,
                &found,
                &answer,
            ) {
                Ok(request) => request,
                // What was sent stays shown: the follow-up reads an answer
                // that was not there (or, in a dry run, not asked for).
                Err(error) if step == super::Step::Then => {
                    note = Some(if dry_run {
                        "the request after this one is built from its answer".to_string()
                    } else {
                        format!(
                            "the request after this one could not be built: {}",
                            error.message
                        )
                    });
                    break;
                }
                Err(error) => return Err(error),
            };
            requests.push(show(&request));
            if dry_run {
                if step == super::Step::Lookup {
                    note = Some("the requests after the lookup are built from its answer".into());
                    break;
                }
                continue;
            }
            let reply = self.send_checked(&agent, &request, "request url")?;
            let succeeded =
                matches!(reply, deliver::Reply::Status { code, .. } if (200..300).contains(&code));
            responses.push(match &reply {
                deliver::Reply::Status { code, body, .. } => {
                    json!({"status": code, "body": deliver::json_or_text(body)})
                }
                deliver::Reply::Transport(error) => json!({"error": error}),
                deliver::Reply::NotSent => json!({"error": "not sent"}),
            });
            if !succeeded {
                break;
            }
            if let (super::Step::Request, deliver::Reply::Status { body, .. }) = (step, &reply) {
                answer = serde_json::from_str(body).unwrap_or(Value::Null);
            }
            if let (super::Step::Lookup, Some(lookup), deliver::Reply::Status { body, .. }) =
                (step, &compiled.lookup, &reply)
            {
                match deliver::lookup_found(body, lookup, &[row.match_key.as_deref()]) {
                    Ok(values) => found = values.into_iter().flatten().collect(),
                    Err(problem) => {
                        note = Some(format!("the lookup's answer could not be read: {problem}"));
                        break;
                    }
                }
                if found.is_empty() {
                    note = Some(if lookup.not_found_is_done {
                        "not found: the lookup found no record for this row, so nothing more is needed".into()
                    } else {
                        "not found: the lookup found no record for this row".into()
                    });
                    break;
                }
            }
        }
        let mut result = json!({"requests": requests, "responses": responses});
        if let Some(note) = note {
            result["note"] = json!(note);
        }
        Ok(result)
    }

    fn matched_audience(&mut self) -> Result<Option<i64>> {
        let Some((path, count)) = &self.audience_size else {
            return Ok(None);
        };
        let context = json!({"run": self.run_context(), "list": self.list});
        let request = super::PreparedRequest {
            method: "GET".into(),
            url: format!(
                "{}{}",
                self.base_url(),
                path.render("audience_size.path", &context)?
            ),
            headers: self.headers(),
            body: None,
        };
        let agent = self.agent().build();
        let body = match self.send_checked(&agent, &request, "audience_size.path")? {
            deliver::Reply::Status { code, body, .. } if (200..300).contains(&code) => body,
            deliver::Reply::Status { code, body, .. } => {
                return Err(Error::new(
                    SqlState::Other(*b"08000"),
                    format!(
                        "asking for the audience's size: HTTP {code}: {}",
                        deliver::truncate(&body)
                    ),
                ))
            }
            deliver::Reply::Transport(error) => {
                return Err(Error::new(
                    SqlState::Other(*b"08000"),
                    format!("asking for the audience's size: {error}"),
                ))
            }
            deliver::Reply::NotSent => return Ok(None),
        };
        Ok(deliver::count_at(&body, count))
    }

    fn set_deadline(&mut self, at: std::time::Instant, reason: Error) {
        self.deadline = Some((at, reason));
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

    fn deliver(&mut self, batch: &Batch) -> Result<BatchOutcome> {
        self.submit(batch)?;
        self.submitted.remove(&batch.after);
        if !self.sends(batch.op) {
            return Ok(BatchOutcome::default());
        }
        // The rate limit is shared by every run sending to this destination.
        // Requests of this window are out: a cancel arriving during this
        // read is left for the wait below, which settles them first.
        let share = crate::postgres::holding_interrupts(|| {
            crate::catalog::runs::delivering_to_same_destination(self.sync_id)
        })?
        .max(1);
        let rate = self
            .connection
            .requests_per_second
            .map(|rps| rps / share as f64);
        let deadline = self.deadline.clone();
        let interrupted = || crate::destinations::interruption(&deadline);
        let mut dispatcher = self.dispatcher.take().ok_or_else(|| {
            Error::new(
                SqlState::InternalError,
                "http destination used before start_run",
            )
        })?;
        let outcome = dispatcher.wait(self, batch.after as u64, rate, &interrupted);
        self.dispatcher = Some(dispatcher);
        let mut outcome = outcome?;
        outcome
            .rejections
            .extend(self.unsendable.remove(&batch.after).unwrap_or_default());
        Ok(outcome)
    }
}

impl HttpDestination {
    /// Send one request outside a run's dispatcher (test a row, the
    /// audience's size): its URL must parse and be allowed; errors name
    /// `field`.
    fn send_checked(
        &self,
        agent: &ureq::Agent,
        request: &super::PreparedRequest,
        field: &str,
    ) -> Result<deliver::Reply> {
        let url = url::Url::parse(&request.url)
            .map_err(|e| Error::invalid(field, format!("the request's url does not parse: {e}")))?;
        config::check_host(field, &url, &self.allowed_hosts)?;
        Ok(deliver::execute(agent, request, &self.secrets))
    }

    /// The HTTP client of a run: its timeouts, no redirects (a redirect
    /// could lead off the allow-list), and names resolved only to
    /// addresses the allow-list permits.
    pub(super) fn agent(&self) -> ureq::AgentBuilder {
        ureq::AgentBuilder::new()
            .timeout(self.connection.timeout)
            .redirects(0)
            .resolver(guarded_resolver(self.allowed_hosts.clone()))
    }

    /// A batch's operations from the run's ops table, with the model's
    /// values, read as the sync's owner.
    fn load(&self, batch: &Batch) -> Result<rows::Loaded> {
        let window = rows::Window {
            after: batch.after,
            upto: batch.upto,
            ops: &[batch.op],
            max_row_bytes: crate::gucs::in_flight().row_bytes,
        };
        rows::load(batch.plan, &window, &self.identity)
    }
}
