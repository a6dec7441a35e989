//! Models: a query and the columns that identify its rows.

use super::call;
use crate::catalog::{self};
use crate::engine::model;
use crate::error::{Error, Result};
use pgrx::prelude::*;

#[pg_extern]
fn create_model(name: &str, query: &str, primary_key: Vec<Option<String>>) -> i64 {
    call(|caller| {
        let primary_key = primary_key
            .into_iter()
            .enumerate()
            .map(|(index, key)| {
                key.ok_or_else(|| {
                    Error::invalid(&format!("primary_key[{index}]"), "must not be null")
                })
            })
            .collect::<Result<Vec<String>>>()?;
        let query = model::normalize_query(query)?;
        model::check_single_statement(&query)?;
        let columns = model::describe(&query, &caller.search_path, caller.role)?;
        model::check_primary_key(&primary_key, &columns)?;
        catalog::insert_model(
            name,
            &query,
            &primary_key,
            &caller.search_path,
            &columns,
            caller.role,
        )
    })
}
