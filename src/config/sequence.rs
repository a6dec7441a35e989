//! A sequence's steps: which syncs, in order, and what a failing step means.

use super::json::ObjectReader;
use crate::error::{Error, Result};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Stop,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The sync as the user named it (name or id), resolved by the catalog.
    pub sync: Value,
    pub on_failure: OnFailure,
    /// A run that rejects more than this share of its planned operations
    /// counts as failed for the sequence.
    pub max_rejected_share: Option<f64>,
}

pub fn parse_steps(value: &Value) -> Result<Vec<Step>> {
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(Error::invalid(
            "steps",
            "must be a non-empty list of {\"sync\": …, \"on_failure\": \"stop\" | \"continue\"}",
        )),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let path = format!("steps[{index}]");
            // A bare name or id is a step with the defaults.
            if item.is_string() || item.is_number() {
                return Ok(Step {
                    sync: item.clone(),
                    on_failure: OnFailure::Stop,
                    max_rejected_share: None,
                });
            }
            let reader = ObjectReader::new(&path, item)?;
            reader.deny_unknown(&["sync", "on_failure", "max_rejected_share"])?;
            let sync = reader
                .value("sync")
                .filter(|v| v.is_string() || v.is_number())
                .cloned()
                .ok_or_else(|| {
                    Error::invalid(
                        &reader.field_path("sync"),
                        "is required: a sync's name or id",
                    )
                })?;
            let on_failure = match reader.string("on_failure")?.as_deref() {
                None | Some("stop") => OnFailure::Stop,
                Some("continue") => OnFailure::Continue,
                Some(other) => {
                    return Err(Error::invalid(
                        &reader.field_path("on_failure"),
                        format!("unknown policy \"{other}\" (expected stop or continue)"),
                    ))
                }
            };
            let max_rejected_share = match reader.value("max_rejected_share") {
                None => None,
                Some(v) => Some(v.as_f64().filter(|s| (0.0..=1.0).contains(s)).ok_or_else(
                    || {
                        Error::invalid(
                            &reader.field_path("max_rejected_share"),
                            "must be a number between 0 and 1",
                        )
                    },
                )?),
            };
            Ok(Step {
                sync,
                on_failure,
                max_rejected_share,
            })
        })
        .collect()
}

/// Steps as stored, with each sync resolved to its id.
pub fn stored(steps: &[Step], sync_ids: &[i64]) -> Value {
    Value::Array(
        steps
            .iter()
            .zip(sync_ids)
            .map(|(step, id)| {
                json!({"sync_id": id, "on_failure": match step.on_failure { OnFailure::Stop => "stop", OnFailure::Continue => "continue" },
                       "max_rejected_share": step.max_rejected_share})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        let steps = parse_steps(
            &json!(["a", {"sync": "b", "on_failure": "continue", "max_rejected_share": 0.1}]),
        )
        .unwrap();
        assert_eq!(steps[0].on_failure, OnFailure::Stop);
        assert_eq!(steps[1].on_failure, OnFailure::Continue);
        assert_eq!(steps[1].max_rejected_share, Some(0.1));
        for (doc, expected) in [
            (json!([]), "steps: must be a non-empty list"),
            (
                json!([{"on_failure": "stop"}]),
                "steps[0].sync: is required",
            ),
            (
                json!([{"sync": "a", "on_failure": "retry"}]),
                "steps[0].on_failure: unknown policy \"retry\"",
            ),
            (
                json!([{"sync": "a", "max_rejected_share": 2}]),
                "steps[0].max_rejected_share: must be a number between 0 and 1",
            ),
        ] {
            assert!(
                parse_steps(&doc).unwrap_err().message.starts_with(expected),
                "{doc}"
            );
        }
    }
}
