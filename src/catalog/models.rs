//! `models`: a query, its primary key, the search_path it runs with and its columns.

use super::{ensure_name_free, insert_returning_id, lookup, ObjectRef};
use crate::error::{Error, Result, SqlState};
use crate::plan::ModelColumn;
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Model {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub primary_key: Vec<String>,
    pub search_path: String,
    pub columns: Vec<ModelColumn>,
}

pub fn model_id(reference: &ObjectRef) -> Result<i64> {
    lookup("models", "model", reference)
}

pub fn columns_to_json(columns: &[ModelColumn]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_sql}))
            .collect(),
    )
}

pub fn insert_model(
    name: &str,
    query: &str,
    primary_key: &[String],
    search_path: &str,
    columns: &[ModelColumn],
    owner: pg_sys::Oid,
) -> Result<i64> {
    ensure_name_free("models", "model", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.models (name, query, primary_key, search_path, columns, owner) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            name.into(),
            query.into(),
            primary_key.to_vec().into(),
            search_path.into(),
            JsonB(columns_to_json(columns)).into(),
            owner.into(),
        ],
    )
}

pub fn load_model(id: i64) -> Result<Model> {
    let mut rows = spi::rows(
        "SELECT id, name, query, primary_key, search_path, columns FROM reverse_etl.models WHERE id = $1",
        &[id.into()],
        |row| {
            let columns: JsonB = spi::get(row, 6)?;
            let columns = columns
                .0
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|c| ModelColumn {
                            name: c["name"].as_str().unwrap_or_default().to_string(),
                            type_sql: c["type"].as_str().unwrap_or_default().to_string(),
                            hashable: true,
                            type_oid: 0,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Model {
                id: spi::get(row, 1)?,
                name: spi::get(row, 2)?,
                query: spi::get(row, 3)?,
                primary_key: spi::get(row, 4)?,
                search_path: spi::get(row, 5)?,
                columns,
            })
        },
    )?;
    rows.pop().ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("model {id} does not exist"),
        )
    })
}

/// Replace a model's definition (same id: its syncs and their history stay).
pub fn update_model(
    id: i64,
    query: &str,
    primary_key: &[String],
    search_path: &str,
    columns: &[ModelColumn],
) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.models SET query = $2, primary_key = $3, search_path = $4, columns = $5, \
         updated_at = now() WHERE id = $1",
        &[
            id.into(),
            query.into(),
            primary_key.to_vec().into(),
            search_path.into(),
            JsonB(columns_to_json(columns)).into(),
        ],
    )?;
    Ok(())
}
