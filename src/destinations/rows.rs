//! Reading operations out of a run's ops table, the same way for every
//! destination that sends rows from outside SQL (APIs, files).

use super::Rejection;
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
/// kinds, in position order. A row larger than `max_row_bytes` is not
/// loaded: it comes back as a rejection.
pub struct Window<'a> {
    pub after: i64,
    pub upto: i64,
    pub ops: &'a [Op],
    pub max_row_bytes: i64,
}

/// The rows of a window, and the rows too large to load.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rows: Vec<OpRow>,
    pub oversized: Vec<Rejection>,
}

fn op_names(ops: &[Op]) -> Vec<String> {
    ops.iter().map(|op| op.as_str().to_string()).collect()
}

/// Where a window starting after `after` must end so that it holds at most
/// `max_rows` operations and about `max_bytes` of their values (at least
/// one row, however large; rows too large to load count as nothing).
/// None when no operation follows `after`.
pub fn window_end(
    plan: &RunPlan,
    window: &Window,
    max_rows: i64,
    max_bytes: i64,
    reader: &Identity,
) -> Result<Option<i64>> {
    reader.run(|| {
        spi::one::<i64>(
            &format!(
                "SELECT coalesce(max(pos) FILTER (WHERE total <= $5), min(pos)) FROM ( \
                   SELECT pos, sum(CASE WHEN size > $6 THEN 0 ELSE size END) \
                            OVER (ORDER BY pos ROWS UNBOUNDED PRECEDING) AS total \
                   FROM (SELECT o.pos, {} AS size FROM {} o \
                         WHERE o.pos > $1 AND o.pos <= $2 AND o.op = ANY($3) \
                         ORDER BY o.pos LIMIT $4) o) w",
                plan.row_size_sql("o"),
                plan.ops_table
            ),
            &[
                window.after.into(),
                window.upto.into(),
                op_names(window.ops).into(),
                max_rows.max(1).into(),
                max_bytes.into(),
                window.max_row_bytes.into(),
            ],
        )
    })
}

/// Read as `reader` (the sync's owner): building the rows' JSON may call
/// the owner's casts of its own types.
pub fn load(plan: &RunPlan, window: &Window, reader: &Identity) -> Result<Loaded> {
    let max_row_bytes = window.max_row_bytes;
    let rows = reader.run(|| {
        spi::rows(
            &format!(
                "SELECT pos, op, row_id, row_hash, match_key, size, \
                        CASE WHEN size > $4 THEN NULL WHEN op = 'removed' THEN {} ELSE {} END \
                 FROM (SELECT o.*, {} AS size FROM {} o \
                       WHERE o.pos > $1 AND o.pos <= $2 AND o.op = ANY($3)) o ORDER BY pos",
                plan.removed_fields_json_text("o"),
                plan.fields_json_text("o"),
                plan.row_size_sql("o"),
                plan.ops_table
            ),
            &[
                window.after.into(),
                window.upto.into(),
                op_names(window.ops).into(),
                max_row_bytes.into(),
            ],
            |row| {
                let pos: i64 = spi::get(row, 1)?;
                let Some(text) = row.get::<String>(7)? else {
                    let size: i64 = spi::get(row, 6)?;
                    return Ok(Err(Rejection {
                        pos,
                        reason: format!(
                            "the row's values are {size} bytes, more than reverse_etl.max_row_bytes \
                             ({max_row_bytes} bytes): not loaded"
                        ),
                        payload: None,
                    }));
                };
                let op: String = spi::get(row, 2)?;
                Ok(Ok(OpRow {
                    pos,
                    op: Op::parse(&op).unwrap_or(Op::Added),
                    row_id: spi::get(row, 3)?,
                    row_hash: row.get::<i64>(4)?,
                    match_key: row.get::<String>(5)?,
                    fields: match serde_json::from_str(&text) {
                        Ok(Value::Object(map)) => map,
                        _ => Map::new(),
                    },
                }))
            },
        )
    })?;
    let mut loaded = Loaded::default();
    for row in rows {
        match row {
            Ok(row) => loaded.rows.push(row),
            Err(rejection) => loaded.oversized.push(rejection),
        }
    }
    Ok(loaded)
}
