#!/usr/bin/env python3
"""Golden file for rctgate's response distribution analysis (crates/analysis/src/distribution.rs).

What this computes, never with rctgate itself:

* ``golden/distribution.json`` ``shifts``: pairs of histograms on the same bins, with the
  Kolmogorov-Smirnov distance of the binned distributions (numpy: the largest gap between the
  cumulative shares, asserted equal to ``scipy.stats.ks_2samp`` on the values expanded from the
  histograms, each value its bin's index) and the population stability index
  PSI = sum((a - e) * ln(a / e)) over the bins' shares, an empty bin's share taken as 1e-4
  (numpy).
* ``shapes``: histograms on 20 equal bins of [0, 1] of model outputs drawn with numpy from a
  distribution of a known shape: a healthy bimodal classifier (two betas), a central mode
  (one beta around 0.5), a spike (a bimodal one with 30% of outputs at exactly 0.5), a noisy
  one (outputs on a grid that leaves every other bin empty), an imbalanced one (a mode at 0,
  unremarkable), and too few outputs.

Deterministic for fixed library versions (seeded ``numpy.random.default_rng``).

    pip install numpy scipy && python tests/reference/distribution.py
"""

import json
from pathlib import Path

import numpy as np
import scipy
import scipy.stats

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "golden" / "distribution.json"
FLOOR = 1e-4
BINS = 20


def ks(a, b):
    ca, cb = np.cumsum(a) / np.sum(a), np.cumsum(b) / np.sum(b)
    d = float(np.max(np.abs(ca - cb)))
    expanded_a = np.repeat(np.arange(len(a)), a)
    expanded_b = np.repeat(np.arange(len(b)), b)
    reference = float(scipy.stats.ks_2samp(expanded_a, expanded_b).statistic)
    assert abs(d - reference) < 1e-12, (d, reference)
    return d


def psi(actual, expected):
    a = np.maximum(np.asarray(actual, float) / np.sum(actual), FLOOR)
    e = np.maximum(np.asarray(expected, float) / np.sum(expected), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def unit_histogram(values):
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


def main():
    rng = np.random.default_rng(20261206)
    shifts = []
    for i in range(40):
        bins = int(rng.integers(2, 30))
        a = rng.integers(0, 500, size=bins)
        b = rng.integers(0, 500, size=bins)
        if i % 5 == 0:
            a[rng.integers(0, bins)] = 0  # empty bins exercise the PSI floor
        if a.sum() == 0 or b.sum() == 0:
            continue
        shifts.append({"a": [int(x) for x in a], "b": [int(x) for x in b],
                       "ks": ks(a, b), "psi": psi(a, b)})
    n = 20000
    bimodal = np.concatenate([rng.beta(2, 9, n // 2), rng.beta(9, 2, n // 2)])
    shapes = [
        {"name": "healthy bimodal", "counts": unit_histogram(bimodal), "shape": "bimodal"},
        {"name": "central mode", "counts": unit_histogram(rng.beta(6, 6, n)), "shape": "central_mode"},
        {"name": "spike at 0.5",
         "counts": unit_histogram(np.concatenate([bimodal[: int(n * 0.7)], np.full(int(n * 0.3), 0.5)])),
         "shape": "spike"},
        {"name": "noisy grid",
         "counts": unit_histogram(np.floor(rng.random(n) * 10) / 10 + 0.025), "shape": "noisy"},
        {"name": "imbalanced classes", "counts": unit_histogram(rng.beta(0.6, 8, n)), "shape": "unremarkable"},
        {"name": "too few outputs", "counts": unit_histogram(rng.beta(2, 2, 150)), "shape": "too_few"},
    ]
    doc = {"generator": "tests/reference/distribution.py",
           "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
           "psi_floor": FLOOR, "shifts": shifts, "shapes": shapes}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(shifts)} shifts, {len(shapes)} shapes")


if __name__ == "__main__":
    main()
