//! When a sync runs on its own: parsing and validation of the schedule
//! document. The arithmetic of due times is in `super::due`.

use super::json::ObjectReader;
use crate::error::{Error, Result};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Manual,
    /// Every `seconds` (as the user wrote it in `text`), counted from `start`
    /// (default: the Unix epoch, so "15 minutes" falls on :00, :15, …),
    /// never after `end`.
    Interval {
        seconds: i64,
        text: String,
        start: Option<chrono::DateTime<chrono::Utc>>,
        end: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A standard 5-field cron expression, in UTC or `timezone`.
    Cron {
        expression: String,
        cron: Cron,
        timezone: Option<chrono_tz::Tz>,
    },
    /// Custom recurrence: on these days at these times, in `timezone`.
    At {
        times: Vec<AtTime>,
        timezone: Option<chrono_tz::Tz>,
    },
}

/// One entry of a custom recurrence: weekdays (0 = Sunday) and a time of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtTime {
    pub days: Vec<u32>,
    pub hour: u32,
    pub minute: u32,
}

/// The shortest interval a schedule may have: short enough to test a
/// schedule or keep a webhook near real time, long enough that a run's own
/// start-up cost (~0.1 s) stays small beside it.
pub const MIN_INTERVAL_SECONDS: i64 = 5;

/// The longest interval: a year (and a day, for leap years). Longer ones
/// are cron's or a custom recurrence's job.
pub const MAX_INTERVAL_SECONDS: i64 = 366 * 86_400;

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A parsed cron expression: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    pub minutes: Vec<u32>,
    pub hours: Vec<u32>,
    pub days_of_month: Vec<u32>,
    pub months: Vec<u32>,
    /// 0 = Sunday … 6 = Saturday (7 is read as 0).
    pub days_of_week: Vec<u32>,
    /// Whether day-of-month / day-of-week were restricted (not `*`): when
    /// both are, a day matches if either does (as in Vixie cron).
    pub dom_restricted: bool,
    pub dow_restricted: bool,
    /// Days named relative to the month: `L`/`$`, `LW`, `15W` in the
    /// day-of-month field; `5L`, `1#2` in the day-of-week field.
    pub month_days: Vec<MonthDay>,
    pub week_days: Vec<MonthDay>,
    /// The minute or hour field begins with `*`: the job recurs through the
    /// day rather than at fixed times, so (as in Vixie cron) it keeps its
    /// normal times across daylight-saving changes, in both occurrences of
    /// a repeated hour, instead of being moved out of a skipped one.
    pub recurs_within_the_day: bool,
}

/// A day of the month found from the calendar rather than a fixed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthDay {
    /// `L` (or pg_cron's `$`): the month's last day.
    Last,
    /// `LW`: the month's last Monday-to-Friday.
    LastWeekday,
    /// `15W`: the Monday-to-Friday nearest the 15th, within the month.
    NearestWeekday(u32),
    /// `5L`: the month's last Friday (0 = Sunday … 6 = Saturday).
    LastOf(u32),
    /// `1#2`: the month's second Monday.
    Nth { weekday: u32, n: u32 },
}

impl MonthDay {
    /// Whether `day` of a month of `days_in_month` days, whose 1st falls on
    /// `first_weekday` (0 = Sunday), is this day.
    pub fn matches(self, day: u32, days_in_month: u32, first_weekday: u32) -> bool {
        let weekday = |d: u32| (first_weekday + d - 1) % 7;
        let is_workday = |d: u32| (1..=5).contains(&weekday(d));
        match self {
            MonthDay::Last => day == days_in_month,
            MonthDay::LastWeekday => {
                let last = (1..=days_in_month).rev().find(|&d| is_workday(d));
                last == Some(day)
            }
            MonthDay::NearestWeekday(target) => {
                if target > days_in_month {
                    return false;
                }
                // Saturday moves back to Friday, Sunday on to Monday, never
                // across the month's edge (the 1st on a Saturday → Monday 3rd).
                let nearest = match weekday(target) {
                    6 if target == 1 => target + 2,
                    6 => target - 1,
                    0 if target == days_in_month => target - 2,
                    0 => target + 1,
                    _ => target,
                };
                day == nearest
            }
            MonthDay::LastOf(wanted) => weekday(day) == wanted && day + 7 > days_in_month,
            MonthDay::Nth { weekday: wanted, n } => {
                weekday(day) == wanted && (day - 1) / 7 + 1 == n
            }
        }
    }
}

/// Parses a day-of-month item `L`, `$`, `LW` or `nW`, or a day-of-week
/// item `nL` or `n#k`; None when the item is an ordinary one.
fn month_day(item: &str, day_of_week: bool) -> Option<std::result::Result<MonthDay, ()>> {
    let upper = item.to_ascii_uppercase();
    if !day_of_week {
        return match upper.as_str() {
            "L" | "$" => Some(Ok(MonthDay::Last)),
            "LW" => Some(Ok(MonthDay::LastWeekday)),
            _ => upper.strip_suffix('W').map(|n| match n.parse::<u32>() {
                Ok(n) if (1..=31).contains(&n) => Ok(MonthDay::NearestWeekday(n)),
                _ => Err(()),
            }),
        };
    }
    let weekday = |text: &str| match cron_value(text, &DAY_NAMES, 0) {
        Some(d) if d <= 7 => Ok(d % 7),
        _ => Err(()),
    };
    if let Some((day, n)) = upper.split_once('#') {
        return Some(weekday(day).and_then(|weekday| match n.parse::<u32>() {
            Ok(n) if (1..=5).contains(&n) => Ok(MonthDay::Nth { weekday, n }),
            _ => Err(()),
        }));
    }
    upper
        .strip_suffix('L')
        .filter(|day| !day.is_empty())
        .map(|day| weekday(day).map(MonthDay::LastOf))
}

impl Schedule {
    pub fn parse(field: &str, value: &Value) -> Result<Schedule> {
        let reader = ObjectReader::new(field, value)?;
        reader.deny_unknown(&[
            "manual", "interval", "start", "end", "cron", "at", "timezone",
        ])?;
        let kinds = ["manual", "interval", "cron", "at"]
            .iter()
            .filter(|k| reader.has(k))
            .count();
        if kinds != 1 {
            return Err(Error::invalid(
                field,
                "needs exactly one of \"manual\", \"interval\", \"cron\" or \"at\"",
            ));
        }
        let timezone = match reader.string("timezone")? {
            None => None,
            Some(name) => Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
                Error::invalid(
                    &reader.field_path("timezone"),
                    format!(
                        "unknown time zone \"{name}\" (use an IANA name such as \"Europe/Berlin\")"
                    ),
                )
            })?),
        };
        let only_for = |key: &str, kind: &str| -> Result<()> {
            if reader.has(key) {
                return Err(Error::invalid(
                    &reader.field_path(key),
                    format!("is only used with \"{kind}\""),
                ));
            }
            Ok(())
        };
        if let Some(manual) = reader.boolean("manual")? {
            if !manual {
                return Err(Error::invalid(
                    &reader.field_path("manual"),
                    "must be true (to run on a timer use \"interval\", \"cron\" or \"at\")",
                ));
            }
            for key in ["start", "end", "timezone"] {
                only_for(key, "interval, cron or at")?;
            }
            return Ok(Schedule::Manual);
        }
        if reader.has("interval") {
            only_for("timezone", "cron or at")?;
            let path = reader.field_path("interval");
            let text = reader.required_string("interval")?;
            let seconds = parse_interval(&path, &text)?;
            let timestamp = |key: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
                reader
                    .string(key)?
                    .map(|t| {
                        chrono::DateTime::parse_from_rfc3339(&t)
                            .map(|d| d.with_timezone(&chrono::Utc))
                            .map_err(|_| Error::invalid(&reader.field_path(key), format!("\"{t}\" is not an RFC 3339 timestamp like \"2026-01-01T09:00:00Z\"")))
                    })
                    .transpose()
            };
            let (start, end) = (timestamp("start")?, timestamp("end")?);
            if let (Some(s), Some(e)) = (start, end) {
                if e <= s {
                    return Err(Error::invalid(
                        &reader.field_path("end"),
                        "is not after start",
                    ));
                }
            }
            return Ok(Schedule::Interval {
                seconds,
                text,
                start,
                end,
            });
        }
        only_for("start", "interval")?;
        only_for("end", "interval")?;
        if reader.has("cron") {
            let path = reader.field_path("cron");
            let expression = reader.required_string("cron")?;
            let cron = parse_cron(&path, &expression)?;
            let schedule = Schedule::Cron {
                expression,
                cron,
                timezone,
            };
            if super::due::next_due(&schedule, chrono::Utc::now()).is_none() {
                if let Schedule::Cron { expression, .. } = &schedule {
                    return Err(Error::invalid(
                        &path,
                        format!(
                            "\"{expression}\" never fires (no such day in the next five years)"
                        ),
                    ));
                }
            }
            return Ok(schedule);
        }
        let path = reader.field_path("at");
        let items = reader
            .array("at")?
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    &path,
                    "must be a non-empty list like [{\"days\": [\"mon\"], \"time\": \"09:00\"}]",
                )
            })?;
        let mut times = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let entry = ObjectReader::new(&format!("{path}[{index}]"), item)?;
            entry.deny_unknown(&["days", "time"])?;
            let time = entry.required_string("time")?;
            let (hour, minute) = time
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(h, m)| *h < 24 && *m < 60)
                .ok_or_else(|| {
                    Error::invalid(
                        &entry.field_path("time"),
                        format!("\"{time}\" is not a time like \"09:30\""),
                    )
                })?;
            let days = match entry.array("days")? {
                None => (0..7).collect(),
                Some(days) => days
                    .iter()
                    .map(|d| {
                        d.as_str()
                            .and_then(|d| {
                                DAY_NAMES
                                    .iter()
                                    .position(|n| d.to_ascii_lowercase().starts_with(n))
                            })
                            .map(|p| p as u32)
                            .ok_or_else(|| {
                                Error::invalid(
                                    &entry.field_path("days"),
                                    format!("{d} is not a day (mon, tue, wed, thu, fri, sat, sun)"),
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            times.push(AtTime { days, hour, minute });
        }
        Ok(Schedule::At { times, timezone })
    }

    pub fn to_json(&self) -> Value {
        let zone = |tz: &Option<chrono_tz::Tz>| tz.map(|t| t.name().to_string());
        match self {
            Schedule::Manual => json!({"manual": true}),
            Schedule::Interval {
                text, start, end, ..
            } => {
                let mut v = json!({"interval": text});
                if let Some(s) = start {
                    v["start"] = json!(s.to_rfc3339());
                }
                if let Some(e) = end {
                    v["end"] = json!(e.to_rfc3339());
                }
                v
            }
            Schedule::Cron {
                expression,
                timezone,
                ..
            } => {
                let mut v = json!({"cron": expression});
                if let Some(tz) = zone(timezone) {
                    v["timezone"] = json!(tz);
                }
                v
            }
            Schedule::At { times, timezone } => {
                let items: Vec<Value> = times
                    .iter()
                    .map(|t| json!({"days": t.days.iter().map(|d| DAY_NAMES[*d as usize]).collect::<Vec<_>>(), "time": format!("{:02}:{:02}", t.hour, t.minute)}))
                    .collect();
                let mut v = json!({"at": items});
                if let Some(tz) = zone(timezone) {
                    v["timezone"] = json!(tz);
                }
                v
            }
        }
    }
}

/// "15 minutes", "1 hour", "2 days", "1 week" → seconds (at least 5 seconds).
pub fn parse_interval(field: &str, text: &str) -> Result<i64> {
    let seconds = parse_duration(field, text)?;
    if seconds < MIN_INTERVAL_SECONDS {
        return Err(Error::invalid(
            field,
            format!("the shortest interval is {MIN_INTERVAL_SECONDS} seconds"),
        ));
    }
    if seconds > MAX_INTERVAL_SECONDS {
        return Err(Error::invalid(
            field,
            "the longest interval is 366 days (use \"cron\" or \"at\" for rarer runs)",
        ));
    }
    Ok(seconds)
}

/// "30 seconds", "15 minutes", "2 hours", … → seconds.
pub fn parse_duration(field: &str, text: &str) -> Result<i64> {
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
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 604_800,
        _ => {
            return Err(Error::invalid(
                field,
                format!(
                    "unknown unit \"{unit}\" (expected seconds, minutes, hours, days or weeks)"
                ),
            ))
        }
    };
    count
        .checked_mul(unit_seconds)
        .ok_or_else(|| Error::invalid(field, "the duration is too long"))
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The `@` shorthands of Vixie cron and their 5-field meaning.
const CRON_ALIASES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A cron value: a number, or (in the month and day-of-week fields) a
/// three-letter English name, case-insensitive.
fn cron_value(text: &str, names: &[&str], first: u32) -> Option<u32> {
    if let Ok(number) = text.parse::<u32>() {
        return Some(number);
    }
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|name| *name == lower)
        .and_then(|index| u32::try_from(index).ok())
        .map(|index| index + first)
}

/// Parses a 5-field cron expression: minute hour day-of-month month
/// day-of-week, each `*`, a value, a range `a-b`, a list `a,b` and an
/// optional step `/n`; months and days may be named (`jan`, `mon-fri`), and
/// `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` and
/// `@annually` stand for their usual expressions.
pub fn parse_cron(field: &str, expression: &str) -> Result<Cron> {
    let trimmed = expression.trim();
    if trimmed.starts_with('@') {
        let lower = trimmed.to_ascii_lowercase();
        return match CRON_ALIASES.iter().find(|(alias, _)| *alias == lower) {
            Some((_, meaning)) => parse_cron(field, meaning),
            None => Err(Error::invalid(
                field,
                format!(
                    "\"{trimmed}\" is not a known cron shorthand (known: {})",
                    CRON_ALIASES
                        .iter()
                        .map(|(alias, _)| *alias)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        };
    }
    let no_names: &[&str] = &[];
    let fields: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, no_names),
        ("hour", 0, 23, no_names),
        ("day of month", 1, 31, no_names),
        ("month", 1, 12, &MONTH_NAMES),
        ("day of week", 0, 7, &DAY_NAMES),
    ];
    let parts: Vec<&str> = expression.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(Error::invalid(
            field,
            format!("\"{expression}\" has {} fields; cron needs 5 (minute hour day-of-month month day-of-week)", parts.len()),
        ));
    }
    let mut sets: Vec<Vec<u32>> = Vec::new();
    let (mut month_days, mut week_days) = (Vec::new(), Vec::new());
    for (index, (part, (name, low, high, names))) in parts.iter().zip(fields).enumerate() {
        let mut values = Vec::new();
        for item in part.split(',') {
            let bad = || {
                let extra = match index {
                    2 => ", L, LW or nW",
                    4 => ", nL or n#k",
                    _ => "",
                };
                Error::invalid(
                    field,
                    format!("\"{item}\" is not a valid {name} (allowed {low}-{high}{extra})"),
                )
            };
            if index == 2 || index == 4 {
                // Quartz's "no specific value" is the same as `*` here.
                let item = if item == "?" { "*" } else { item };
                if let Some(special) = month_day(item, index == 4) {
                    let special = special.map_err(|()| bad())?;
                    if index == 2 {
                        month_days.push(special);
                    } else {
                        week_days.push(special);
                    }
                    continue;
                }
                if item == "*" {
                    values.extend(low..=high);
                    continue;
                }
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (
                    range,
                    step.parse::<u32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(bad)?,
                ),
                None => (item, 1),
            };
            let (start, end) = if range == "*" {
                (low, high)
            } else {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                let a = cron_value(a, names, low).ok_or_else(bad)?;
                let b = cron_value(b, names, low).ok_or_else(bad)?;
                // "5/15" means from 5 to the end in steps of 15.
                let b = if item.contains('/') && !range.contains('-') {
                    high
                } else {
                    b
                };
                (a, b)
            };
            if start < low || end > high || start > end {
                return Err(bad());
            }
            values.extend((start..=end).step_by(step as usize));
        }
        values.sort_unstable();
        values.dedup();
        sets.push(values);
    }
    let days_of_week: Vec<u32> = {
        let mut d: Vec<u32> = sets[4].iter().map(|d| d % 7).collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    Ok(Cron {
        minutes: sets[0].clone(),
        hours: sets[1].clone(),
        days_of_month: sets[2].clone(),
        months: sets[3].clone(),
        days_of_week,
        // Vixie cron: a day field that begins with `*` (`*`, `*/2`) does not
        // restrict, so with the other field restricted only that one counts.
        dom_restricted: !parts[2].starts_with('*') && !parts[2].starts_with('?'),
        dow_restricted: !parts[4].starts_with('*') && !parts[4].starts_with('?'),
        month_days,
        week_days,
        recurs_within_the_day: parts[0].starts_with('*') || parts[1].starts_with('*'),
    })
}

/// Kept for callers that only validate.
pub fn validate_cron(field: &str, expression: &str) -> Result<()> {
    parse_cron(field, expression).map(|_| ())
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
        assert!(parse_interval("s", "4 seconds")
            .unwrap_err()
            .message
            .contains("shortest interval is 5 seconds"));
        assert_eq!(parse_interval("s", "5 seconds").unwrap(), 5);
        assert_eq!(parse_duration("s", "30 seconds").unwrap(), 30);
    }

    #[test]
    fn cron_expressions() {
        assert!(validate_cron("c", "0 9 * * 1").is_ok());
        let c = parse_cron("c", "*/15 0-6,22 1 1-12/2 7").unwrap();
        assert_eq!(c.minutes, vec![0, 15, 30, 45]);
        assert_eq!(c.hours, vec![0, 1, 2, 3, 4, 5, 6, 22]);
        assert_eq!(c.months, vec![1, 3, 5, 7, 9, 11]);
        assert_eq!(c.days_of_week, vec![0]);
        assert!(validate_cron("c", "60 * * * *").is_err());
        assert!(validate_cron("c", "* * * *").is_err());
        assert!(validate_cron("c", "*/0 * * * *").is_err());
    }

    #[test]
    fn cron_names_and_shorthands() {
        let named = parse_cron("c", "0 9 * JAN,jul-Sep mon-fri").unwrap();
        assert_eq!(named.months, vec![1, 7, 8, 9]);
        assert_eq!(named.days_of_week, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            parse_cron("c", "0 0 * * sun").unwrap().days_of_week,
            vec![0]
        );
        assert_eq!(
            parse_cron("c", "@Daily").unwrap(),
            parse_cron("c", "0 0 * * *").unwrap()
        );
        assert_eq!(
            parse_cron("c", "@weekly").unwrap(),
            parse_cron("c", "0 0 * * 0").unwrap()
        );
        assert_eq!(
            parse_cron("c", "@annually").unwrap(),
            parse_cron("c", "@yearly").unwrap()
        );
        let unknown = parse_cron("c", "@fortnightly").unwrap_err();
        assert!(unknown.message.starts_with("c: "), "{}", unknown.message);
        assert!(unknown.message.contains("@hourly"), "{}", unknown.message);
        // Names belong to their field only.
        assert!(validate_cron("c", "0 jan * * *").is_err());
        assert!(validate_cron("c", "0 0 * * funday").is_err());
        assert!(validate_cron("c", "0 0 * foo *").is_err());
    }

    #[test]
    fn calendar_days_parse_in_their_own_field_only() {
        let c = parse_cron("c", "0 0 L,15W * 5L,mon#2").unwrap();
        assert_eq!(
            c.month_days,
            vec![MonthDay::Last, MonthDay::NearestWeekday(15)]
        );
        assert_eq!(
            c.week_days,
            vec![MonthDay::LastOf(5), MonthDay::Nth { weekday: 1, n: 2 }]
        );
        assert!(c.dom_restricted && c.dow_restricted && c.days_of_month.is_empty());
        let q = parse_cron("c", "0 0 ? * 1").unwrap();
        assert!(!q.dom_restricted);
        for bad in [
            "0 0 32W * *",
            "0 0 0W * *",
            "0 0 * * 8L",
            "0 0 * * 1#6",
            "0 0 * * 1#0",
            "0 0 L5 * *",
            "0 L * * *",
            "0 0 * L *",
            "0 0 5L * *",
            "0 0 * * LW",
        ] {
            let e = parse_cron("c", bad).unwrap_err();
            assert!(e.message.starts_with("c: \""), "{bad}: {}", e.message);
        }
        // Never fires: the nearest weekday of 30 February.
        let never = Schedule::parse("schedule", &json!({"cron": "0 0 30W 2 *"})).unwrap_err();
        assert!(never.message.contains("never fires"), "{}", never.message);
        // Plain expressions recur at fixed times or within the day.
        assert!(!parse_cron("c", "30 2 * * *").unwrap().recurs_within_the_day);
        assert!(parse_cron("c", "0 * * * *").unwrap().recurs_within_the_day);
    }

    #[test]
    fn a_day_field_beginning_with_a_star_does_not_restrict() {
        // Every other day-of-month *and* Mondays would be an "or"; Vixie cron
        // reads "*/2" as unrestricted, so only Mondays count.
        let c = parse_cron("c", "0 0 */2 * 1").unwrap();
        assert!(!c.dom_restricted);
        assert!(c.dow_restricted);
        let both = parse_cron("c", "0 0 1-31/2 * 1").unwrap();
        assert!(both.dom_restricted && both.dow_restricted);
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
        let at = Schedule::parse("schedule", &json!({"at": [{"days": ["mon", "wed"], "time": "09:00"}], "timezone": "Europe/Berlin"})).unwrap();
        assert_eq!(
            at.to_json(),
            json!({"at": [{"days": ["mon", "wed"], "time": "09:00"}], "timezone": "Europe/Berlin"})
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let cases = [
            (
                json!({"interval": "5 fortnights"}),
                "schedule.interval: unknown unit \"fortnights\"",
            ),
            (
                json!({"interval": "0 minutes"}),
                "schedule.interval: the interval must be greater than zero",
            ),
            (
                json!({"cron": "0 25 * * *"}),
                "schedule.cron: \"25\" is not a valid hour",
            ),
            (
                json!({"cron": "0 9 * * 1", "timezone": "Mars/Olympus"}),
                "schedule.timezone: unknown time zone \"Mars/Olympus\"",
            ),
            (
                json!({"interval": "1 hour", "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
                "schedule.end: is not after start",
            ),
            (
                json!({"interval": "1 hour", "start": "tomorrow"}),
                "schedule.start: \"tomorrow\" is not an RFC 3339 timestamp",
            ),
            (
                json!({"at": [{"days": ["someday"], "time": "09:00"}]}),
                "schedule.at[0].days: \"someday\" is not a day",
            ),
            (
                json!({"at": [{"time": "25:00"}]}),
                "schedule.at[0].time: \"25:00\" is not a time",
            ),
            (json!({"at": []}), "schedule.at: must be a non-empty list"),
            (
                json!({"cron": "0 9 * * 1", "start": "2026-01-01T00:00:00Z"}),
                "schedule.start: is only used with \"interval\"",
            ),
        ];
        for (doc, expected) in cases {
            let e = Schedule::parse("schedule", &doc).unwrap_err();
            assert!(e.message.starts_with(expected), "{doc}: {}", e.message);
        }
    }
}
