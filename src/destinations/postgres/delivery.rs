//! Delivering batches to the table: the batch's statement in a
//! subtransaction as the sync's owner; if a row's data makes it fail, each
//! operation again on its own so only the bad rows are rejected.

use super::statements::{PostgresTarget, Statement};
use crate::config::SyncMode;
use crate::destinations::{
    is_interruption, is_row_level_error, Batch, BatchOutcome, Destination, Rejection, TestRow,
};
use crate::error::{Error, Result, SqlState};
use crate::plan::RunPlan;
use crate::postgres::{in_subtransaction, spi};
use crate::sql::{list, quote_literal};
use serde_json::Value;

impl Destination for PostgresTarget {
    fn delivers_in_the_recording_transaction(&self) -> bool {
        true
    }

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

    fn test_row(&mut self, plan: &RunPlan, row: &TestRow, dry_run: bool) -> Result<Value> {
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
        let outcome = self.identity.run(|| {
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

    fn resolved_config(&self) -> serde_json::Map<String, Value> {
        let mut resolved = serde_json::Map::new();
        resolved.insert("object".into(), Value::String(self.table.clone()));
        resolved
    }

    fn clear(&mut self) -> Result<()> {
        let sql = self.clear_sql().ok_or_else(|| {
            Error::new(
                SqlState::FeatureNotSupported,
                "sync: clear and fill is for list syncs (type \"list\")",
            )
        })?;
        self.identity
            .run(|| spi::execute(&sql, &[]))
            .map_err(|e| e.context(format!("clearing the list in {}", self.table)))?;
        Ok(())
    }
}

impl PostgresTarget {
    fn deliver_statement(&mut self, batch: &Batch) -> Result<Vec<Rejection>> {
        let Some(statement) = self.statement(batch.op, &batch.plan.ops_table) else {
            return Ok(Vec::new());
        };
        let whole = self
            .identity
            .run(|| in_subtransaction(|| run_statement(&statement, batch.after, batch.upto)));
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
            let outcome = self
                .identity
                .run(|| in_subtransaction(|| run_statement(statement, pos - 1, pos)));
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
                        payload: self.payload(batch, pos),
                    });
                }
                Ok(_) => {}
                Err(error) if is_interruption(error.state.code()) => return Err(error),
                Err(error) => rejections.push(Rejection {
                    pos,
                    reason: describe(&error),
                    payload: self.payload(batch, pos),
                }),
            }
        }
        Ok(rejections)
    }
}

impl PostgresTarget {
    /// What the statement wrote for the row at `pos`, as the sync's owner
    /// (its casts); None where a value cannot be computed (the bad value
    /// is then in the reason, and the model's value in the fields).
    fn payload(&self, batch: &Batch, pos: i64) -> Option<Value> {
        let sql = self.payload_sql(batch.op, &batch.plan.ops_table);
        self.identity
            .run(|| in_subtransaction(|| spi::one::<pgrx::JsonB>(&sql, &[pos.into()])))
            .ok()
            .flatten()
            .map(|payload| payload.0)
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
