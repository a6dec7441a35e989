//! Releases and upgrades: a database with history made on the oldest
//! release (tests/upgrade/<version>.sql, dumped by that release) is updated
//! with ALTER EXTENSION … UPDATE; its syncs still run, its history is kept,
//! and its schema equals a fresh install of the current version.

mod common;
use common::{port, TestDb};
use std::process::Command;

/// Released versions: those with a frozen install script in sql/.
fn releases() -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir("sql")
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version = name
                .strip_prefix("pg_reverse_etl--")?
                .strip_suffix(".sql")?;
            (!version.contains("--")).then(|| version.to_string())
        })
        .collect();
    let key = |v: &String| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    versions.sort_by_key(key);
    versions
}

/// The database's schema as pg_dump shows it in binary-upgrade mode, which
/// lists every member of the extension with its definition, owner,
/// privileges and comment; without the OIDs and sequence positions that
/// differ between databases. (With `-n` pg_dump would leave the members
/// out, so the whole database is dumped: the caller drops what is not the
/// extension's first.)
fn schema(db: &str) -> String {
    let output = Command::new("pg_dump")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port().to_string(),
            "-U",
            "postgres",
        ])
        .args(["--schema-only", "--binary-upgrade", db])
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| {
            !line.contains("binary_upgrade_")
                && !line.contains("pg_catalog.setval(")
                && !line.starts_with("SET relfrozenxid = ")
                && !line.starts_with("WHERE oid = '")
                && !line.starts_with("--")
                && !line.starts_with("\\restrict")
                && !line.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
        // What the filter takes out (a column added with a default on a
        // table with rows has a binary_upgrade_set_missing_value) leaves
        // blank lines behind.
        .split("\n\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn the_oldest_release_with_history_upgrades_to_the_current_schema() {
    let oldest = releases()
        .into_iter()
        .next()
        .expect("a released version in sql/");
    let fixture = format!("tests/upgrade/{oldest}.sql");
    assert!(
        std::path::Path::new(&fixture).exists(),
        "{fixture} is missing: scripts/make-upgrade-fixture.sh {oldest} makes it at release time"
    );
    // The dump creates the extension at its own version.
    let mut old = TestDb::empty("upgrade");
    old.psql_file(&fixture);
    assert_eq!(
        old.text("SELECT extversion FROM pg_extension WHERE extname = 'pg_reverse_etl'"),
        Some(oldest.clone())
    );
    let runs_before = old.i64("SELECT count(*) FROM reverse_etl.sync_runs");
    let changelog_before = old.i64("SELECT count(*) FROM reverse_etl.sync_changelog");
    assert!(
        runs_before >= 4 && changelog_before > 100,
        "the fixture has history"
    );

    old.exec("ALTER EXTENSION pg_reverse_etl UPDATE");
    let current = old
        .text("SELECT default_version FROM pg_available_extensions WHERE name = 'pg_reverse_etl'")
        .unwrap();
    assert_eq!(
        old.text("SELECT extversion FROM pg_extension WHERE extname = 'pg_reverse_etl'"),
        Some(current.clone())
    );
    assert_eq!(
        old.i64("SELECT count(*) FROM reverse_etl.sync_runs"),
        runs_before
    );
    assert_eq!(
        old.i64("SELECT count(*) FROM reverse_etl.sync_changelog"),
        changelog_before
    );

    // The syncs made on the old release still run, and resume from their snapshots.
    old.exec("UPDATE users SET plan = 'pro' WHERE plan IS NULL; UPDATE users SET plan = 'free' WHERE id = 7");
    let run = old.run("users_to_crm");
    let summary = old.run_summary(run);
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(
        summary.planned,
        [1, 1, 0],
        "only what changed since the old release's runs"
    );
    assert_eq!(
        old.i64(
            "SELECT count(*) FROM (SELECT email, plan FROM users WHERE active \
             EXCEPT SELECT email, plan_name FROM crm.contacts) d"
        ),
        0,
        "the destination equals the model"
    );
    // Snapshots made by the old release have the current columns.
    assert_eq!(
        old.text(
            "SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a \
             WHERE a.attrelid = format('reverse_etl_state.snapshot_%s', \
               (SELECT id FROM reverse_etl.syncs WHERE name = 'users_to_crm'))::regclass \
             AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        Some("row_id,row_hash,match_key,delivered_under,last_run_id,last_op".into())
    );
    let list_run = old.run("vip_list");
    assert_eq!(old.run_summary(list_run).status, "succeeded");
    old.exec("SELECT reverse_etl.sequence_run('nightly')");
    assert_eq!(
        old.text("SELECT status FROM reverse_etl.sequence_runs ORDER BY id DESC LIMIT 1"),
        Some("succeeded".into())
    );

    // Only the extension's own objects are compared: the fixture's tables
    // and the per-sync snapshot tables (data, not schema) go first.
    old.exec(
        "DROP TABLE users; DROP SCHEMA crm CASCADE;
         DO $$ DECLARE t regclass; BEGIN
           FOR t IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'reverse_etl_state'::regnamespace AND c.relkind = 'r'
           LOOP EXECUTE format('DROP TABLE %s', t); END LOOP;
         END $$",
    );
    let fresh = TestDb::new("upgrade_fresh");
    let (upgraded, installed) = (schema(&old.name), schema(&fresh.name));
    assert!(
        installed.contains("ALTER EXTENSION pg_reverse_etl ADD FUNCTION reverse_etl.sync_run("),
        "the dump lists the extension's members"
    );
    if upgraded != installed {
        let path = std::env::temp_dir().join("pg_reverse_etl-upgraded-schema.sql");
        let fresh_path = std::env::temp_dir().join("pg_reverse_etl-fresh-schema.sql");
        std::fs::write(&path, &upgraded).unwrap();
        std::fs::write(&fresh_path, &installed).unwrap();
        panic!(
            "{oldest} updated to {current} differs from a fresh {current} install: diff {} {}",
            path.display(),
            fresh_path.display()
        );
    }
    let config_tables = "SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) \
                         FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'pg_reverse_etl'";
    let mut fresh = fresh;
    assert_eq!(
        old.text(config_tables),
        fresh.text(config_tables),
        "tables pg_dump keeps"
    );
}
