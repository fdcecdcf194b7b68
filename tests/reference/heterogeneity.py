"""Golden values for crates/stats/src/heterogeneity.rs.

    python3 tests/reference/heterogeneity.py   # writes tests/reference/golden/heterogeneity.json

- `rates`: arms' (units, triggered units) and the p-value of
  scipy.stats.chi2_contingency(table, correction=False) on the k x 2 table of triggered and
  untriggered units (do the arms trigger at one rate?);
- `cochran`: segments' effects and variances, and statsmodels'
  combine_effects(effects, variances): Cochran's Q (`q`), I-squared (`i2`), the fixed-effect
  pooled effect, and test_homogeneity()'s p-value.
Seeded; inputs the Rust tests never see otherwise.
"""

import json
from pathlib import Path

import numpy as np
import scipy
import scipy.stats
import statsmodels
from statsmodels.stats.meta_analysis import combine_effects

rng = np.random.default_rng(22)

rates = []
for k in (2, 2, 2, 3, 3, 4, 5):
    for spread in (0.0, 0.002, 0.01, 0.05):
        units = rng.integers(200, 200_000, size=k)
        base = rng.uniform(0.02, 0.6)
        p = np.clip(base + rng.normal(0, spread, size=k), 0.001, 0.999)
        hits = rng.binomial(units, p)
        table = np.stack([hits, units - hits], axis=1)
        chi2, pvalue, dof, _ = scipy.stats.chi2_contingency(table, correction=False)
        rates.append({"units": units.tolist(), "triggered": hits.tolist(), "p_value": float(pvalue)})

cochran = []
for k in (2, 3, 5, 8, 20):
    for tau in (0.0, 0.01, 0.05):
        se = rng.uniform(0.005, 0.05, size=k)
        effects = 0.03 + rng.normal(0, tau, size=k) + rng.normal(0, se)
        variances = se**2
        res = combine_effects(effects, variances)
        homogeneity = res.test_homogeneity()
        cochran.append(
            {
                "effects": effects.tolist(),
                "variances": variances.tolist(),
                "q": float(res.q),
                "df": float(k - 1),
                "p_value": float(homogeneity.pvalue),
                "i_squared": float(res.i2),
                "pooled": float(res.mean_effect_fe),
            }
        )

out = Path(__file__).parent / "golden" / "heterogeneity.json"
out.write_text(
    json.dumps(
        {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__, "rates": rates, "cochran": cochran},
        indent=1,
    )
    + "\n"
)
print(f"{len(rates)} rate cases, {len(cochran)} Cochran cases -> {out}")
