//! The `postgres` destination with a `connection`: a table on another
//! PostgreSQL server. Each window's rows are read from the run's ops table
//! as text (as the sync's owner, whose types' output functions they are),
//! copied with `COPY` into a temporary staging table on the remote, and
//! written there by the same set-based statement a local table gets, in one
//! remote transaction; if a row's data makes it fail, each row is tried
//! again on its own (a savepoint each) so only the bad rows are rejected.
//!
//! Delivery is at-least-once: a window the remote committed whose record
//! here was lost (a crash in between) is sent again by the next run. Every
//! statement is idempotent for that: upserts and updates write the same
//! values again, inserts and list memberships do nothing on the unique
//! index a sync needs, deletes find nothing.

pub mod connection;
pub mod settings;

use super::statements::{PostgresTarget, Statement};
use super::target::{
    resolve_in, CatalogColumn, TableCatalog, COLUMNS_SQL, TABLE_SQL, UNIQUE_INDEX_SQL,
};
use crate::config::{MappingSource, SyncConfig, SyncMode};
use crate::destinations::{
    is_interruption, is_row_level_error, Batch, BatchOutcome, Deadline, Destination, Rejection,
    TestRow,
};
use crate::error::{Error, Result, SqlState};
use crate::plan::{ModelColumn, Op, RunPlan};
use crate::postgres::{spi, with_settings, Identity};
use crate::sql::quote_ident;
use connection::{JobError, RemoteConnection};
use pgrx::pg_sys;
use serde_json::{json, Map, Value};
use settings::{copy_field, RemoteSettings};
use std::io::Write;

/// The staging table on the remote, one per connection (a temporary table,
/// emptied at each commit).
const STAGE: &str = "pg_temp._reverse_etl_stage";

/// Settings under which the local server writes values as text, so that
/// the remote (connected with the same ones) reads them back exactly.
const TEXT_SETTINGS: &[(&str, &str)] = &[
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
];

pub struct RemoteTarget {
    settings: RemoteSettings,
    /// The destination's owner: its secrets are the password's.
    destination_owner: pg_sys::Oid,
    config: SyncConfig,
    model_columns: Vec<ModelColumn>,
    identity: Identity,
    target: Option<PostgresTarget>,
    connection: Option<RemoteConnection>,
    /// Columns of the staging table on the remote: `c1`, `c2`, … as the
    /// ops table has them.
    stage_fields: usize,
    stage_ready: bool,
    deadline: Deadline,
}

impl RemoteTarget {
    pub fn new(
        settings: RemoteSettings,
        destination_owner: pg_sys::Oid,
        config: &SyncConfig,
        model_columns: &[ModelColumn],
        identity: &Identity,
    ) -> RemoteTarget {
        RemoteTarget {
            settings,
            destination_owner,
            config: config.clone(),
            model_columns: model_columns.to_vec(),
            identity: identity.clone(),
            target: None,
            connection: None,
            stage_fields: config.source_columns().len(),
            stage_ready: false,
            deadline: None,
        }
    }

    fn target(&self) -> Result<&PostgresTarget> {
        self.target.as_ref().ok_or_else(|| {
            Error::new(
                SqlState::InternalError,
                "postgres destination used before it connected",
            )
        })
    }

    fn connection(&mut self) -> Result<&mut RemoteConnection> {
        self.connection.as_mut().ok_or_else(|| {
            Error::new(
                SqlState::InternalError,
                "postgres destination used before it connected",
            )
        })
    }

    /// The window's operations as COPY text (`pos, row_id, match_key, c1,
    /// …`), read as the sync's owner, and each row's values by position.
    fn load(&self, plan: &RunPlan, after: i64, upto: i64) -> Result<Vec<StagedRow>> {
        let fields: String = (0..self.stage_fields)
            .map(|i| format!(", (o.{})::text", RunPlan::field(i)))
            .collect();
        let sql = format!(
            "SELECT o.pos, o.row_id, o.match_key{fields} FROM {} AS o \
             WHERE o.pos > $1 AND o.pos <= $2 ORDER BY o.pos",
            plan.ops_table
        );
        let count = self.stage_fields;
        with_settings(TEXT_SETTINGS, || {
            self.identity.run(|| {
                spi::rows(&sql, &[after.into(), upto.into()], |row| {
                    let mut values = Vec::with_capacity(count);
                    for i in 0..count {
                        values.push(row.get::<String>(4 + i)?);
                    }
                    Ok(StagedRow {
                        pos: spi::get(row, 1)?,
                        row_id: row.get::<String>(2)?,
                        match_key: row.get::<String>(3)?,
                        values,
                    })
                })
            })
        })
    }

    fn stage_sql(&self) -> String {
        let fields: String = (0..self.stage_fields)
            .map(|i| format!(", {} text", RunPlan::field(i)))
            .collect();
        format!(
            "CREATE TEMP TABLE IF NOT EXISTS _reverse_etl_stage \
             (pos bigint, row_id text, match_key text{fields}) ON COMMIT DELETE ROWS"
        )
    }

    /// Send rows and run `statement` over them in one remote transaction.
    fn send(&mut self, statement: &Statement, rows: &[StagedRow]) -> Result<Sent> {
        let create_stage = (!self.stage_ready).then(|| self.stage_sql());
        let mut text = String::new();
        for row in rows {
            text.push_str(&row.pos.to_string());
            text.push('\t');
            copy_field(row.row_id.as_deref(), &mut text);
            text.push('\t');
            copy_field(row.match_key.as_deref(), &mut text);
            for value in &row.values {
                text.push('\t');
                copy_field(value.as_deref(), &mut text);
            }
            text.push('\n');
        }
        let positions: Vec<i64> = rows.iter().map(|r| r.pos).collect();
        let statement = statement.clone();
        let deadline = self.deadline.clone();
        let secrets = self.connection()?.secrets().clone();
        let sent = self.connection()?.call(&deadline, move |client| {
            if let Some(create) = create_stage {
                client.batch_execute(&create)?;
            }
            let mut transaction = client.transaction()?;
            let mut copy = transaction.copy_in(&format!("COPY {STAGE} FROM STDIN"))?;
            copy.write_all(text.as_bytes())?;
            copy.finish()?;
            let first = positions.first().copied().unwrap_or(0);
            let last = positions.last().copied().unwrap_or(0);
            transaction.batch_execute("SAVEPOINT reverse_etl_window")?;
            let whole = run_remote(&mut transaction, &statement, first - 1, last);
            let mut rejected = Vec::new();
            let found = match whole {
                Ok(found) => found,
                Err(error) if row_level(&error) => {
                    transaction.batch_execute("ROLLBACK TO SAVEPOINT reverse_etl_window")?;
                    let mut found = Vec::new();
                    for &pos in &positions {
                        transaction.batch_execute("SAVEPOINT reverse_etl_row")?;
                        match run_remote(&mut transaction, &statement, pos - 1, pos) {
                            Ok(one) => {
                                found.extend(one);
                                transaction.batch_execute("RELEASE SAVEPOINT reverse_etl_row")?;
                            }
                            Err(error) if row_level(&error) => {
                                transaction
                                    .batch_execute("ROLLBACK TO SAVEPOINT reverse_etl_row")?;
                                rejected.push((pos, secrets.scrub(&describe(&error))));
                            }
                            Err(error) => return Err(error),
                        }
                    }
                    found
                }
                Err(error) => return Err(error),
            };
            transaction.commit()?;
            Ok(Sent { found, rejected })
        });
        if sent.is_ok() {
            self.stage_ready = true;
        }
        sent
    }

    /// What was sent for a row, by target column (values as text).
    fn payload(&self, op: Op, row: &StagedRow) -> Option<Value> {
        let target = self.target.as_ref()?;
        let record_match = self.config.record_match.as_ref()?;
        let sources = self.config.source_columns();
        let field = |name: &str| {
            sources
                .iter()
                .position(|c| c == name)
                .and_then(|i| row.values.get(i).cloned().flatten())
        };
        let mut payload = Map::new();
        let key = match op {
            Op::Removed => row.match_key.clone(),
            _ => field(&record_match.from),
        };
        payload.insert(target.match_column.name.clone(), json!(key));
        if let Some(list) = &target.list {
            payload.insert(list.column.name.clone(), json!(list.name));
        }
        if op != Op::Removed {
            for mapping in &self.config.mappings {
                let value = match &mapping.source {
                    MappingSource::Column(name) => json!(field(name)),
                    MappingSource::Static(value) => value.clone(),
                    MappingSource::Template(_) => Value::Null,
                };
                payload.insert(mapping.to.clone(), value);
            }
        }
        Some(Value::Object(payload))
    }
}

struct StagedRow {
    pos: i64,
    row_id: Option<String>,
    match_key: Option<String>,
    values: Vec<Option<String>>,
}

struct Sent {
    /// Positions an update found a record for.
    found: Vec<i64>,
    rejected: Vec<(i64, String)>,
}

fn row_level(error: &JobError) -> bool {
    error.code().is_some_and(is_row_level_error)
}

fn describe(error: &JobError) -> String {
    let error = match error {
        JobError::Remote(error) => error,
        JobError::Io(error) => return error.to_string(),
    };
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}): {detail}", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => error.to_string(),
    }
}

fn run_remote(
    transaction: &mut postgres::Transaction,
    statement: &Statement,
    after: i64,
    upto: i64,
) -> std::result::Result<Vec<i64>, JobError> {
    if statement.returns_found {
        Ok(transaction
            .query(&statement.sql, &[&after, &upto])?
            .iter()
            .map(|row| row.get::<_, i64>(0))
            .collect())
    } else {
        transaction.execute(&statement.sql, &[&after, &upto])?;
        Ok(Vec::new())
    }
}

/// The remote server's catalog, read as the connection's user.
struct RemoteCatalog<'a> {
    connection: &'a mut RemoteConnection,
    deadline: &'a Deadline,
}

impl RemoteCatalog<'_> {
    fn query<R: Send + 'static>(
        &mut self,
        sql: &'static str,
        parameters: Vec<Box<dyn postgres::types::ToSql + Send + Sync>>,
        read: impl Fn(&postgres::Row) -> R + Send + 'static,
    ) -> Result<Vec<R>> {
        self.connection.call(self.deadline, move |client| {
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = parameters
                .iter()
                .map(|p| p.as_ref() as &(dyn postgres::types::ToSql + Sync))
                .collect();
            Ok(client.query(sql, &refs)?.iter().map(read).collect())
        })
    }
}

impl TableCatalog for RemoteCatalog<'_> {
    fn table(&mut self, object: &str) -> Result<Option<(u32, String)>> {
        Ok(self
            .query(TABLE_SQL, vec![Box::new(object.to_string())], |row| {
                (row.get::<_, u32>(0), row.get::<_, String>(1))
            })?
            .into_iter()
            .next())
    }

    fn columns(&mut self, table: u32) -> Result<Vec<CatalogColumn>> {
        self.query(COLUMNS_SQL, vec![Box::new(table)], |row| CatalogColumn {
            column: super::statements::TargetColumn {
                name: row.get(0),
                type_sql: row.get(2),
                base_type_sql: row.get(3),
            },
            attnum: row.get(4),
            type_oid: row.get(1),
        })
    }

    fn has_unique_index(&mut self, table: u32, attnums: &[i16]) -> Result<bool> {
        Ok(self
            .query(
                UNIQUE_INDEX_SQL,
                vec![Box::new(table), Box::new(attnums.to_vec())],
                |row| row.get::<_, bool>(0),
            )?
            .first()
            .copied()
            .unwrap_or(false))
    }

    fn lacks_privilege(&mut self, table: u32, privilege: &str) -> Result<Option<String>> {
        let rows = self.query(
            "SELECT pg_catalog.has_table_privilege(current_user, $1::oid, $2::text), current_user::text",
            vec![Box::new(table), Box::new(privilege.to_string())],
            |row| (row.get::<_, bool>(0), row.get::<_, String>(1)),
        )?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|(granted, role)| (!granted).then_some(role)))
    }

    fn check_assignment(
        &mut self,
        expression: &str,
        column: &super::statements::TargetColumn,
    ) -> Result<()> {
        let check = format!(
            "DO {}",
            crate::sql::quote_literal(&format!(
                "DECLARE v {}; BEGIN v := {expression}; END",
                column.type_sql
            ))
        );
        self.connection.call(self.deadline, move |client| {
            client.batch_execute(&check).map_err(JobError::from)
        })
    }

    fn value_of(
        &mut self,
        _path: &str,
        field: &str,
        _source: &ModelColumn,
        to: &CatalogColumn,
    ) -> Result<String> {
        // Staged as text: the remote reads it with the column type's input
        // function, then assigns it (a value too long is an error, not cut).
        Ok(format!("(o.{field})::{}", to.column.base_type_sql))
    }
}

impl Destination for RemoteTarget {
    fn connect(&mut self) -> Result<()> {
        if self.connection.is_some() {
            return Ok(());
        }
        let password = match &self.settings.password_secret {
            Some(name) => Some(crate::catalog::secret_value(
                self.destination_owner,
                "config.connection.password",
                name,
            )?),
            None => None,
        };
        // SAFETY: a catalog lookup.
        let superuser = unsafe { pg_sys::superuser_arg(self.destination_owner) };
        let mut connection =
            RemoteConnection::open(&self.settings, password, !superuser, &self.deadline)
                .map_err(|e| e.context(format!("connecting to {}", self.describe_server())))?;
        let target = resolve_in(
            &mut RemoteCatalog {
                connection: &mut connection,
                deadline: &self.deadline,
            },
            &self.config,
            &self.model_columns,
            &self.identity,
        )?;
        self.target = Some(target);
        self.connection = Some(connection);
        Ok(())
    }

    fn mirror_removals(&self, _plan: &RunPlan) -> Option<String> {
        None
    }

    fn fetch_records(&mut self, sink: &mut dyn FnMut(Vec<String>) -> Result<()>) -> Result<bool> {
        let target = self.target()?;
        if target.mode != SyncMode::All {
            return Ok(false);
        }
        let match_column = quote_ident(&target.match_column.name);
        let sql = format!(
            "SELECT ({match_column})::text FROM {} WHERE {match_column} IS NOT NULL",
            target.table
        );
        let deadline = self.deadline.clone();
        // Keys in chunks of 1000, so memory stays bounded whatever the
        // table's size.
        let connection = self.connection()?;
        connection.call(&deadline, move |client| {
            client
                .batch_execute(&format!(
                    "BEGIN READ ONLY; DECLARE reverse_etl_records NO SCROLL CURSOR FOR {sql}"
                ))
                .map_err(JobError::from)
        })?;
        loop {
            let keys = connection.call(&deadline, |client| {
                Ok(client
                    .query("FETCH 1000 FROM reverse_etl_records", &[])?
                    .iter()
                    .map(|row| row.get::<_, String>(0))
                    .collect::<Vec<String>>())
            })?;
            if keys.is_empty() {
                break;
            }
            sink(keys)?;
        }
        connection.call(&deadline, |client| {
            client.batch_execute("COMMIT").map_err(JobError::from)
        })?;
        Ok(true)
    }

    fn set_deadline(&mut self, at: std::time::Instant, reason: Error) {
        self.deadline = Some((at, reason));
    }

    fn rows_per_transaction(&self, batch_size: i64) -> i64 {
        batch_size.min(crate::gucs::in_flight().rows / 2).max(1)
    }

    fn bytes_per_transaction(&self) -> Option<i64> {
        Some(crate::gucs::in_flight().bytes / 2)
    }

    fn deliver(&mut self, batch: &Batch) -> Result<BatchOutcome> {
        let Some(statement) = self.target()?.statement(batch.op, STAGE) else {
            return Ok(BatchOutcome::default());
        };
        let rows = self.load(batch.plan, batch.after, batch.upto)?;
        if rows.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let sent = match self.send(&statement, &rows) {
            Ok(sent) => sent,
            // The server or the network failed, or the run was interrupted:
            // nothing of the window is known to be written (the remote
            // transaction did not commit, or its outcome is unknown and the
            // window is sent again next run).
            Err(error) if is_interruption(error.state.code()) => {
                return Ok(BatchOutcome {
                    rejections: Vec::new(),
                    unattempted: rows.iter().map(|r| r.pos).collect(),
                    stop: Some(error.context(format!("destination {}", self.describe_server()))),
                })
            }
            Err(error) => {
                let table = self.target()?.table.clone();
                return Err(error.context(format!(
                    "destination table {table} on {}",
                    self.describe_server()
                )));
            }
        };
        let target = self.target()?;
        let mut rejections: Vec<Rejection> = sent
            .rejected
            .iter()
            .filter_map(|(pos, reason)| {
                let row = rows.iter().find(|r| r.pos == *pos)?;
                Some(Rejection {
                    pos: *pos,
                    reason: reason.clone(),
                    payload: self.payload(batch.op, row),
                })
            })
            .collect();
        if statement.returns_found {
            for row in &rows {
                if !sent.found.contains(&row.pos)
                    && !sent.rejected.iter().any(|(p, _)| *p == row.pos)
                {
                    rejections.push(Rejection {
                        pos: row.pos,
                        reason: format!(
                            "no record in {} where {} = {} (mode update never creates records)",
                            target.table,
                            target.match_column.name,
                            row.match_key
                                .as_deref()
                                .map(crate::sql::quote_literal)
                                .unwrap_or_else(|| "NULL".into())
                        ),
                        payload: self.payload(batch.op, row),
                    });
                }
            }
        }
        rejections.sort_by_key(|r| r.pos);
        Ok(BatchOutcome {
            rejections,
            ..BatchOutcome::default()
        })
    }

    fn test_row(&mut self, plan: &RunPlan, row: &TestRow, dry_run: bool) -> Result<Value> {
        let target = self.target()?;
        let Some(statement) = target.statement(row.op, STAGE) else {
            return Ok(json!({
                "requests": [],
                "responses": [],
                "note": format!("nothing is sent for {} rows with mode \"{}\" and delete behavior \"{}\"", row.op.as_str(), target.mode, target.delete_behavior)
            }));
        };
        let values = plan
            .columns
            .iter()
            .take(self.stage_fields)
            .map(|c| match row.fields.get(&c.name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            })
            .collect();
        let staged = StagedRow {
            pos: 1,
            row_id: Some(row.row_id.clone()),
            match_key: row.match_key.clone(),
            values,
        };
        let request = json!({
            "server": self.describe_server(),
            "table": target.table,
            "statement": statement.sql.replace("$1", "0").replace("$2", "1"),
        });
        if dry_run {
            return Ok(json!({"requests": [request], "responses": []}));
        }
        let response = match self.send(&statement, std::slice::from_ref(&staged)) {
            Ok(sent) => match sent.rejected.first() {
                Some((_, reason)) => json!({"error": reason}),
                None if statement.returns_found && sent.found.is_empty() => {
                    json!({"rows_affected": 0})
                }
                None => json!({"ok": true}),
            },
            Err(error) => json!({"error": error.to_string()}),
        };
        Ok(json!({"requests": [request], "responses": [response]}))
    }

    fn resolved_config(&self) -> Map<String, Value> {
        let mut resolved = Map::new();
        if let Some(target) = &self.target {
            resolved.insert("object".into(), Value::String(target.table.clone()));
        }
        resolved
    }

    fn clear(&mut self) -> Result<()> {
        let sql = self.target()?.clear_sql().ok_or_else(|| {
            Error::new(
                SqlState::FeatureNotSupported,
                "sync: clear and fill is for list syncs (type \"list\")",
            )
        })?;
        let deadline = self.deadline.clone();
        let server = self.describe_server();
        self.connection()?
            .call(&deadline, move |client| {
                client.batch_execute(&sql).map_err(JobError::from)
            })
            .map_err(|e| e.context(format!("clearing the list on {server}")))
    }
}

impl RemoteTarget {
    fn describe_server(&self) -> String {
        format!(
            "server {}:{} database {}",
            self.settings.host, self.settings.port, self.settings.dbname
        )
    }
}
