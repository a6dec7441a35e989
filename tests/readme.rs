//! The manual runs: every ```sql block of README.md, in order, in a fresh
//! database, with a local http server for the http examples and a
//! directory for the file examples; the output must equal
//! tests/readme/expected.out (timings and timestamps masked). A block right
//! after a `<!-- not run: reason -->` line is left out (server settings,
//! pg_cron). PGRE_ACCEPT=1 writes the actual output over the expected file.

mod common;
#[path = "support/fake_crm.rs"]
mod fake_crm;
use common::{port, TestDb};
use fake_crm::FakeCrm;

/// The SQL blocks of a Markdown text, in order, without those marked as not run.
fn sql_blocks(markdown: &str) -> (Vec<String>, usize) {
    let mut blocks = Vec::new();
    let mut skipped = 0;
    let mut lines = markdown.lines().peekable();
    let mut previous = "";
    while let Some(line) = lines.next() {
        if line.trim() == "```sql" {
            let mut block = String::new();
            for body in lines.by_ref() {
                if body.trim() == "```" {
                    break;
                }
                block.push_str(body);
                block.push('\n');
            }
            if previous.trim_start().starts_with("<!-- not run:") {
                skipped += 1;
            } else {
                blocks.push(block);
            }
        }
        previous = line;
    }
    (blocks, skipped)
}

/// Values that differ from run to run: timestamps and phase timings.
fn mask(output: &str) -> String {
    let timestamp =
        regex::Regex::new(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?|Z)?")
            .unwrap();
    let seconds = regex::Regex::new(r#""(querying|preparing|delivering)": [0-9.e-]+"#).unwrap();
    let output = timestamp.replace_all(output, "<timestamp>");
    seconds
        .replace_all(&output, "\"$1\": <seconds>")
        .into_owned()
}

/// psql pads columns to their widest value, which masked values no longer
/// are: compare with runs of spaces and of dashes shortened.
fn aligned_alike(output: &str) -> String {
    let spaces = regex::Regex::new(r" {2,}").unwrap();
    let dashes = regex::Regex::new(r"-{2,}").unwrap();
    output
        .lines()
        .map(|line| {
            dashes
                .replace_all(&spaces.replace_all(line.trim_end(), " "), "--")
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_example_of_the_manual_runs_as_written() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let (blocks, skipped) = sql_blocks(&readme);
    // Skipped: settings only a superuser's postgresql.conf holds, pg_cron,
    // the update command, and the examples of services that live outside
    // this machine (another PostgreSQL server, S3, HubSpot, Mailchimp,
    // Slack, Salesforce), whose own integration tests run the same statements against
    // local stand-ins.
    assert!(
        blocks.len() >= 8 && skipped <= 12,
        "{} blocks, {skipped} not run",
        blocks.len()
    );
    let crm = FakeCrm::start();
    let exports = std::path::PathBuf::from(format!(
        "/tmp/pg_reverse_etl_files/readme-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(exports.join("crm")).unwrap();
    let _ = std::process::Command::new("chmod")
        .args(["-R", "777"])
        .arg(&exports)
        .status();
    let script = blocks
        .join("\n")
        .replace("http://127.0.0.1:8080/api", &crm.url())
        .replace("/srv/exports", &exports.to_string_lossy());
    let script_path = std::env::temp_dir().join(format!("readme-{}.sql", std::process::id()));
    std::fs::write(&script_path, &script).unwrap();

    let db = TestDb::empty("readme");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "psql -h 127.0.0.1 -p {} -U postgres -X -a -v ON_ERROR_STOP=1 -d {} -f {} 2>&1",
            port(),
            db.name,
            script_path.display()
        ))
        .env("PGTZ", "UTC")
        .output()
        .expect("psql runs");
    let actual = mask(&String::from_utf8_lossy(&output.stdout))
        .replace(&crm.url(), "http://127.0.0.1:8080/api")
        .replace(&exports.to_string_lossy().into_owned(), "/srv/exports")
        .replace(&script_path.to_string_lossy().into_owned(), "README.md");
    let _ = std::fs::remove_dir_all(&exports);
    let expected_path = "tests/readme/expected.out";
    if std::env::var("PGRE_ACCEPT").is_ok() {
        std::fs::write(expected_path, &actual).unwrap();
    }
    assert!(
        output.status.success(),
        "an example of the manual failed:\n{}",
        actual
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
    if aligned_alike(&actual) != aligned_alike(&expected) {
        let actual_path = std::env::temp_dir().join("pg_reverse_etl-readme.out");
        std::fs::write(&actual_path, &actual).unwrap();
        panic!(
            "the manual's output changed: diff {expected_path} {} (PGRE_ACCEPT=1 accepts it)",
            actual_path.display()
        );
    }
}
