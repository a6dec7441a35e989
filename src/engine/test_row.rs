//! Test a row: send exactly what a run would send for one row of the model
//! (optionally with some values edited), from the calling session, and show
//! the request and the response. No snapshot, run or changelog is touched.

use super::validate::{self, SyncDefinition};
use crate::catalog;
use crate::destinations::TestRow;
use crate::error::{Error, Result, SqlState};
use crate::plan::Op;
use crate::postgres::{in_subtransaction, spi, Identity};
use pgrx::JsonB;
use serde_json::{Map, Value};

pub fn test_row(
    sync_id: i64,
    row_id: &str,
    op: &str,
    values: Option<&Value>,
    dry_run: bool,
) -> Result<Value> {
    let op = Op::parse(op).ok_or_else(|| {
        Error::invalid(
            "op",
            format!("\"{op}\" is not one of: added, changed, removed"),
        )
    })?;
    let sync = catalog::load_sync(sync_id)?;
    let valid = validate::sync_config(&SyncDefinition::stored(&sync))?;
    // No work tables: the row is read from the model and sent from here.
    let plan = valid.plan(String::new(), String::new());

    // The row as the model returns it now, read as the sync's owner.
    let columns = plan
        .columns
        .iter()
        .map(|c| crate::sql::quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let lookup = format!(
        "SELECT to_jsonb(x) FROM (SELECT {columns} FROM ({}\n) AS m WHERE {} = $1 LIMIT 2) AS x",
        plan.query,
        plan.row_id_expression()
    );
    let owner = Identity {
        role: sync.owner,
        search_path: valid.model.search_path.clone(),
    };
    let found: Vec<JsonB> = in_subtransaction(|| {
        owner.run(|| spi::rows(&lookup, &[row_id.into()], |row| spi::get(row, 1)))
    })
    .map_err(|e| e.context(format!("model \"{}\"", valid.model.name)))?;
    if found.len() > 1 {
        return Err(Error::invalid(
            "row_id",
            format!(
                "\"{row_id}\" is the id of more than one row; such rows are invalid and never sent"
            ),
        ));
    }
    let snapshot_key = catalog::state::snapshot_match_key(sync.id, row_id)?;
    let model_row = found.into_iter().next().map(|j| j.0);
    let mut fields: Map<String, Value> = match (&model_row, op) {
        (Some(Value::Object(map)), _) => map.clone(),
        (None, Op::Removed) if snapshot_key.is_some() => Map::new(),
        _ => {
            return Err(Error::new(
                SqlState::UndefinedObject,
                format!(
                    "row_id: model \"{}\" has no row with id \"{row_id}\"",
                    valid.model.name
                ),
            ))
        }
    };
    let match_from = valid.config.record_match.as_ref().map(|m| m.from.clone());
    if let Some(edits) = values {
        let Value::Object(edits) = edits else {
            return Err(Error::invalid(
                "values",
                "must be a JSON object of model column → value",
            ));
        };
        for (column, value) in edits {
            if !plan.columns.iter().any(|c| &c.name == column) {
                return Err(Error::invalid(
                    &format!("values.{column}"),
                    "is not a column this sync sends",
                ));
            }
            if Some(column) == match_from.as_ref() {
                return Err(Error::invalid(
                    &format!("values.{column}"),
                    "the record-matching column cannot be edited",
                ));
            }
            fields.insert(column.clone(), value.clone());
        }
    }
    let model_key = match_from
        .as_ref()
        .and_then(|from| fields.get(from))
        .map(as_text);
    let match_key = match op {
        Op::Removed => snapshot_key.or(model_key),
        _ => model_key,
    };
    if op == Op::Removed {
        // A removed row is gone from the model: a run knows only its match value.
        fields = Map::new();
        if let (Some(from), Some(key)) = (&match_from, &match_key) {
            fields.insert(from.clone(), Value::String(key.clone()));
        }
    }
    let row = TestRow {
        row_id: row_id.to_string(),
        op,
        fields,
        match_key,
    };
    let mut target = valid.target;
    target.start_run(0, sync.id)?;
    let result = target.test_row(&plan, &row, dry_run)?;
    let sent = result
        .get("responses")
        .and_then(Value::as_array)
        .is_some_and(|responses| !responses.is_empty());
    // An event sent by a test is an event delivered: nothing to mend.
    if sent && valid.config.sync_type != crate::config::SyncType::Event {
        // The destination may now hold what the test sent (edited values,
        // a removal): the next run sends this row again, so it ends as the
        // model says.
        catalog::state::mark_for_resend(sync.id, row_id)?;
    }
    Ok(result)
}

/// A JSON value as the text PostgreSQL would print for it.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
