//! The `file` destination: snapshot files (the model's full result each run)
//! and diff files (added, changed, removed), as CSV (RFC 4180, with header)
//! or JSON lines, in a directory of the database server or in object
//! storage (S3). In a directory each file is written under a temporary
//! name, flushed to disk and renamed; in a bucket each is a multipart
//! upload completed at the end: a reader never sees half a file, and the
//! rows count as delivered only once every file of the run is in place.

use super::object_storage::{self, ObjectStore, S3Settings};
use super::rows::{self, Window};
use super::template::Template;
use super::{
    Batch, BatchOutcome, BuildContext, Destination, DestinationKind, Rejection, Support, TestRow,
};
use crate::config::json::ObjectReader;
use crate::config::{DeleteBehavior, SyncConfig, SyncMode, SyncType};
use crate::error::{Error, Result, SqlState};
use crate::plan::{ModelColumn, Op, RunPlan};
use crate::postgres::Identity;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SYNC_KEYS: &[&str] = &["format", "file"];

/// Files are written, never edited: rows that leave the model appear in a
/// diff's removed file; nothing else is done about them.
const FILES_ARE_NOT_EDITED: &[DeleteBehavior] = &[DeleteBehavior::Nothing];

/// This kind's rows of the support matrix.
pub const SUPPORT: &[Support] = &[
    Support {
        sync_type: SyncType::Object,
        modes: &[SyncMode::Snapshot, SyncMode::Diff],
        delete_behaviors: FILES_ARE_NOT_EDITED,
    },
    Support {
        sync_type: SyncType::Event,
        modes: &[SyncMode::Snapshot, SyncMode::Diff],
        delete_behaviors: FILES_ARE_NOT_EDITED,
    },
];

/// The `file` kind.
pub struct File;

impl DestinationKind for File {
    fn name(&self) -> &'static str {
        "file"
    }

    fn config_keys(&self) -> &'static [&'static str] {
        &["directory", "s3"]
    }

    fn sync_keys(&self) -> &'static [&'static str] {
        SYNC_KEYS
    }

    fn check_config(&self, config: &Value, owner: pgrx::pg_sys::Oid) -> Result<()> {
        let Some(settings) = S3Settings::parse(config)? else {
            check_directory(config, &crate::gucs::file_allowed_directories())?;
            return Ok(());
        };
        ObjectReader::new("config", config)?.deny_unknown(&["s3"])?;
        settings.check_host(&crate::gucs::http_allowed_hosts())?;
        let field = |name: &str| {
            if settings.session_token.as_deref() == Some(name) {
                "config.s3.session_token"
            } else if settings.secret_access_key == name {
                "config.s3.secret_access_key"
            } else {
                "config.s3.access_key_id"
            }
        };
        for name in settings.secret_names() {
            crate::catalog::secret_value(owner, field(&name), &name)?;
        }
        Ok(())
    }

    fn secret_names(&self, config: &Value) -> Vec<String> {
        S3Settings::parse(config)
            .ok()
            .flatten()
            .map(|settings| settings.secret_names())
            .unwrap_or_default()
    }

    fn support(&self) -> &'static [Support] {
        SUPPORT
    }

    /// Without match or mappings a file holds every column of the model.
    fn sent_columns(&self, config: &SyncConfig, model_columns: &[ModelColumn]) -> Vec<String> {
        if config.mappings.is_empty() && config.record_match.is_none() {
            model_columns.iter().map(|c| c.name.clone()).collect()
        } else {
            super::columns_used(config, model_columns, &[])
        }
    }

    fn build(&self, context: &BuildContext) -> Result<Box<dyn Destination>> {
        let place = match S3Settings::parse(&context.destination.config)? {
            Some(settings) => Place::Bucket {
                settings: Box::new(settings),
                owner: context.destination.owner,
                store: None,
            },
            None => Place::Directory(
                check_directory(
                    &context.destination.config,
                    &crate::gucs::file_allowed_directories(),
                )
                .map_err(|e| e.context(format!("destination \"{}\"", context.destination.name)))?,
            ),
        };
        let mut destination = FileDestination::new(
            place,
            context.config,
            context.model_columns,
            context.sync_name,
        )?;
        destination.identity = context.identity.clone();
        Ok(Box::new(destination))
    }
}
/// Rows read from the ops table at a time while writing (fewer when their
/// values reach half of `reverse_etl.max_bytes_in_flight`).
const CHUNK: i64 = 10_000;

/// The mode of the files written: read and write for the server's OS user,
/// read for its group, nothing for others.
pub const FILE_MODE: u32 = 0o640;

/// Where a run writes a file before renaming it into place. Named by sync
/// and run, so a crashed run's leftovers are found and removed by the
/// sync's next run.
fn temporary_name(sync_id: i64, run_id: i64, name: &str) -> String {
    format!(".reverse_etl-{sync_id}-{run_id}-{name}.tmp")
}

/// Remove the temporary files earlier runs of this sync left behind (a run
/// holds the sync's lock, so none of them is being written).
fn remove_leftovers(directory: &Path, sync_id: i64) {
    let prefix = format!(".reverse_etl-{sync_id}-");
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn extension(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

/// The destination's directory, checked against the admin's allow-list
/// (`reverse_etl.file_allowed_directories`): it must be an absolute path
/// inside an allowed directory as written, and still inside one with every
/// symlink resolved. A path outside is refused before the file system is
/// asked anything about it, so the answer reveals nothing about it.
pub fn check_directory(config: &Value, allowed: &str) -> Result<PathBuf> {
    let reader = ObjectReader::new("config", config)?;
    reader.deny_unknown(&["directory"])?;
    let directory = reader.required_string("directory")?;
    let outside = || {
        Error::new(
            SqlState::InsufficientPrivilege,
            format!("config.directory: \"{directory}\" is not inside reverse_etl.file_allowed_directories"),
        )
        .with_hint("an admin can allow a directory: ALTER SYSTEM SET reverse_etl.file_allowed_directories = '/srv/exports'; SELECT pg_reload_conf()")
    };
    let roots: Vec<PathBuf> = allowed
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .filter_map(lexically_normal)
        .collect();
    let written = lexically_normal(&directory).ok_or_else(outside)?;
    if !roots.iter().any(|root| written.starts_with(root)) {
        return Err(outside());
    }
    let resolved = std::fs::canonicalize(&written).map_err(|e| {
        Error::invalid(
            "config.directory",
            format!("\"{directory}\" cannot be used: {e}"),
        )
    })?;
    let resolved_roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .collect();
    if !resolved_roots.iter().any(|root| resolved.starts_with(root)) {
        return Err(outside());
    }
    if !resolved.is_dir() {
        return Err(Error::invalid(
            "config.directory",
            format!("\"{directory}\" is not a directory"),
        ));
    }
    Ok(resolved)
}

/// An absolute path with `.` and `..` taken out as written (no file system
/// access), or None for a relative one.
fn lexically_normal(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    if !path.is_absolute() {
        return None;
    }
    let mut normal = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::Normal(name) => normal.push(name),
            std::path::Component::ParentDir => {
                normal.pop();
            }
            _ => {}
        }
    }
    Some(normal)
}

/// A file name from the template: one path component, no escape from the directory.
pub fn file_name(
    template: &Template,
    context: &Value,
    format: Format,
    suffix: &str,
) -> Result<String> {
    let rendered = template.render("file", context)?;
    let name = rendered.trim();
    if name.is_empty()
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name == "."
        || name == ".."
        || name.starts_with('.')
    {
        return Err(Error::invalid(
            "file",
            format!("\"{name}\" is not a plain file name inside the destination's directory"),
        ));
    }
    let extension = format!(".{}", format.extension());
    let stem = name.strip_suffix(&extension).unwrap_or(name);
    Ok(format!("{stem}{suffix}{extension}"))
}

/// One CSV field as PostgreSQL's `COPY … CSV` reads it back: NULL is an
/// empty unquoted field, an empty string is `""`, and a field with a
/// separator, quote, line break or edge space is quoted.
pub fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.is_empty()
        || text.contains([',', '"', '\r', '\n'])
        || text.starts_with(' ')
        || text.ends_with(' ')
    {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub fn csv_line(values: impl Iterator<Item = Value>) -> String {
    let mut line = values.map(|v| csv_field(&v)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Where a file destination's files go.
pub enum Place {
    /// A directory of the database server (allow-listed).
    Directory(PathBuf),
    /// A bucket (and prefix) of S3 or an S3-compatible server; the store is
    /// opened with the owner's secrets when a run starts.
    Bucket {
        settings: Box<S3Settings>,
        owner: pgrx::pg_sys::Oid,
        store: Option<Box<ObjectStore>>,
    },
}

impl Place {
    /// For the file claims: the directory, or the endpoint, bucket and prefix.
    fn location(&self) -> String {
        match self {
            Place::Directory(directory) => directory.to_string_lossy().into_owned(),
            Place::Bucket { settings, .. } => settings.claim_location(),
        }
    }
}

pub struct FileDestination {
    pub place: Place,
    pub format: Format,
    pub file: Template,
    pub mode: SyncMode,
    /// Destination fields, in column order: (field, model column).
    pub fields: Vec<(String, FieldSource)>,
    pub match_to: Option<String>,
    match_from: Option<String>,
    /// Rows are read as the sync's owner.
    pub identity: Identity,
    sync_name: String,
    sync_id: i64,
    run_id: i64,
    /// The run's files, named once when it starts.
    files: Vec<(Option<Op>, String)>,
    /// Set once the files of this run are written (by the first batch):
    /// the rows too large to load, left out of them.
    written: Option<Vec<Rejection>>,
}

#[derive(Debug, Clone)]
pub enum FieldSource {
    Column(String),
    Static(Value),
}

impl FileDestination {
    pub fn new(
        place: Place,
        config: &SyncConfig,
        model_columns: &[ModelColumn],
        sync_name: &str,
    ) -> Result<FileDestination> {
        let format = match config.destination_string("format")?.as_deref() {
            None | Some("csv") => Format::Csv,
            Some("jsonl") | Some("json_lines") => Format::JsonLines,
            Some(other) => {
                return Err(Error::invalid(
                    "format",
                    format!("unknown format \"{other}\" (expected csv or jsonl)"),
                ))
            }
        };
        let file_text = config
            .destination_string("file")?
            .unwrap_or_else(|| format!("{}-{{{{ run.id }}}}", sync_name));
        let file = Template::parse("file", &file_text)?;
        let mut fields = Vec::new();
        if let Some(m) = &config.record_match {
            fields.push((m.to.clone(), FieldSource::Column(m.from.clone())));
        }
        for (index, mapping) in config.mappings.iter().enumerate() {
            let source = match &mapping.source {
                crate::config::MappingSource::Column(c) => FieldSource::Column(c.clone()),
                crate::config::MappingSource::Static(v) => FieldSource::Static(v.clone()),
                crate::config::MappingSource::Template(_) => {
                    return Err(Error::new(
                        SqlState::FeatureNotSupported,
                        format!("mappings[{index}].template: template mappings are not supported by the file destination"),
                    ))
                }
            };
            fields.push((mapping.to.clone(), source));
        }
        if fields.is_empty() {
            // No mappings: every column of the model, under its own name.
            fields = model_columns
                .iter()
                .map(|c| (c.name.clone(), FieldSource::Column(c.name.clone())))
                .collect();
        }
        for (field, source) in &fields {
            if let FieldSource::Column(c) = source {
                if !model_columns.iter().any(|m| &m.name == c) {
                    return Err(Error::new(
                        SqlState::UndefinedColumn,
                        format!(
                            "mappings: column \"{c}\" (for {field}) is not in the model's result"
                        ),
                    ));
                }
            }
        }
        let destination = FileDestination {
            place,
            format,
            file,
            mode: config.mode,
            fields,
            match_to: config.record_match.as_ref().map(|m| m.to.clone()),
            match_from: config.record_match.as_ref().map(|m| m.from.clone()),
            identity: Identity {
                role: pgrx::pg_sys::Oid::INVALID,
                search_path: String::new(),
            },
            sync_name: sync_name.to_string(),
            sync_id: 0,
            run_id: 0,
            files: Vec::new(),
            written: None,
        };
        // The name must come out as a plain file name.
        destination.names()?;
        Ok(destination)
    }

    fn context(&self) -> Value {
        let timestamp = chrono_like_now();
        json!({"run": {"id": self.run_id}, "sync": self.sync_name, "timestamp": timestamp})
    }

    /// The files of a run: (op written to it, or None for the snapshot file; file name).
    fn names(&self) -> Result<Vec<(Option<Op>, String)>> {
        let context = self.context();
        match self.mode {
            SyncMode::Diff => Op::DELIVERY_ORDER
                .iter()
                .rev()
                .map(|op| {
                    Ok((
                        Some(*op),
                        file_name(
                            &self.file,
                            &context,
                            self.format,
                            &format!("-{}", op.as_str()),
                        )?,
                    ))
                })
                .collect(),
            _ => Ok(vec![(
                None,
                file_name(&self.file, &context, self.format, "")?,
            )]),
        }
    }

    fn record(
        &self,
        op: Op,
        row_id: &str,
        match_key: Option<&str>,
        fields: &Map<String, Value>,
    ) -> Vec<(String, Value)> {
        if op == Op::Removed {
            let mut out = vec![("row_id".to_string(), Value::String(row_id.into()))];
            if let (Some(to), Some(from)) = (&self.match_to, &self.match_from) {
                // The loader types it as the model's column; a test row may
                // only have the snapshot's text.
                let value = fields.get(from).cloned().unwrap_or_else(|| {
                    match_key
                        .map(|k| Value::String(k.into()))
                        .unwrap_or(Value::Null)
                });
                out.push((to.clone(), value));
            }
            return out;
        }
        self.fields
            .iter()
            .map(|(field, source)| {
                let value = match source {
                    FieldSource::Column(c) => fields.get(c).cloned().unwrap_or(Value::Null),
                    FieldSource::Static(v) => v.clone(),
                };
                (field.clone(), value)
            })
            .collect()
    }

    fn write_line(&self, out: &mut dyn Write, record: &[(String, Value)]) -> std::io::Result<()> {
        match self.format {
            Format::Csv => {
                out.write_all(csv_line(record.iter().map(|(_, v)| v.clone())).as_bytes())
            }
            Format::JsonLines => {
                let object: Map<String, Value> = record.iter().cloned().collect();
                writeln!(out, "{}", Value::Object(object))
            }
        }
    }

    fn header(&self, op: Option<Op>) -> Vec<String> {
        match op {
            Some(Op::Removed) => std::iter::once("row_id".to_string())
                .chain(self.match_to.clone())
                .collect(),
            _ => self.fields.iter().map(|(f, _)| f.clone()).collect(),
        }
    }

    /// Write every file of the run from the ops table, then make them all
    /// appear at once (renamed into place, or their uploads completed).
    /// Returns the rows left out because they were too large to load.
    fn write_all(&self, plan: &RunPlan) -> Result<Vec<Rejection>> {
        match &self.place {
            Place::Directory(directory) => self.write_to_directory(directory, plan),
            Place::Bucket { store, .. } => {
                let store = store.as_ref().ok_or_else(|| {
                    Error::new(
                        SqlState::InternalError,
                        "file destination used before start_run",
                    )
                })?;
                self.write_to_bucket(store, plan)
            }
        }
    }

    fn write_to_directory(&self, directory: &Path, plan: &RunPlan) -> Result<Vec<Rejection>> {
        let io = |e: std::io::Error, path: &Path| {
            Error::new(
                SqlState::Other(*b"58030"),
                format!("file {}: {e}", path.display()),
            )
        };
        let mut oversized = Vec::new();
        let mut finished = Vec::new();
        for (op, name) in &self.files {
            let path = directory.join(name);
            let temporary = directory.join(temporary_name(self.sync_id, self.run_id, name));
            // A new file, never one that exists nor one a symlink points to.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temporary)
                .map_err(|e| io(e, &temporary))?;
            // The documented mode, whatever the server's umask.
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(|e| io(e, &temporary))?;
            let mut out = std::io::BufWriter::new(file);
            self.write_file(plan, *op, &mut out, &mut oversized)
                .map_err(|e| e.context(format!("file {}", temporary.display())))?;
            let file = out
                .into_inner()
                .map_err(|e| io(e.into_error(), &temporary))?;
            file.sync_all().map_err(|e| io(e, &temporary))?;
            finished.push((temporary, path));
        }
        for (temporary, path) in finished {
            std::fs::rename(&temporary, &path).map_err(|e| io(e, &path))?;
        }
        if let Ok(directory) = std::fs::File::open(directory) {
            let _ = directory.sync_all();
        }
        Ok(oversized)
    }

    /// Each file a multipart upload, its parts sent as they fill; the
    /// uploads are completed only once every file is written, and given up
    /// (nothing appears) if any fails.
    fn write_to_bucket(&self, store: &ObjectStore, plan: &RunPlan) -> Result<Vec<Rejection>> {
        let mut oversized = Vec::new();
        let mut finished = Vec::new();
        let abort_all = |finished: &[object_storage::Finished]| {
            for upload in finished {
                store.abort_finished(upload);
            }
        };
        for (op, name) in &self.files {
            let mut upload = match store.upload(name) {
                Ok(upload) => upload,
                Err(error) => {
                    abort_all(&finished);
                    return Err(error);
                }
            };
            let written = {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut upload);
                self.write_file(plan, *op, &mut out, &mut oversized)
                    .and_then(|()| {
                        out.flush()
                            .map_err(|e| Error::new(SqlState::Other(*b"58030"), e.to_string()))
                    })
            };
            let done = match written {
                Ok(()) => upload.finish(),
                Err(error) => {
                    let error = upload.take_failure().unwrap_or(error);
                    upload.abort();
                    Err(error)
                }
            };
            match done {
                Ok(done) => finished.push(done),
                Err(error) => {
                    abort_all(&finished);
                    return Err(error.context(format!("object {}", store.key(name))));
                }
            }
        }
        for (index, upload) in finished.iter().enumerate() {
            if let Err(error) = store.complete(upload) {
                abort_all(&finished[index + 1..]);
                return Err(error);
            }
        }
        Ok(oversized)
    }

    /// One file's lines (and CSV header) from the ops table, in chunks.
    fn write_file(
        &self,
        plan: &RunPlan,
        op: Option<Op>,
        out: &mut dyn Write,
        oversized: &mut Vec<Rejection>,
    ) -> Result<()> {
        let limits = crate::gucs::in_flight();
        let chunk_bytes = limits.bytes / 2;
        let io = |e: std::io::Error| Error::new(SqlState::Other(*b"58030"), e.to_string());
        if self.format == Format::Csv {
            out.write_all(csv_line(self.header(op).into_iter().map(Value::String)).as_bytes())
                .map_err(io)?;
        }
        let ops: Vec<Op> = match op {
            Some(op) => vec![op],
            None => vec![Op::Added, Op::Changed],
        };
        let mut after = 0i64;
        loop {
            let mut window = Window {
                after,
                upto: i64::MAX,
                ops: &ops,
                max_row_bytes: limits.row_bytes,
            };
            let Some(last) = rows::window_end(plan, &window, CHUNK, chunk_bytes, &self.identity)?
            else {
                break;
            };
            window.upto = last;
            let loaded = rows::load(plan, &window, &self.identity)?;
            oversized.extend(loaded.oversized);
            for row in &loaded.rows {
                let record =
                    self.record(row.op, &row.row_id, row.match_key.as_deref(), &row.fields);
                self.write_line(out, &record).map_err(io)?;
            }
            after = last;
        }
        Ok(())
    }
}

/// UTC time as 20261122T044500Z, for file names.
fn chrono_like_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

impl Destination for FileDestination {
    fn mirror_removals(&self, _plan: &RunPlan) -> Option<String> {
        None
    }

    fn start_run(&mut self, run_id: i64, sync_id: i64) -> Result<()> {
        self.run_id = run_id;
        self.sync_id = sync_id;
        // The directory (or the endpoint) is checked again: the allow-list
        // may have changed.
        match &mut self.place {
            Place::Directory(directory) => {
                check_directory(
                    &json!({"directory": directory.to_string_lossy()}),
                    &crate::gucs::file_allowed_directories(),
                )?;
            }
            Place::Bucket {
                settings,
                owner,
                store,
            } => {
                let owner = *owner;
                *store = Some(Box::new(ObjectStore::open(settings, &|field, name| {
                    crate::catalog::secret_value(owner, field, name)
                })?));
            }
        }
        self.files = self.names()?;
        if run_id > 0 {
            let location = self.place.location();
            if let Place::Directory(directory) = &self.place {
                remove_leftovers(directory, sync_id);
            }
            // Claimed now, in a transaction that commits before anything is
            // written: a file stays this sync's even if the run then fails.
            for (_, name) in &self.files {
                let exists = match &self.place {
                    Place::Directory(directory) => directory.join(name).symlink_metadata().is_ok(),
                    Place::Bucket {
                        store: Some(store), ..
                    } => store.exists(name)?,
                    Place::Bucket { store: None, .. } => false,
                };
                crate::catalog::state::claim_file(&location, name, sync_id, exists)?;
            }
        }
        Ok(())
    }

    fn rows_per_transaction(&self, _batch_size: i64) -> i64 {
        // All files are written before any row counts as delivered.
        i64::MAX / 4
    }

    fn deliver(&mut self, batch: &Batch) -> Result<BatchOutcome> {
        if self.written.is_none() {
            self.written = Some(self.write_all(batch.plan)?);
        }
        let rejections = self
            .written
            .iter()
            .flatten()
            .filter(|r| r.pos > batch.after && r.pos <= batch.upto)
            .cloned()
            .collect();
        Ok(BatchOutcome {
            rejections,
            ..BatchOutcome::default()
        })
    }

    fn acts_on_records(&self) -> bool {
        false
    }

    fn end_of_run(&mut self, plan: &RunPlan) -> Result<()> {
        // Every run makes its files, even with nothing in them.
        if self.written.is_none() {
            self.written = Some(self.write_all(plan)?);
        }
        Ok(())
    }

    fn test_row(&mut self, _plan: &RunPlan, row: &TestRow, _dry_run: bool) -> Result<Value> {
        let files = if self.files.is_empty() {
            self.names()?
        } else {
            self.files.clone()
        };
        let record: Map<String, Value> = self
            .record(row.op, &row.row_id, row.match_key.as_deref(), &row.fields)
            .into_iter()
            .collect();
        Ok(
            json!({"requests": [{"files": files.into_iter().map(|(_, n)| n).collect::<Vec<_>>(), "record": record}],
                  "responses": [], "note": "file syncs write whole files per run; a single row is shown, not written"}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_follows_rfc_4180() {
        assert_eq!(csv_field(&json!("plain")), "plain");
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(&json!("two\nlines")), "\"two\nlines\"");
        assert_eq!(csv_field(&Value::Null), "");
        assert_eq!(csv_field(&json!("")), "\"\"");
        assert_eq!(csv_field(&json!(1.5)), "1.5");
        assert_eq!(
            csv_line([json!("a"), Value::Null, json!(true)].into_iter()),
            "a,,true\r\n"
        );
    }

    #[test]
    fn file_names_stay_in_the_directory() {
        let t = |s: &str| Template::parse("file", s).unwrap();
        let context = json!({"run": {"id": 7}, "sync": "s", "timestamp": "20260101T000000Z"});
        assert_eq!(
            file_name(&t("users-{{ run.id }}"), &context, Format::Csv, "").unwrap(),
            "users-7.csv"
        );
        assert_eq!(
            file_name(&t("users.jsonl"), &context, Format::JsonLines, "-added").unwrap(),
            "users-added.jsonl"
        );
        for bad in ["../etc/passwd", "a/b", "..", ".hidden", "  "] {
            let e = file_name(&t(bad), &context, Format::Csv, "").unwrap_err();
            assert!(e.message.starts_with("file: "), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn timestamps_are_utc_compact() {
        let now = chrono_like_now();
        assert_eq!(now.len(), 16);
        assert!(now.ends_with('Z') && now.as_bytes()[8] == b'T');
    }
}
