//! Alerts after a run: each trigger of the sync's `alerts` decided from the
//! run's record, each change of an alert's state recorded with one
//! notification per channel, and due notifications sent. All of it after
//! the run is recorded: a channel that is down never fails or slows a run.

use crate::alerts::{self, Event};
use crate::catalog::{self, alerts as catalog_alerts};
use crate::config::alerts::{evaluate, evaluate_between_runs, Alerts, Verdict};
use crate::error::{Result, SqlState};
use crate::postgres::in_transaction;

/// Attempts per notification; the waits between them double from 5 s
/// (5, 10, 20, … 320 s: about 10 minutes in all).
pub const MAX_ATTEMPTS: i32 = 8;
const FIRST_RETRY_SECONDS: f64 = 5.0;

/// Called by the run worker once its run is recorded (whatever its end).
pub fn after_run(run_id: i64, sync_id: i64) {
    if let Err(error) = in_transaction(|| record(run_id, sync_id)) {
        pgrx::warning!("pg_reverse_etl: run {run_id}: alerts not evaluated: {error}");
    }
    if let Err(error) = send_due(Some(sync_id)) {
        pgrx::warning!("pg_reverse_etl: run {run_id}: alert notifications not sent: {error}");
    }
}

fn record(run_id: i64, sync_id: i64) -> Result<()> {
    // A run ended by drop_sync: its sync, and its alerts' channels, are gone.
    let Some((sync, alerts)) = sync_alerts(sync_id)? else {
        return Ok(());
    };
    let recent = alerts.triggers.volume_drop.map_or(1, |(_, runs)| runs);
    let facts = catalog_alerts::facts_for_run(run_id, recent)?;
    apply(
        &sync,
        &alerts,
        evaluate(&alerts.triggers, &facts),
        Some(run_id),
    )
}

/// The scheduler's look between runs: `slow` runs still going, syncs
/// with no successful run for too long. Returns whether any sync has such
/// triggers (the scheduler then looks again within a minute).
pub fn watch() -> Result<bool> {
    let any = in_transaction(|| {
        let watched = catalog_alerts::watched()?;
        let any = !watched.is_empty();
        for watched in watched {
            let Some((sync, alerts)) = sync_alerts(watched.sync_id)? else {
                continue;
            };
            let verdicts =
                evaluate_between_runs(&alerts.triggers, watched.going, watched.since_success);
            apply(&sync, &alerts, verdicts, watched.going.map(|(run, _)| run))?;
        }
        Ok(any)
    })?;
    send_due(None)?;
    Ok(any)
}

/// A sync and its `alerts`, if it still exists and has them.
fn sync_alerts(sync_id: i64) -> Result<Option<(catalog::SyncRow, Alerts)>> {
    let sync = match catalog::load_sync(sync_id) {
        Ok(sync) => sync,
        Err(error) if error.state == SqlState::UndefinedObject => return Ok(None),
        Err(error) => return Err(error),
    };
    let Some(document) = sync.config.get("alerts") else {
        return Ok(None);
    };
    let alerts = Alerts::parse(document)?;
    Ok(Some((sync, alerts)))
}

/// Record what the verdicts change: an alert opens (notified), stays open
/// (updated silently) or resolves (notified).
fn apply(
    sync: &catalog::SyncRow,
    alerts: &Alerts,
    verdicts: Vec<(&'static str, Verdict)>,
    run_id: Option<i64>,
) -> Result<()> {
    let mut channels = Vec::new();
    for name in &alerts.channels {
        // A channel dropped since the sync was checked is skipped.
        if let Some(channel) = catalog_alerts::channel_named(name)? {
            channels.push(channel);
        }
    }
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (trigger, verdict) in verdicts {
        let open = catalog_alerts::open_alert(sync.id, trigger)?;
        let (alert_id, event, level, message) = match (verdict, open) {
            (
                Verdict::Met {
                    level,
                    message,
                    details,
                },
                open,
            ) => {
                let state = catalog_alerts::AlertState {
                    level: level.as_str(),
                    message: &message,
                    details: &details,
                    run_id,
                };
                if let Some((id, _)) = open {
                    catalog_alerts::update(id, &state)?;
                    continue;
                }
                let id = catalog_alerts::open(sync.id, trigger, &state)?;
                (id, "alert.opened", level.as_str().to_string(), message)
            }
            (Verdict::NotMet, Some((id, level))) => {
                catalog_alerts::resolve(id, run_id)?;
                let message = match run_id {
                    Some(run) => format!("resolved by run {run}"),
                    None => "resolved".to_string(),
                };
                (id, "alert.resolved", level, message)
            }
            (Verdict::NotMet | Verdict::NoSay, None) | (Verdict::NoSay, Some(_)) => continue,
        };
        let event = Event {
            event,
            alert_id,
            sync_id: sync.id,
            sync: sync.name.clone(),
            trigger: trigger.to_string(),
            level,
            message,
            run_id,
            at: at.clone(),
        };
        for channel in &channels {
            let body = alerts::kind(&channel.kind)?.body(&channel.config, &event);
            catalog_alerts::enqueue(alert_id, channel.id, event.event, &body)?;
        }
    }
    Ok(())
}

/// Send the notifications due now (of one sync, or all), one transaction
/// each: the row stays locked while it is sent, so two senders never send
/// it twice, and its attempt is recorded with it.
pub fn send_due(sync_id: Option<i64>) -> Result<()> {
    while in_transaction(|| {
        let Some(pending) = catalog_alerts::due(sync_id, 1)?.into_iter().next() else {
            return Ok(false);
        };
        let outcome = match catalog_alerts::load_channel(pending.channel_id) {
            Ok(channel) => match alerts::kind(&channel.kind) {
                Ok(kind) => kind.send(&channel, pending.id, &pending.body),
                Err(error) => Err(error.message),
            },
            Err(error) => Err(error.message),
        };
        let attempts = pending.attempts + 1;
        let (ok, text) = match &outcome {
            Ok(answer) => (true, answer.as_str()),
            Err(error) => (false, error.as_str()),
        };
        let retry_in_seconds =
            (!ok && attempts < MAX_ATTEMPTS).then(|| FIRST_RETRY_SECONDS * 2f64.powi(attempts - 1));
        catalog_alerts::record_attempt(
            pending.id,
            &catalog_alerts::Attempt {
                ok,
                text,
                retry_in_seconds,
            },
        )?;
        Ok(true)
    })? {}
    Ok(())
}
