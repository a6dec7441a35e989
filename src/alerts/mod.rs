//! Alert channels behind one trait: what a kind's config is, what an alert
//! event looks like on it, and how it is sent. The registry (`KINDS`) is the
//! only list of kinds; the rest of the extension never matches on a name.

pub mod email;
pub mod notify;
pub mod webhook;

use crate::catalog::alerts::ChannelRow;
use crate::error::{Error, Result};
use pgrx::pg_sys;
use serde_json::{json, Value};

static KINDS: &[&dyn ChannelKind] = &[&webhook::Webhook, &email::Email, &notify::Notify];

pub fn kind(name: &str) -> Result<&'static dyn ChannelKind> {
    KINDS
        .iter()
        .copied()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| {
            Error::invalid(
                "kind",
                format!(
                    "unknown alert channel kind \"{name}\" (expected one of: {})",
                    KINDS
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// A change of an alert's state, as channels are told of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `alert.opened` or `alert.resolved`.
    pub event: &'static str,
    pub alert_id: i64,
    pub sync_id: i64,
    pub sync: String,
    pub trigger: String,
    pub level: String,
    pub message: String,
    /// The run that changed it (None: the scheduler saw it between runs).
    pub run_id: Option<i64>,
    /// RFC 3339, UTC.
    pub at: String,
}

impl Event {
    /// The generic body (also what `notify` sends).
    pub fn generic(&self) -> Value {
        json!({
            "event": self.event, "alert_id": self.alert_id, "sync_id": self.sync_id,
            "sync": self.sync, "trigger": self.trigger, "level": self.level,
            "message": self.message, "run_id": self.run_id, "at": self.at,
        })
    }

    pub fn opened(&self) -> bool {
        self.event == "alert.opened"
    }
}

pub trait ChannelKind: Sync {
    fn name(&self) -> &'static str;

    /// Check a channel's config (`create_alert_channel`); secrets must be `owner`'s.
    fn check_config(&self, config: &Value, owner: pg_sys::Oid) -> Result<()>;

    /// What the channel is sent for `event`, stored with the notification.
    fn body(&self, config: &Value, event: &Event) -> Value;

    /// Send one notification (`id` is its stable id, for receivers to drop
    /// repeats). Ok: the channel's answer; Err: why it failed (retried).
    fn send(
        &self,
        channel: &ChannelRow,
        id: i64,
        body: &Value,
    ) -> std::result::Result<String, String>;
}
