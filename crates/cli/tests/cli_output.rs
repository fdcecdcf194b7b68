//! What people read: `rctgate model show` and `rctgate ledger` on the demo's database, run
//! as a user would, and their `--format` option.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;

use common::*;
use serde_json::Value;

/// The demo's database, written once per test run. DuckDB lets one process open a file at a
/// time, so the commands on it run one after another (under this lock).
static DEMO: Mutex<Option<PathBuf>> = Mutex::new(None);

/// `rctgate ARGS --db DEMO`.
fn on_demo(args: &[&str]) -> Output {
    let mut demo = DEMO.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let db = demo.get_or_insert_with(|| {
        let db = temp_dir("cli-output").join("demo.duckdb");
        let out = rctgate(&["demo", "--db", path(&db)]);
        assert!(out.status.success(), "demo: {}", stderr(&out));
        db
    });
    let mut all = args.to_vec();
    all.extend(["--db", path(db)]);
    rctgate(&all)
}

fn success(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", stderr(out));
    stdout(out)
}

/// The lines of the table that follows the line `title` (up to the first empty line).
fn table<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines
        .iter()
        .position(|line| line.starts_with(title))
        .unwrap_or_else(|| panic!("no {title:?} in\n{text}"));
    lines[first + 1..]
        .iter()
        .take_while(|line| !line.is_empty())
        .copied()
        .collect()
}

/// Checks that each named column starts at the same character on every row as in the
/// header (the first row), after a gap of at least two spaces.
fn assert_aligned(rows: &[&str], columns: &[&str], text: &str) {
    let header: Vec<char> = rows[0].chars().collect();
    for column in columns {
        let byte = rows[0]
            .find(column)
            .unwrap_or_else(|| panic!("no column {column:?} in\n{text}"));
        let start = rows[0][..byte].chars().count();
        assert!(
            start >= 2 && header[start - 2..start] == [' ', ' '],
            "{column}:\n{text}"
        );
        for row in rows {
            let row: Vec<char> = row.chars().collect();
            assert!(
                row.len() > start && row[start] != ' ' && row[start - 2..start] == [' ', ' '],
                "column {column:?} does not start at character {start} on\n{}\nin\n{text}",
                row.iter().collect::<String>()
            );
        }
    }
}

#[test]
fn model_show_prints_a_readable_summary() {
    let text = success(&on_demo(&["model", "show", "hotel-ranker"]), "model show");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "hotel-ranker: Ranks hotels on the search results page.",
        "{text}"
    );
    assert_eq!(lines[1], "production: v8", "{text}");

    let versions = table(&text, "versions (11)");
    assert_eq!(versions.len(), 12, "a header and eleven versions:\n{text}");
    assert_aligned(&versions, &["artifact", "offline metrics", "registered"], &text);
    for (i, version) in ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"]
        .iter()
        .enumerate()
    {
        let row = versions[i + 1];
        assert!(row.trim_start().starts_with(&format!("{version} ")), "{row}");
        assert!(
            row.contains(&format!("s3://models/hotel-ranker/{version}")),
            "{row}"
        );
        assert!(row.contains("auc 0."), "{row}");
        assert!(row.contains(" UTC"), "{row}");
        assert_eq!(row.ends_with("<- production"), *version == "v8", "{row}");
    }
    assert!(versions[1].contains("  auc 0.8  "), "{text}");

    let promotions = table(&text, "promotions (");
    assert_aligned(&promotions, &["version", "from", "by", "evidence"], &text);
    let first = promotions[1];
    assert!(first.contains("  v1  ") && first.contains("  none  "), "{first}");
    assert!(
        first.contains("trial ranker-launch, verdict ship, bookings +"),
        "{first}"
    );
    let last = promotions.last().expect("a promotion");
    assert!(last.contains("  v8  "), "oldest first:\n{text}");
    assert!(
        last.contains("trial ranker-v8, verdict ship, bookings +"),
        "{last}"
    );
    // The primary lift with its interval, as the scorecard writes it.
    let lift = last.split("bookings ").nth(1).expect("a lift");
    assert!(
        lift.starts_with('+') && lift.contains("% [") && lift.ends_with("%]"),
        "{lift}"
    );
    assert!(!text.contains("\"production\""), "not JSON:\n{text}");
}

#[test]
fn model_show_flags_an_override() {
    let text = success(&on_demo(&["model", "show", "support-assistant"]), "model show");
    assert!(
        text.starts_with("support-assistant: Answers customer support chats.\n"),
        "{text}"
    );
    assert!(text.contains("\nproduction: prompt-v2\n"), "{text}");
    let promotions = table(&text, "promotions (");
    assert_eq!(promotions.len(), 3, "{text}");
    assert!(
        promotions[1]
            .ends_with("override, reason \"Shipped before rctgate existed.\", promoted without RCT evidence"),
        "{text}"
    );
    assert!(promotions[2].contains("trial assistant-prompt-v2, verdict ship, resolution_rate +"));
    let versions = table(&text, "versions (2)");
    assert!(
        versions[1].contains("  -  "),
        "no offline metrics is a dash:\n{text}"
    );
}

#[test]
fn model_show_format_json_is_the_api_json() {
    let out = on_demo(&["model", "show", "hotel-ranker", "--format", "json"]);
    let text = success(&out, "model show --format json");
    let model: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(model["name"], "hotel-ranker");
    assert_eq!(model["production"], "v8");
    assert_eq!(model["versions"].as_array().map(Vec::len), Some(11));
    assert_eq!(model["promotions"][0]["evidence"]["basis"], "trial");
    // Pretty-printed as before, ending with one newline.
    assert_eq!(
        text,
        format!("{}\n", serde_json::to_string_pretty(&model).expect("JSON"))
    );
    let table = success(&on_demo(&["model", "show", "hotel-ranker"]), "model show");
    assert!(table.contains(&format!(
        "production: {}\n",
        model["production"].as_str().unwrap_or("?")
    )));
}

#[test]
fn ledger_columns_are_aligned() {
    let text = success(&on_demo(&["ledger"]), "ledger");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("trial  "), "{text}");
    let rows: Vec<&str> = lines.iter().take_while(|l| !l.is_empty()).copied().collect();
    // Every concluded trial of a version: eleven of hotel-ranker (the latency-cost trial
    // compares no versions), two of support-assistant.
    assert_eq!(rows.len(), 1 + 13, "{text}");
    assert_aligned(
        &rows,
        &[
            "model",
            "versions",
            "offline gain",
            "business lift [CI]",
            "verdict",
        ],
        &text,
    );
    assert!(rows.iter().any(|r| r.contains("support-assistant")), "{text}");
    assert!(rows.iter().any(|r| r.contains("none -> v1")), "{text}");
    assert!(
        text.contains("offline auc gain vs business lift, pearson over"),
        "{text}"
    );
    let json = success(&on_demo(&["ledger", "--format", "json"]), "ledger --format json");
    let ledger: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(ledger["entries"].as_array().map(Vec::len), Some(rows.len() - 1));
}

#[test]
fn an_unknown_format_is_refused() {
    for args in [
        &[
            "model",
            "show",
            "hotel-ranker",
            "--format",
            "xml",
            "--db",
            "unused.duckdb",
        ][..],
        &["ledger", "--format", "xml", "--db", "unused.duckdb"][..],
    ] {
        let out = rctgate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let message = stderr(&out);
        assert!(message.contains("'xml'"), "{message}");
        assert!(message.contains("--format"), "{message}");
        assert!(message.contains("[possible values: table, json]"), "{message}");
        assert!(stdout(&out).is_empty());
    }
    assert!(!std::path::Path::new("unused.duckdb").exists());
}
