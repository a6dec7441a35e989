//! Destinations: where syncs send, validated by their kind.

use super::call;
use crate::catalog::{self};
use crate::engine::validate;
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;

#[pg_extern]
fn create_destination(name: &str, kind: &str, config: default!(JsonbArg, "'{}'")) -> i64 {
    call(|caller| {
        let config = config.into_value("config")?;
        validate::destination_config(kind, &config, caller.role)?;
        catalog::insert_destination(name, kind, &config, caller.role)
    })
}
