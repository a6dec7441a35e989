//! Reading operations out of a run's ops table, the same way for every
//! destination that sends rows from outside SQL (APIs, files).

use crate::error::Result;
use crate::plan::{Op, RunPlan};
use crate::postgres::{spi, Identity};
use serde_json::{Map, Value};

/// One operation of the ops table with the model's values of the sent
/// columns, keyed by model column. A removed row is gone from the model:
/// only its match value is known, typed as the model's column.
#[derive(Debug, Clone)]
pub struct OpRow {
    pub pos: i64,
    pub op: Op,
    pub row_id: String,
    pub row_hash: Option<i64>,
    /// The destination's key of the record: the match value.
    pub match_key: Option<String>,
    pub fields: Map<String, Value>,
}

/// Which operations to read: positions `after < pos <= upto` of the given
/// kinds, in position order, at most `limit` of them.
pub struct Window<'a> {
    pub after: i64,
    pub upto: i64,
    pub ops: &'a [Op],
    pub limit: Option<i64>,
}

/// Read as `reader` (the sync's owner): building the rows' JSON may call
/// the owner's casts of its own types.
pub fn load(plan: &RunPlan, window: &Window, reader: &Identity) -> Result<Vec<OpRow>> {
    let limit = window
        .limit
        .map(|n| format!(" LIMIT {n}"))
        .unwrap_or_default();
    let ops: Vec<String> = window
        .ops
        .iter()
        .map(|op| op.as_str().to_string())
        .collect();
    reader.run(|| {
        spi::rows(
            &format!(
                "SELECT o.pos, o.op, o.row_id, o.row_hash, o.match_key, \
                    CASE WHEN o.op = 'removed' THEN {} ELSE {} END FROM {} o \
             WHERE o.pos > $1 AND o.pos <= $2 AND o.op = ANY($3) ORDER BY o.pos{limit}",
                plan.removed_fields_json_text("o"),
                plan.fields_json_text("o"),
                plan.ops_table
            ),
            &[window.after.into(), window.upto.into(), ops.into()],
            |row| {
                let op: String = spi::get(row, 2)?;
                let text: String = spi::get(row, 6)?;
                Ok(OpRow {
                    pos: spi::get(row, 1)?,
                    op: Op::parse(&op).unwrap_or(Op::Added),
                    row_id: spi::get(row, 3)?,
                    row_hash: row.get::<i64>(4)?,
                    match_key: row.get::<String>(5)?,
                    fields: match serde_json::from_str(&text) {
                        Ok(Value::Object(map)) => map,
                        _ => Map::new(),
                    },
                })
            },
        )
    })
}
