//! When a sync runs on its own. Parsing and validation only; the launcher
//! that acts on schedules lives in `crate::schedule`.

use super::json::ObjectReader;
use crate::error::{Error, Result};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Manual,
    /// Every `seconds`, as written by the user in `text` ("15 minutes").
    Interval {
        seconds: i64,
        text: String,
    },
    /// A standard 5-field cron expression.
    Cron {
        expression: String,
    },
}

/// The shortest interval a schedule may have.
pub const MIN_INTERVAL_SECONDS: i64 = 60;

impl Schedule {
    pub fn parse(field: &str, value: &Value) -> Result<Schedule> {
        let reader = ObjectReader::new(field, value)?;
        reader.deny_unknown(&["manual", "interval", "cron"])?;
        let kinds = ["manual", "interval", "cron"]
            .iter()
            .filter(|k| reader.has(k))
            .count();
        if kinds != 1 {
            return Err(Error::invalid(
                field,
                "needs exactly one of \"manual\", \"interval\" or \"cron\"",
            ));
        }
        if let Some(manual) = reader.boolean("manual")? {
            if !manual {
                return Err(Error::invalid(
                    &reader.field_path("manual"),
                    "must be true (to run on a timer use \"interval\" or \"cron\")",
                ));
            }
            return Ok(Schedule::Manual);
        }
        if reader.has("interval") {
            let path = reader.field_path("interval");
            let text = reader.required_string("interval")?;
            let seconds = parse_interval(&path, &text)?;
            return Ok(Schedule::Interval { seconds, text });
        }
        let path = reader.field_path("cron");
        let expression = reader.required_string("cron")?;
        validate_cron(&path, &expression)?;
        Ok(Schedule::Cron { expression })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Schedule::Manual => json!({"manual": true}),
            Schedule::Interval { text, .. } => json!({"interval": text}),
            Schedule::Cron { expression } => json!({"cron": expression}),
        }
    }
}

/// "15 minutes", "1 hour", "2 days", "1 week" → seconds.
pub fn parse_interval(field: &str, text: &str) -> Result<i64> {
    let mut parts = text.split_whitespace();
    let (Some(count), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::invalid(
            field,
            format!("\"{text}\" is not \"<number> <unit>\", e.g. \"15 minutes\""),
        ));
    };
    let count: i64 = count
        .parse()
        .map_err(|_| Error::invalid(field, format!("\"{count}\" is not a whole number")))?;
    if count <= 0 {
        return Err(Error::invalid(
            field,
            "the interval must be greater than zero",
        ));
    }
    let unit_seconds = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "minute" | "min" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 604_800,
        _ => {
            return Err(Error::invalid(
                field,
                format!("unknown unit \"{unit}\" (expected minutes, hours, days or weeks)"),
            ))
        }
    };
    let seconds = count
        .checked_mul(unit_seconds)
        .ok_or_else(|| Error::invalid(field, "the interval is too long"))?;
    if seconds < MIN_INTERVAL_SECONDS {
        return Err(Error::invalid(field, "the shortest interval is 1 minute"));
    }
    Ok(seconds)
}

/// Checks a 5-field cron expression: minute hour day-of-month month day-of-week,
/// each `*`, a number, a range `a-b`, a list `a,b` and an optional step `/n`.
pub fn validate_cron(field: &str, expression: &str) -> Result<()> {
    const FIELDS: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of month", 1, 31),
        ("month", 1, 12),
        ("day of week", 0, 7),
    ];
    let parts: Vec<&str> = expression.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(Error::invalid(
            field,
            format!(
                "\"{expression}\" has {} fields; cron needs 5 (minute hour day-of-month month day-of-week)",
                parts.len()
            ),
        ));
    }
    for (part, (name, low, high)) in parts.iter().zip(FIELDS) {
        for item in part.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            let bad = || {
                Error::invalid(
                    field,
                    format!("\"{item}\" is not a valid {name} (allowed {low}-{high})"),
                )
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n > 0 => {}
                    _ => return Err(bad()),
                }
            }
            if range == "*" {
                continue;
            }
            let (start, end) = range.split_once('-').unwrap_or((range, range));
            let start: u32 = start.parse().map_err(|_| bad())?;
            let end: u32 = end.parse().map_err(|_| bad())?;
            if start < low || end > high || start > end {
                return Err(bad());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("s", "15 minutes").unwrap(), 900);
        assert_eq!(parse_interval("s", "1 hour").unwrap(), 3600);
        assert_eq!(parse_interval("s", "2 Days").unwrap(), 172_800);
        assert!(parse_interval("s", "0 minutes")
            .unwrap_err()
            .message
            .contains("greater than zero"));
        assert!(parse_interval("s", "-5 minutes")
            .unwrap_err()
            .message
            .contains("greater than zero"));
        assert!(parse_interval("s", "5 fortnights")
            .unwrap_err()
            .message
            .contains("unknown unit"));
        assert!(parse_interval("s", "soon").is_err());
    }

    #[test]
    fn cron_expressions() {
        assert!(validate_cron("c", "0 9 * * 1").is_ok());
        assert!(validate_cron("c", "*/15 0-6,22 1 1-12/2 0").is_ok());
        assert!(validate_cron("c", "60 * * * *").is_err());
        assert!(validate_cron("c", "* * * *").is_err());
        assert!(validate_cron("c", "*/0 * * * *").is_err());
    }

    #[test]
    fn schedules() {
        let manual = Schedule::parse("schedule", &json!({"manual": true})).unwrap();
        assert_eq!(manual, Schedule::Manual);
        let every = Schedule::parse("schedule", &json!({"interval": "15 minutes"})).unwrap();
        assert_eq!(every.to_json(), json!({"interval": "15 minutes"}));
        let error = Schedule::parse(
            "schedule",
            &json!({"interval": "1 minute", "cron": "* * * * *"}),
        )
        .unwrap_err();
        assert!(error.message.contains("exactly one"));
    }
}
