//! A sync's `alerts`: which channels to tell, and which triggers open an
//! alert at which level. Parsing, the pure decision of each trigger after a
//! run, and what a channel is sent, all without touching PostgreSQL.

use super::json::ObjectReader;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    fn parse(field: &str, text: &str) -> Result<Level> {
        match text {
            "warning" => Ok(Level::Warning),
            "critical" => Ok(Level::Critical),
            other => Err(Error::invalid(
                field,
                format!("unknown level \"{other}\" (expected warning or critical)"),
            )),
        }
    }
}

/// Thresholds of one trigger: the condition at `warning`, at `critical`, or
/// both (critical the stronger one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

impl Thresholds {
    /// The level `value` reaches (a larger value is worse).
    fn level(&self, value: f64) -> Option<Level> {
        if self.critical.is_some_and(|t| value >= t) {
            Some(Level::Critical)
        } else if self.warning.is_some_and(|t| value >= t) {
            Some(Level::Warning)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Triggers {
    /// The run failed (on by default, critical).
    pub failed: Option<Level>,
    /// Rejected operations / planned operations of a run.
    pub rejected_share: Option<Thresholds>,
    /// Runs in a row that ended incomplete.
    pub incomplete_streak: Option<Thresholds>,
    /// 1 - rows queried / mean rows queried of the last `runs` successful runs.
    pub volume_drop: Option<(Thresholds, i64)>,
    /// Seconds a run has been going (checked while it goes).
    pub slow: Option<Thresholds>,
    /// Seconds since the last successful run ended (or the sync was created).
    pub stale: Option<Thresholds>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    pub channels: Vec<String>,
    pub triggers: Triggers,
}

/// The triggers this build evaluates, in the order they are checked.
pub const TRIGGERS: &[&str] = &[
    "failed",
    "rejected_share",
    "incomplete_streak",
    "volume_drop",
    "slow",
    "stale",
];

impl Alerts {
    pub fn parse(value: &Value) -> Result<Alerts> {
        let reader = ObjectReader::new("alerts", value)?;
        reader.deny_unknown(&["channels", "triggers"])?;
        let channels = match reader.value("channels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(name) if !name.trim().is_empty() => Ok(name.clone()),
                    _ => Err(Error::invalid(
                        &format!("alerts.channels[{index}]"),
                        "must be an alert channel's name",
                    )),
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::invalid(
                    "alerts.channels",
                    "must be a list of alert channel names",
                ))
            }
        };
        let mut triggers = Triggers {
            failed: Some(Level::Critical),
            rejected_share: None,
            incomplete_streak: None,
            volume_drop: None,
            slow: None,
            stale: None,
        };
        if let Some(list) = reader.object("triggers")? {
            for key in list.keys() {
                if !TRIGGERS.contains(&key.as_str()) {
                    return Err(Error::invalid(
                        &format!("alerts.triggers.{key}"),
                        format!("unknown trigger (expected one of: {})", TRIGGERS.join(", ")),
                    ));
                }
            }
            if let Some(failed) = list.value("failed") {
                triggers.failed = match failed {
                    Value::Bool(false) | Value::Null => None,
                    _ => {
                        let failed = ObjectReader::new("alerts.triggers.failed", failed)?;
                        failed.deny_unknown(&["level"])?;
                        Some(match failed.string("level")? {
                            Some(text) => Level::parse("alerts.triggers.failed.level", &text)?,
                            None => Level::Critical,
                        })
                    }
                };
            }
            triggers.rejected_share = thresholds(
                &list,
                "rejected_share",
                &[],
                |v| v > 0.0 && v <= 1.0,
                "a share above 0 and at most 1",
            )?
            .map(|(t, _)| t);
            triggers.incomplete_streak = thresholds(
                &list,
                "incomplete_streak",
                &[],
                |v| v >= 1.0 && v.fract() == 0.0,
                "a whole number of runs, at least 1",
            )?
            .map(|(t, _)| t);
            triggers.volume_drop = thresholds(
                &list,
                "volume_drop",
                &["runs"],
                |v| v > 0.0 && v <= 1.0,
                "a share above 0 and at most 1",
            )?
            .map(|(t, reader_runs)| (t, reader_runs.unwrap_or(5)));
            triggers.slow = durations(&list, "slow")?;
            triggers.stale = durations(&list, "stale")?;
            if let Some((_, runs)) = triggers.volume_drop {
                if !(1..=100).contains(&runs) {
                    return Err(Error::invalid(
                        "alerts.triggers.volume_drop.runs",
                        "must be a whole number from 1 to 100",
                    ));
                }
            }
        }
        Ok(Alerts { channels, triggers })
    }

    pub fn to_json(&self) -> Value {
        let mut triggers = Map::new();
        triggers.insert(
            "failed".into(),
            match self.triggers.failed {
                Some(level) => json!({"level": level.as_str()}),
                None => Value::Bool(false),
            },
        );
        let put = |t: &Thresholds| {
            let mut m = Map::new();
            if let Some(w) = t.warning {
                m.insert("warning".into(), json!(w));
            }
            if let Some(c) = t.critical {
                m.insert("critical".into(), json!(c));
            }
            m
        };
        if let Some(t) = &self.triggers.rejected_share {
            triggers.insert("rejected_share".into(), Value::Object(put(t)));
        }
        if let Some(t) = &self.triggers.incomplete_streak {
            let mut m = Map::new();
            for (key, value) in put(t) {
                m.insert(key, json!(value.as_f64().unwrap_or_default() as i64));
            }
            triggers.insert("incomplete_streak".into(), Value::Object(m));
        }
        if let Some((t, runs)) = &self.triggers.volume_drop {
            let mut m = put(t);
            m.insert("runs".into(), json!(runs));
            triggers.insert("volume_drop".into(), Value::Object(m));
        }
        for (name, thresholds) in [
            ("slow", &self.triggers.slow),
            ("stale", &self.triggers.stale),
        ] {
            if let Some(t) = thresholds {
                let mut m = Map::new();
                if let Some(w) = t.warning {
                    m.insert("warning".into(), json!(format!("{} seconds", w as i64)));
                }
                if let Some(c) = t.critical {
                    m.insert("critical".into(), json!(format!("{} seconds", c as i64)));
                }
                triggers.insert(name.into(), Value::Object(m));
            }
        }
        json!({"channels": self.channels, "triggers": triggers})
    }
}

/// `alerts.triggers.<name>`: `{"warning": …, "critical": …}` (at least one),
/// each `valid`, critical no weaker than warning; `extra` keys are allowed
/// and the first of them, if a whole number, comes back.
fn thresholds(
    list: &ObjectReader,
    name: &str,
    extra: &[&str],
    valid: impl Fn(f64) -> bool,
    expected: &str,
) -> Result<Option<(Thresholds, Option<i64>)>> {
    let Some(reader) = list.object(name)? else {
        return Ok(None);
    };
    let field = format!("alerts.triggers.{name}");
    let mut keys = vec!["warning", "critical"];
    keys.extend_from_slice(extra);
    reader.deny_unknown(&keys)?;
    let level = |key: &str| -> Result<Option<f64>> {
        match reader.value(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_f64().is_some_and(&valid) => Ok(n.as_f64()),
            Some(_) => Err(Error::invalid(
                &format!("{field}.{key}"),
                format!("must be {expected}"),
            )),
        }
    };
    let thresholds = Thresholds {
        warning: level("warning")?,
        critical: level("critical")?,
    };
    match (thresholds.warning, thresholds.critical) {
        (None, None) => {
            return Err(Error::invalid(
                &field,
                "needs \"warning\", \"critical\" or both",
            ))
        }
        (Some(w), Some(c)) if c < w => {
            return Err(Error::invalid(
                &field,
                "\"critical\" must be at least \"warning\" (it is the stronger condition)",
            ))
        }
        _ => {}
    }
    let extra_value = match extra.first().and_then(|key| reader.value(key)) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(_) => {
            return Err(Error::invalid(
                &format!("{field}.{}", extra[0]),
                "must be a whole number",
            ))
        }
    };
    Ok(Some((thresholds, extra_value)))
}

/// `alerts.triggers.<name>`: `{"warning": "10 minutes", "critical": "1 hour"}`
/// (at least one), in seconds.
fn durations(list: &ObjectReader, name: &str) -> Result<Option<Thresholds>> {
    let Some(reader) = list.object(name)? else {
        return Ok(None);
    };
    let field = format!("alerts.triggers.{name}");
    reader.deny_unknown(&["warning", "critical"])?;
    let level = |key: &str| -> Result<Option<f64>> {
        reader
            .string(key)?
            .map(|text| {
                super::schedule::parse_duration(&format!("{field}.{key}"), &text).map(|s| s as f64)
            })
            .transpose()
    };
    let thresholds = Thresholds {
        warning: level("warning")?,
        critical: level("critical")?,
    };
    match (thresholds.warning, thresholds.critical) {
        (None, None) => Err(Error::invalid(
            &field,
            "needs \"warning\", \"critical\" or both",
        )),
        (Some(w), Some(c)) if c < w => Err(Error::invalid(
            &field,
            "\"critical\" must be at least \"warning\" (it is the stronger condition)",
        )),
        _ => Ok(Some(thresholds)),
    }
}

/// What a run's end tells the triggers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    pub run_id: i64,
    pub status: String,
    pub error: Option<String>,
    pub rows_queried: i64,
    pub planned: i64,
    pub rejected: i64,
    /// Runs in a row, this one included, that ended incomplete.
    pub incomplete_streak: i64,
    /// Rows queried by the last successful runs before this one (newest first).
    pub earlier_rows_queried: Vec<i64>,
}

/// A trigger's verdict for one run: met (at a level, with a message and
/// details), not met (an open alert resolves), or no say (the run tells
/// nothing about it: a failed run says nothing of its volume).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Met {
        level: Level,
        message: String,
        details: Value,
    },
    NotMet,
    NoSay,
}

/// Each configured trigger's verdict, by name.
pub fn evaluate(triggers: &Triggers, run: &RunFacts) -> Vec<(&'static str, Verdict)> {
    let mut verdicts = Vec::new();
    if let Some(level) = triggers.failed {
        verdicts.push((
            "failed",
            if run.status == "failed" {
                Verdict::Met {
                    level,
                    message: format!(
                        "run {} failed: {}",
                        run.run_id,
                        run.error.as_deref().unwrap_or("(no error recorded)")
                    ),
                    details: json!({"error": run.error}),
                }
            } else {
                Verdict::NotMet
            },
        ));
    }
    if let Some(thresholds) = &triggers.rejected_share {
        let verdict = if run.status == "failed" || run.planned == 0 {
            Verdict::NoSay
        } else {
            let share = run.rejected as f64 / run.planned as f64;
            match thresholds.level(share) {
                Some(level) => Verdict::Met {
                    level,
                    message: format!(
                        "run {} rejected {} of {} operations ({:.1}%)",
                        run.run_id,
                        run.rejected,
                        run.planned,
                        share * 100.0
                    ),
                    details: json!({"rejected": run.rejected, "planned": run.planned, "share": share}),
                },
                None => Verdict::NotMet,
            }
        };
        verdicts.push(("rejected_share", verdict));
    }
    if let Some(thresholds) = &triggers.incomplete_streak {
        let verdict = match thresholds.level(run.incomplete_streak as f64) {
            Some(level) => Verdict::Met {
                level,
                message: format!(
                    "{} runs in a row ended incomplete (the last: run {})",
                    run.incomplete_streak, run.run_id
                ),
                details: json!({"streak": run.incomplete_streak}),
            },
            None => Verdict::NotMet,
        };
        verdicts.push(("incomplete_streak", verdict));
    }
    if let Some((thresholds, runs)) = &triggers.volume_drop {
        let earlier: Vec<i64> = run
            .earlier_rows_queried
            .iter()
            .take(*runs as usize)
            .copied()
            .collect();
        let verdict = if !matches!(run.status.as_str(), "succeeded" | "warning")
            || earlier.is_empty()
        {
            Verdict::NoSay
        } else {
            let mean = earlier.iter().sum::<i64>() as f64 / earlier.len() as f64;
            let drop = if mean > 0.0 {
                (1.0 - run.rows_queried as f64 / mean).max(0.0)
            } else {
                0.0
            };
            match thresholds.level(drop) {
                Some(level) => Verdict::Met {
                    level,
                    message: format!(
                        "run {} queried {} rows, {:.0}% fewer than the mean of the last {} successful runs ({:.0})",
                        run.run_id,
                        run.rows_queried,
                        drop * 100.0,
                        earlier.len(),
                        mean
                    ),
                    details: json!({"rows_queried": run.rows_queried, "mean": mean, "runs": earlier.len(), "drop": drop}),
                },
                None => Verdict::NotMet,
            }
        };
        verdicts.push(("volume_drop", verdict));
    }
    // A run that has ended is not slow any more; a successful one ends staleness.
    if triggers.slow.is_some() {
        verdicts.push(("slow", Verdict::NotMet));
    }
    if triggers.stale.is_some() {
        let success = matches!(run.status.as_str(), "succeeded" | "warning");
        verdicts.push((
            "stale",
            if success {
                Verdict::NotMet
            } else {
                Verdict::NoSay
            },
        ));
    }
    verdicts
}

/// Between runs (the scheduler looks): the going run's (id, seconds), and
/// the seconds since the last successful run ended (or the sync was made).
pub fn evaluate_between_runs(
    triggers: &Triggers,
    going: Option<(i64, f64)>,
    since_success: f64,
) -> Vec<(&'static str, Verdict)> {
    let minutes = |seconds: f64| format!("{:.0} minutes", seconds / 60.0);
    let mut verdicts = Vec::new();
    if let (Some(thresholds), Some((run_id, seconds))) = (&triggers.slow, going) {
        verdicts.push((
            "slow",
            match thresholds.level(seconds) {
                Some(level) => Verdict::Met {
                    level,
                    message: format!("run {run_id} has been going for {}", minutes(seconds)),
                    details: json!({"run_id": run_id, "seconds": seconds}),
                },
                None => Verdict::NoSay,
            },
        ));
    }
    if let Some(thresholds) = &triggers.stale {
        verdicts.push((
            "stale",
            match thresholds.level(since_success) {
                Some(level) => Verdict::Met {
                    level,
                    message: format!("no run has succeeded for {}", minutes(since_success)),
                    details: json!({"seconds": since_success}),
                },
                None => Verdict::NoSay,
            },
        ));
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<Alerts> {
        Alerts::parse(&value)
    }

    #[test]
    fn failed_is_on_by_default_and_thresholds_are_checked() {
        let alerts = parse(json!({"channels": ["ops"]})).unwrap();
        assert_eq!(alerts.triggers.failed, Some(Level::Critical));
        let alerts = parse(json!({"channels": ["ops"], "triggers": {"failed": false,
            "rejected_share": {"warning": 0.1, "critical": 0.5}, "incomplete_streak": {"warning": 3},
            "volume_drop": {"warning": 0.5, "runs": 5}}}))
        .unwrap();
        assert_eq!(alerts.triggers.failed, None);
        assert_eq!(parse(alerts.to_json()).unwrap(), alerts, "round trip");
        for (bad, message) in [
            (
                json!({"triggers": {"nope": {}}}),
                "alerts.triggers.nope: unknown trigger",
            ),
            (
                json!({"triggers": {"rejected_share": {"warning": 1.5}}}),
                "alerts.triggers.rejected_share.warning: must be a share",
            ),
            (
                json!({"triggers": {"rejected_share": {"warning": 0.5, "critical": 0.1}}}),
                "alerts.triggers.rejected_share: \"critical\" must be at least",
            ),
            (
                json!({"triggers": {"rejected_share": {}}}),
                "alerts.triggers.rejected_share: needs",
            ),
            (
                json!({"triggers": {"incomplete_streak": {"warning": 2.5}}}),
                "alerts.triggers.incomplete_streak.warning: must be a whole number",
            ),
            (
                json!({"triggers": {"volume_drop": {"warning": 0.5, "runs": 0}}}),
                "alerts.triggers.volume_drop.runs",
            ),
            (
                json!({"triggers": {"failed": {"level": "loud"}}}),
                "alerts.triggers.failed.level: unknown level",
            ),
            (json!({"channels": [""]}), "alerts.channels[0]"),
            (json!({"channels": "ops"}), "alerts.channels:"),
            (
                json!({"triggers": {"slow": {"warning": "soon"}}}),
                "alerts.triggers.slow.warning:",
            ),
            (
                json!({"triggers": {"stale": {"warning": "2 hours", "critical": "1 hour"}}}),
                "alerts.triggers.stale: \"critical\" must be at least",
            ),
        ] {
            let error = parse(bad.clone()).unwrap_err();
            assert!(
                error.message.starts_with(message),
                "{bad}: {}",
                error.message
            );
        }
    }

    fn facts(status: &str) -> RunFacts {
        RunFacts {
            run_id: 7,
            status: status.into(),
            planned: 100,
            rows_queried: 100,
            ..RunFacts::default()
        }
    }

    #[test]
    fn slow_and_stale_are_judged_between_runs_and_end_with_them() {
        let triggers = parse(
            json!({"triggers": {"slow": {"warning": "10 minutes", "critical": "1 hour"},
            "stale": {"critical": "6 hours"}}}),
        )
        .unwrap()
        .triggers;
        assert_eq!(
            parse(
                Alerts {
                    channels: vec![],
                    triggers: triggers.clone()
                }
                .to_json()
            )
            .unwrap()
            .triggers,
            triggers
        );
        let verdicts = evaluate_between_runs(&triggers, Some((3, 700.0)), 100.0);
        assert!(matches!(
            verdicts[0],
            (
                "slow",
                Verdict::Met {
                    level: Level::Warning,
                    ..
                }
            )
        ));
        assert_eq!(verdicts[1], ("stale", Verdict::NoSay));
        let verdicts = evaluate_between_runs(&triggers, None, 7.0 * 3600.0);
        assert!(matches!(
            verdicts[0],
            (
                "stale",
                Verdict::Met {
                    level: Level::Critical,
                    ..
                }
            )
        ));
        let after = evaluate(&triggers, &facts("succeeded"));
        assert!(
            after.contains(&("slow", Verdict::NotMet))
                && after.contains(&("stale", Verdict::NotMet))
        );
        let after = evaluate(&triggers, &facts("failed"));
        assert!(after.contains(&("stale", Verdict::NoSay)));
    }

    #[test]
    fn each_trigger_decides_from_the_run() {
        let triggers = parse(json!({"triggers": {"rejected_share": {"warning": 0.1, "critical": 0.5},
            "incomplete_streak": {"warning": 2, "critical": 4}, "volume_drop": {"critical": 0.5, "runs": 2}}}))
        .unwrap()
        .triggers;
        let level = |verdicts: Vec<(&str, Verdict)>, name: &str| -> Option<Option<Level>> {
            match verdicts.into_iter().find(|(n, _)| *n == name)?.1 {
                Verdict::Met { level, .. } => Some(Some(level)),
                Verdict::NotMet => Some(None),
                Verdict::NoSay => None,
            }
        };
        assert_eq!(
            level(evaluate(&triggers, &facts("failed")), "failed"),
            Some(Some(Level::Critical))
        );
        assert_eq!(
            level(evaluate(&triggers, &facts("succeeded")), "failed"),
            Some(None)
        );
        let rejected = |n| RunFacts {
            rejected: n,
            ..facts("warning")
        };
        assert_eq!(
            level(evaluate(&triggers, &rejected(5)), "rejected_share"),
            Some(None)
        );
        assert_eq!(
            level(evaluate(&triggers, &rejected(10)), "rejected_share"),
            Some(Some(Level::Warning))
        );
        assert_eq!(
            level(evaluate(&triggers, &rejected(60)), "rejected_share"),
            Some(Some(Level::Critical))
        );
        let streak = |n| RunFacts {
            incomplete_streak: n,
            ..facts("incomplete")
        };
        assert_eq!(
            level(evaluate(&triggers, &streak(1)), "incomplete_streak"),
            Some(None)
        );
        assert_eq!(
            level(evaluate(&triggers, &streak(3)), "incomplete_streak"),
            Some(Some(Level::Warning))
        );
        let volume = |rows, earlier: Vec<i64>| RunFacts {
            rows_queried: rows,
            earlier_rows_queried: earlier,
            ..facts("succeeded")
        };
        // The mean of the last 2 runs only: 100.
        assert_eq!(
            level(
                evaluate(&triggers, &volume(40, vec![100, 100, 10000])),
                "volume_drop"
            ),
            Some(Some(Level::Critical))
        );
        assert_eq!(
            level(
                evaluate(&triggers, &volume(60, vec![100, 100])),
                "volume_drop"
            ),
            Some(None)
        );
        let no_say = evaluate(&triggers, &volume(0, vec![]));
        assert!(no_say
            .iter()
            .any(|(n, v)| *n == "volume_drop" && *v == Verdict::NoSay));
        let failed = evaluate(&triggers, &facts("failed"));
        assert!(failed
            .iter()
            .any(|(n, v)| *n == "rejected_share" && *v == Verdict::NoSay));
    }
}
