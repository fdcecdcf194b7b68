//! Property tests with plain seeded loops (no property-testing crate): coverage growth
//! keeps arms, weights are respected, disjoint layer slices are mutually exclusive.

use rctgate_assign::{Assigner, ExperimentConfig, Layer, Reason};

/// SplitMix64: a tiny deterministic generator for test inputs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A unit id: ASCII most of the time, sometimes with BMP and astral characters.
    fn unit(&mut self) -> String {
        let x = self.next_u64();
        match x % 8 {
            0 => format!("josé-{:x}", x >> 8),
            1 => format!("用户{}", x >> 8),
            2 => format!("u😀{:x}", x >> 8),
            _ => format!("user-{:x}", x >> 8),
        }
    }

    fn weights(&mut self, n: usize) -> Vec<f64> {
        let raw: Vec<f64> = (0..n).map(|_| 0.05 + self.f64()).collect();
        let sum: f64 = raw.iter().sum();
        raw.iter().map(|w| w / sum).collect()
    }
}

fn assigner(config: &ExperimentConfig) -> Assigner {
    Assigner::new(config).unwrap_or_else(|e| panic!("{config:?}: {e}"))
}

#[test]
fn unit_keeps_its_arm_when_coverage_grows() {
    let mut rng = Rng(0x5eed_0001);
    let mut kept = 0usize;
    let mut joined = 0usize;
    for round in 0..60 {
        let variations = 2 + rng.below(4) as usize;
        let mut config = ExperimentConfig::new(format!("exp-{round}"), variations);
        config.weights = Some(rng.weights(variations));
        config.hash_version = Some(1 + (round % 2) as u32);
        if rng.below(2) == 0 {
            config.seed = Some(format!("seed-{}", rng.next_u64()));
        }
        if rng.below(3) == 0 {
            let start = rng.f64() * 0.5;
            config.layer = Some(Layer::new("layer", start, start + 0.5));
        }
        let mut coverages: Vec<f64> = (0..4).map(|_| rng.f64()).collect();
        coverages.push(1.0);
        coverages.sort_by(f64::total_cmp);
        let assigners: Vec<Assigner> = coverages
            .iter()
            .map(|&c| {
                let mut config = config.clone();
                config.coverage = Some(c);
                assigner(&config)
            })
            .collect();
        for _ in 0..2_000 {
            let unit = rng.unit();
            let decisions: Vec<_> = assigners.iter().map(|a| a.decide(&unit)).collect();
            for pair in decisions.windows(2) {
                match (pair[0].variant, pair[1].variant) {
                    (Some(a), b) => {
                        assert_eq!(Some(a), b, "{unit:?} changed arm as coverage grew");
                        kept += 1;
                    }
                    (None, Some(_)) => joined += 1,
                    (None, None) => {}
                }
            }
        }
    }
    // Not vacuous: plenty of units were in at the lower coverage, and some joined.
    assert!(kept > 10_000 && joined > 1_000, "kept {kept}, joined {joined}");
}

/// Observed share within 5 standard errors of `p` over `n` draws.
fn assert_share(label: &str, count: usize, n: usize, p: f64) {
    let observed = count as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (observed - p).abs() <= 5.0 * se + 1e-3,
        "{label}: observed {observed:.5}, expected {p:.5} (se {se:.5})"
    );
}

#[test]
fn weights_are_respected_over_100k_units() {
    const N: usize = 100_000;
    let mut rng = Rng(0x5eed_0002);
    let setups: Vec<(Vec<f64>, f64, u32, bool)> = vec![
        (vec![0.5, 0.5], 1.0, 2, false),
        (vec![0.1, 0.2, 0.3, 0.4], 1.0, 2, false),
        (vec![0.1, 0.2, 0.3, 0.4], 0.5, 2, true),
        (vec![0.25, 0.75], 0.8, 1, false),
        (rng.weights(3), 0.9, 2, true),
    ];
    for (i, (weights, coverage, version, random_units)) in setups.into_iter().enumerate() {
        let mut config = ExperimentConfig::new(format!("weights-{i}"), weights.len());
        config.weights = Some(weights.clone());
        config.coverage = Some(coverage);
        config.hash_version = Some(version);
        let a = assigner(&config);
        let mut counts = vec![0usize; weights.len()];
        let mut out = 0usize;
        for u in 0..N {
            let unit = if random_units {
                rng.unit()
            } else {
                format!("user-{u}")
            };
            match a.decide(&unit).variant {
                Some(v) => counts[v] += 1,
                None => out += 1,
            }
        }
        let label = format!("setup {i} ({weights:?}, coverage {coverage}, v{version})");
        assert_share(&format!("{label} not covered"), out, N, 1.0 - coverage);
        for (v, (&count, &w)) in counts.iter().zip(&weights).enumerate() {
            assert_share(&format!("{label} arm {v}"), count, N, w * coverage);
        }
    }
}

#[test]
fn layer_slices_are_respected_and_exclusive() {
    const N: usize = 100_000;
    let mut rng = Rng(0x5eed_0003);
    for round in 0..6 {
        // Random cut points partition [0, 1) into k slices of one layer; with some slices
        // dropped, the rest stay disjoint.
        let k = 2 + rng.below(4) as usize;
        let mut cuts: Vec<f64> = (0..k - 1).map(|_| rng.f64()).collect();
        cuts.push(0.0);
        cuts.push(1.0);
        cuts.sort_by(f64::total_cmp);
        let full_partition = round % 2 == 0;
        let layer_name = format!("layer-{round}");
        let slices: Vec<(f64, f64)> = cuts
            .windows(2)
            .map(|w| (w[0], w[1]))
            .enumerate()
            .filter(|(i, _)| full_partition || i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        let assigners: Vec<Assigner> = slices
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                let mut config = ExperimentConfig::new(format!("exp-{round}-{i}"), 2);
                config.layer = Some(Layer::new(layer_name.clone(), start, end));
                config.hash_version = Some(1 + (i % 2) as u32);
                assigner(&config)
            })
            .collect();
        let mut per_slice = vec![0usize; slices.len()];
        for _ in 0..N {
            let unit = rng.unit();
            let mut included = 0;
            for (i, a) in assigners.iter().enumerate() {
                let d = a.decide(&unit);
                if d.in_experiment() {
                    included += 1;
                    per_slice[i] += 1;
                } else {
                    assert_eq!(d.reason, Reason::NotInLayer);
                }
            }
            assert!(included <= 1, "{unit:?} is in {included} slices of {layer_name}");
            if full_partition {
                assert_eq!(included, 1, "{unit:?} is in no slice of a full partition");
            }
        }
        for (i, &(start, end)) in slices.iter().enumerate() {
            // Layer hashes are version 1: 1000 buckets, so widths are rounded up to 0.001.
            let p = ((end * 1000.0).ceil() - (start * 1000.0).ceil()) / 1000.0;
            assert_share(&format!("{layer_name} slice {i}"), per_slice[i], N, p);
        }
    }
}

/// `decide_each` over a list of experiments gives each one the decision `decide` gives, in
/// order: mixed hash versions, layers, forced units, coverage, and lists of every length
/// around its four-at-a-time chunks.
#[test]
fn deciding_many_at_once_matches_deciding_each() {
    let mut rng = Rng(0x5eed_0004);
    let experiments: Vec<Assigner> = (0..11)
        .map(|i| {
            let variations = 2 + rng.below(3) as usize;
            let mut config = ExperimentConfig::new(format!("exp-{i}"), variations);
            config.weights = Some(rng.weights(variations));
            config.coverage = Some(0.5 + rng.f64() / 2.0);
            config.hash_version = Some(1 + rng.below(2) as u32);
            if rng.below(2) == 0 {
                config.seed = Some(format!("séed-{}", rng.next_u64()));
            }
            if rng.below(2) == 0 {
                let start = rng.f64() / 2.0;
                config.layer = Some(Layer::new(format!("layer-{}", i % 3), start, start + 0.5));
            }
            config.forced.insert("qa-pinned".to_string(), variations - 1);
            assigner(&config)
        })
        .collect();
    let mut units: Vec<String> = (0..300).map(|_| rng.unit()).collect();
    units.extend(["qa-pinned".to_string(), String::new()]);
    let mut seen = 0;
    for len in 0..=experiments.len() {
        let chosen = &experiments[..len];
        for unit in &units {
            let mut got = Vec::new();
            rctgate_assign::decide_each(chosen, unit, |i, d| got.push((i, d)));
            let want: Vec<_> = chosen.iter().map(|a| a.decide(unit)).enumerate().collect();
            assert_eq!(got, want, "{len} experiments, unit {unit:?}");
            seen += got.iter().filter(|(_, d)| d.reason == Reason::NotInLayer).count();
        }
    }
    assert!(seen > 0, "some units fall outside their layer");
}
