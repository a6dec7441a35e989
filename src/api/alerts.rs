//! Alert channels: where a sync's alerts are sent.

use super::{call, Caller};
use crate::alerts;
use crate::catalog::{self, alerts as catalog_alerts, ObjectRef, Owned};
use crate::error::{Error, Result};
use crate::postgres::json_arg::JsonbArg;
use pgrx::prelude::*;

/// With `replace`, a channel of that name that is the caller's takes the
/// new config in place (its kind cannot change).
#[pg_extern]
fn create_alert_channel(
    name: &str,
    kind: &str,
    config: default!(JsonbArg, "'{}'"),
    replace: default!(bool, false),
) -> i64 {
    call(|caller| {
        let config = config.into_value("config")?;
        alerts::kind(kind)?.check_config(&config, caller.role)?;
        if let Some(id) = catalog::find(Owned::AlertChannel, name)?.filter(|_| replace) {
            catalog::authorize(Owned::AlertChannel, id, caller.role)?;
            let existing = catalog_alerts::load_channel(id)?;
            if existing.kind != kind {
                return Err(Error::invalid(
                    "kind",
                    format!(
                        "alert channel \"{name}\" is of kind {}; a channel's kind cannot change",
                        existing.kind
                    ),
                ));
            }
            if existing.config != config {
                catalog_alerts::update_channel_config(id, &config)?;
            }
            return Ok(id);
        }
        catalog_alerts::insert_channel(name, kind, &config, caller.role)
    })
}

fn update_impl(caller: &Caller, channel: ObjectRef, config: JsonbArg) -> Result<()> {
    let config = config.into_value("config")?;
    let id = catalog::owned(Owned::AlertChannel, &channel, caller.role)?;
    let existing = catalog_alerts::load_channel(id)?;
    alerts::kind(&existing.kind)?.check_config(&config, existing.owner)?;
    catalog_alerts::update_channel_config(id, &config)
}

/// Replace a channel's config, validated as by create_alert_channel.
#[pg_extern(name = "update_alert_channel")]
fn update_alert_channel_by_name(channel: &str, config: JsonbArg) {
    call(|caller| update_impl(caller, ObjectRef::Name(channel.into()), config))
}

#[pg_extern(name = "update_alert_channel")]
fn update_alert_channel_by_id(channel: i64, config: JsonbArg) {
    call(|caller| update_impl(caller, ObjectRef::Id(channel), config))
}

fn drop_impl(caller: &Caller, channel: ObjectRef, cascade: bool) -> Result<()> {
    let id = catalog::owned(Owned::AlertChannel, &channel, caller.role)?;
    crate::engine::lifecycle::drop_alert_channel(id, cascade, caller.role)
}

/// Drop a channel; refused while a sync's alerts name it, unless cascade
/// (which takes it out of those syncs' alerts.channels).
#[pg_extern(name = "drop_alert_channel")]
fn drop_alert_channel_by_name(channel: &str, cascade: default!(bool, false)) {
    call(|caller| drop_impl(caller, ObjectRef::Name(channel.into()), cascade))
}

#[pg_extern(name = "drop_alert_channel")]
fn drop_alert_channel_by_id(channel: i64, cascade: default!(bool, false)) {
    call(|caller| drop_impl(caller, ObjectRef::Id(channel), cascade))
}
