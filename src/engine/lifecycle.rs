//! Changing and removing models, destinations, syncs and sequences: what
//! each change does to the objects that depend on it (revalidated, refused,
//! disabled with `force`, dropped with `cascade`), and to a dropped sync's
//! runs, state and history.

use super::validate;
use crate::catalog::{self, dropped, dropped::Tombstone, runs};
use crate::error::{Error, Result, SqlState};
use crate::postgres::in_subtransaction;
use pgrx::pg_sys;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long dropping a sync waits for its cancelled run to end.
const STOP_RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// SQLSTATE 2BP01: dropping what other objects still use.
const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState::Other(*b"2BP01");

/// SQLSTATE 55006: the object is busy (a run is going).
const OBJECT_IN_USE: SqlState = SqlState::Other(*b"55006");

/// What a drop does to dependants and history.
#[derive(Debug, Clone, Copy)]
pub struct Dropping {
    /// Drop what uses the object too (else refuse, naming it).
    pub cascade: bool,
    /// Keep runs, changelog and activity (readable through `dropped_objects`).
    pub keep_history: bool,
}

fn names(objects: &[(i64, String)]) -> String {
    objects
        .iter()
        .map(|(_, name)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `user` is what uses the object (sync, sequence), `by` the users; the
/// message starts with `field`, the argument that named the object.
fn still_used(field: &str, what: &str, name: &str, user: &str, by: &[(i64, String)]) -> Error {
    let (users, verb) = if by.len() == 1 {
        (user.to_string(), "uses")
    } else {
        (format!("{user}s"), "use")
    };
    Error::new(
        DEPENDENT_OBJECTS_STILL_EXIST,
        format!(
            "{field}: cannot drop {what} \"{name}\": {users} {} {verb} it",
            names(by)
        ),
    )
    .with_hint(format!(
        "drop the {user}s first, or pass cascade => true to drop them too"
    ))
}

/// Drop a sync: its going run is cancelled (and waited for), its snapshot
/// and work tables go, and its history is kept or removed.
pub fn drop_sync(id: i64, how: Dropping, actor: pg_sys::Oid) -> Result<()> {
    let sync = catalog::load_sync(id)?;
    let sequences = catalog::sequences::using_sync(id)?;
    if !sequences.is_empty() {
        if !how.cascade {
            return Err(still_used(
                "sync", "sync", &sync.name, "sequence", &sequences,
            ));
        }
        for (sequence, _) in &sequences {
            drop_sequence(*sequence, how, actor)?;
        }
    }
    stop_runs(&sync)?;
    catalog::state::drop_sync_state(id)?;
    if how.keep_history {
        let definition = dropped::sync_definition(&sync)?;
        catalog::record_activity(id, actor, "dropped", Some(definition.clone()), None)?;
        dropped::record_tombstone(
            Tombstone::Sync,
            id,
            &sync.name,
            sync.owner,
            definition,
            actor,
        )?;
    } else {
        dropped::forget_sync_history(id)?;
    }
    dropped::delete_sync(id)
}

/// Cancel the sync's going runs and wait until they have ended; then hold
/// its run lock until this transaction ends, so no new run starts on a
/// sync that is being dropped.
fn stop_runs(sync: &catalog::SyncRow) -> Result<()> {
    let deadline = Instant::now() + STOP_RUN_TIMEOUT;
    let mut cancelled = Vec::new();
    loop {
        let going = runs::going(sync.id)?;
        if going.is_empty() && runs::try_lock_sync_runs(sync.id)? {
            // Runs whose worker is gone are closed as incomplete.
            return super::recovery::close_interrupted_runs(sync.id);
        }
        for (run, pid) in going {
            // Once per run: a second cancel could interrupt the worker
            // while it records how its run ended.
            if cancelled.contains(&run) {
                continue;
            }
            // Through the pool: a warm worker may be on another run by now.
            if let Some(pid) = pid {
                super::pool::cancel(pid, run);
            }
            cancelled.push(run);
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                OBJECT_IN_USE,
                format!(
                    "sync: sync \"{}\" still has a run going after {} s; nothing was dropped",
                    sync.name,
                    STOP_RUN_TIMEOUT.as_secs()
                ),
            )
            .with_hint("try again once the run has ended (see sync_runs)"));
        }
        std::thread::sleep(Duration::from_millis(50));
        pg_sys::check_for_interrupts!();
    }
}

/// Drop a sequence (refused while one of its runs is going).
pub fn drop_sequence(id: i64, how: Dropping, actor: pg_sys::Oid) -> Result<()> {
    let (name, owner, definition) = catalog::sequences::definition(id)?;
    if let Some(run) = catalog::sequence_runs::going(id)? {
        return Err(Error::new(
            OBJECT_IN_USE,
            format!("sequence: sequence \"{name}\" is running (sequence run {run}); nothing was dropped"),
        )
        .with_hint("drop it once the sequence run has ended"));
    }
    if how.keep_history {
        dropped::record_tombstone(Tombstone::Sequence, id, &name, owner, definition, actor)?;
    } else {
        dropped::forget_sequence_history(id)?;
    }
    dropped::delete_sequence(id)
}

/// Drop a model; its syncs too with `cascade`.
pub fn drop_model(id: i64, how: Dropping, actor: pg_sys::Oid) -> Result<()> {
    let model = catalog::load_model(id)?;
    drop_users(
        "model",
        &model.name,
        &catalog::syncs::of_model(id)?,
        how,
        actor,
    )?;
    dropped::delete_model(id)
}

/// Drop a destination; its syncs too with `cascade`.
pub fn drop_destination(id: i64, how: Dropping, actor: pg_sys::Oid) -> Result<()> {
    let destination = catalog::load_destination(id)?;
    let syncs = catalog::syncs::of_destination(id)?;
    drop_users("destination", &destination.name, &syncs, how, actor)?;
    dropped::delete_destination(id)
}

fn drop_users(
    what: &str,
    name: &str,
    syncs: &[(i64, String)],
    how: Dropping,
    actor: pg_sys::Oid,
) -> Result<()> {
    if syncs.is_empty() {
        return Ok(());
    }
    if !how.cascade {
        return Err(still_used(what, what, name, "sync", syncs));
    }
    for (sync, _) in syncs {
        drop_sync(*sync, how, actor)?;
    }
    Ok(())
}

/// Drop an alert channel; with `cascade` it leaves the `alerts.channels`
/// of the syncs that name it (each change logged), else they refuse it.
pub fn drop_alert_channel(id: i64, cascade: bool, actor: pg_sys::Oid) -> Result<()> {
    let channel = catalog::alerts::load_channel(id)?;
    let users = catalog::alerts::syncs_using_channel(&channel.name)?;
    if !users.is_empty() && !cascade {
        return Err(
            still_used("channel", "alert channel", &channel.name, "sync", &users).with_hint(
                "take it out of those syncs' alerts.channels first (update_sync), or pass cascade => true",
            ),
        );
    }
    for (sync, _) in users {
        let row = catalog::load_sync(sync)?;
        let mut config = row.config.clone();
        if let Some(channels) = config
            .get_mut("alerts")
            .and_then(|alerts| alerts.get_mut("channels"))
            .and_then(Value::as_array_mut)
        {
            channels.retain(|name| name.as_str() != Some(channel.name.as_str()));
        }
        catalog::update_sync_config(sync, &config)?;
        catalog::record_activity(sync, actor, "updated", Some(row.config), Some(config))?;
    }
    catalog::alerts::delete_channel(id)
}

/// What changed under a set of syncs, as their activity records it.
pub struct Change {
    /// `model_changed` or `destination_changed`.
    pub action: &'static str,
    pub old: Value,
    pub new: Value,
}

/// Check each sync again as its runs would, after its model or destination
/// changed (the change is already written, in this transaction). Without
/// `force`, the first sync that would break refuses the change, naming the
/// sync and the field; with it, the syncs that break are disabled, with the
/// reason in their activity and a WARNING.
pub fn revalidate(
    syncs: &[(i64, String)],
    change: &Change,
    force: bool,
    actor: pg_sys::Oid,
) -> Result<()> {
    for (id, name) in syncs {
        let sync = catalog::load_sync(*id)?;
        let check = in_subtransaction(|| {
            validate::sync_config(&validate::SyncDefinition::stored(&sync)).map(|_| ())
        });
        catalog::record_activity(
            *id,
            actor,
            change.action,
            Some(change.old.clone()),
            Some(change.new.clone()),
        )?;
        let Err(error) = check else { continue };
        let error = error.context(format!("sync \"{name}\""));
        if !force {
            return Err(error.with_hint(
                "change the sync first (update_sync), or pass force => true to make the change and disable the syncs it breaks",
            ));
        }
        if sync.enabled {
            catalog::set_sync_enabled(*id, false)?;
        }
        catalog::record_activity(
            *id,
            actor,
            "disabled",
            None,
            Some(json!({"reason": error.message})),
        )?;
        pgrx::warning!("pg_reverse_etl: {} (the sync is disabled)", error.message);
    }
    Ok(())
}

/// Refuse a change that cannot wait for a run: while one of these syncs
/// has a run going.
pub fn ensure_not_running(syncs: &[(i64, String)], what: &str) -> Result<()> {
    for (id, name) in syncs {
        if let Some((run, _)) = runs::going(*id)?.into_iter().next() {
            return Err(Error::new(
                OBJECT_IN_USE,
                format!("{what}: sync \"{name}\" has a run going (run {run}); nothing was changed"),
            )
            .with_hint("try again once the run has ended, or cancel it with cancel_run"));
        }
    }
    Ok(())
}

/// A model's primary key changed: what each sync's snapshot holds is keyed
/// by the old key, so it is forgotten and the next run sends every row as
/// added (records of rows that left the model before are not removed).
pub fn reset_snapshots(syncs: &[(i64, String)], actor: pg_sys::Oid) -> Result<()> {
    for (id, _) in syncs {
        catalog::state::clear_snapshot(*id)?;
        catalog::record_activity(
            *id,
            actor,
            "reset_cdc",
            None,
            Some(json!({"reason": "the model's primary key changed"})),
        )?;
    }
    Ok(())
}

/// A model's new definition; `None` keeps that part.
pub struct ModelUpdate<'a> {
    pub query: Option<&'a str>,
    pub primary_key: Option<Vec<String>>,
    /// Where a new query's names are looked up: the caller's search_path.
    pub search_path: &'a str,
    pub force: bool,
}

/// Change a model in place (same id; its syncs and their history stay):
/// the query is described again as `actor`, and every sync that sends the
/// model is checked again (see `revalidate`). A definition identical to the
/// stored one changes nothing.
pub fn update_model(id: i64, update: ModelUpdate, actor: pg_sys::Oid) -> Result<()> {
    let old = catalog::load_model(id)?;
    let (query, search_path) = match update.query {
        Some(query) => {
            let query = super::model::normalize_query(query)?;
            super::model::check_single_statement(&query)?;
            (query, update.search_path.to_string())
        }
        None => (old.query.clone(), old.search_path.clone()),
    };
    let primary_key = update
        .primary_key
        .unwrap_or_else(|| old.primary_key.clone());
    if query == old.query && primary_key == old.primary_key && search_path == old.search_path {
        return Ok(());
    }
    let columns = super::model::describe(&query, &search_path, actor)?;
    super::model::check_primary_key(&primary_key, &columns)?;
    let syncs = catalog::syncs::of_model(id)?;
    let key_changed = primary_key != old.primary_key;
    if key_changed {
        ensure_not_running(&syncs, "primary_key")?;
    }
    catalog::models::update_model(id, &query, &primary_key, &search_path, &columns)?;
    let definition = |query: &str, primary_key: &[String], search_path: &str| json!({"model": old.name, "query": query, "primary_key": primary_key, "search_path": search_path});
    let change = Change {
        action: "model_changed",
        old: definition(&old.query, &old.primary_key, &old.search_path),
        new: definition(&query, &primary_key, &search_path),
    };
    revalidate(&syncs, &change, update.force, actor)?;
    if key_changed {
        reset_snapshots(&syncs, actor)?;
    }
    Ok(())
}

/// Change a destination's config in place, checked like a new one (its
/// secrets must be its owner's), then every sync that sends to it is
/// checked again. An identical config changes nothing.
pub fn update_destination(id: i64, config: &Value, force: bool, actor: pg_sys::Oid) -> Result<()> {
    let old = catalog::load_destination(id)?;
    if old.config == *config {
        return Ok(());
    }
    validate::destination_config(&old.kind, config, old.owner)?;
    catalog::destinations::update_destination_config(id, config)?;
    let change = Change {
        action: "destination_changed",
        old: json!({"destination": old.name, "config": old.config}),
        new: json!({"destination": old.name, "config": config}),
    };
    revalidate(&catalog::syncs::of_destination(id)?, &change, force, actor)
}
