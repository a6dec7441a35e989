//! The benchmark: `scripts/bench.sh` (or `cargo run --release --example bench`
//! against a running cluster with the extension installed).
//!
//! For a generated N-row, 10-column model it times the first run, a no-change
//! rerun and a 1%-changed rerun of a postgres-destination sync, each beside
//! its floor: the same work by hand in SQL in the same session (materialise +
//! 64-bit hash + full outer join against the previous snapshot + native upsert
//! of the added and changed rows + the snapshot brought up to date), and
//! samples the run worker's memory from /proc. Also: http delivery against
//! the fake CRM, worker memory, 200 scheduled syncs, and the postgres
//! destination to another server beside a native COPY + upsert.

#[path = "../tests/support/fake_crm.rs"]
mod fake_crm;

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COLUMNS: &str = "email, plan, score, seen_at, active, token, region, name, ltv";

fn connect(db: &str) -> Client {
    let port = std::env::var("PGRE_PORT").unwrap_or_else(|_| "28815".into());
    Client::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname={db}"),
        NoTls,
    )
    .expect("connect to the benchmark cluster (scripts/cluster.sh start)")
}

fn timed(client: &mut Client, sql: &str) -> f64 {
    let start = Instant::now();
    client
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    start.elapsed().as_secs_f64()
}

#[derive(Default, Clone, Copy)]
struct Memory {
    /// Peak resident set as the kernel counts it (includes shared buffers the
    /// worker touched).
    hwm_kb: u64,
    /// Peak private memory: anonymous + file-backed pages, without shared memory.
    private_kb: u64,
    /// Temporary disk: the run's work tables at their largest (as sampled)
    /// and what its sorts and hashes spilled (pg_stat_database.temp_bytes).
    work_tables_kb: u64,
    spilled_kb: u64,
    rows_table_kb: u64,
    ops_table_kb: u64,
}

fn read_status(pid: i32) -> Option<(u64, u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some((
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("RssShmem:"),
    ))
}

/// Run the sync without waiting, sample its worker until the run ends.
fn run_sync(client: &mut Client, full_resync: bool) -> (f64, Memory, i64) {
    run_named_sync(client, "bench", full_resync)
}

fn run_named_sync(client: &mut Client, sync: &str, full_resync: bool) -> (f64, Memory, i64) {
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .unwrap()
        .get(0);
    let previous_run: i64 = client
        .query_one(
            "SELECT coalesce(max(id), 0) FROM reverse_etl.sync_runs",
            &[],
        )
        .unwrap()
        .get(0);
    let memory = Arc::new(Mutex::new(Memory::default()));
    let done = Arc::new(AtomicBool::new(false));
    let spilled_before = temp_bytes(client);
    // Everything the measuring threads need is connected before the run
    // starts, and the run is timed as the floor is, by the client, around
    // `sync_run` waiting for its end.
    let mut sizes = connect(&database);
    let mut finder = connect(&database);
    // The model's copy is a temporary table of the worker's, which the
    // catalog shows other sessions only once committed (it is made and
    // diffed in one transaction): it is measured from its files,
    // `t<backend>_<file>` in the database's directory.
    let directory: String = sizes
        .query_one(
            "SELECT current_setting('data_directory') || '/base/' || oid FROM pg_database \
             WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    let sizer = {
        let (memory, done) = (memory.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                // The model's copy and the ops table, each at its largest:
                // they both exist while the ops table is made.
                let ops: i64 = sizes
                    .query_one(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname LIKE '%\\_ops'), 0)::bigint \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE (n.nspname = 'reverse_etl_state' OR n.nspname LIKE 'pg\\_temp\\_%') \
                           AND c.relname LIKE 'run\\_%' AND c.relkind = 'r'",
                        &[],
                    )
                    .map(|row| row.get(0))
                    .unwrap_or(0);
                let rows = temporary_table_bytes(&directory) as i64;
                let mut m = memory.lock().unwrap();
                m.rows_table_kb = m.rows_table_kb.max(rows as u64 / 1024);
                m.ops_table_kb = m.ops_table_kb.max(ops as u64 / 1024);
                m.work_tables_kb = m.rows_table_kb + m.ops_table_kb;
                drop(m);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let sampler = {
        let (memory, done) = (memory.clone(), done.clone());
        std::thread::spawn(move || {
            // The run's worker, once it has recorded the run.
            let pid = loop {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                let found = finder
                    .query_opt(
                        "SELECT worker_pid FROM reverse_etl.sync_runs WHERE id > $1 ORDER BY id LIMIT 1",
                        &[&previous_run],
                    )
                    .unwrap();
                if let Some(row) = found {
                    break row.get::<_, i32>(0);
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            // BENCH_MEMORY_TRACE: each new peak (by 1 MB or more) with its
            // time of day (UTC), to be matched with `auto_explain`'s log of
            // the worker's statements: the worker does not report them to
            // pg_stat_activity.
            let trace = std::env::var("BENCH_MEMORY_TRACE").is_ok();
            let mut traced_kb = 0;
            while !done.load(Ordering::Relaxed) {
                match read_status(pid) {
                    Some((hwm, anon, file, _shmem)) => {
                        let mut m = memory.lock().unwrap();
                        m.hwm_kb = m.hwm_kb.max(hwm);
                        m.private_kb = m.private_kb.max(anon + file);
                        drop(m);
                        if trace && anon + file >= traced_kb + 1024 {
                            traced_kb = anon + file;
                            let ms = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap_or_default()
                                .as_millis()
                                % 86_400_000;
                            eprintln!(
                                "{:02}:{:02}:{:02}.{:03} memory {} MB (anon {} MB, file {} MB)",
                                ms / 3_600_000,
                                ms / 60_000 % 60,
                                ms / 1000 % 60,
                                ms % 1000,
                                traced_kb / 1024,
                                anon / 1024,
                                file / 1024
                            );
                        }
                    }
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let wal_before = wal_position(client);
    let start = Instant::now();
    let run_id: i64 = client
        .query_one(
            "SELECT reverse_etl.sync_run($2, full_resync => $1)",
            &[&full_resync, &sync],
        )
        .unwrap()
        .get(0);
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    sizer.join().unwrap();
    let pid: i32 = client
        .query_one(
            "SELECT worker_pid FROM reverse_etl.sync_runs WHERE id = $1",
            &[&run_id],
        )
        .unwrap()
        .get(0);
    // A backend reports its statistics when it exits at the latest.
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    memory.lock().unwrap().spilled_kb = temp_bytes(client).saturating_sub(spilled_before) / 1024;
    let status: String = client
        .query_one("SELECT status || ' ' || planned_added || '/' || planned_changed || '/' || planned_removed || ' ' || phase_seconds::text FROM reverse_etl.sync_runs WHERE id = $1", &[&run_id])
        .unwrap()
        .get(0);
    assert!(status.starts_with("succeeded"), "run {run_id}: {status}");
    print_with_wal(client, &wal_before, &format!("run {run_id}: {status}"));
    let m = *memory.lock().unwrap();
    (elapsed, m, run_id)
}

/// The size of every temporary table's files in a database's directory
/// (only the worker makes any while a run is measured).
fn temporary_table_bytes(directory: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with('t') && name[1..].contains('_')
        })
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// Where the server's WAL ends now.
fn wal_position(client: &mut Client) -> String {
    client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .unwrap()
        .get(0)
}

/// With `BENCH_VERBOSE`: `what`, and the WAL the whole server wrote since
/// `position` (a step's: the benchmark runs nothing else meanwhile but
/// autovacuum). Most of a large rerun's delivery is the page images
/// written after a checkpoint.
fn print_with_wal(client: &mut Client, position: &str, what: &str) {
    if std::env::var("BENCH_VERBOSE").is_err() {
        return;
    }
    let bytes: i64 = client
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)::bigint",
            &[&position],
        )
        .unwrap()
        .get(0);
    eprintln!("{what}, {} MB of WAL", bytes / (1024 * 1024));
}

/// What the benchmark database's sessions have written to temporary files.
fn temp_bytes(client: &mut Client) -> u64 {
    let bytes: i64 = client
        .query_one(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    bytes as u64
}

/// The floor: the same work done by hand in SQL, in the same session, as
/// fast as PostgreSQL does it: materialise the model with a 64-bit hash,
/// full outer join against the previous snapshot, a native
/// `INSERT … ON CONFLICT DO UPDATE` of the added and changed rows into a
/// table like the sync's, and the snapshot brought up to date (a logged
/// table with a primary key, as the sync's is).
fn floor(client: &mut Client) -> f64 {
    client
        .batch_execute("DROP TABLE IF EXISTS fl_work, fl_ops")
        .unwrap();
    let assignments = COLUMNS
        .split(", ")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let wal_before = wal_position(client);
    let seconds = timed(
        client,
        &format!(
            "CREATE UNLOGGED TABLE fl_work AS
                 SELECT id::text AS row_id, hash_record_extended(ROW(id, {COLUMNS}), 0) AS row_hash, id, {COLUMNS} FROM src;
             CREATE UNLOGGED TABLE fl_ops AS
                 SELECT coalesce(w.row_id, s.row_id) AS op_row_id, w.* FROM fl_work w FULL JOIN fl_snap s ON s.row_id = w.row_id
                 WHERE s.row_id IS NULL OR w.row_id IS NULL OR s.row_hash <> w.row_hash;
             INSERT INTO fl_dest SELECT id, {COLUMNS} FROM fl_ops WHERE row_id IS NOT NULL
                 ON CONFLICT (id) DO UPDATE SET {assignments};
             INSERT INTO fl_snap SELECT row_id, row_hash FROM fl_ops WHERE row_id IS NOT NULL
                 ON CONFLICT (row_id) DO UPDATE SET row_hash = EXCLUDED.row_hash;
             DELETE FROM fl_snap s USING fl_ops o WHERE o.row_id IS NULL AND s.row_id = o.op_row_id;"
        ),
    );
    print_with_wal(client, &wal_before, &format!("floor: {seconds:.2} s"));
    client.batch_execute("DROP TABLE fl_work, fl_ops").unwrap();
    seconds
}

fn setup(client: &mut Client, rows: i64, batch_size: i64) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS src, dest, fl_dest, fl_snap, fl_work, fl_ops;
             CREATE TABLE src AS SELECT g AS id, 'user' || g || '@example.com' AS email,
                 (ARRAY['free','pro','team'])[1 + g % 3] AS plan, (g::bigint * 7919 % 1000)::int AS score,
                 timestamptz '2024-01-01' + g * interval '1 second' AS seen_at, g % 2 = 0 AS active,
                 md5(g::text) AS token, (ARRAY['eu','us','apac'])[1 + g % 3] AS region,
                 'Name ' || g AS name, (g % 10000)::numeric / 100 AS ltv
             FROM generate_series(1, {rows}) g;
             ALTER TABLE src ADD PRIMARY KEY (id);
             CREATE TABLE dest (LIKE src); ALTER TABLE dest ADD PRIMARY KEY (id);
             CREATE TABLE fl_dest (LIKE src); ALTER TABLE fl_dest ADD PRIMARY KEY (id);
             CREATE TABLE fl_snap (row_id text PRIMARY KEY, row_hash bigint NOT NULL);
             SELECT reverse_etl.create_model('bench', 'SELECT id, {COLUMNS} FROM src', ARRAY['id']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             SELECT reverse_etl.create_sync('bench', 'bench', 'local', jsonb_build_object(
                 'mode', 'upsert', 'object', 'dest', 'batch_size', {batch_size},
                 'match', jsonb_build_object('from', 'id', 'to', 'id'),
                 'mappings', (SELECT jsonb_agg(jsonb_build_object('from', c, 'to', c))
                              FROM unnest(string_to_array('{COLUMNS}', ', ')) AS c)));"
        ))
        .unwrap();
    client.batch_execute("VACUUM ANALYZE src").unwrap();
}

/// How many times each rerun is measured, each time beside its floor
/// (just before it, then just after, alternately): `BENCH_REPEAT`, 3
/// unless set.
fn repetitions() -> usize {
    std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

struct Line {
    label: String,
    ours: f64,
    floor: f64,
    memory: Memory,
    /// Against a client pulling rows out, not the floor: printed as how
    /// many times faster the run is.
    against_pull: bool,
    /// The model's source table with its indexes, to compare temporary disk with.
    model_kb: u64,
}

/// What open-source reverse-ETL tools do: stream every row of the model out
/// to a client, hash each row there, compare with the hashes kept from the
/// last pass, and write the changed rows back (COPY into a staging table,
/// one upsert). Its state is the id → hash map of the last pass, which
/// waits in a file between passes, as it would on the client's own
/// machine: held in this process (~1.5 GB at 10M rows per client), it
/// would take page cache from the server whose runs are measured
/// meanwhile.
struct Puller {
    hashes: std::collections::HashMap<String, u64>,
    way: PullWay,
    stored: std::path::PathBuf,
}

#[derive(Clone, Copy)]
enum PullWay {
    /// As fast as a client can: COPY out, a 64-bit hash of each text line.
    Copy,
    /// As the open-source tools do: a cursor fetched 10,000 rows at a time,
    /// each row made a JSON object and its MD5 compared.
    CursorJson,
}

impl Puller {
    /// The pass before: every row's hash, and the destination as it was.
    fn new(client: &mut Client, way: PullWay) -> Puller {
        client
            .batch_execute(
                "DROP TABLE IF EXISTS pull_dest;
                 CREATE TABLE pull_dest AS SELECT * FROM src;
                 ALTER TABLE pull_dest ADD PRIMARY KEY (id);",
            )
            .unwrap();
        let stored = std::env::temp_dir().join(format!(
            "pg_reverse_etl_bench_puller_{}_{}",
            std::process::id(),
            way as u8
        ));
        let mut puller = Puller {
            hashes: Default::default(),
            way,
            stored,
        };
        puller.changed_lines(client);
        puller.put_away();
        puller
    }

    /// The map to its file, out of this process's memory.
    fn put_away(&mut self) {
        use std::io::Write;
        let file = std::fs::File::create(&self.stored).unwrap();
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        for (id, hash) in std::mem::take(&mut self.hashes) {
            writeln!(writer, "{id}\t{hash}").unwrap();
        }
        writer.flush().unwrap();
        // The freed keys are small blocks amid the heap: hand their pages back.
        // SAFETY: malloc_trim only releases free memory, under the allocator's locks.
        unsafe { libc::malloc_trim(0) };
    }

    /// The map back from its file (not timed: a client has it at hand).
    fn take_out(&mut self) {
        use std::io::BufRead;
        let file = std::fs::File::open(&self.stored).unwrap();
        for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
            let line = line.unwrap();
            let (id, hash) = line.split_once('\t').unwrap();
            self.hashes.insert(id.to_string(), hash.parse().unwrap());
        }
        let _ = std::fs::remove_file(&self.stored);
    }

    /// Stream the model out; return the changed rows (new rows too) as
    /// COPY text lines, remembering every row's new hash.
    fn changed_lines(&mut self, client: &mut Client) -> Vec<u8> {
        match self.way {
            PullWay::Copy => self.changed_by_copy(client),
            PullWay::CursorJson => self.changed_by_cursor(client),
        }
    }

    fn changed_by_copy(&mut self, client: &mut Client) -> Vec<u8> {
        use std::hash::{Hash, Hasher};
        use std::io::BufRead;
        let reader = client
            .copy_out(&format!("COPY (SELECT id, {COLUMNS} FROM src) TO STDOUT"))
            .unwrap();
        let mut changed = Vec::new();
        for line in std::io::BufReader::with_capacity(1 << 20, reader).lines() {
            let line = line.unwrap();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            line.hash(&mut hasher);
            let hash = hasher.finish();
            let id = line.split('\t').next().unwrap_or_default().to_string();
            if self.hashes.insert(id, hash) != Some(hash) {
                changed.extend_from_slice(line.as_bytes());
                changed.push(b'\n');
            }
        }
        changed
    }

    fn changed_by_cursor(&mut self, client: &mut Client) -> Vec<u8> {
        use md5::Digest;
        let names: Vec<&str> = std::iter::once("id").chain(COLUMNS.split(", ")).collect();
        let as_text = names
            .iter()
            .map(|c| format!("{c}::text"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut transaction = client.transaction().unwrap();
        transaction
            .batch_execute(&format!(
                "DECLARE pull CURSOR FOR SELECT {as_text} FROM src"
            ))
            .unwrap();
        let mut changed = Vec::new();
        loop {
            let rows = transaction.query("FETCH 10000 FROM pull", &[]).unwrap();
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let values: Vec<Option<String>> = (0..names.len()).map(|i| row.get(i)).collect();
                let record: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(&values)
                    .map(|(name, value)| {
                        (
                            name.to_string(),
                            value
                                .clone()
                                .map_or(serde_json::Value::Null, serde_json::Value::String),
                        )
                    })
                    .collect();
                let json = serde_json::Value::Object(record).to_string();
                let digest = md5::Md5::digest(json.as_bytes());
                let hash = u64::from_le_bytes(digest[..8].try_into().unwrap());
                let id = values[0].clone().unwrap_or_default();
                if self.hashes.insert(id, hash) != Some(hash) {
                    let line: Vec<String> = values
                        .iter()
                        .map(|v| v.clone().unwrap_or_else(|| "\\N".into()))
                        .collect();
                    changed.extend_from_slice(line.join("\t").as_bytes());
                    changed.push(b'\n');
                }
            }
        }
        transaction.commit().unwrap();
        changed
    }

    /// The timed pass: diff on the client, the changed rows written back.
    fn rerun(&mut self, client: &mut Client) -> f64 {
        let assignments = COLUMNS
            .split(", ")
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.take_out();
        let start = Instant::now();
        let changed = self.changed_lines(client);
        let mut transaction = client.transaction().unwrap();
        transaction
            .batch_execute("CREATE TEMP TABLE pull_stage (LIKE pull_dest) ON COMMIT DROP")
            .unwrap();
        let mut writer = transaction.copy_in("COPY pull_stage FROM STDIN").unwrap();
        std::io::Write::write_all(&mut writer, &changed).unwrap();
        writer.finish().unwrap();
        transaction
            .batch_execute(&format!(
                "INSERT INTO pull_dest SELECT * FROM pull_stage ON CONFLICT (id) DO UPDATE SET {assignments}"
            ))
            .unwrap();
        transaction.commit().unwrap();
        let seconds = start.elapsed().as_secs_f64();
        self.hashes = Default::default();
        // SAFETY: as in `put_away`.
        unsafe { libc::malloc_trim(0) };
        seconds
    }
}

/// The 1%-changed rerun done by a client pulling the rows out (`rerun`,
/// timed), from the destination as it was before; checks that the client
/// wrote every changed row. Timed after a checkpoint, as each run is: the
/// rows put back as they were just before would otherwise be written on
/// pages already in the WAL since the last one, without page images.
fn against_pull(
    client: &mut Client,
    rows: i64,
    ours: f64,
    label: &str,
    rerun: impl FnOnce(&mut Client) -> f64,
) -> Line {
    client
        .batch_execute(
            "UPDATE pull_dest d SET score = s.score - 1 FROM src s WHERE s.id = d.id AND s.id % 100 = 0;
             CHECKPOINT",
        )
        .unwrap();
    let wal_before = wal_position(client);
    let pulled = rerun(client);
    print_with_wal(client, &wal_before, &format!("{label}: {pulled:.2} s"));
    let changed: i64 = client
        .query_one(
            "SELECT count(*) FROM pull_dest d JOIN src s USING (id) WHERE d.score = s.score AND s.id % 100 = 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(changed, rows / 100, "{label} wrote every changed row");
    Line {
        label: format!("1% changed rerun against {label}, {rows} rows"),
        ours,
        floor: pulled,
        memory: Memory::default(),
        against_pull: true,
        model_kb: 0,
    }
}

/// examples/pull_client.py, after its first pass (every row's hash kept),
/// waiting to be told to do the timed one.
struct PythonPuller {
    child: std::process::Child,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl PythonPuller {
    /// None when python3 with psycopg2 is not there.
    fn start() -> Option<PythonPuller> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let port = std::env::var("PGRE_PORT").unwrap_or_else(|_| "28815".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pull_client.py");
        // Debian's python3, which has python3-psycopg2 (scripts/install-deps.sh).
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(format!(
                "host=127.0.0.1 port={port} user=postgres dbname=reverse_etl_bench"
            ))
            .arg(format!("id, {COLUMNS}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut output = std::io::BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        output.read_line(&mut line).ok()?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(PythonPuller { child, output })
    }

    fn rerun(&mut self) -> f64 {
        use std::io::{BufRead, Write};
        let stdin = self
            .child
            .stdin
            .as_mut()
            .expect("the Python client's stdin");
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("the Python client said {line:?}"))
    }
}

/// A new, empty benchmark database: (a connection to `postgres`, one to it).
fn fresh_database() -> (Client, Client) {
    let mut admin = connect("postgres");
    admin
        .batch_execute("DROP DATABASE IF EXISTS reverse_etl_bench WITH (FORCE)")
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE reverse_etl_bench")
        .unwrap();
    (admin, connect("reverse_etl_bench"))
}

fn scenario(rows: i64, batch_size: i64) -> Vec<Line> {
    let (mut admin, mut client) = fresh_database();
    client
        .batch_execute("CREATE EXTENSION pg_reverse_etl")
        .unwrap();
    setup(&mut client, rows, batch_size);
    let mut lines = Vec::new();
    // Repeatable steps are measured several times and the medians kept:
    // single timings on a shared 2-core machine vary by ±20%.
    // Each repetition starts with `before_each` (for the changed rerun: 1%
    // of the rows changed again, and the table settled).
    let mut measure = |client: &mut Client, label: &str, repeat: usize, before_each: &[&str]| {
        let mut floors = Vec::new();
        let mut ours = Vec::new();
        let mut memory = Memory::default();
        for repetition in 0..repeat {
            for sql in before_each {
                client.batch_execute(sql).unwrap();
            }
            // Whichever goes second finds the caches as the first left
            // them: the order alternates, floor first in the odd ones.
            let ours_first = repetition % 2 == 1;
            let (seconds, m, _) = if ours_first {
                let measured = run_sync(client, false);
                floors.push(floor(client));
                measured
            } else {
                floors.push(floor(client));
                run_sync(client, false)
            };
            ours.push(seconds);
            memory.hwm_kb = memory.hwm_kb.max(m.hwm_kb);
            memory.private_kb = memory.private_kb.max(m.private_kb);
            memory.work_tables_kb = memory.work_tables_kb.max(m.work_tables_kb);
            memory.ops_table_kb = memory.ops_table_kb.max(m.ops_table_kb);
            memory.spilled_kb = memory.spilled_kb.max(m.spilled_kb);
        }
        let model_bytes: i64 = client
            .query_one("SELECT pg_total_relation_size('src')", &[])
            .unwrap()
            .get(0);
        lines.push(Line {
            label: format!("{label}, {rows} rows"),
            ours: median(ours),
            floor: median(floors),
            memory,
            against_pull: false,
            model_kb: model_bytes as u64 / 1024,
        });
    };
    measure(&mut client, "first run", 1, &[]);
    // Settle what the first run wrote (1M changelog, snapshot and target
    // rows), so autovacuum does not compete with the timed reruns.
    for sql in ["VACUUM ANALYZE", "CHECKPOINT"] {
        client.batch_execute(sql).unwrap();
    }
    let repeat = repetitions();
    measure(
        &mut client,
        &format!("no-change rerun (median of {repeat})"),
        repeat,
        &[],
    );
    // BENCH_PULLERS=0: without the pulling clients (their first pass and
    // their maps, ~3.5 GB of memory at 10M rows).
    let with_pullers = std::env::var("BENCH_PULLERS").map_or(true, |value| value != "0");
    let mut pullers = Vec::new();
    let mut python = None;
    if with_pullers {
        pullers = vec![
            ("streams every row out with COPY and hashes it", Puller::new(&mut client, PullWay::Copy)),
            ("fetches every row through a cursor (10,000 at a time), makes it JSON and compares its MD5, as open-source tools do", Puller::new(&mut client, PullWay::CursorJson)),
        ];
        python = PythonPuller::start();
        if python.is_none() {
            println!("(the Python client was skipped: python3 with psycopg2 is not installed)");
        }
    }
    // The pulling clients compare with the pass they made above: the same
    // 1% of rows changed once or several times is 1% changed for them too.
    measure(
        &mut client,
        &format!("1% changed rerun (median of {repeat})"),
        repeat,
        &[
            "UPDATE src SET score = score + 1 WHERE id % 100 = 0",
            "VACUUM ANALYZE src",
            "CHECKPOINT",
        ],
    );
    let ours = lines.last().map_or(0.0, |line| line.ours);
    for (way, puller) in &mut pullers {
        let label = format!("a client that {way}");
        lines.push(against_pull(&mut client, rows, ours, &label, |c| {
            puller.rerun(c)
        }));
    }
    if let Some(python) = python.as_mut() {
        let label = "a Python client (psycopg2) that fetches every row through a server-side cursor (10,000 at a time), makes it JSON and compares its SHA-1, as open-source tools written in interpreted languages do";
        lines.push(against_pull(&mut client, rows, ours, label, |_| {
            python.rerun()
        }));
    }
    // The same first run with the changelog off, into a second table,
    // against the first run's floor.
    client
        .batch_execute(
            "CREATE TABLE dest_unlogged (LIKE src); ALTER TABLE dest_unlogged ADD PRIMARY KEY (id);
             SELECT reverse_etl.create_sync('bench_no_changelog', 'bench', 'local',
                 reverse_etl.sync_config('bench') || '{\"object\": \"dest_unlogged\", \"logs\": {\"changelog\": \"none\"}}');",
        )
        .unwrap();
    let (seconds, memory, _) = run_named_sync(&mut client, "bench_no_changelog", false);
    let first_floor = lines.first().map_or(f64::NAN, |line| line.floor);
    let model_kb = lines.first().map_or(0, |line| line.model_kb);
    lines.push(Line {
        label: format!(
            "first run with the changelog off (\"logs\": {{\"changelog\": \"none\"}}), {rows} rows"
        ),
        ours: seconds,
        floor: first_floor,
        memory,
        against_pull: false,
        model_kb,
    });
    client
        .batch_execute(
            "SELECT reverse_etl.drop_sync('bench_no_changelog'); DROP TABLE dest_unlogged",
        )
        .unwrap();
    drop(client);
    // Kept for a look (profiling a rerun by hand) when asked.
    if std::env::var("BENCH_KEEP_DATABASE").is_err() {
        admin
            .batch_execute("DROP DATABASE reverse_etl_bench WITH (FORCE)")
            .unwrap();
    }
    lines
}

/// HTTP delivery against a server that answers each request a fixed time
/// after it arrived (its handling included, as the ceiling assumes), on a first run (every row added) and on a run where every
/// row changed: batched (`rows` rows, batch_size 100, concurrency 8, 20 ms)
/// and one row per request (`rows / 10` rows, batch_size 1, concurrency
/// 32, 5 ms, `PUT /contacts/{email}`). The ceiling is concurrency ×
/// batch_size / delay rows per second; the rate is taken over the
/// delivering phase.
fn http_scenario(rows: i64) {
    // BENCH_HTTP_SHAPES: batched, per_row or both (the default).
    let shapes = std::env::var("BENCH_HTTP_SHAPES").unwrap_or_default();
    if !shapes.contains("per_row") || shapes.contains("batched") {
        http_delivery(rows, 100, 8, Duration::from_millis(20), None);
        // The worker's own rate: the same against a server that answers at once.
        http_delivery(rows, 100, 8, Duration::ZERO, None);
    }
    if !shapes.is_empty() && !shapes.contains("per_row") {
        return;
    }
    http_delivery(
        rows / 10,
        1,
        32,
        Duration::from_millis(5),
        Some(PER_ROW_REQUEST),
    );
    http_delivery(rows / 10, 1, 32, Duration::ZERO, Some(PER_ROW_REQUEST));
}

const PER_ROW_REQUEST: &str =
    "{\"method\": \"PUT\", \"path\": \"/contacts/{{ row.email | url_encode }}\"}";

fn http_delivery(
    rows: i64,
    batch_size: i64,
    concurrency: i64,
    latency: Duration,
    per_row_request: Option<&str>,
) {
    let crm = fake_crm::FakeCrm::start();
    let (mut admin, mut client) = fresh_database();
    let request = per_row_request.unwrap_or(BATCH_REQUEST);
    create_http_sync(
        &mut client,
        &crm,
        &format!("SELECT g AS id, 'user' || g || '@example.com' AS email, 'free' AS plan FROM generate_series(1, {rows}) g"),
        "plan",
        &format!(", \"concurrency\": {concurrency}, \"timeout_ms\": 10000"),
        batch_size,
        &format!("\"added\": {request}, \"changed\": {request}"),
    );
    crm.latency(latency);
    let ceiling = if latency.is_zero() {
        f64::INFINITY
    } else {
        (concurrency * batch_size) as f64 / latency.as_secs_f64()
    };
    let shape = if batch_size == 1 {
        format!("one row per request (PUT /contacts/{{email}}), concurrency {concurrency}, {} ms server", latency.as_millis())
    } else {
        format!(
            "batch {batch_size}, concurrency {concurrency}, {} ms server",
            latency.as_millis()
        )
    };
    for (step, plan) in [("first run", "free"), ("every row changed", "pro")] {
        if plan != "free" {
            client
                .batch_execute(&format!("UPDATE users SET plan = '{plan}'"))
                .unwrap();
        }
        let requests_before = crm.request_count();
        let (total, memory, run_id) = run_sync(&mut client, false);
        let delivering: f64 = client
            .query_one("SELECT (phase_seconds->>'delivering')::float8 FROM reverse_etl.sync_runs WHERE id = $1", &[&run_id])
            .unwrap()
            .get(0);
        let achieved = rows as f64 / delivering;
        let against_ceiling = if ceiling.is_finite() {
            format!(
                "ceiling {ceiling:.0} rows/s | {:.2} of ceiling",
                achieved / ceiling
            )
        } else {
            "no ceiling (the worker's own rate) | —".to_string()
        };
        println!(
            "| http {step}: {rows} rows, {shape} | {achieved:.0} rows/s while delivering ({total:.2} s whole run, {} requests) | {against_ceiling} | {} MB | {} MB |",
            crm.request_count() - requests_before,
            memory.hwm_kb / 1024,
            memory.private_kb / 1024
        );
        assert_eq!(
            crm.contacts()
                .values()
                .filter(|c| c["plan"] == plan)
                .count() as i64,
            rows,
            "every row delivered"
        );
    }
    drop(client);
    admin
        .batch_execute("DROP DATABASE reverse_etl_bench WITH (FORCE)")
        .unwrap();
}

/// The batch endpoint of the fake CRM, as a sync's request.
const BATCH_REQUEST: &str = "{\"method\": \"POST\", \"path\": \"/contacts/batch\"}";

/// The benchmark database's `users` table (`users_sql`: columns id,
/// email and `column`) and an upsert sync `bench` of it to the fake CRM,
/// matched by email, sending `column`, with `requests` (the object's
/// members); `destination_extra` is added to the destination's config.
fn create_http_sync(
    client: &mut Client,
    crm: &fake_crm::FakeCrm,
    users_sql: &str,
    column: &str,
    destination_extra: &str,
    batch_size: i64,
    requests: &str,
) {
    client
        .batch_execute(&format!(
            "CREATE EXTENSION pg_reverse_etl;
             CREATE TABLE users AS {users_sql};
             ALTER TABLE users ADD PRIMARY KEY (id);
             SELECT reverse_etl.create_model('users', 'SELECT id, email, {column} FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('crm', 'http', '{{\"url\": \"{}\"{destination_extra}}}');
             SELECT reverse_etl.create_sync('bench', 'users', 'crm', '{{\"mode\": \"upsert\", \"batch_size\": {batch_size},
                 \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"mappings\": [{{\"from\": \"{column}\", \"to\": \"{column}\"}}],
                 \"requests\": {{{requests}}}}}');",
            crm.url()
        ))
        .unwrap();
}

/// One first run of an http sync of `users_sql` (columns id, email,
/// notes) to the fake CRM, as fast as it answers: the run's time and the
/// worker's peak memory.
fn http_memory_run(users_sql: &str, batch_size: i64, concurrency: Option<i64>) -> (f64, Memory) {
    let crm = fake_crm::FakeCrm::start();
    let (mut admin, mut client) = fresh_database();
    let concurrency = concurrency
        .map(|c| format!(", \"concurrency\": {c}"))
        .unwrap_or_default();
    create_http_sync(
        &mut client,
        &crm,
        users_sql,
        "notes",
        &format!(", \"timeout_ms\": 60000{concurrency}"),
        batch_size,
        &format!("\"added\": {BATCH_REQUEST}"),
    );
    let (total, memory, _) = run_sync(&mut client, false);
    drop(client);
    admin
        .batch_execute("DROP DATABASE reverse_etl_bench WITH (FORCE)")
        .unwrap();
    (total, memory)
}

/// The worker's memory is bounded by reverse_etl.max_rows_in_flight and
/// max_bytes_in_flight, not by batch_size × concurrency nor by the values'
/// size: `rows` small rows with the defaults and with the largest
/// batch_size and concurrency, and 30 rows of 10 MB each.
fn memory_scenario(rows: i64) {
    println!("| http first run | settings | run time | worker peak private memory | against the defaults |");
    println!("|---|---|---|---|---|");
    let small = format!(
        "SELECT g AS id, 'user' || g || '@example.com' AS email, md5(g::text) AS notes FROM generate_series(1, {rows}) g"
    );
    let (default_time, default_memory) = http_memory_run(&small, 100, None);
    let default_kb = default_memory.private_kb.max(1) as f64;
    println!(
        "| {rows} rows | defaults (batch_size 100, concurrency 4) | {default_time:.2} s | {} MB | 1.00× |",
        default_memory.private_kb / 1024
    );
    let (time, memory) = http_memory_run(&small, 100_000, Some(64));
    println!(
        "| {rows} rows | batch_size 100000, concurrency 64 | {time:.2} s | {} MB | {:.2}× |",
        memory.private_kb / 1024,
        memory.private_kb as f64 / default_kb
    );
    let large = "SELECT g AS id, 'user' || g || '@example.com' AS email, repeat(md5(g::text), 327680) AS notes FROM generate_series(1, 30) g";
    let (time, memory) = http_memory_run(large, 100, None);
    println!(
        "| 30 rows of 10 MB | defaults | {time:.2} s | {} MB | {:.2}× |",
        memory.private_kb / 1024,
        memory.private_kb as f64 / default_kb
    );
    println!();
}

/// CPU time (user + system, ms) a process has used, from /proc/<pid>/stat.
fn cpu_ms(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    (ticks(11) + ticks(12)) * 1000 / per_second
}

/// 200 syncs on 1-minute schedules for a few minutes: how late runs start
/// compared with their due time, and the launcher's CPU time.
fn schedule_scenario(minutes: u64) {
    let syncs = 200;
    let (mut admin, mut client) = fresh_database();
    let launcher: i32 = admin
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_reverse_etl launcher'",
            &[],
        )
        .expect("the launcher runs: pg_reverse_etl must be in shared_preload_libraries")
        .get(0);
    let cap: String = admin
        .query_one("SHOW reverse_etl.max_parallel_runs", &[])
        .unwrap()
        .get(0);
    // Idle: nothing scheduled anywhere.
    let idle_start = cpu_ms(launcher);
    std::thread::sleep(Duration::from_secs(60));
    let idle_ms = cpu_ms(launcher) - idle_start;
    client
        .batch_execute(&format!(
            "CREATE EXTENSION pg_reverse_etl;
             CREATE TABLE users AS SELECT g AS id, 'user' || g || '@example.com' AS email FROM generate_series(1, 100) g;
             SELECT reverse_etl.create_model('users', 'SELECT id, email FROM users', ARRAY['id']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             DO $$ BEGIN FOR i IN 1..{syncs} LOOP
               EXECUTE format('CREATE TABLE target_%s (email text PRIMARY KEY)', i);
               PERFORM reverse_etl.create_sync('sync_' || i, 'users', 'local', format(
                 '{{\"mode\": \"upsert\", \"object\": \"target_%s\", \"match\": {{\"from\": \"email\", \"to\": \"email\"}}, \"schedule\": {{\"interval\": \"1 minute\"}}}}', i)::jsonb);
             END LOOP; END $$;"
        ))
        .unwrap();
    // Measure whole minutes, from the next minute boundary on.
    let now: f64 = client
        .query_one("SELECT extract(epoch FROM now())::float8", &[])
        .unwrap()
        .get(0);
    let first_due = (now / 60.0).floor() * 60.0 + 60.0;
    let busy_start = cpu_ms(launcher);
    let last_due = first_due + 60.0 * (minutes - 1) as f64;
    std::thread::sleep(Duration::from_secs_f64(last_due - now + 30.0));
    let busy_ms = cpu_ms(launcher) - busy_start;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'skipped'),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - due_at))::float8,
                    max(extract(epoch FROM started_at - due_at))::float8,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM queued_at - due_at))::float8,
                    min(extract(epoch FROM started_at - due_at))::float8,
                    max(extract(epoch FROM finished_at - due_at))::float8
             FROM reverse_etl.sync_runs
             WHERE trigger = 'schedule' AND due_at BETWEEN to_timestamp($1) AND to_timestamp($2)",
            &[&first_due, &last_due],
        )
        .unwrap();
    let succeeded: i64 = row.get(0);
    let skipped: i64 = row.get(1);
    let [median, max, worker_median, min, all_done]: [f64; 5] =
        std::array::from_fn(|i| row.get(i + 2));
    println!(
        "| schedules: {syncs} syncs every minute for {minutes} min (max_parallel_runs {cap}) | {succeeded} runs succeeded of {} due, {skipped} skipped | start lateness min {:.0} ms, median {:.0} ms, max {:.0} ms (worker up: median {:.0} ms); all of a minute's runs done {:.1} s after due | launcher CPU {idle_ms} ms in an idle minute, {busy_ms} ms over the {minutes} busy minutes |",
        syncs as u64 * minutes,
        min * 1000.0,
        median * 1000.0,
        max * 1000.0,
        worker_median * 1000.0,
        all_done,
    );
    client
        .batch_execute("UPDATE reverse_etl.syncs SET enabled = false")
        .unwrap();
    drop(client);
    if std::env::var("BENCH_KEEP_DATABASE").is_err() {
        admin
            .batch_execute("DROP DATABASE reverse_etl_bench WITH (FORCE)")
            .unwrap();
    }
}

/// The postgres destination to another server (a second local cluster on
/// port 28845, as the tests use): a first run and a 1%-changed run, each
/// beside a native `COPY` out of this database into a staging table there
/// and one `INSERT … ON CONFLICT DO UPDATE` (which knows the rows to send
/// in advance: no diff, no snapshot).
fn remote_scenario(rows: i64, batch_size: i64) {
    let status = std::process::Command::new("scripts/cluster.sh")
        .arg("password-auth")
        .env("PGRE_PORT", "28845")
        .env("PGRE_DATA", "/var/tmp/pg_reverse_etl/data-28845")
        .status()
        .expect("scripts/cluster.sh runs");
    assert!(status.success(), "the second cluster starts");
    let remote_connect = |db: &str| {
        Client::connect(
            &format!("host=127.0.0.1 port=28845 user=postgres dbname={db}"),
            NoTls,
        )
        .expect("connect to the second cluster")
    };
    let mut remote_admin = remote_connect("postgres");
    remote_admin
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'writer') THEN
               CREATE ROLE writer LOGIN PASSWORD 'writer-pw'; END IF; END $$;",
        )
        .unwrap();
    remote_admin
        .batch_execute("DROP DATABASE IF EXISTS reverse_etl_bench_remote WITH (FORCE)")
        .unwrap();
    remote_admin
        .batch_execute("CREATE DATABASE reverse_etl_bench_remote")
        .unwrap();
    let mut remote = remote_connect("reverse_etl_bench_remote");
    let columns = "id int PRIMARY KEY, email text, plan text, score int, seen_at timestamptz, \
                   active bool, token text, region text, name text, ltv numeric";
    remote
        .batch_execute(&format!(
            "CREATE TABLE t ({columns}); CREATE TABLE native ({columns}); GRANT ALL ON t, native TO writer;"
        ))
        .unwrap();
    let (_admin, mut client) = fresh_database();
    client
        .batch_execute("CREATE EXTENSION pg_reverse_etl")
        .unwrap();
    setup(&mut client, rows, batch_size);
    client
        .batch_execute(
            r#"SELECT reverse_etl.set_secret('writer_pw', 'writer-pw');
             SELECT reverse_etl.create_destination('remote', 'postgres', '{"connection": {"host": "127.0.0.1",
                 "port": 28845, "dbname": "reverse_etl_bench_remote", "user": "writer",
                 "password": {"secret": "writer_pw"}, "sslmode": "disable"}}');
             SELECT reverse_etl.create_sync('remote_bench', 'bench', 'remote',
                 (reverse_etl.sync_config('bench') - 'schedule') || jsonb_build_object('object', 't'));"#,
        )
        .unwrap();
    let assignments = COLUMNS
        .split(", ")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let native = |client: &mut Client, remote: &mut Client, filter: &str| -> f64 {
        let start = Instant::now();
        let mut transaction = remote.transaction().unwrap();
        transaction
            .batch_execute("CREATE TEMP TABLE stage (LIKE native) ON COMMIT DROP")
            .unwrap();
        let mut reader = client
            .copy_out(&format!(
                "COPY (SELECT id, {COLUMNS} FROM src {filter}) TO STDOUT"
            ))
            .unwrap();
        let mut writer = transaction.copy_in("COPY stage FROM STDIN").unwrap();
        std::io::copy(&mut reader, &mut writer).unwrap();
        writer.finish().unwrap();
        drop(reader);
        transaction
            .batch_execute(&format!(
                "INSERT INTO native SELECT * FROM stage ON CONFLICT (id) DO UPDATE SET {assignments}"
            ))
            .unwrap();
        transaction.commit().unwrap();
        start.elapsed().as_secs_f64()
    };
    let first = timed(&mut client, "SELECT reverse_etl.sync_run('remote_bench')");
    let first_native = native(&mut client, &mut remote, "");
    client
        .batch_execute("UPDATE src SET score = score + 1 WHERE id % 100 = 0")
        .unwrap();
    client.batch_execute("VACUUM ANALYZE src").unwrap();
    let changed = timed(&mut client, "SELECT reverse_etl.sync_run('remote_bench')");
    let changed_native = native(&mut client, &mut remote, "WHERE id % 100 = 0");
    let equal: i64 = remote
        .query_one(
            "SELECT count(*) FROM t JOIN native n ON n.id = t.id WHERE t::text = n::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        equal, rows,
        "the synced table equals the natively loaded one"
    );
    println!("| step | pg_reverse_etl | native COPY + upsert | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| to another server: first run, {rows} rows | {first:.2} s | {first_native:.2} s | {:.2}× |",
        first / first_native
    );
    println!(
        "| to another server: 1% changed rerun, {rows} rows | {changed:.2} s | {changed_native:.2} s (rows known in advance) | {:.2}× |",
        changed / changed_native
    );
    remote_admin
        .batch_execute("DROP DATABASE IF EXISTS reverse_etl_bench_remote WITH (FORCE)")
        .unwrap();
}

/// The fixed cost of a run: a no-change run of a 100-row model, from
/// `sync_run` (waiting) to its return, in one session, `runs` times; and
/// the worker's own part (from recording the run to finishing it).
fn fixed_cost_scenario(runs: usize) {
    let (mut admin, mut client) = fresh_database();
    client
        .batch_execute(
            "CREATE EXTENSION pg_reverse_etl;
             CREATE TABLE src AS SELECT g AS id, 'user' || g || '@example.com' AS email,
                 (ARRAY['free','pro','team'])[1 + g % 3] AS plan FROM generate_series(1, 100) g;
             ALTER TABLE src ADD PRIMARY KEY (id);
             CREATE TABLE dest (LIKE src); ALTER TABLE dest ADD PRIMARY KEY (id);
             SELECT reverse_etl.create_model('small', 'SELECT id, email, plan FROM src', ARRAY['id']);
             SELECT reverse_etl.create_destination('local', 'postgres');
             SELECT reverse_etl.create_sync('small', 'small', 'local', '{\"mode\": \"upsert\", \"object\": \"dest\",
                 \"match\": {\"from\": \"id\", \"to\": \"id\"},
                 \"mappings\": [{\"from\": \"email\", \"to\": \"email\"}, {\"from\": \"plan\", \"to\": \"plan\"}]}');",
        )
        .unwrap();
    client
        .batch_execute("SELECT reverse_etl.sync_run('small')")
        .unwrap();
    let mut totals = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        client
            .batch_execute("SELECT reverse_etl.sync_run('small')")
            .unwrap();
        totals.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let worker: Vec<f64> = client
        .query(
            "SELECT extract(epoch FROM finished_at - queued_at)::float8 * 1000 FROM reverse_etl.sync_runs \
             WHERE planned_added + planned_changed + planned_removed = 0 ORDER BY id DESC LIMIT $1",
            &[&(runs as i64)],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let p90 = |mut values: Vec<f64>| {
        values.sort_by(|a, b| a.total_cmp(b));
        values[(values.len() * 9 / 10).min(values.len() - 1)]
    };
    println!(
        "| fixed cost: a no-change run of a 100-row model, sync_run to return ({runs} runs in one session) | median {:.1} ms, p90 {:.1} ms | the worker from recording the run to its end: median {:.1} ms | target ≤ 20 ms |",
        median(totals.clone()),
        p90(totals),
        median(worker)
    );
    drop(client);
    admin
        .batch_execute("DROP DATABASE reverse_etl_bench WITH (FORCE)")
        .unwrap();
}

fn main() {
    let sizes: Vec<i64> = std::env::var("BENCH_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .expect("BENCH_ROWS: comma-separated row counts")
        })
        .collect();
    let batch_size: i64 = std::env::var("BENCH_BATCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let memory_rows: i64 = std::env::var("BENCH_MEMORY_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if memory_rows > 0 {
        memory_scenario(memory_rows);
    }
    println!("| step | pg_reverse_etl | floor (same work by hand in SQL) | ratio | worker peak RSS (VmHWM) | worker peak private memory | temporary disk: work tables at their largest + spilled, and held while delivering |");
    println!("|---|---|---|---|---|---|---|");
    let fixed_cost_runs: usize = std::env::var("BENCH_FIXED_COST_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    if fixed_cost_runs > 0 {
        fixed_cost_scenario(fixed_cost_runs);
    }
    let http_rows: i64 = std::env::var("BENCH_HTTP_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    if http_rows > 0 {
        http_scenario(http_rows);
    }
    let remote_rows: i64 = std::env::var("BENCH_REMOTE_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if remote_rows > 0 {
        remote_scenario(remote_rows, batch_size);
    }
    let schedule_minutes: u64 = std::env::var("BENCH_SCHEDULE_MINUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    if schedule_minutes > 0 {
        schedule_scenario(schedule_minutes);
    }
    for rows in sizes {
        for line in scenario(rows, batch_size) {
            if line.against_pull {
                println!(
                    "| {} | {:.2} s | {:.2} s (the client) | {:.2}× faster | | |",
                    line.label,
                    line.ours,
                    line.floor,
                    line.floor / line.ours
                );
                continue;
            }
            println!(
                "| {} | {:.2} s | {:.2} s | {:.2}× | {} MB | {} MB | {} MB + {} MB spilled, {} MB while delivering (the model's table: {} MB) |",
                line.label,
                line.ours,
                line.floor,
                line.ours / line.floor,
                line.memory.hwm_kb / 1024,
                line.memory.private_kb / 1024,
                line.memory.work_tables_kb / 1024,
                line.memory.spilled_kb / 1024,
                line.memory.ops_table_kb / 1024,
                line.model_kb / 1024
            );
        }
    }
}
