//! Due times of schedules: pure arithmetic, unit-tested.
//!
//! Cron and custom recurrences are evaluated in their time zone: a local
//! time that does not exist (the hour skipped when clocks go forward) is
//! skipped, and a local time that happens twice (when clocks go back) fires
//! once, at its first occurrence.

use crate::config::schedule::{Cron, MonthDay, Schedule};
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The first due time strictly after `after`, or None (manual, or past the end).
pub fn next_due(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Manual => None,
        Schedule::Interval {
            seconds,
            start,
            end,
            ..
        } => {
            let anchor = start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            let due = if after < anchor {
                anchor
            } else {
                // Checked: a due time past what time can hold is no due time.
                let elapsed = (after - anchor).num_seconds();
                let offset = (elapsed / seconds).checked_add(1)?.checked_mul(*seconds)?;
                anchor.checked_add_signed(Duration::try_seconds(offset)?)?
            };
            match end {
                Some(end) if due > *end => None,
                _ => Some(due),
            }
        }
        Schedule::Cron { cron, timezone, .. } => {
            next_cron(cron, timezone.unwrap_or(Tz::UTC), after)
        }
        Schedule::At { times, timezone } => times
            .iter()
            .filter_map(|t| {
                let cron = Cron {
                    minutes: vec![t.minute],
                    hours: vec![t.hour],
                    days_of_month: (1..=31).collect(),
                    months: (1..=12).collect(),
                    days_of_week: t.days.clone(),
                    dom_restricted: false,
                    dow_restricted: true,
                    month_days: Vec::new(),
                    week_days: Vec::new(),
                    recurs_within_the_day: false,
                };
                next_cron(&cron, timezone.unwrap_or(Tz::UTC), after)
            })
            .min(),
    }
}

fn day_matches(cron: &Cron, local: &NaiveDateTime) -> bool {
    let day = local.day();
    let first = local.date().with_day(1);
    let first_weekday = first.map_or(0, |d| d.weekday().num_days_from_sunday());
    let days_in_month = first
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day());
    let special = |days: &[MonthDay]| {
        days.iter()
            .any(|d| d.matches(day, days_in_month, first_weekday))
    };
    let dom = cron.days_of_month.contains(&day) || special(&cron.month_days);
    let dow = cron
        .days_of_week
        .contains(&local.weekday().num_days_from_sunday())
        || special(&cron.week_days);
    match (cron.dom_restricted, cron.dow_restricted) {
        (true, true) => dom || dow,
        (true, false) => dom,
        (false, true) => dow,
        (false, false) => true,
    }
}

fn time_matches(cron: &Cron, local: &NaiveDateTime) -> bool {
    cron.months.contains(&local.month())
        && day_matches(cron, local)
        && cron.hours.contains(&local.hour())
        && cron.minutes.contains(&local.minute())
}

/// The next due time of a cron expression in a time zone, after Vixie
/// cron's rules for daylight-saving changes: a fixed time the clocks skip
/// runs right after the gap, and a fixed time that happens twice runs
/// once; a job that recurs within the day (`*/15 * * * *`, `0 * * * *`)
/// keeps its normal local times, so it skips nothing extra and fires in
/// both occurrences of a repeated hour.
fn next_cron(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let first = next_first_occurrence(cron, zone, after);
    if !cron.recurs_within_the_day {
        return first;
    }
    match (first, next_repeated_occurrence(cron, zone, after)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The next matching local time, at its first (or only) occurrence.
fn next_first_occurrence(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let start = after.with_timezone(&zone).naive_local();
    let mut local = start.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
    // Five years is enough for any valid expression (e.g. 29 February on a Monday).
    let limit = start + Duration::days(5 * 366);
    while local <= limit {
        if !cron.months.contains(&local.month()) {
            let (year, month) = if local.month() == 12 {
                (local.year() + 1, 1)
            } else {
                (local.year(), local.month() + 1)
            };
            local = chrono::NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
            continue;
        }
        if !day_matches(cron, &local) {
            local = (local.date() + Duration::days(1)).and_hms_opt(0, 0, 0)?;
            continue;
        }
        if !cron.hours.contains(&local.hour()) {
            local = local.with_minute(0)? + Duration::hours(1);
            continue;
        }
        if !cron.minutes.contains(&local.minute()) {
            local += Duration::minutes(1);
            continue;
        }
        let due = match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t),
            LocalResult::Ambiguous(first, _) => Some(first),
            LocalResult::None if !cron.recurs_within_the_day => end_of_gap(zone, local),
            LocalResult::None => None,
        };
        match due.map(|t| t.with_timezone(&Utc)) {
            Some(t) if t > after => return Some(t),
            _ => {}
        }
        local += Duration::minutes(1);
    }
    None
}

/// The first instant after a local time the clocks skipped.
fn end_of_gap(zone: Tz, skipped: NaiveDateTime) -> Option<DateTime<Tz>> {
    (1..=24 * 60).find_map(|minutes| {
        match zone.from_local_datetime(&(skipped + Duration::minutes(minutes))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
            LocalResult::None => None,
        }
    })
}

/// The next second occurrence of a matching local time in a repeated hour
/// near `after` (the only place second occurrences are).
fn next_repeated_occurrence(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let around = after
        .with_timezone(&zone)
        .naive_local()
        .with_second(0)?
        .with_nanosecond(0)?;
    (-180..=180)
        .map(|minutes| around + Duration::minutes(minutes))
        .filter(|local| time_matches(cron, local))
        .filter_map(|local| match zone.from_local_datetime(&local) {
            LocalResult::Ambiguous(_, second) => Some(second.with_timezone(&Utc)),
            _ => None,
        })
        .find(|t| *t > after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schedule(doc: serde_json::Value) -> Schedule {
        Schedule::parse("schedule", &doc).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn due(s: &Schedule, after: &str) -> String {
        next_due(s, at(after))
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| "never".into())
    }

    #[test]
    fn due_times_past_the_end_of_time_are_none_not_a_panic() {
        let huge = Schedule::Interval {
            seconds: 10_000_000_000_000,
            text: "10000000000000 seconds".into(),
            start: None,
            end: None,
        };
        assert_eq!(due(&huge, "2026-03-01T10:07:00Z"), "never");
        assert_eq!(
            next_due(&huge, DateTime::<Utc>::MAX_UTC - Duration::seconds(1)),
            None
        );
        let every5 = schedule(json!({"interval": "5 seconds"}));
        assert_eq!(next_due(&every5, DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn intervals_count_from_their_start_and_stop_at_their_end() {
        let every15 = schedule(json!({"interval": "15 minutes"}));
        assert_eq!(
            due(&every15, "2026-03-01T10:07:00Z"),
            "2026-03-01T10:15:00+00:00"
        );
        assert_eq!(
            due(&every15, "2026-03-01T10:15:00Z"),
            "2026-03-01T10:30:00+00:00"
        );
        let bounded = schedule(
            json!({"interval": "1 day", "start": "2026-03-01T06:30:00Z", "end": "2026-03-03T06:30:00Z"}),
        );
        assert_eq!(
            due(&bounded, "2026-01-01T00:00:00Z"),
            "2026-03-01T06:30:00+00:00"
        );
        assert_eq!(
            due(&bounded, "2026-03-02T07:00:00Z"),
            "2026-03-03T06:30:00+00:00"
        );
        assert_eq!(due(&bounded, "2026-03-03T06:30:00Z"), "never");
        assert_eq!(
            due(&schedule(json!({"manual": true})), "2026-03-01T00:00:00Z"),
            "never"
        );
    }

    #[test]
    fn cron_in_utc() {
        let monday9 = schedule(json!({"cron": "0 9 * * 1"}));
        assert_eq!(
            due(&monday9, "2026-11-22T12:00:00Z"),
            "2026-11-23T09:00:00+00:00"
        ); // a Sunday → Monday
        let quarter = schedule(json!({"cron": "*/15 * * * *"}));
        assert_eq!(
            due(&quarter, "2026-11-22T12:14:59Z"),
            "2026-11-22T12:15:00+00:00"
        );
        let leap = schedule(json!({"cron": "0 0 29 2 *"}));
        assert_eq!(
            due(&leap, "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        // Both day fields restricted: either matches (the 1st, or any Friday).
        let either = schedule(json!({"cron": "0 8 1 * 5"}));
        assert_eq!(
            due(&either, "2026-11-22T00:00:00Z"),
            "2026-11-27T08:00:00+00:00"
        );
        // "*/2" in day-of-month does not restrict (Vixie): Mondays only, not
        // the odd days as well. 23 Nov 2026 is a Monday; the 21st is odd.
        let mondays = schedule(json!({"cron": "0 0 */2 * mon"}));
        assert_eq!(
            due(&mondays, "2026-11-20T12:00:00Z"),
            "2026-11-23T00:00:00+00:00"
        );
        let hourly = schedule(json!({"cron": "@hourly"}));
        assert_eq!(
            due(&hourly, "2026-11-22T12:14:59Z"),
            "2026-11-22T13:00:00+00:00"
        );
    }

    #[test]
    fn cron_follows_the_time_zone_across_daylight_saving_changes() {
        // 9:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
        let ny = schedule(json!({"cron": "0 9 * * 1", "timezone": "America/New_York"}));
        assert_eq!(
            due(&ny, "2026-03-01T00:00:00Z"),
            "2026-03-02T14:00:00+00:00"
        );
        assert_eq!(
            due(&ny, "2026-03-10T00:00:00Z"),
            "2026-03-16T13:00:00+00:00"
        );
        // Berlin skips 02:00–03:00 on 29 March 2026: 02:30 runs right after
        // the gap, at 03:00 CEST, then at its usual time.
        let half_past_two = schedule(json!({"cron": "30 2 * * *", "timezone": "Europe/Berlin"}));
        assert_eq!(
            due(&half_past_two, "2026-03-28T02:00:00Z"),
            "2026-03-29T01:00:00+00:00"
        );
        assert_eq!(
            due(&half_past_two, "2026-03-29T01:00:00Z"),
            "2026-03-30T00:30:00+00:00"
        );
        // 25 October 2026 has 02:30 twice in Berlin: it fires once, at the first.
        assert_eq!(
            due(&half_past_two, "2026-10-24T02:00:00Z"),
            "2026-10-25T00:30:00+00:00"
        );
        assert_eq!(
            due(&half_past_two, "2026-10-25T00:30:00Z"),
            "2026-10-26T01:30:00+00:00"
        );
    }

    #[test]
    fn jobs_that_recur_within_the_day_keep_their_local_times_across_both_changes() {
        // Berlin, spring: 01:45 CET is followed by 03:00 CEST (nothing moved
        // into the gap, nothing doubled).
        let quarter = schedule(json!({"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}));
        assert_eq!(
            due(&quarter, "2026-03-29T00:45:00Z"),
            "2026-03-29T01:00:00+00:00"
        );
        // Berlin, autumn: 02:00–02:59 happens twice; every quarter of both.
        let mut times = Vec::new();
        let mut after = at("2026-10-25T00:30:00Z"); // 02:30 CEST
        for _ in 0..7 {
            after = next_due(&quarter, after).unwrap();
            times.push(after.format("%H:%M").to_string());
        }
        assert_eq!(
            times,
            ["00:45", "01:00", "01:15", "01:30", "01:45", "02:00", "02:15"]
        );
        // New York, autumn: 01:00–01:59 twice; an hourly job runs at both
        // 01:00s, a fixed 01:30 job once.
        let hourly = schedule(json!({"cron": "0 * * * *", "timezone": "America/New_York"}));
        assert_eq!(
            due(&hourly, "2026-11-01T05:00:00Z"),
            "2026-11-01T06:00:00+00:00"
        );
        assert_eq!(
            due(&hourly, "2026-11-01T06:00:00Z"),
            "2026-11-01T07:00:00+00:00"
        );
        let fixed = schedule(json!({"cron": "30 1 * * *", "timezone": "America/New_York"}));
        assert_eq!(
            due(&fixed, "2026-11-01T04:00:00Z"),
            "2026-11-01T05:30:00+00:00"
        );
        assert_eq!(
            due(&fixed, "2026-11-01T05:30:00Z"),
            "2026-11-02T06:30:00+00:00"
        );
        // New York, spring (8 March 2026, 02:00 EST → 03:00 EDT): a fixed
        // 02:30 runs at 03:00 EDT; the hourly job has no 02:00 that day.
        let skipped = schedule(json!({"cron": "30 2 * * *", "timezone": "America/New_York"}));
        assert_eq!(
            due(&skipped, "2026-03-08T05:00:00Z"),
            "2026-03-08T07:00:00+00:00"
        );
        assert_eq!(
            due(&hourly, "2026-03-08T06:00:00Z"),
            "2026-03-08T07:00:00+00:00"
        );
    }

    #[test]
    fn days_found_from_the_calendar() {
        let utc = |cron: &str, after: &str| due(&schedule(json!({ "cron": cron })), after);
        // Last day of the month (L, and pg_cron's $): February 2028 is a leap year.
        assert_eq!(
            utc("0 0 L * *", "2028-02-02T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        assert_eq!(
            utc("0 0 $ * *", "2026-11-02T00:00:00Z"),
            "2026-11-30T00:00:00+00:00"
        );
        // Last weekday: 31 January 2027 is a Sunday → Friday the 29th.
        assert_eq!(
            utc("0 0 LW * *", "2027-01-02T00:00:00Z"),
            "2027-01-29T00:00:00+00:00"
        );
        // Nearest weekday: 15 November 2026 is a Sunday → Monday the 16th;
        // 1 May 2027 is a Saturday → Monday the 3rd (not April).
        assert_eq!(
            utc("0 0 15W * *", "2026-11-02T00:00:00Z"),
            "2026-11-16T00:00:00+00:00"
        );
        assert_eq!(
            utc("0 0 1W * *", "2027-04-20T00:00:00Z"),
            "2027-05-03T00:00:00+00:00"
        );
        // Last Friday, second Monday (names too).
        assert_eq!(
            utc("0 0 * * 5L", "2026-11-02T00:00:00Z"),
            "2026-11-27T00:00:00+00:00"
        );
        assert_eq!(
            utc("0 0 * * MON#2", "2026-11-02T00:00:00Z"),
            "2026-11-09T00:00:00+00:00"
        );
        assert_eq!(
            utc("0 0 ? * 1#2", "2026-11-10T00:00:00Z"),
            "2026-12-14T00:00:00+00:00"
        );
        // A list mixes both kinds.
        assert_eq!(
            utc("0 0 1,L * *", "2026-11-02T00:00:00Z"),
            "2026-11-30T00:00:00+00:00"
        );
    }

    #[test]
    fn custom_recurrence() {
        let mon_wed = schedule(
            json!({"at": [{"days": ["mon", "wed"], "time": "09:00"}, {"days": ["fri"], "time": "17:30"}],
                                      "timezone": "Europe/Berlin"}),
        );
        assert_eq!(
            due(&mon_wed, "2026-11-23T08:30:00Z"),
            "2026-11-25T08:00:00+00:00"
        ); // Monday 09:30 local passed → Wednesday
        assert_eq!(
            due(&mon_wed, "2026-11-26T00:00:00Z"),
            "2026-11-27T16:30:00+00:00"
        ); // Friday 17:30 CET
        let daily = schedule(json!({"at": [{"time": "06:00"}]}));
        assert_eq!(
            due(&daily, "2026-11-22T06:00:00Z"),
            "2026-11-23T06:00:00+00:00"
        );
    }
}
