//! Faults from outside: the disk filling up under ingestion. The file system is a small tmpfs
//! the test mounts, so it needs root; elsewhere the test says so and skips.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A tmpfs of a given size, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts one of `megabytes` at a new directory; `None` (the reason printed) when this
    /// process may not mount.
    fn mount(name: &str, megabytes: u32) -> Option<SmallDisk> {
        let dir = temp_dir(name);
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m"),
                "tmpfs",
                path(&dir),
            ])
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk(dir)),
            Ok(output) => {
                eprintln!(
                    "skipped: mounting a small tmpfs needs root ({})",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(err) => {
                eprintln!("skipped: no mount command ({err})");
                None
            }
        }
    }

    fn resize(&self, megabytes: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={megabytes}m"), path(&self.0)])
            .status()
            .expect("mount");
        assert!(status.success(), "remount to {megabytes} MiB");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(path(&self.0)).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A batch of 2,000 metric events whose ids start with `batch`, padded so that they fill a
/// disk quickly.
fn batch(batch: usize) -> (String, Vec<String>) {
    let ids: Vec<String> = (0..2000).map(|i| format!("b{batch}-{i}")).collect();
    let events: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                r#"{{"type":"metric","id":"{id}","unit":"u{}","event":"booking","value":1.0,"ts":"2026-12-01T00:00:00Z","attributes":{{"pad":"{}"}}}}"#,
                (batch * 7919 + i * 104_729) % 100_000,
                "x".repeat(40)
            )
        })
        .collect();
    (format!("[{}]", events.join(",")), ids)
}

/// The ids of the stored metric events; panics on a repeated id.
fn stored_ids(db: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for id in stored_metric_event_ids(db) {
        assert!(ids.insert(id.clone()), "{id} is stored twice");
    }
    ids
}

/// Shrinks `disk` to a few MiB more than it holds and posts batches until one is refused;
/// checks the refusal names the cause and returns the ids acknowledged before it.
fn fill(disk: &SmallDisk, server: &Server, key: &str) -> BTreeSet<String> {
    let mut acknowledged = BTreeSet::new();
    let used = std::fs::read_dir(&disk.0)
        .expect("list")
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum::<u64>();
    disk.resize(u32::try_from(used / (1 << 20)).expect("MiB") + 4);
    let mut refused = None;
    for n in 0..200 {
        let (body, ids) = batch(n);
        match server.call("POST", "/v1/events", Some(key), Some(&body)) {
            (200, answer) => {
                assert_eq!(answer["accepted"].as_u64(), Some(2000), "{answer}");
                acknowledged.extend(ids);
            }
            (status, answer) => {
                refused = Some((status, answer));
                break;
            }
        }
    }
    let (status, answer) = refused.expect("the disk never filled");
    assert_eq!(status, 500, "{answer}");
    let error = answer["error"].as_str().expect("a JSON error");
    assert!(
        error.contains("No space left on device"),
        "the cause is named: {error}"
    );
    assert!(!acknowledged.is_empty(), "some batches fitted first");
    acknowledged
}

/// Starts a server on `db`, which takes batch `n`; after a clean stop the stored ids are the
/// `acknowledged` ones and that batch's, each once.
fn restart_and_check(db: &Path, key: &str, n: usize, mut acknowledged: BTreeSet<String>) {
    let server = Server::start(db);
    let (body, ids) = batch(n);
    let (status, answer) = server.call("POST", "/v1/events", Some(key), Some(&body));
    assert_eq!(status, 200, "{answer}");
    acknowledged.extend(ids);
    assert!(server.terminate(), "a clean stop");
    assert_eq!(stored_ids(db), acknowledged);
}

#[test]
fn a_server_stopped_while_the_disk_is_full_loses_nothing() {
    let Some(disk) = SmallDisk::mount("stopped-full", 64) else {
        return;
    };
    let db = disk.0.join("rctgate.duckdb");
    let key = create_key(&db, "admin");
    let server = Server::start(&db);
    let acknowledged = fill(&disk, &server, &key);
    // Not a byte left: stopping checkpoints the database, which then fails (DuckDB 1.x lost
    // every committed row there; 2.0 keeps its write-ahead log), and what waits stays in the
    // ingest log.
    let filler = disk.0.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);
    let _ = server.terminate();
    assert!(
        db.with_extension("duckdb.wal").exists(),
        "the checkpoint at the stop failed and kept the write-ahead log"
    );
    std::fs::remove_file(&filler).expect("filler");
    disk.resize(256);
    restart_and_check(&db, &key, 1000, acknowledged);
}

#[test]
fn a_full_disk_fails_ingestion_with_its_cause_loses_no_acknowledged_event_and_recovers_without_a_restart() {
    let Some(disk) = SmallDisk::mount("full-disk", 64) else {
        return;
    };
    let db = disk.0.join("rctgate.duckdb");
    let key = create_key(&db, "admin");
    let server = Server::start(&db);
    // An experiment whose event summary is the read below.
    define_trial(&server, &key, &experiment_json("trial"));
    let summary = "/v1/events/summary?experiment=trial";
    let mut acknowledged = fill(&disk, &server, &key);

    // Reads answer the failure too while the events cannot be stored, rather than a
    // scorecard without them; or, if only the log's write failed, they work.
    let (status, answer) = server.call("GET", summary, Some(&key), None);
    assert!(
        status == 200
            || answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("No space left on device")),
        "{status} {answer}"
    );

    // Space comes back: the same server stores what waited and takes events again, within
    // its retry delay (at most 5 s), with no restart.
    disk.resize(256);
    let mut n = 1000;
    let recovered = std::time::Instant::now();
    loop {
        let (body, ids) = batch(n);
        n += 1;
        match server.call("POST", "/v1/events", Some(&key), Some(&body)) {
            (200, _) => {
                acknowledged.extend(ids);
                break;
            }
            (status, answer) => {
                assert!(
                    recovered.elapsed() < std::time::Duration::from_secs(30),
                    "still refused 30 s after space came back: {status} {answer}"
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    let (status, answer) = server.call("GET", summary, Some(&key), None);
    assert_eq!(status, 200, "reads work again: {answer}");
    assert!(server.terminate(), "a clean stop");
    assert_eq!(stored_ids(&db), acknowledged);

    // And a restart finds the same.
    restart_and_check(&db, &key, n, acknowledged);
}

#[test]
fn a_database_a_server_holds_is_a_clear_error() {
    let dir = temp_dir("locked");
    let db = dir.join("rctgate.duckdb");
    create_key(&db, "admin");
    let server = Server::start(&db);
    let output = rctgate(&["experiment", "list", "--db", path(&db)]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains("is in use by another process"), "{said}");
    assert!(said.contains("--server"), "it says what to do instead: {said}");
    assert!(server.terminate());
}

#[test]
fn an_import_killed_midway_then_run_again_stores_every_event_once() {
    use std::io::Write;
    let dir = temp_dir("killed-import");
    let db = dir.join("rctgate.duckdb");
    create_key(&db, "admin");
    let file = dir.join("events.ndjson");
    let events = 600_000;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
    for i in 0..events {
        writeln!(
            out,
            r#"{{"type":"metric","id":"i{i}","unit":"u{}","event":"booking","value":1.5,"ts":"2026-12-01T00:00:00Z"}}"#,
            i * 7919 % 100_000
        )
        .expect("write");
    }
    out.flush().expect("flush");
    drop(out);
    let mut import = Command::new(BIN)
        .args(["import", path(&file), "--db", path(&db)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(
        import.try_wait().expect("wait").is_none(),
        "the import finished before it was killed; the test needs a bigger file"
    );
    import.kill().expect("SIGKILL");
    import.wait().expect("reaped");
    let output = rctgate(&["import", path(&file), "--db", path(&db)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stored = stored_ids(&db);
    assert_eq!(
        stored.len(),
        events,
        "every event exactly once (repeats panic above)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
