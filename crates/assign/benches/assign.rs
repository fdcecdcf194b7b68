//! Decisions per second of a compiled [`Assigner`], reported by criterion as elements/s
//! (one element = one decision).
//!
//! Unit ids are 15-character ASCII ids (`user-0000012345`) and 36-character UUID-shaped
//! ids; the hash cost grows with the id's length.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rctgate_assign::{decide_each, Assigner, ExperimentConfig, Layer};

const UNITS: usize = 4096;

fn short_ids() -> Vec<String> {
    (0..UNITS).map(|i| format!("user-{:010}", i * 7919)).collect()
}

fn uuid_ids() -> Vec<String> {
    let mut x: u64 = 0x1234_5678_9abc_def0;
    (0..UNITS)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let y = x.rotate_left(17) ^ 0xdead_beef;
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                x >> 32,
                (x >> 16) & 0xffff,
                x & 0xfff,
                y & 0xfff,
                y >> 16
            )
        })
        .collect()
}

fn two_arm() -> Assigner {
    let config = ExperimentConfig::new("checkout-button-color", 2);
    Assigner::new(&config).expect("valid experiment")
}

fn two_arm_layer() -> Assigner {
    let mut config = ExperimentConfig::new("checkout-button-color", 2);
    config.coverage = Some(0.9);
    config.layer = Some(Layer::new("checkout", 0.0, 0.6));
    Assigner::new(&config).expect("valid experiment")
}

fn four_arm_layer(hash_version: u32) -> Assigner {
    let mut config = ExperimentConfig::new("pricing-page-layout", 4);
    config.hash_version = Some(hash_version);
    config.weights = Some(vec![0.4, 0.2, 0.2, 0.2]);
    config.coverage = Some(0.8);
    config.layer = Some(Layer::new("pricing", 0.25, 1.0));
    config.forced.insert("qa-tester-1".to_string(), 3);
    Assigner::new(&config).expect("valid experiment")
}

fn bench(c: &mut Criterion) {
    let experiments = [
        ("2arm", two_arm()),
        ("2arm_layer", two_arm_layer()),
        ("4arm_layer", four_arm_layer(2)),
        ("4arm_layer_v1", four_arm_layer(1)),
    ];
    for (ids_name, ids) in [("short_ids", short_ids()), ("uuid_ids", uuid_ids())] {
        let mut group = c.benchmark_group(format!("decide/{ids_name}"));
        group.throughput(Throughput::Elements(ids.len() as u64));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        for (name, assigner) in &experiments {
            group.bench_function(*name, |b| {
                b.iter(|| {
                    let mut in_count = 0usize;
                    for id in &ids {
                        let d = assigner.decide(black_box(id.as_str()));
                        in_count += usize::from(d.in_experiment());
                    }
                    in_count
                })
            });
        }
        group.finish();
    }
}

/// One unit in each of 100 running experiments (two arms, no layer, hash version 2), as
/// `/v1/decide` without an `experiments` list: one `decide` per experiment against
/// `decide_each`. Elements are decisions (100 per unit).
fn bench_all_of_100(c: &mut Criterion) {
    let experiments: Vec<Assigner> = (0..100)
        .map(|i| Assigner::new(&ExperimentConfig::new(format!("exp-{i}"), 2)).expect("valid experiment"))
        .collect();
    for (ids_name, ids) in [("short_ids", short_ids()), ("uuid_ids", uuid_ids())] {
        let ids = &ids[..256];
        let mut group = c.benchmark_group(format!("decide_100/{ids_name}"));
        group.throughput(Throughput::Elements((ids.len() * experiments.len()) as u64));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("one_by_one", |b| {
            b.iter(|| {
                let mut in_count = 0usize;
                for id in ids {
                    for assigner in &experiments {
                        in_count += usize::from(assigner.decide(black_box(id.as_str())).in_experiment());
                    }
                }
                in_count
            })
        });
        group.bench_function("decide_each", |b| {
            b.iter(|| {
                let mut in_count = 0usize;
                for id in ids {
                    decide_each(&experiments, black_box(id.as_str()), |_, d| {
                        in_count += usize::from(d.in_experiment());
                    });
                }
                in_count
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench, bench_all_of_100);
criterion_main!(benches);
