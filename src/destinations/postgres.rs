//! The `postgres` destination: a table in this database. Each batch is one
//! set-based statement reading the run's ops table; if it fails on a row's
//! data, each row is retried on its own so only the bad rows are rejected,
//! with PostgreSQL's own message.

use super::{is_interruption, is_row_level_error, Batch, BatchOutcome, Destination, Rejection};
use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode};
use crate::engine::plan::{ModelColumn, Op, RunPlan};
use crate::error::{Error, Result, SqlState};
use crate::postgres::{as_role, in_subtransaction, spi};
use crate::sql::{list, quote_ident, quote_literal};
use pgrx::prelude::*;
use serde_json::Value;

/// Sync config keys of this kind: `object` is the target table; list syncs
/// name the list (`list`) and the column holding list names (`list_field`).
pub const SYNC_KEYS: &[&str] = &["object", "list", "list_field"];

/// Membership rows of one list: `column = value` identifies the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTarget {
    pub column: TargetColumn,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    pub type_sql: String,
}

/// A column of the target table and the SQL expression (over ops row `o`)
/// that fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub column: TargetColumn,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct PostgresTarget {
    /// The table, as `regclass` prints it (quoted and qualified as needed).
    pub table: String,
    pub mode: SyncMode,
    pub delete_behavior: DeleteBehavior,
    pub match_column: TargetColumn,
    /// The ops/work column holding the model's match value.
    pub match_field: String,
    pub assignments: Vec<Assignment>,
    /// Writes run with this role's privileges (the sync's owner).
    pub owner: pg_sys::Oid,
    /// For list syncs: which list the rows are members of.
    pub list: Option<ListTarget>,
}

/// A statement delivering a batch; `$1`/`$2` bound the positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// The statement returns the positions it found a record for; the others
    /// had no record to act on.
    pub returns_found: bool,
}

const BATCH_FILTER: &str = "o.pos > $1 AND o.pos <= $2";

impl PostgresTarget {
    fn match_value_from_field(&self) -> String {
        format!("(o.{})::{}", self.match_field, self.match_column.type_sql)
    }

    fn match_value_from_key(&self) -> String {
        format!("(o.match_key)::{}", self.match_column.type_sql)
    }

    /// The statement for one kind of operation, or None when the sync's
    /// settings say nothing is done at the destination (delete behavior
    /// "nothing", or "clear" with no mapped fields).
    pub fn statement(&self, op: Op, ops_table: &str) -> Option<Statement> {
        if let Some(list) = &self.list {
            return self.list_statement(list, op, ops_table);
        }
        let table = &self.table;
        let match_column = quote_ident(&self.match_column.name);
        match op {
            Op::Added | Op::Changed if self.mode == SyncMode::Update => {
                let sets = if self.assignments.is_empty() {
                    format!("{match_column} = t.{match_column}")
                } else {
                    list(
                        self.assignments
                            .iter()
                            .map(|a| format!("{} = {}", quote_ident(&a.column.name), a.value)),
                    )
                };
                Some(Statement {
                    sql: format!(
                        "UPDATE {table} AS t SET {sets} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {} RETURNING o.pos",
                        self.match_value_from_field()
                    ),
                    returns_found: true,
                })
            }
            Op::Added | Op::Changed => {
                let columns = std::iter::once(match_column.clone())
                    .chain(self.assignments.iter().map(|a| quote_ident(&a.column.name)));
                let values = std::iter::once(self.match_value_from_field())
                    .chain(self.assignments.iter().map(|a| a.value.clone()));
                let on_conflict = if self.mode == SyncMode::Insert || self.assignments.is_empty() {
                    "DO NOTHING".to_string()
                } else {
                    format!(
                        "DO UPDATE SET {}",
                        list(self.assignments.iter().map(|a| {
                            let c = quote_ident(&a.column.name);
                            format!("{c} = EXCLUDED.{c}")
                        }))
                    )
                };
                Some(Statement {
                    sql: format!(
                        "INSERT INTO {table} AS t ({}) SELECT {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} ORDER BY o.pos ON CONFLICT ({match_column}) {on_conflict}",
                        list(columns),
                        list(values)
                    ),
                    returns_found: false,
                })
            }
            Op::Removed => match self.delete_behavior {
                DeleteBehavior::Nothing => None,
                DeleteBehavior::Delete => Some(Statement {
                    sql: format!(
                        "DELETE FROM {table} AS t USING {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {}",
                        self.match_value_from_key()
                    ),
                    returns_found: false,
                }),
                DeleteBehavior::Clear if self.assignments.is_empty() => None,
                DeleteBehavior::Clear => Some(Statement {
                    sql: format!(
                        "UPDATE {table} AS t SET {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {}",
                        list(
                            self.assignments
                                .iter()
                                .map(|a| format!("{} = NULL", quote_ident(&a.column.name)))
                        ),
                        self.match_value_from_key()
                    ),
                    returns_found: false,
                }),
            },
        }
    }

    /// List syncs: mode add inserts memberships for rows entering the model
    /// and (delete behavior "delete") removes them for rows leaving it; mode
    /// remove removes the memberships of rows entering the model.
    fn list_statement(&self, target: &ListTarget, op: Op, ops_table: &str) -> Option<Statement> {
        let table = &self.table;
        let match_column = quote_ident(&self.match_column.name);
        let list_column = quote_ident(&target.column.name);
        let list_value = format!(
            "{}::{}",
            quote_literal(&target.name),
            target.column.type_sql
        );
        let leave = |member: String| {
            Statement {
            sql: format!(
                "DELETE FROM {table} AS t USING {ops_table} AS o \
                 WHERE {BATCH_FILTER} AND t.{list_column} = {list_value} AND t.{match_column} = {member}"
            ),
            returns_found: false,
        }
        };
        match (self.mode, op) {
            (SyncMode::Add, Op::Added) => {
                let columns = [list_column.clone(), match_column.clone()]
                    .into_iter()
                    .chain(self.assignments.iter().map(|a| quote_ident(&a.column.name)));
                let values = [list_value.clone(), self.match_value_from_field()]
                    .into_iter()
                    .chain(self.assignments.iter().map(|a| a.value.clone()));
                Some(Statement {
                    sql: format!(
                        "INSERT INTO {table} AS t ({}) SELECT {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} ORDER BY o.pos ON CONFLICT ({list_column}, {match_column}) DO NOTHING",
                        list(columns),
                        list(values)
                    ),
                    returns_found: false,
                })
            }
            (SyncMode::Add, Op::Removed) if self.delete_behavior == DeleteBehavior::Delete => {
                Some(leave(self.match_value_from_key()))
            }
            (SyncMode::Remove, Op::Added) => Some(leave(self.match_value_from_field())),
            _ => None,
        }
    }

    /// Clear and fill: every member of the list leaves it.
    pub fn clear_sql(&self) -> Option<String> {
        self.list.as_ref().map(|list| {
            format!(
                "DELETE FROM {} WHERE {} = {}::{}",
                self.table,
                quote_ident(&list.column.name),
                quote_literal(&list.name),
                list.column.type_sql
            )
        })
    }

    /// Mirror mode: records in the table whose match value the model no
    /// longer has and the snapshot does not already remove.
    pub fn mirror_removals_sql(&self, plan: &RunPlan) -> String {
        let match_column = quote_ident(&self.match_column.name);
        format!(
            "SELECT (t.{match_column})::text AS row_id, (t.{match_column})::text AS match_key \
             FROM {table} AS t \
             WHERE t.{match_column} IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM {work} AS w WHERE (w.{field})::{ty} = t.{match_column}) \
               AND NOT EXISTS (SELECT 1 FROM {snapshot} AS s WHERE s.match_key = (t.{match_column})::text)",
            table = self.table,
            work = plan.work_table,
            field = self.match_field,
            ty = self.match_column.type_sql,
            snapshot = plan.snapshot_table,
        )
    }
}

impl Destination for PostgresTarget {
    fn mirror_removals(&self, plan: &RunPlan) -> Option<String> {
        (self.mode == SyncMode::All).then(|| self.mirror_removals_sql(plan))
    }

    fn deliver(&mut self, batch: &Batch) -> Result<BatchOutcome> {
        self.deliver_statement(batch)
            .map(|rejections| BatchOutcome {
                rejections,
                ..BatchOutcome::default()
            })
    }

    fn test_row(&mut self, plan: &RunPlan, row: &super::TestRow, dry_run: bool) -> Result<Value> {
        // The run's statement, reading one row from a literal instead of the ops table.
        let literal = |value: Option<&Value>, type_sql: &str| match value {
            None | Some(Value::Null) => format!("NULL::{type_sql}"),
            Some(Value::String(s)) => format!("{}::{type_sql}", quote_literal(s)),
            Some(other) => format!("{}::{type_sql}", quote_literal(&other.to_string())),
        };
        let fields = plan.columns.iter().enumerate().map(|(i, c)| {
            format!(
                "{} AS {}",
                literal(row.fields.get(&c.name), &c.type_sql),
                RunPlan::field(i)
            )
        });
        let one_row = format!(
            "(SELECT 1::bigint AS pos, {} AS op, {} AS row_id, {} AS match_key{}{})",
            quote_literal(row.op.as_str()),
            quote_literal(&row.row_id),
            row.match_key
                .as_deref()
                .map(quote_literal)
                .unwrap_or_else(|| "NULL::text".into()),
            if plan.columns.is_empty() { "" } else { ", " },
            list(fields)
        );
        let Some(statement) = self.statement(row.op, &one_row) else {
            return Ok(serde_json::json!({
                "requests": [],
                "responses": [],
                "note": format!("nothing is sent for {} rows with mode \"{}\" and delete behavior \"{}\"", row.op.as_str(), self.mode, self.delete_behavior)
            }));
        };
        let request = serde_json::json!({"statement": statement.sql.replace("$1", "0").replace("$2", "1"), "table": self.table});
        if dry_run {
            return Ok(serde_json::json!({"requests": [request], "responses": []}));
        }
        let outcome = as_role(self.owner, || {
            in_subtransaction(|| {
                if statement.returns_found {
                    run_statement(&statement, 0, 1).map(|found| found.len() as u64)
                } else {
                    spi::execute(&statement.sql, &[0i64.into(), 1i64.into()])
                }
            })
        });
        let response = match outcome {
            Ok(rows) => serde_json::json!({"rows_affected": rows}),
            Err(error) => serde_json::json!({"error": describe(&error)}),
        };
        Ok(serde_json::json!({"requests": [request], "responses": [response]}))
    }

    fn clear(&mut self) -> Result<()> {
        let sql = self.clear_sql().ok_or_else(|| {
            Error::new(
                SqlState::FeatureNotSupported,
                "sync: clear and fill is for list syncs (type \"list\")",
            )
        })?;
        as_role(self.owner, || spi::execute(&sql, &[]))
            .map_err(|e| e.context(format!("clearing the list in {}", self.table)))?;
        Ok(())
    }
}

impl PostgresTarget {
    fn deliver_statement(&mut self, batch: &Batch) -> Result<Vec<Rejection>> {
        let Some(statement) = self.statement(batch.op, &batch.plan.ops_table) else {
            return Ok(Vec::new());
        };
        let whole = as_role(self.owner, || {
            in_subtransaction(|| run_statement(&statement, batch.after, batch.upto))
        });
        match whole {
            Ok(found) if statement.returns_found => {
                let missing: Vec<i64> = ((batch.after + 1)..=batch.upto)
                    .filter(|pos| !found.contains(pos))
                    .collect();
                self.deliver_rows(&statement, &missing, batch)
            }
            Ok(_) => Ok(Vec::new()),
            Err(error) if is_row_level_error(error.state.code()) => {
                let positions: Vec<i64> = ((batch.after + 1)..=batch.upto).collect();
                self.deliver_rows(&statement, &positions, batch)
            }
            Err(error) => Err(error.context(format!("destination table {}", self.table))),
        }
    }

    /// Deliver operations one by one, each in its own subtransaction.
    fn deliver_rows(
        &self,
        statement: &Statement,
        positions: &[i64],
        batch: &Batch,
    ) -> Result<Vec<Rejection>> {
        let mut rejections = Vec::new();
        for &pos in positions {
            let outcome = as_role(self.owner, || {
                in_subtransaction(|| run_statement(statement, pos - 1, pos))
            });
            match outcome {
                Ok(found) if statement.returns_found && found.is_empty() => {
                    let key: Option<String> = spi::one(
                        &format!(
                            "SELECT match_key FROM {} WHERE pos = $1",
                            batch.plan.ops_table
                        ),
                        &[pos.into()],
                    )?;
                    rejections.push(Rejection {
                        pos,
                        reason: format!(
                            "no record in {} where {} = {} (mode update never creates records)",
                            self.table,
                            self.match_column.name,
                            key.map(|k| quote_literal(&k))
                                .unwrap_or_else(|| "NULL".into())
                        ),
                    });
                }
                Ok(_) => {}
                Err(error) if is_interruption(error.state.code()) => return Err(error),
                Err(error) => rejections.push(Rejection {
                    pos,
                    reason: describe(&error),
                }),
            }
        }
        Ok(rejections)
    }
}

fn run_statement(statement: &Statement, after: i64, upto: i64) -> Result<Vec<i64>> {
    if statement.returns_found {
        spi::rows(&statement.sql, &[after.into(), upto.into()], |row| {
            spi::get(row, 1)
        })
    } else {
        spi::execute(&statement.sql, &[after.into(), upto.into()]).map(|_| Vec::new())
    }
}

/// A rejection reason: SQLSTATE, message and detail as PostgreSQL gave them.
fn describe(error: &Error) -> String {
    match &error.detail {
        Some(detail) => format!("{} ({}): {}", error.message, error.state.code(), detail),
        None => format!("{} ({})", error.message, error.state.code()),
    }
}

/// Resolve and check a sync's target against the database: the table, its
/// columns and unique index, the model's columns, types and privileges.
/// `model_columns` are all the model's result columns.
pub fn resolve(
    config: &SyncConfig,
    model_columns: &[ModelColumn],
    owner: pg_sys::Oid,
) -> Result<PostgresTarget> {
    let object = config.destination_string("object")?.ok_or_else(|| {
        Error::invalid(
            "object",
            "is required: the target table, e.g. \"crm.contacts\"",
        )
    })?;
    let table_oid = in_subtransaction(|| {
        spi::one::<pg_sys::Oid>(
            "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
            &[object.as_str().into()],
        )
    })
    .map_err(|e| Error::invalid("object", format!("\"{object}\": {}", e.message)))?
    .ok_or_else(|| {
        Error::new(
            SqlState::UndefinedTable,
            format!("object: table \"{object}\" does not exist"),
        )
    })?;
    let table: String = spi::one("SELECT $1::regclass::text", &[table_oid.into()])?
        .unwrap_or_else(|| object.clone());

    let target_columns: Vec<(TargetColumn, i16)> = spi::rows(
        "SELECT attname::text, format_type(atttypid, atttypmod), attnum FROM pg_attribute \
         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[table_oid.into()],
        |row| {
            Ok((
                TargetColumn {
                    name: spi::get(row, 1)?,
                    type_sql: spi::get(row, 2)?,
                },
                spi::get(row, 3)?,
            ))
        },
    )?;
    let target_column = |field: &str, name: &str| -> Result<(TargetColumn, i16)> {
        target_columns
            .iter()
            .find(|(c, _)| c.name == name)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    SqlState::UndefinedColumn,
                    format!("{field}: table {table} has no column \"{name}\""),
                )
            })
    };
    let model_column = |field: &str, name: &str| -> Result<&ModelColumn> {
        model_columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                Error::new(
                    SqlState::UndefinedColumn,
                    format!("{field}: column \"{name}\" is not in the model's result"),
                )
                .with_hint(format!(
                    "the model returns: {}",
                    list(model_columns.iter().map(|c| c.name.as_str()))
                ))
            })
    };

    let record_match = config.record_match.as_ref().ok_or_else(|| {
        Error::invalid(
            "match",
            "is required for the postgres destination: {\"from\": <model column>, \"to\": <column with a unique index>}",
        )
    })?;
    let (match_column, match_attnum) = target_column("match.to", &record_match.to)?;
    let is_list = config.sync_type == crate::config::SyncType::List;
    for key in ["list", "list_field"] {
        if !is_list && config.destination_keys.contains_key(key) {
            return Err(Error::invalid(
                key,
                "is only for list syncs (type \"list\")",
            ));
        }
    }
    let list = if is_list {
        let name = config.destination_string("list")?.ok_or_else(|| {
            Error::invalid(
                "list",
                "is required for list syncs: the name of the list, e.g. \"vip\"",
            )
        })?;
        let field = config
            .destination_string("list_field")?
            .unwrap_or_else(|| "list".into());
        let (column, attnum) = target_column("list_field", &field)?;
        let unique: Option<bool> = spi::one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 2 \
             AND i.indkey::int2[] @> ARRAY[$2, $3]::int2[])",
            &[table_oid.into(), attnum.into(), match_attnum.into()],
        )?;
        if unique != Some(true) {
            return Err(Error::new(
                SqlState::InvalidColumnReference,
                format!(
                    "match.to: {table} has no unique index on ({field}, {}); list membership needs one",
                    record_match.to
                ),
            )
            .with_hint(format!(
                "CREATE UNIQUE INDEX ON {table} ({}, {})",
                quote_ident(&field),
                quote_ident(&record_match.to)
            )));
        }
        Some(ListTarget { column, name })
    } else {
        None
    };
    let unique: Option<bool> = if is_list {
        Some(true)
    } else {
        spi::one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = $2)",
            &[table_oid.into(), match_attnum.into()],
        )?
    };
    if unique != Some(true) {
        return Err(Error::new(
            SqlState::InvalidColumnReference,
            format!(
                "match.to: column \"{}\" of {table} has no unique index; record matching needs one",
                record_match.to
            ),
        )
        .with_hint(format!(
            "CREATE UNIQUE INDEX ON {table} ({})",
            quote_ident(&record_match.to)
        )));
    }
    let source_columns = config.source_columns();
    let field_of = |name: &str| {
        RunPlan::field(
            source_columns
                .iter()
                .position(|c| c == name)
                .expect("source_columns lists every mapped column"),
        )
    };
    let match_source = model_column("match.from", &record_match.from)?;
    check_cast("match", &match_source.type_sql, &match_column)?;

    let mut assignments = Vec::new();
    for (index, mapping) in config.mappings.iter().enumerate() {
        let path = format!("mappings[{index}]");
        let (column, _) = target_column(&format!("{path}.to"), &mapping.to)?;
        let value = match &mapping.source {
            MappingSource::Column(name) => {
                let source = model_column(&format!("{path}.from"), name)?;
                check_cast(&path, &source.type_sql, &column)?;
                format!("(o.{})::{}", field_of(name), column.type_sql)
            }
            MappingSource::Static(value) => {
                let literal = match value {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => quote_literal(s),
                    other => quote_literal(&other.to_string()),
                };
                let expression = format!("{literal}::{}", column.type_sql);
                in_subtransaction(|| spi::execute(&format!("SELECT {expression}"), &[]))
                    .map_err(|e| {
                        Error::new(
                            e.state,
                            format!("{path}.static: {value} is not a valid {}: {}", column.type_sql, e.message),
                        )
                    })?;
                expression
            }
            MappingSource::Template(_) => {
                return Err(Error::new(
                    SqlState::FeatureNotSupported,
                    format!("{path}.template: template mappings are not supported by the postgres destination"),
                )
                .with_hint("compute the value in the model's query and map the column"))
            }
        };
        assignments.push(Assignment { column, value });
    }

    let mut privileges = vec![];
    match config.mode {
        SyncMode::Update => privileges.extend(["SELECT", "UPDATE"]),
        SyncMode::Insert | SyncMode::Add => privileges.extend(["SELECT", "INSERT"]),
        SyncMode::Remove => privileges.extend(["SELECT", "DELETE"]),
        _ => privileges.extend(["SELECT", "INSERT", "UPDATE"]),
    }
    match config.delete_behavior {
        DeleteBehavior::Delete => privileges.push("DELETE"),
        DeleteBehavior::Clear => privileges.push("UPDATE"),
        DeleteBehavior::Nothing => {}
    }
    for privilege in privileges {
        let granted: Option<bool> = spi::one(
            "SELECT has_table_privilege($1, $2, $3)",
            &[owner.into(), table_oid.into(), privilege.into()],
        )?;
        if granted != Some(true) {
            let role: Option<String> = spi::one("SELECT $1::regrole::text", &[owner.into()])?;
            return Err(Error::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "object: role {} lacks {privilege} on table {table}, which mode \"{}\" with delete behavior \"{}\" needs",
                    role.unwrap_or_default(),
                    config.mode,
                    config.delete_behavior
                ),
            ));
        }
    }

    Ok(PostgresTarget {
        table,
        mode: config.mode,
        delete_behavior: config.delete_behavior,
        match_field: field_of(&record_match.from),
        match_column,
        assignments,
        owner,
        list,
    })
}

/// A model column's values must convert to the target column's type.
fn check_cast(field: &str, from_type: &str, to: &TargetColumn) -> Result<()> {
    in_subtransaction(|| {
        spi::execute(&format!("SELECT (NULL::{from_type})::{}", to.type_sql), &[])
    })
    .map(|_| ())
    .map_err(|e| {
        Error::new(
            e.state,
            format!(
                "{field}: the model's {from_type} values cannot be written to column \"{}\" ({}): {}",
                to.name, to.type_sql, e.message
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(mode: SyncMode, delete_behavior: DeleteBehavior) -> PostgresTarget {
        PostgresTarget {
            table: "crm.contacts".into(),
            mode,
            delete_behavior,
            match_column: TargetColumn {
                name: "email".into(),
                type_sql: "text".into(),
            },
            match_field: "c1".into(),
            assignments: vec![Assignment {
                column: TargetColumn {
                    name: "plan".into(),
                    type_sql: "text".into(),
                },
                value: "(o.c2)::text".into(),
            }],
            owner: pg_sys::Oid::INVALID,
            list: None,
        }
    }

    #[test]
    fn lists_add_and_remove_memberships() {
        let mut add = target(SyncMode::Add, DeleteBehavior::Delete);
        add.list = Some(ListTarget {
            column: TargetColumn {
                name: "list".into(),
                type_sql: "text".into(),
            },
            name: "vip".into(),
        });
        let join = add.statement(Op::Added, "ops").unwrap();
        assert!(
            join.sql
                .contains("(\"list\", \"email\", \"plan\") SELECT 'vip'::text, (o.c1)::text"),
            "{}",
            join.sql
        );
        assert!(join
            .sql
            .ends_with("ON CONFLICT (\"list\", \"email\") DO NOTHING"));
        let leave = add.statement(Op::Removed, "ops").unwrap();
        assert!(
            leave
                .sql
                .ends_with("t.\"list\" = 'vip'::text AND t.\"email\" = (o.match_key)::text"),
            "{}",
            leave.sql
        );
        assert!(add.statement(Op::Changed, "ops").is_none());
        assert_eq!(
            add.clear_sql().unwrap(),
            "DELETE FROM crm.contacts WHERE \"list\" = 'vip'::text"
        );
        let mut remove = add.clone();
        remove.mode = SyncMode::Remove;
        assert!(remove
            .statement(Op::Added, "ops")
            .unwrap()
            .sql
            .ends_with("t.\"email\" = (o.c1)::text"));
        assert!(remove.statement(Op::Removed, "ops").is_none());
    }

    #[test]
    fn upsert_updates_on_conflict_and_insert_does_nothing() {
        let upsert = target(SyncMode::Upsert, DeleteBehavior::Nothing)
            .statement(Op::Added, "ops")
            .unwrap();
        assert!(upsert.sql.contains("INSERT INTO crm.contacts AS t (\"email\", \"plan\") SELECT (o.c1)::text, (o.c2)::text"), "{}", upsert.sql);
        assert!(upsert
            .sql
            .ends_with("ON CONFLICT (\"email\") DO UPDATE SET \"plan\" = EXCLUDED.\"plan\""));
        let insert = target(SyncMode::Insert, DeleteBehavior::Nothing)
            .statement(Op::Added, "ops")
            .unwrap();
        assert!(insert.sql.ends_with("DO NOTHING"));
    }

    #[test]
    fn update_mode_reports_which_records_it_found() {
        let update = target(SyncMode::Update, DeleteBehavior::Nothing)
            .statement(Op::Changed, "ops")
            .unwrap();
        assert!(update.returns_found);
        assert!(update
            .sql
            .starts_with("UPDATE crm.contacts AS t SET \"plan\" = (o.c2)::text"));
        assert!(update
            .sql
            .ends_with("t.\"email\" = (o.c1)::text RETURNING o.pos"));
    }

    #[test]
    fn removals_follow_delete_behavior() {
        assert!(target(SyncMode::Upsert, DeleteBehavior::Nothing)
            .statement(Op::Removed, "ops")
            .is_none());
        let delete = target(SyncMode::Upsert, DeleteBehavior::Delete)
            .statement(Op::Removed, "ops")
            .unwrap();
        assert!(delete
            .sql
            .starts_with("DELETE FROM crm.contacts AS t USING ops AS o"));
        assert!(delete.sql.ends_with("t.\"email\" = (o.match_key)::text"));
        let clear = target(SyncMode::Upsert, DeleteBehavior::Clear)
            .statement(Op::Removed, "ops")
            .unwrap();
        assert!(clear
            .sql
            .starts_with("UPDATE crm.contacts AS t SET \"plan\" = NULL FROM ops AS o"));
    }
}
