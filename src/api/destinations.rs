//! Destinations: where syncs send, validated by their kind.

use super::{call, Caller};
use crate::catalog::{self, ObjectRef, Owned};
use crate::engine::lifecycle::{self, Dropping};
use crate::engine::validate;
use crate::error::{Error, Result};
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;

/// With `replace`, a destination of that name that is the caller's takes
/// the new config in place (its kind cannot change).
#[pg_extern]
fn create_destination(
    name: &str,
    kind: &str,
    config: default!(JsonbArg, "'{}'"),
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        let config = config.into_value("config")?;
        if let Some(id) = catalog::find(Owned::Destination, name)?.filter(|_| replace) {
            catalog::authorize(Owned::Destination, id, caller.role)?;
            let existing = catalog::load_destination(id)?;
            if existing.kind != kind {
                return Err(Error::invalid(
                    "kind",
                    format!(
                        "destination \"{name}\" is of kind {}; a destination's kind cannot change",
                        existing.kind
                    ),
                )
                .with_hint("drop the destination (drop_destination) and create it again"));
            }
            lifecycle::update_destination(id, &config, false, caller.role)?;
            return Ok(id);
        }
        validate::destination_config(kind, &config, caller.role)?;
        catalog::insert_destination(name, kind, &config, caller.role)
    })
}

fn update_destination_impl(
    caller: &Caller,
    destination: ObjectRef,
    config: JsonbArg,
    force: bool,
) -> Result<()> {
    let config = config.into_value("config")?;
    let id = catalog::owned(Owned::Destination, &destination, caller.role)?;
    lifecycle::update_destination(id, &config, force, caller.role)
}

/// Replace a destination's config; the syncs that send to it are checked again.
#[pg_extern(name = "update_destination")]
fn update_destination_by_name(destination: &str, config: JsonbArg, force: default!(bool, false)) {
    call(|caller| {
        update_destination_impl(caller, ObjectRef::Name(destination.into()), config, force)
    })
}

#[pg_extern(name = "update_destination")]
fn update_destination_by_id(destination: i64, config: JsonbArg, force: default!(bool, false)) {
    call(|caller| update_destination_impl(caller, ObjectRef::Id(destination), config, force))
}

fn drop_destination_impl(caller: &Caller, destination: ObjectRef, how: Dropping) -> Result<()> {
    let id = catalog::owned(Owned::Destination, &destination, caller.role)?;
    lifecycle::drop_destination(id, how, caller.role)
}

#[pg_extern(name = "drop_destination")]
fn drop_destination_by_name(
    destination: &str,
    cascade: default!(bool, false),
    keep_history: default!(bool, true),
) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_destination_impl(caller, ObjectRef::Name(destination.into()), how))
}

#[pg_extern(name = "drop_destination")]
fn drop_destination_by_id(
    destination: i64,
    cascade: default!(bool, false),
    keep_history: default!(bool, true),
) {
    let how = Dropping {
        cascade,
        keep_history,
    };
    call(|caller| drop_destination_impl(caller, ObjectRef::Id(destination), how))
}
