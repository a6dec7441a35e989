//! Models: a query and the columns that identify its rows.

use super::{call, Caller};
use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::lifecycle::{self, Dropping, ModelUpdate};
use crate::engine::model;
use crate::error::{Error, Result};
use pgrx::prelude::*;

fn primary_key_names(primary_key: Vec<Option<String>>) -> Result<Vec<String>> {
    primary_key
        .into_iter()
        .enumerate()
        .map(|(index, key)| {
            key.ok_or_else(|| Error::invalid(&format!("primary_key[{index}]"), "must not be null"))
        })
        .collect()
}

/// With `replace`, a model of that name that is the caller's is changed in
/// place (left as it is when the definition is the same).
#[pg_extern]
fn create_model(
    name: &str,
    query: &str,
    primary_key: Vec<Option<String>>,
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        let primary_key = primary_key_names(primary_key)?;
        if let Some(id) = catalog::find(Owned::Model, name)?.filter(|_| replace) {
            catalog::authorize(Owned::Model, id, caller.role)?;
            let update = ModelUpdate {
                query: Some(query),
                primary_key: Some(primary_key),
                search_path: &caller.search_path,
                force: false,
            };
            lifecycle::update_model(id, update, caller.role)?;
            return Ok(id);
        }
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

fn update_model_impl(
    caller: &Caller,
    model: ObjectRef,
    query: Option<&str>,
    primary_key: Option<Vec<Option<String>>>,
    force: bool,
) -> Result<()> {
    let id = catalog::owned(Owned::Model, &model, caller.role)?;
    let update = ModelUpdate {
        query,
        primary_key: primary_key.map(primary_key_names).transpose()?,
        search_path: &caller.search_path,
        force,
    };
    lifecycle::update_model(id, update, caller.role)
}

/// Change a model's query and/or primary key (NULL keeps it).
#[pg_extern(name = "update_model")]
fn update_model_by_name(
    model: &str,
    query: default!(Option<&str>, "NULL"),
    primary_key: default!(Option<Vec<Option<String>>>, "NULL"),
    force: default!(bool, false),
) {
    call(|caller| {
        update_model_impl(
            caller,
            ObjectRef::Name(model.into()),
            query,
            primary_key,
            force,
        )
    })
}

#[pg_extern(name = "update_model")]
fn update_model_by_id(
    model: i64,
    query: default!(Option<&str>, "NULL"),
    primary_key: default!(Option<Vec<Option<String>>>, "NULL"),
    force: default!(bool, false),
) {
    call(|caller| update_model_impl(caller, ObjectRef::Id(model), query, primary_key, force))
}

fn drop_model_impl(caller: &Caller, model: ObjectRef, how: Dropping) -> Result<()> {
    let id = catalog::owned(Owned::Model, &model, caller.role)?;
    lifecycle::drop_model(id, how, caller.role)
}

#[pg_extern(name = "drop_model")]
fn drop_model_by_name(
    model: &str,
    cascade: default!(bool, false),
    keep_history: default!(bool, true),
) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_model_impl(caller, ObjectRef::Name(model.into()), how))
}

#[pg_extern(name = "drop_model")]
fn drop_model_by_id(
    model: i64,
    cascade: default!(bool, false),
    keep_history: default!(bool, true),
) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_model_impl(caller, ObjectRef::Id(model), how))
}
