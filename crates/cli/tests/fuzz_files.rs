//! Hostile files, the way users hand them over: seeded random TOML to `rctgate apply` and
//! random or bent CSV, NDJSON and Parquet files to `rctgate import`. Properties: the process
//! never panics or dies of a signal, exits 0 or with an error sentence, and an import that
//! fails stores nothing of its file (these files are far below one import batch, which is
//! all or nothing: `events/import`).
//!
//! `RCTGATE_FUZZ_FILES` sets the number of files per kind (20 by default, what `.ci/run`
//! runs; each is a process) and `RCTGATE_FUZZ_SEED` the seed:
//!
//! ```sh
//! RCTGATE_FUZZ_FILES=2000 RCTGATE_FUZZ_SEED=$RANDOM cargo test --release --workspace --test fuzz_files
//! ```

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// SplitMix64: a seeded generator small enough to need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "",
    "x",
    "bookings",
    "booking",
    "proportion",
    "mean",
    "ratio",
    "quantile",
    "increase",
    "control",
    "treatment",
    "0.5",
    "-1",
    "1e309",
    "nan",
    "inf",
    "9223372036854775808",
    "true",
    "\"",
    "'",
    "\\",
    "\n",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "#",
    "ü",
    "💥",
    "\u{0}",
    "2026-12-01T00:00:00Z",
    "not-a-time",
];

fn words(rng: &mut Rng) -> String {
    (0..rng.below(4)).map(|_| rng.pick(PIECES)).collect()
}

/// A TOML document: a valid catalog bent (a line dropped, a value replaced, garbage
/// inserted), or random text.
fn toml(rng: &mut Rng) -> String {
    let valid =
        "[metrics.bookings]\nkind = \"proportion\"\nevent = \"booking\"\ndirection = \"increase\"\n\n\
                 [experiments.fz]\nhypothesis = \"h\"\nvariants = [{ name = \"control\", weight = 0.5 }, \
                 { name = \"treatment\", weight = 0.5 }]\n[experiments.fz.metrics]\nprimary = \"bookings\"\n";
    if rng.below(5) == 0 {
        return (0..rng.below(20)).map(|_| rng.pick(PIECES)).collect();
    }
    let mut lines: Vec<String> = valid.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(lines.len());
        match rng.below(3) {
            0 => {
                lines.remove(at);
            }
            1 => {
                if let Some((key, _)) = lines[at].split_once(" = ") {
                    let value = match rng.below(4) {
                        0 => format!("{:?}", words(rng)),
                        1 => rng
                            .pick(&["-1", "1e400", "nan", "true", "[]", "{}", "0.0"])
                            .to_string(),
                        2 => words(rng),
                        _ => format!("[{:?}, 3]", words(rng)),
                    };
                    lines[at] = format!("{key} = {value}");
                }
            }
            _ => lines.insert(at, words(rng)),
        }
    }
    lines.join("\n")
}

/// One line of events in `format`, valid or bent.
fn event_line(rng: &mut Rng, n: usize, csv: bool) -> String {
    let id = if rng.below(10) == 0 {
        words(rng)
    } else {
        format!("f{n}")
    };
    let unit = if rng.below(10) == 0 {
        words(rng)
    } else {
        format!("u{}", rng.below(50))
    };
    let value = rng.pick(&["1.5", "0", "-2", "", "nan", "1e309", "x", "3"]);
    let ts = rng.pick(&[
        "2026-12-01T00:00:00Z",
        "2026-12-01 00:00:00",
        "",
        "yesterday",
        "2026-13-40T99:00:00Z",
    ]);
    let event = rng.pick(&["booking", "", "click", "💥"]);
    if csv {
        let mut cells = vec![
            "metric".to_string(),
            id,
            unit,
            event.to_string(),
            value.to_string(),
            ts.to_string(),
        ];
        if rng.below(8) == 0 {
            cells.truncate(rng.below(cells.len()));
        }
        cells.join(",")
    } else {
        match rng.below(8) {
            0 => words(rng),
            _ => format!(
                r#"{{"type":"metric","id":{id:?},"unit":{unit:?},"event":{event:?},"value":{},"ts":{ts:?}}}"#,
                if value.parse::<f64>().is_ok_and(f64::is_finite) {
                    value.to_string()
                } else {
                    format!("{value:?}")
                }
            ),
        }
    }
}

/// Whether `output` is an outcome, not a crash: exit 0, or an error sentence on stderr.
fn check(output: &Output, what: &str) {
    let said = stderr(output);
    assert!(!said.contains("panicked"), "{what}: {said}");
    match output.status.code() {
        Some(0) => {}
        Some(1 | 2) => assert!(
            said.starts_with("error: "),
            "{what}: exit {:?}, {said}",
            output.status.code()
        ),
        other => panic!("{what}: died with {other:?} ({}): {said}", output.status),
    }
}

fn metric_events(db: &Path) -> usize {
    stored_metric_event_ids(db).len()
}

#[test]
fn hostile_toml_and_import_files_get_an_outcome_never_a_crash() {
    let files: usize = std::env::var("RCTGATE_FUZZ_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RCTGATE_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_261_207);
    let mut rng = Rng(seed);
    let dir = temp_dir("fuzz-files");
    let db = dir.join("rctgate.duckdb");
    create_key(&db, "admin");
    for case in 0..files {
        let file = dir.join("catalog.toml");
        let text = toml(&mut rng);
        std::fs::write(&file, &text).expect("write");
        check(
            &rctgate(&["apply", path(&file), "--db", path(&db)]),
            &format!("seed {seed}, TOML {case}: {text:?}"),
        );
    }
    // A valid Parquet file to bend, exported from events the store accepted.
    let good = dir.join("good.ndjson");
    let lines: Vec<String> = (0..200)
        .map(|n| format!(r#"{{"type":"metric","id":"p{n}","unit":"u{n}","event":"booking","value":1.5,"ts":"2026-12-01T00:00:00Z"}}"#))
        .collect();
    std::fs::write(&good, lines.join("\n")).expect("write");
    check(
        &rctgate(&["import", path(&good), "--db", path(&db)]),
        "the valid file",
    );
    let lake = dir.join("lake");
    let output = rctgate(&["export", path(&lake), "--format", "parquet", "--db", path(&db)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let parquet = std::fs::read(lake.join("metric_events.parquet")).expect("parquet");
    let mut stored = metric_events(&db);
    for case in 0..files {
        for kind in ["csv", "ndjson", "parquet"] {
            let file = dir.join(format!("events.{kind}"));
            let bytes = match kind {
                "parquet" => {
                    let mut bytes = parquet.clone();
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                    if rng.below(4) == 0 {
                        bytes.truncate(rng.below(bytes.len()));
                    }
                    bytes
                }
                _ => {
                    let csv = kind == "csv";
                    let mut text = if csv && rng.below(6) != 0 {
                        "type,id,unit,event,value,ts\n".to_string()
                    } else {
                        String::new()
                    };
                    for n in 0..rng.below(30) {
                        text.push_str(&event_line(&mut rng, case * 100 + n, csv));
                        text.push('\n');
                    }
                    text.into_bytes()
                }
            };
            std::fs::write(&file, &bytes).expect("write");
            let output = rctgate(&["import", path(&file), "--db", path(&db)]);
            let what = format!("seed {seed}, {kind} {case}");
            check(&output, &what);
            let after = metric_events(&db);
            if !output.status.success() {
                // One batch, all or nothing: a refused file stores none of its events.
                assert_eq!(after, stored, "{what}: a refused import stored events");
            }
            stored = after;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
