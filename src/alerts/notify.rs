//! `notify` channels: `NOTIFY <channel>, '<generic body>'`, delivered to
//! the database's listeners when the sending transaction commits.

use super::{ChannelKind, Event};
use crate::catalog::alerts::ChannelRow;
use crate::config::json::ObjectReader;
use crate::error::{Error, Result};
use crate::postgres::spi;
use pgrx::pg_sys;
use serde_json::Value;

pub struct Notify;

const DEFAULT_CHANNEL: &str = "reverse_etl_alerts";

fn channel_name(config: &Value) -> String {
    config
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_CHANNEL)
        .to_string()
}

impl ChannelKind for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn check_config(&self, config: &Value, _owner: pg_sys::Oid) -> Result<()> {
        let reader = ObjectReader::new("config", config)?;
        reader.deny_unknown(&["channel"])?;
        if let Some(name) = reader.string("channel")? {
            let valid = !name.is_empty()
                && name.len() < 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::invalid(
                    "config.channel",
                    "must be a name of up to 63 letters, digits and underscores",
                ));
            }
        }
        Ok(())
    }

    fn body(&self, _config: &Value, event: &Event) -> Value {
        event.generic()
    }

    fn send(
        &self,
        channel: &ChannelRow,
        _id: i64,
        body: &Value,
    ) -> std::result::Result<String, String> {
        let name = channel_name(&channel.config);
        spi::execute(
            "SELECT pg_catalog.pg_notify($1, $2)",
            &[name.as_str().into(), body.to_string().into()],
        )
        .map(|_| format!("NOTIFY {name}"))
        .map_err(|e| e.to_string())
    }
}
