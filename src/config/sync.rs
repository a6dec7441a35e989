//! The sync configuration document: what `sync_config` returns and
//! `update_sync` takes. Parsing is strict: unknown keys and bad values are
//! errors naming the field; the parsed form serialises back with every
//! default spelled out, so a user sees exactly what the sync does.

use super::json::ObjectReader;
use super::schedule::Schedule;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

pub const MAX_BATCH_SIZE: i64 = 100_000;
/// The longest time limit a run may have (the model's statement_timeout
/// holds it in milliseconds, at most 2^31 - 1).
pub const MAX_TIME_LIMIT_SECONDS: i64 = 24 * 86_400;
pub const DEFAULT_BATCH_SIZE: i64 = 100;

macro_rules! keyword_enum {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(field: &str, text: &str) -> Result<Self> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::invalid(
                        field,
                        format!(
                            "unknown {} \"{}\" (expected one of: {})",
                            $what,
                            other,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(ChangelogLevel, "changelog level", {
    All => "all",
    Failures => "failures",
    None => "none",
});

/// What a sync keeps in `sync_changelog`, and for how long; `None` takes
/// the server's setting (`reverse_etl.changelog`, `reverse_etl.log_retention`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Logs {
    pub changelog: Option<ChangelogLevel>,
    /// The text as written, and in seconds.
    pub retention: Option<(String, i64)>,
}

impl Logs {
    fn parse(reader: &ObjectReader) -> Result<Logs> {
        let Some(logs) = reader.object("logs")? else {
            return Ok(Logs::default());
        };
        logs.deny_unknown(&["changelog", "retention"])?;
        let changelog = logs
            .string("changelog")?
            .map(|text| ChangelogLevel::parse("logs.changelog", &text))
            .transpose()?;
        let retention = logs
            .string("retention")?
            .map(|text| {
                super::schedule::parse_duration("logs.retention", &text).map(|s| (text.clone(), s))
            })
            .transpose()?;
        Ok(Logs {
            changelog,
            retention,
        })
    }

    fn to_json(&self) -> Option<Value> {
        let mut logs = Map::new();
        if let Some(level) = self.changelog {
            logs.insert("changelog".into(), json!(level.as_str()));
        }
        if let Some((text, _)) = &self.retention {
            logs.insert("retention".into(), json!(text));
        }
        (!logs.is_empty()).then_some(Value::Object(logs))
    }
}

keyword_enum!(SyncType, "sync type", {
    Object => "object",
    Event => "event",
    List => "list",
});

keyword_enum!(SyncMode, "sync mode", {
    Update => "update",
    Insert => "insert",
    Upsert => "upsert",
    Add => "add",
    Remove => "remove",
    Archive => "archive",
    All => "all",
    Snapshot => "snapshot",
    Diff => "diff",
});

keyword_enum!(ReadModel, "way of reading the model", {
    Auto => "auto",
    Once => "once",
});

keyword_enum!(DeleteBehavior, "delete behavior", {
    Nothing => "nothing",
    Clear => "clear",
    Delete => "delete",
});

impl SyncMode {
    /// Modes that compare with the previous run; the others send every row.
    pub fn uses_cdc(&self) -> bool {
        !matches!(self, SyncMode::Archive | SyncMode::All | SyncMode::Snapshot)
    }
}

/// Record matching: which model column identifies the destination record,
/// and under which destination field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MappingSource {
    Column(String),
    Static(Value),
    Template(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub source: MappingSource,
    pub to: String,
}

/// The keys every destination kind understands; destination kinds add their own.
pub const COMMON_KEYS: &[&str] = &[
    "type",
    "mode",
    "match",
    "mappings",
    "delete_behavior",
    "batch_size",
    "schedule",
    "max_removed_share",
    "allow_empty_model",
    "time_limit",
    "logs",
    "alerts",
    "read_model",
];

/// Share of the previously synced rows a run may remove before it refuses.
pub const DEFAULT_MAX_REMOVED_SHARE: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub sync_type: SyncType,
    pub mode: SyncMode,
    pub record_match: Option<Match>,
    pub mappings: Vec<Mapping>,
    pub delete_behavior: DeleteBehavior,
    pub batch_size: i64,
    pub schedule: Schedule,
    /// A run that would remove more than this share of the rows last synced
    /// fails instead (1 turns the guard off).
    pub max_removed_share: f64,
    /// Whether a model returning no rows at all may remove everything.
    pub allow_empty_model: bool,
    /// A run still going after this long stops and ends incomplete (the
    /// text as written, and in seconds).
    pub time_limit: Option<(String, i64)>,
    pub logs: Logs,
    pub alerts: Option<super::alerts::Alerts>,
    /// `once`: every run reads the model exactly once, into a copy, for a
    /// model too expensive to run twice; `auto` lets a run read it more
    /// cheaply in two parts (see `Run::reads_keys_first`).
    pub read_model: ReadModel,
    /// Keys that belong to the destination kind (`object`, `requests`, …),
    /// validated by that kind.
    pub destination_keys: Map<String, Value>,
}

impl SyncConfig {
    /// Parse a sync document. `destination_keys` lists the extra keys the
    /// destination kind accepts; anything else is an unknown key.
    pub fn parse(document: &Value, destination_keys: &[&str]) -> Result<SyncConfig> {
        let reader = ObjectReader::new("", document)
            .map_err(|_| Error::invalid("config", "must be a JSON object"))?;
        let known: Vec<&str> = COMMON_KEYS
            .iter()
            .chain(destination_keys.iter())
            .copied()
            .collect();
        reader.deny_unknown(&known)?;

        let sync_type = match reader.string("type")? {
            Some(text) => SyncType::parse("type", &text)?,
            None => SyncType::Object,
        };
        let mode_text = reader
            .string("mode")?
            .ok_or_else(|| Error::invalid("mode", "is required"))?;
        let mode = SyncMode::parse("mode", &mode_text)?;

        let record_match = match reader.object("match")? {
            None => None,
            Some(m) => {
                m.deny_unknown(&["from", "to"])?;
                Some(Match {
                    from: m.required_string("from")?,
                    to: m.required_string("to")?,
                })
            }
        };

        let mut mappings = Vec::new();
        for (index, item) in reader.array("mappings")?.into_iter().flatten().enumerate() {
            mappings.push(parse_mapping(&format!("mappings[{index}]"), item)?);
        }

        let delete_behavior = match reader.string("delete_behavior")? {
            Some(text) => DeleteBehavior::parse("delete_behavior", &text)?,
            // Mirroring means records that leave the model leave the destination.
            None if mode == SyncMode::All => DeleteBehavior::Delete,
            // A row leaving a list's model leaves the list.
            None if sync_type == SyncType::List && mode == SyncMode::Add => DeleteBehavior::Delete,
            None => DeleteBehavior::Nothing,
        };

        let batch_size = reader.integer("batch_size")?.unwrap_or(DEFAULT_BATCH_SIZE);
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(Error::invalid(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}"),
            ));
        }

        let schedule = match reader.value("schedule") {
            Some(value) => Schedule::parse("schedule", value)?,
            None => Schedule::Manual,
        };

        let max_removed_share = match reader.value("max_removed_share") {
            None => DEFAULT_MAX_REMOVED_SHARE,
            Some(Value::Number(n)) => {
                n.as_f64()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or_else(|| {
                        Error::invalid(
                            "max_removed_share",
                            format!("must be between 0 and 1, not {n}"),
                        )
                    })?
            }
            Some(_) => {
                return Err(Error::invalid(
                    "max_removed_share",
                    "must be a number between 0 and 1",
                ))
            }
        };
        let allow_empty_model = reader.boolean("allow_empty_model")?.unwrap_or(false);
        let time_limit = match reader.string("time_limit")? {
            None => None,
            Some(text) => {
                let seconds = super::schedule::parse_duration("time_limit", &text)?;
                // It bounds the model's statement_timeout too (at most
                // 2^31 - 1 ms, a little under 25 days).
                if seconds > MAX_TIME_LIMIT_SECONDS {
                    return Err(Error::invalid(
                        "time_limit",
                        format!("must be at most 24 days, not \"{text}\""),
                    ));
                }
                Some((text.clone(), seconds))
            }
        };

        let logs = Logs::parse(&reader)?;
        let alerts = reader
            .value("alerts")
            .map(super::alerts::Alerts::parse)
            .transpose()?;
        let read_model = match reader.string("read_model")? {
            Some(text) => ReadModel::parse("read_model", &text)?,
            None => ReadModel::Auto,
        };
        let destination_keys = destination_keys
            .iter()
            .filter_map(|key| reader.value(key).map(|v| (key.to_string(), v.clone())))
            .collect();

        let config = SyncConfig {
            sync_type,
            mode,
            record_match,
            mappings,
            delete_behavior,
            batch_size,
            schedule,
            max_removed_share,
            allow_empty_model,
            time_limit,
            logs,
            alerts,
            read_model,
            destination_keys,
        };
        config.check_consistency()?;
        Ok(config)
    }

    /// Rules that hold whatever the destination is.
    fn check_consistency(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        if let Some(m) = &self.record_match {
            seen.insert(m.to.as_str());
        }
        for (index, mapping) in self.mappings.iter().enumerate() {
            if !seen.insert(mapping.to.as_str()) {
                let why = match &self.record_match {
                    Some(m) if m.to == mapping.to => {
                        "is already the match destination (match.to); the matched value is sent there"
                    }
                    _ => "is mapped twice",
                };
                return Err(Error::invalid(
                    &format!("mappings[{index}].to"),
                    format!("\"{}\" {why}", mapping.to),
                ));
            }
        }
        if self.sync_type == SyncType::Event && self.delete_behavior != DeleteBehavior::Nothing {
            return Err(Error::invalid(
                "delete_behavior",
                "event syncs are insert only and cannot delete or clear; use \"nothing\"",
            ));
        }
        if self.sync_type == SyncType::List && self.delete_behavior == DeleteBehavior::Clear {
            return Err(Error::invalid(
                "delete_behavior",
                "list syncs add and remove memberships: use \"delete\" (leave the list) or \"nothing\"",
            ));
        }
        if self.mode == SyncMode::Archive && self.delete_behavior != DeleteBehavior::Nothing {
            return Err(Error::invalid(
                "delete_behavior",
                "mode \"archive\" archives the rows in the model each run; rows leaving it are not acted on (use \"nothing\")",
            ));
        }
        if self.mode == SyncMode::All && self.delete_behavior != DeleteBehavior::Delete {
            return Err(Error::invalid(
                "delete_behavior",
                format!(
                    "mode \"all\" mirrors the model: records not in it are deleted, so \"{}\" does not apply",
                    self.delete_behavior
                ),
            ));
        }
        Ok(())
    }

    /// Model columns whose values the sync sends or needs (match key first,
    /// then mappings in order, each once). Templates are resolved elsewhere.
    pub fn source_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        let mut push = |name: &str| {
            if !columns.iter().any(|c| c == name) {
                columns.push(name.to_string());
            }
        };
        if let Some(m) = &self.record_match {
            push(&m.from);
        }
        for mapping in &self.mappings {
            if let MappingSource::Column(column) = &mapping.source {
                push(column);
            }
        }
        columns
    }

    pub fn destination_string(&self, key: &str) -> Result<Option<String>> {
        match self.destination_keys.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(key, "must be a non-empty string")),
        }
    }

    /// The normalised document, every default written out.
    pub fn to_json(&self) -> Value {
        let mut document = Map::new();
        document.insert("type".into(), json!(self.sync_type.as_str()));
        document.insert("mode".into(), json!(self.mode.as_str()));
        if let Some(m) = &self.record_match {
            document.insert("match".into(), json!({"from": m.from, "to": m.to}));
        }
        let mappings: Vec<Value> = self
            .mappings
            .iter()
            .map(|mapping| match &mapping.source {
                MappingSource::Column(c) => json!({"from": c, "to": mapping.to}),
                MappingSource::Static(v) => json!({"static": v, "to": mapping.to}),
                MappingSource::Template(t) => json!({"template": t, "to": mapping.to}),
            })
            .collect();
        document.insert("mappings".into(), Value::Array(mappings));
        document.insert(
            "delete_behavior".into(),
            json!(self.delete_behavior.as_str()),
        );
        document.insert("batch_size".into(), json!(self.batch_size));
        document.insert("schedule".into(), self.schedule.to_json());
        document.insert("max_removed_share".into(), json!(self.max_removed_share));
        document.insert("allow_empty_model".into(), json!(self.allow_empty_model));
        if let Some((text, _)) = &self.time_limit {
            document.insert("time_limit".into(), json!(text));
        }
        if let Some(logs) = self.logs.to_json() {
            document.insert("logs".into(), logs);
        }
        if let Some(alerts) = &self.alerts {
            document.insert("alerts".into(), alerts.to_json());
        }
        if self.read_model != ReadModel::Auto {
            document.insert("read_model".into(), json!(self.read_model.as_str()));
        }
        for (key, value) in &self.destination_keys {
            document.insert(key.clone(), value.clone());
        }
        Value::Object(document)
    }
}

fn parse_mapping(path: &str, item: &Value) -> Result<Mapping> {
    let reader = ObjectReader::new(path, item)?;
    reader.deny_unknown(&["from", "static", "template", "to"])?;
    let to = reader.required_string("to")?;
    let sources = ["from", "static", "template"]
        .iter()
        .filter(|key| reader.has(key))
        .count();
    if sources != 1 {
        return Err(Error::invalid(
            path,
            "needs exactly one of \"from\" (a model column), \"static\" (a fixed value) or \"template\"",
        ));
    }
    let source = if reader.has("from") {
        MappingSource::Column(reader.required_string("from")?)
    } else if reader.has("static") {
        MappingSource::Static(reader.value("static").cloned().unwrap_or(Value::Null))
    } else {
        MappingSource::Template(reader.required_string("template")?)
    };
    Ok(Mapping { source, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(document: Value) -> Result<SyncConfig> {
        SyncConfig::parse(&document, &["object"])
    }

    #[test]
    fn defaults_are_spelled_out() {
        let config = parse(json!({"mode": "upsert", "match": {"from": "id", "to": "id"}, "object": "crm.contacts"})).unwrap();
        assert_eq!(config.sync_type, SyncType::Object);
        assert_eq!(config.delete_behavior, DeleteBehavior::Nothing);
        assert_eq!(config.batch_size, DEFAULT_BATCH_SIZE);
        let round_trip = config.to_json();
        assert_eq!(round_trip["batch_size"], json!(100));
        assert_eq!(round_trip["schedule"], json!({"manual": true}));
        assert_eq!(round_trip["object"], json!("crm.contacts"));
        assert_eq!(parse(round_trip).unwrap(), config);
    }

    #[test]
    fn a_model_may_be_read_once_per_run() {
        let auto = parse(json!({"mode": "upsert"})).unwrap();
        assert_eq!(auto.read_model, ReadModel::Auto);
        assert!(
            auto.to_json().get("read_model").is_none(),
            "the default is not spelled out"
        );
        let once = parse(json!({"mode": "upsert", "read_model": "once"})).unwrap();
        assert_eq!(once.read_model, ReadModel::Once);
        assert_eq!(once.to_json()["read_model"], json!("once"));
        assert_eq!(parse(once.to_json()).unwrap(), once);
    }

    #[test]
    fn mirror_mode_deletes_by_default() {
        let config = parse(json!({"mode": "all"})).unwrap();
        assert_eq!(config.delete_behavior, DeleteBehavior::Delete);
    }

    #[test]
    fn all_mapping_kinds_parse() {
        let config = parse(json!({
            "mode": "upsert",
            "mappings": [{"from": "plan", "to": "plan_name"},
                         {"static": 7, "to": "source"},
                         {"template": "{{ row.a }}", "to": "full"}]
        }))
        .unwrap();
        assert_eq!(config.mappings[1].source, MappingSource::Static(json!(7)));
        assert_eq!(config.source_columns(), vec!["plan".to_string()]);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                json!({"mode": "upsrt"}),
                "mode: unknown sync mode \"upsrt\"",
            ),
            (
                json!({"mode": "upsert", "type": "thing"}),
                "type: unknown sync type \"thing\"",
            ),
            (
                json!({"mode": "upsert", "batch_size": 0}),
                "batch_size: must be between 1 and 100000, not 0",
            ),
            (
                json!({"mode": "upsert", "batch_size": 10_000_000}),
                "batch_size: must be between 1 and 100000, not 10000000",
            ),
            (
                json!({"mode": "upsert", "batch_size": "10"}),
                "batch_size: must be an integer, not a string",
            ),
            (
                json!({"mode": "upsert", "colour": 1}),
                "colour: unknown key",
            ),
            (
                json!({"mode": "upsert", "match": {"from": "a"}}),
                "match.to: is required",
            ),
            (
                json!({"mode": "upsert", "match": {"from": "a", "to": "b", "x": 1}}),
                "match.x: unknown key",
            ),
            (
                json!({"mode": "upsert", "mappings": [{"to": "b"}]}),
                "mappings[0]: needs exactly one of",
            ),
            (
                json!({"mode": "upsert", "mappings": [{"from": "a", "to": "b"}, {"from": "c", "to": "b"}]}),
                "mappings[1].to: \"b\" is mapped twice",
            ),
            (
                json!({"mode": "upsert", "match": {"from": "a", "to": "b"}, "mappings": [{"from": "c", "to": "b"}]}),
                "mappings[0].to: \"b\" is already the match destination",
            ),
            (
                json!({"mode": "insert", "type": "event", "delete_behavior": "delete"}),
                "delete_behavior: event syncs are insert only",
            ),
            (
                json!({"mode": "all", "delete_behavior": "clear"}),
                "delete_behavior: mode \"all\" mirrors",
            ),
            (
                json!({"mode": "all", "delete_behavior": "nothing"}),
                "delete_behavior: mode \"all\" mirrors",
            ),
            (json!({}), "mode: is required"),
            (
                json!({"mode": "upsert", "max_removed_share": 1.5}),
                "max_removed_share: must be between 0 and 1",
            ),
            (
                json!({"mode": "upsert", "allow_empty_model": "yes"}),
                "allow_empty_model: must be true or false",
            ),
            (
                json!({"mode": "upsert", "time_limit": "1000000000000 weeks"}),
                "time_limit: must be at most 24 days",
            ),
            (
                json!({"mode": "upsert", "time_limit": "25 days"}),
                "time_limit: must be at most 24 days",
            ),
            (
                json!({"mode": "upsert", "schedule": {"interval": "10000000000000 seconds"}}),
                "schedule.interval: the longest interval is 366 days",
            ),
            (
                json!({"mode": "upsert", "schedule": {"cron": "0 0 30 2 *"}}),
                "schedule.cron: \"0 0 30 2 *\" never fires",
            ),
            (
                json!({"mode": "upsert", "read_model": "twice"}),
                "read_model: unknown way of reading the model \"twice\" (expected one of: auto, once)",
            ),
            (json!([1]), "config: must be a JSON object"),
        ];
        for (document, expected) in cases {
            let error = parse(document.clone()).unwrap_err();
            assert!(
                error.message.starts_with(expected),
                "{document}: expected {expected:?}, got {:?}",
                error.message
            );
            assert_eq!(error.state.code(), "22023");
        }
    }
}
