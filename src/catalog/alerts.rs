//! `alert_channels`, `alerts`, the private outbox of notifications to send
//! (`_alert_outbox`) and `alert_notifications` (every attempt): one named
//! function for each read and change of state.

use super::{ensure_name_free, insert_returning_id};
use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: Value,
    pub owner: pg_sys::Oid,
}

pub fn insert_channel(name: &str, kind: &str, config: &Value, owner: pg_sys::Oid) -> Result<i64> {
    ensure_name_free("alert_channels", "alert channel", name)?;
    insert_returning_id(
        "INSERT INTO reverse_etl.alert_channels (name, kind, config, owner) VALUES ($1, $2, $3, $4) RETURNING id",
        &[name.into(), kind.into(), JsonB(config.clone()).into(), owner.into()],
    )
}

fn channels(condition: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Vec<ChannelRow>> {
    spi::rows(
        &format!(
            "SELECT id, name, kind, config, owner::oid FROM reverse_etl.alert_channels WHERE {condition}"
        ),
        args,
        |row| {
            Ok(ChannelRow {
                id: spi::get(row, 1)?,
                name: spi::get(row, 2)?,
                kind: spi::get(row, 3)?,
                config: spi::get::<JsonB>(row, 4)?.0,
                owner: spi::get(row, 5)?,
            })
        },
    )
}

pub fn load_channel(id: i64) -> Result<ChannelRow> {
    channels("id = $1", &[id.into()])?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::new(
                SqlState::UndefinedObject,
                format!("alert channel {id} does not exist"),
            )
        })
}

pub fn channel_named(name: &str) -> Result<Option<ChannelRow>> {
    Ok(channels("name = $1", &[name.into()])?.into_iter().next())
}

pub fn update_channel_config(id: i64, config: &Value) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.alert_channels SET config = $2, updated_at = now() WHERE id = $1",
        &[id.into(), JsonB(config.clone()).into()],
    )?;
    Ok(())
}

pub fn delete_channel(id: i64) -> Result<()> {
    spi::execute(
        "DELETE FROM reverse_etl.alert_channels WHERE id = $1",
        &[id.into()],
    )?;
    Ok(())
}

/// The syncs (id, name) whose alerts go to the channel named `name`.
pub fn syncs_using_channel(name: &str) -> Result<Vec<(i64, String)>> {
    spi::rows(
        "SELECT id, name FROM reverse_etl.syncs WHERE config->'alerts'->'channels' ? $1 ORDER BY name",
        &[name.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )
}

/// The open alert of a sync's trigger: (id, level).
pub fn open_alert(sync_id: i64, trigger: &str) -> Result<Option<(i64, String)>> {
    let rows = spi::rows(
        "SELECT id, level FROM reverse_etl.alerts WHERE sync_id = $1 AND trigger = $2 AND status = 'open'",
        &[sync_id.into(), trigger.into()],
        |row| Ok((spi::get(row, 1)?, spi::get(row, 2)?)),
    )?;
    Ok(rows.into_iter().next())
}

/// What an alert says, as a run found it.
pub struct AlertState<'a> {
    pub level: &'a str,
    pub message: &'a str,
    pub details: &'a Value,
    pub run_id: Option<i64>,
}

pub fn open(sync_id: i64, trigger: &str, state: &AlertState) -> Result<i64> {
    insert_returning_id(
        "INSERT INTO reverse_etl.alerts (sync_id, trigger, level, message, details, last_run_id) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            sync_id.into(),
            trigger.into(),
            state.level.into(),
            state.message.into(),
            JsonB(state.details.clone()).into(),
            state.run_id.into(),
        ],
    )
}

/// An open alert stays open: its level, message and numbers follow the run.
pub fn update(id: i64, state: &AlertState) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.alerts SET level = $2, message = $3, details = $4, \
         last_run_id = coalesce($5, last_run_id) WHERE id = $1",
        &[
            id.into(),
            state.level.into(),
            state.message.into(),
            JsonB(state.details.clone()).into(),
            state.run_id.into(),
        ],
    )?;
    Ok(())
}

pub fn resolve(id: i64, run_id: Option<i64>) -> Result<()> {
    spi::execute(
        "UPDATE reverse_etl.alerts SET status = 'resolved', resolved_at = now(), \
         last_run_id = coalesce($2, last_run_id) WHERE id = $1",
        &[id.into(), run_id.into()],
    )?;
    Ok(())
}

/// A notification to send for a change of an alert's state.
pub fn enqueue(alert_id: i64, channel_id: i64, event: &str, body: &Value) -> Result<i64> {
    insert_returning_id(
        "INSERT INTO reverse_etl._alert_outbox (alert_id, channel_id, event, body) \
         VALUES ($1, $2, $3, $4) RETURNING id",
        &[
            alert_id.into(),
            channel_id.into(),
            event.into(),
            JsonB(body.clone()).into(),
        ],
    )
}

pub struct Pending {
    pub id: i64,
    pub channel_id: i64,
    pub body: Value,
    pub attempts: i32,
}

/// Notifications of a sync's alerts due to be sent now (oldest first),
/// locked against another sender; `sync_id` None: of every sync.
pub fn due(sync_id: Option<i64>, limit: i64) -> Result<Vec<Pending>> {
    spi::rows(
        "SELECT n.id, n.channel_id, n.body, n.attempts FROM reverse_etl._alert_outbox n \
         JOIN reverse_etl.alerts a ON a.id = n.alert_id \
         WHERE n.status = 'pending' AND n.next_attempt_at <= now() AND ($1::bigint IS NULL OR a.sync_id = $1) \
         ORDER BY n.id LIMIT $2 FOR UPDATE OF n SKIP LOCKED",
        &[sync_id.into(), limit.into()],
        |row| {
            Ok(Pending {
                id: spi::get(row, 1)?,
                channel_id: spi::get(row, 2)?,
                body: spi::get::<JsonB>(row, 3)?.0,
                attempts: spi::get(row, 4)?,
            })
        },
    )
}

/// How one attempt went.
pub struct Attempt<'a> {
    pub ok: bool,
    /// The answer (status and start of the body) or why it failed.
    pub text: &'a str,
    /// When to try again; None: no more (sent, or attempts exhausted).
    pub retry_in_seconds: Option<f64>,
}

/// Record an attempt (a row of `alert_notifications`) and what is left to
/// do in the outbox.
pub fn record_attempt(id: i64, attempt: &Attempt) -> Result<()> {
    let status = match (attempt.ok, attempt.retry_in_seconds) {
        (true, _) => "sent",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    spi::execute(
        "WITH tried AS (UPDATE reverse_etl._alert_outbox SET status = $2, attempts = attempts + 1, \
             next_attempt_at = clock_timestamp() + pg_catalog.make_interval(secs => coalesce($5, 0)) \
             WHERE id = $1 RETURNING id, alert_id, channel_id, event, attempts) \
         INSERT INTO reverse_etl.alert_notifications \
             (alert_id, channel_id, event, event_id, attempt, status, response, error, retry_at) \
         SELECT t.alert_id, t.channel_id, t.event, t.id, t.attempts, \
                CASE WHEN $3 THEN 'sent' ELSE 'failed' END, \
                CASE WHEN $3 THEN $4 END, CASE WHEN $3 THEN NULL ELSE $4 END, \
                clock_timestamp() + pg_catalog.make_interval(secs => $5) \
         FROM tried t",
        &[
            id.into(),
            status.into(),
            attempt.ok.into(),
            attempt.text.into(),
            attempt.retry_in_seconds.into(),
        ],
    )?;
    Ok(())
}

/// What a run's record tells the triggers, with the rows queried by up to
/// `recent_runs` successful runs of its sync before it.
pub fn facts_for_run(run_id: i64, recent_runs: i64) -> Result<crate::config::alerts::RunFacts> {
    let rows = spi::rows(
        "SELECT r.status, r.error, r.rows_queried, \
                r.planned_added + r.planned_changed + r.planned_removed, \
                r.rejected_added + r.rejected_changed + r.rejected_removed, \
                (SELECT count(*) FROM (SELECT p.status, \
                        sum(CASE WHEN p.status <> 'incomplete' THEN 1 ELSE 0 END) OVER (ORDER BY p.id DESC) AS broken \
                     FROM reverse_etl.sync_runs p \
                     WHERE p.sync_id = r.sync_id AND p.id <= r.id AND p.status <> 'skipped') s \
                 WHERE s.broken = 0), \
                ARRAY(SELECT p.rows_queried FROM reverse_etl.sync_runs p \
                      WHERE p.sync_id = r.sync_id AND p.id < r.id AND p.status IN ('succeeded', 'warning') \
                        AND p.trigger NOT IN ('reset_cdc') \
                      ORDER BY p.id DESC LIMIT $2) \
         FROM reverse_etl.sync_runs r WHERE r.id = $1",
        &[run_id.into(), recent_runs.into()],
        |row| {
            Ok(crate::config::alerts::RunFacts {
                run_id,
                status: spi::get(row, 1)?,
                error: row.get::<String>(2)?,
                rows_queried: spi::get(row, 3)?,
                planned: spi::get(row, 4)?,
                rejected: spi::get(row, 5)?,
                incomplete_streak: spi::get(row, 6)?,
                earlier_rows_queried: spi::get(row, 7)?,
            })
        },
    )?;
    rows.into_iter().next().ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("run {run_id} does not exist"),
        )
    })
}

/// When the next pending notification is due (Unix ms), if any.
pub fn next_attempt_ms() -> Result<Option<i64>> {
    spi::one(
        "SELECT (extract(epoch FROM min(next_attempt_at)) * 1000)::bigint \
         FROM reverse_etl._alert_outbox WHERE status = 'pending'",
        &[],
    )
}

/// A sync the scheduler watches between runs (it has `slow` or `stale`
/// triggers): its going run (id, seconds going) and the seconds since its
/// last successful run ended (or it was created).
pub struct Watched {
    pub sync_id: i64,
    pub going: Option<(i64, f64)>,
    pub since_success: f64,
}

pub fn watched() -> Result<Vec<Watched>> {
    spi::rows(
        &format!(
            "SELECT s.id, g.id, extract(epoch FROM now() - coalesce(g.started_at, g.queued_at))::float8, \
                    extract(epoch FROM now() - coalesce( \
                        (SELECT max(p.finished_at) FROM reverse_etl.sync_runs p \
                         WHERE p.sync_id = s.id AND p.status IN ('succeeded', 'warning')), s.created_at))::float8 \
             FROM reverse_etl.syncs s \
             LEFT JOIN LATERAL (SELECT r.id, r.started_at, r.queued_at FROM reverse_etl.sync_runs r \
                                WHERE r.sync_id = s.id AND r.status IN {} AND {} \
                                ORDER BY r.id LIMIT 1) g ON true \
             WHERE s.enabled AND s.config->'alerts'->'triggers' ?| ARRAY['slow', 'stale']",
            super::runs::GOING,
            super::runs::RUN_WORKER_ALIVE
        ),
        &[],
        |row| {
            let run: Option<i64> = row.get(2)?;
            let seconds: Option<f64> = row.get(3)?;
            Ok(Watched {
                sync_id: spi::get(row, 1)?,
                going: run.zip(seconds),
                since_success: spi::get(row, 4)?,
            })
        },
    )
}
