"""Golden values for the offline/online ledger's correlations (crates/analysis/src/ledger.rs).

    python3 tests/reference/ledger.py   # writes tests/reference/golden/ledger.json

Pearson's r and its 95% interval from scipy.stats.pearsonr(x, y).confidence_interval() (Fisher
z, standard error 1/sqrt(n-3)); Spearman's rho from scipy.stats.spearmanr, its interval by the
Fieller-Hartley-Pearson standard error sqrt(1.06/(n-3)) on the same Fisher z scale (scipy has no
interval for Spearman), computed here with numpy so the Rust side is checked against an
independent implementation.
"""

import json
from pathlib import Path

import numpy as np
import scipy
import scipy.stats

rng = np.random.default_rng(2026)
cases = []
for n in (4, 5, 8, 23, 60):
    for rho in (-0.9, -0.1, 0.0, 0.5, 0.95):
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        if n == 8 and rho == 0.5:
            y[:3] = y[0]  # ties for the ranks
        pearson = scipy.stats.pearsonr(x, y)
        ci = pearson.confidence_interval(confidence_level=0.95)
        spearman = scipy.stats.spearmanr(x, y).statistic
        z = np.arctanh(spearman)
        half = scipy.stats.norm.ppf(0.975) * np.sqrt(1.06 / (n - 3))
        cases.append(
            {
                "x": x.tolist(),
                "y": y.tolist(),
                "pearson": [float(pearson.statistic), float(ci.low), float(ci.high)],
                "spearman": [float(spearman), float(np.tanh(z - half)), float(np.tanh(z + half))],
            }
        )
out = Path(__file__).parent / "golden" / "ledger.json"
out.write_text(json.dumps({"scipy": scipy.__version__, "cases": cases}, indent=1) + "\n")
print(f"{len(cases)} cases -> {out}")
