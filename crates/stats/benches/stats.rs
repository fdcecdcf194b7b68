//! Results per second of the statistics engine, per method and kind.
//!
//! Each of the 12 inputs in `bench/stats_inputs.json` (method x kind, two
//! arms, n ~ 1e5) is one result: one treatment-vs-control comparison plus the
//! SRM check, the same work `bench/gbstats_timing.py` times in gbstats 0.8.0.
//! Two groups:
//!
//! - `stats_core/<id>`: the request is parsed once, outside the timed loop;
//!   the loop runs `StatsRequest::analyse` (validation, per-arm estimates, the
//!   test, SRM). This is what gbstats is timed on: its inputs are already
//!   Python objects.
//! - `stats_json/<id>`: the whole of `rctgate stats` minus I/O,
//!   `request::run(&json)`, i.e. JSON parsing included.
//!
//! `Throughput::Elements(1)`: criterion reports results/s as elements/s.
//! `bench/run-stats-bench.sh` runs this and the gbstats script in one go and
//! prints the comparison table.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rctgate_stats::request;
use serde_json::Value;

const INPUTS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../bench/stats_inputs.json"
));

/// `(id, request as JSON text)` for every benchmark input.
fn inputs() -> Vec<(String, String)> {
    let file: Value = serde_json::from_str(INPUTS).expect("bench/stats_inputs.json is valid JSON");
    let items = file["inputs"]
        .as_array()
        .expect("bench/stats_inputs.json has an `inputs` array");
    items
        .iter()
        .map(|item| {
            let id = item["id"]
                .as_str()
                .expect("every input has a string `id`")
                .to_string();
            let json = serde_json::to_string(&item["request"]).expect("a JSON value serialises");
            (id, json)
        })
        .collect()
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
}

fn bench_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats_core");
    configure(&mut group);
    for (id, json) in inputs() {
        let req = request::parse(&json).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let response = req.analyse().unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert_eq!(response.variants.len(), 2, "{id}: one comparison expected");
        assert!(
            response.variants[1]
                .comparison
                .as_ref()
                .is_some_and(|c| c.reason.is_none()),
            "{id}: the comparison must be defined"
        );
        group.bench_function(id.as_str(), |b| b.iter(|| black_box(&req).analyse()));
    }
    group.finish();
}

fn bench_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats_json");
    configure(&mut group);
    for (id, json) in inputs() {
        request::run(&json).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        group.bench_function(id.as_str(), |b| b.iter(|| request::run(black_box(&json))));
    }
    group.finish();
}

criterion_group!(benches, bench_core, bench_json);
criterion_main!(benches);
