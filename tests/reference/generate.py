#!/usr/bin/env python3
"""Generate the golden reference files for rctgate's statistics engine.

What this computes
------------------
Every number in the goldens comes from an established Python implementation,
never from rctgate itself:

* ``golden/stats.json``  -- requests in the exact shape taken by ``rctgate stats``
  and the expected responses, computed with GrowthBook's ``gbstats`` 0.8.0
  (frequentist t-tests, sequential t-test, effect-Bayesian test with a flat
  prior, CUPED / regression adjustment, ratio metrics via the delta method,
  SRM check).  Each treatment is compared with the control independently,
  with fresh gbstats statistic objects for every comparison.  For every
  frequentist two-sided absolute case the gbstats p-value and CI are asserted
  to agree with ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``
  (Welch) and a statsmodels t interval; gbstats's SRM p-value is asserted to
  agree with ``scipy.stats.chisquare``.
* ``golden/power.json``  -- sample size per arm / total / days, and the inverse
  (minimum detectable effect for a given per-arm n), two-sided normal
  approximation, using ``scipy.stats.norm.ppf`` and ``scipy.optimize.brentq``.
* ``golden/adjust.json`` -- Holm and Benjamini-Hochberg adjusted p-values from
  ``statsmodels.stats.multitest.multipletests``.
* ``golden/srm.json``    -- sample-ratio-mismatch p-values from
  ``scipy.stats.chisquare``.
* ``golden/quantile.json`` -- quantile metrics in the shape ``rctgate stats`` takes
  (gbstats's own field names), expected responses from gbstats 0.8.0's
  ``QuantileStatistic`` (values per unit) and ``QuantileClusteredStatistic``
  (events clustered in units) through the same tests as ``stats.json``; the
  quantile and its bounds come from simulated log-normal latencies.
* ``../../bench/stats_inputs.json`` -- 12 fixed requests (method x kind) used by
  ``bench/gbstats_timing.py`` and the Rust benchmark.

All randomness comes from a seeded ``numpy.random.default_rng``, so the output
is deterministic for fixed library versions.  For very large n the per-unit
data are not simulated: sums are derived from sampled moments (sample mean ~
normal, sample covariance ~ Wishart), which keeps every sum / sum of squares /
sum of products mutually consistent.

How to run (from the repository root)
-------------------------------------
    pip install gbstats==0.8.0 scipy statsmodels && python tests/reference/generate.py

Definitions that are not dictated by gbstats itself
---------------------------------------------------
* Bayesian tests use ``EffectBayesianConfig(prior_type=difference_type)`` with an
  improper (flat) prior.  With an improper prior the prior's scale is never
  used, so this is numerically identical to the default ``prior_type`` but it
  avoids a gbstats ZeroDivisionError when an absolute comparison has a control
  mean of exactly 0.
* ``risk`` is ``result.risk[1]`` (expected loss of shipping the treatment,
  after gbstats's flip for ``inverse``).
* When gbstats returns an ``error_message`` every inferential field is null and
  ``reason`` holds the message code.
* ``sequential_tuning`` is present in every request (5000 unless the method is
  sequential); ``alternative`` is only present for the frequentist method.
"""

import importlib.metadata
import json
import math
from pathlib import Path

import numpy as np
import scipy
import scipy.optimize
import scipy.stats
import statsmodels
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import _tconfint_generic

from gbstats.bayesian.tests import (
    EffectBayesianABTest,
    EffectBayesianConfig,
    GaussianPrior,
)
from gbstats.frequentist.tests import (
    FrequentistConfig,
    OneSidedTreatmentGreaterTTest,
    OneSidedTreatmentLesserTTest,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "reference" / "golden"
BENCH = ROOT / "bench"
GENERATOR = "tests/reference/generate.py"

SEED = 20240517
SIM_MAX = 200_000  # simulate per-unit data up to this n, derive sums from moments above

ALPHAS = [0.01, 0.025, 0.05, 0.1]
TUNINGS = [1000, 5000, 20000, 100000]
WEIGHTS = {
    2: [[0.5, 0.5], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]],
    3: [[1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.5], [0.5, 0.25, 0.25], [0.2, 0.4, 0.4]],
    4: [[0.25, 0.25, 0.25, 0.25], [0.1, 0.3, 0.3, 0.3], [0.4, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]],
}
KINDS = ["proportion", "mean", "ratio", "proportion-cuped", "mean-cuped"]
METHODS = ["frequentist", "sequential", "bayesian"]
DIFFS = ["relative", "absolute"]
METHOD_SHORT = {"frequentist": "freq", "sequential": "seq", "bayesian": "bayes"}
DIFF_SHORT = {"relative": "rel", "absolute": "abs"}

VERSIONS = {
    "gbstats": importlib.metadata.version("gbstats"),
    "scipy": scipy.__version__,
    "statsmodels": statsmodels.__version__,
    "numpy": np.__version__,
}


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def fnum(x):
    """JSON-safe float: None for None / NaN / +-Inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def split_kind(kind_key):
    """'mean-cuped' -> ('mean', True)."""
    if kind_key.endswith("-cuped"):
        return kind_key[: -len("-cuped")], True
    return kind_key, False


def loguniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sums_1d_from_moments(rng, n, mu, sd):
    """Consistent (sum, sum_squares) of n units with population mean mu / sd sd."""
    xbar = mu + sd * rng.standard_normal() / math.sqrt(n)
    s2 = sd * sd * rng.chisquare(n - 1) / (n - 1)
    total = n * xbar
    return float(total), float((n - 1) * s2 + total * total / n)


def sums_2d_from_moments(rng, n, mu, cov):
    """Consistent (sx, sy, sxx, syy, sxy) for n bivariate units.

    Sample mean ~ N(mu, cov/n); sample covariance ~ Wishart(cov, n-1)/(n-1)
    (Bartlett decomposition)."""
    mu = np.asarray(mu, dtype=float)
    cov = np.asarray(cov, dtype=float)
    chol = np.linalg.cholesky(cov)
    xbar = mu + chol @ rng.standard_normal(2) / math.sqrt(n)
    df = n - 1
    a = np.array(
        [[math.sqrt(rng.chisquare(df)), 0.0], [rng.standard_normal(), math.sqrt(rng.chisquare(df - 1))]]
    )
    la = chol @ a
    s = la @ la.T / df
    sx, sy = n * xbar[0], n * xbar[1]
    return (
        float(sx),
        float(sy),
        float(df * s[0, 0] + sx * sx / n),
        float(df * s[1, 1] + sy * sy / n),
        float(df * s[0, 1] + sx * sy / n),
    )


def sums_2d_from_data(x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return (
        float(x.sum()),
        float(y.sum()),
        float((x * x).sum()),
        float((y * y).sum()),
        float((x * y).sum()),
    )


# ---------------------------------------------------------------------------
# data generators: each returns a list of per-arm dicts (without name / n)
# z_list[i] is the target standardized effect of arm i vs control (z_list[0] = 0)
# ---------------------------------------------------------------------------
def gen_proportion(rng, ns, zs, p_c=None):
    if p_c is None:
        p_c = loguniform(rng, max(0.002, 10.0 / min(ns)), 0.6)
    out = []
    for i, (n, z) in enumerate(zip(ns, zs)):
        p = p_c
        if i > 0:
            p = p_c + z * math.sqrt(p_c * (1 - p_c) * (1 / ns[0] + 1 / n))
            p = min(max(p, p_c * 0.2), 0.995)
        s = int(rng.binomial(n, p))
        out.append({"sum": s, "sum_squares": s})
    return out


def gen_mean(rng, ns, zs):
    fam = str(rng.choice(["normal", "zilognormal", "poisson"]))
    if fam == "normal":
        mu = rng.uniform(5, 100)
        sd = mu * rng.uniform(0.2, 2.0)

        def moments(f):
            return mu * f, sd

        def sample(n, f):
            return np.round(rng.normal(mu * f, sd, n), 2)

    elif fam == "zilognormal":
        q, ml, sl = rng.uniform(0.02, 0.3), rng.uniform(2, 4), rng.uniform(0.5, 1.2)

        def moments(f):
            m1 = q * math.exp(ml + sl * sl / 2) * f
            m2 = q * math.exp(2 * ml + 2 * sl * sl) * f * f
            return m1, math.sqrt(m2 - m1 * m1)

        def sample(n, f):
            conv = rng.random(n) < q
            return np.round(conv * rng.lognormal(ml, sl, n) * f, 2)

    else:
        lam = rng.uniform(0.5, 20)

        def moments(f):
            return lam * f, math.sqrt(lam * f)

        def sample(n, f):
            return rng.poisson(lam * f, n).astype(float)

    mu_c, sd_c = moments(1.0)
    out = []
    for i, (n, z) in enumerate(zip(ns, zs)):
        f = 1.0
        if i > 0:
            f = max(0.2, 1 + z * sd_c * math.sqrt(1 / ns[0] + 1 / n) / mu_c)
        if n <= SIM_MAX:
            x = sample(n, f)
            s, ss = float(x.sum()), float((x * x).sum())
        else:
            m, sd = moments(f)
            s, ss = sums_1d_from_moments(rng, n, m, sd)
        out.append({"sum": s, "sum_squares": ss})
    return out, fam


def gen_ratio(rng, ns, zs, fam=None):
    if fam is None:
        fam = str(rng.choice(["sessions", "orders"]))
    if fam == "sessions":  # d = 1 + Poisson(ld) sessions, m ~ Poisson(d * r) page views
        ld, r = rng.uniform(0.2, 5), rng.uniform(0.05, 3)

        def moments(f):
            rr = r * f
            md, vd = 1 + ld, ld
            return [rr * md, md], [[rr * md + rr * rr * ld, rr * ld], [rr * ld, vd]]

        def sample(n, f):
            d = 1 + rng.poisson(ld, n)
            return rng.poisson(d * r * f), d

    elif fam == "orders":  # d ~ Poisson(ld) orders (can be 0), m = sum of d Gamma(k, th) amounts
        ld, k, th = rng.uniform(0.3, 3), rng.uniform(0.5, 3), rng.uniform(5, 40)

        def moments(f):
            t = th * f
            return [ld * k * t, ld], [[ld * k * t * t + (k * t) ** 2 * ld, k * t * ld], [k * t * ld, ld]]

        def sample(n, f):
            d = rng.poisson(ld, n)
            m = np.where(d > 0, rng.gamma(np.maximum(d * k, 1e-300), th * f), 0.0)
            return np.round(m, 2), d

    else:  # "sparse": small denominators, d ~ Bernoulli(pd), m ~ d * Poisson(r)
        pd, r = rng.uniform(0.004, 0.03), rng.uniform(0.5, 4)

        def moments(f):
            rr = r * f
            em = pd * rr
            vm = pd * (rr + rr * rr) - em * em
            return [em, pd], [[vm, rr * pd * (1 - pd)], [rr * pd * (1 - pd), pd * (1 - pd)]]

        def sample(n, f):
            d = (rng.random(n) < pd).astype(int)
            return d * rng.poisson(r * f, n), d

    mu, cov = moments(1.0)
    ratio = mu[0] / mu[1]
    unit_sd = math.sqrt(max(cov[0][0] - 2 * ratio * cov[0][1] + ratio * ratio * cov[1][1], 1e-12)) / mu[1]
    out = []
    for i, (n, z) in enumerate(zip(ns, zs)):
        f = 1.0
        if i > 0:
            f = max(0.2, 1 + z * unit_sd * math.sqrt(1 / ns[0] + 1 / n) / ratio)
        if n <= SIM_MAX:
            m, d = sample(n, f)
            sm, sd_, smm, sdd, smd = sums_2d_from_data(m, d)
        else:
            mu_f, cov_f = moments(f)
            sm, sd_, smm, sdd, smd = sums_2d_from_moments(rng, n, mu_f, cov_f)
        out.append(
            {"sum": sm, "sum_squares": smm, "den_sum": sd_, "den_sum_squares": sdd, "num_den_sum_product": smd}
        )
    return out, fam


def gen_proportion_cuped(rng, ns, zs):
    pp = rng.uniform(0.05, 0.6)  # P(converted in pre-period)
    p1 = rng.uniform(0.3, 0.9)  # P(post | pre = 1)
    p0 = rng.uniform(0.005, 0.2)  # P(post | pre = 0)
    pbar = pp * p1 + (1 - pp) * p0
    out = []
    for i, (n, z) in enumerate(zip(ns, zs)):
        f = 1.0
        if i > 0:
            f = max(0.2, 1 + z * math.sqrt(pbar * (1 - pbar) * (1 / ns[0] + 1 / n)) / pbar)
        q1, q0 = min(p1 * f, 0.995), min(p0 * f, 0.995)
        cells = rng.multinomial(n, [(1 - pp) * (1 - q0), (1 - pp) * q0, pp * (1 - q1), pp * q1])
        post = int(cells[1] + cells[3])
        pre = int(cells[2] + cells[3])
        out.append(
            {
                "sum": post,
                "sum_squares": post,
                "pre_sum": pre,
                "pre_sum_squares": pre,
                "post_pre_sum_product": int(cells[3]),
            }
        )
    return out, "markov"


def gen_mean_cuped(rng, ns, zs):
    fam = str(rng.choice(["poisson_lognormal", "normal"]))
    if fam == "poisson_lognormal":  # latent rate u ~ LN; pre ~ Poisson(u), post ~ Poisson(u g f)
        ml, sl, g = rng.uniform(0, 3), rng.uniform(0.3, 1.2), rng.uniform(0.8, 1.2)
        eu = math.exp(ml + sl * sl / 2)
        vu = (math.exp(sl * sl) - 1) * math.exp(2 * ml + sl * sl)

        def moments(f):
            h = g * f
            return [h * eu, eu], [[h * eu + h * h * vu, h * vu], [h * vu, eu + vu]]

        def sample(n, f):
            u = rng.lognormal(ml, sl, n)
            return rng.poisson(u * g * f).astype(float), rng.poisson(u).astype(float)

    else:  # pre ~ N(mu, s); post = a + b pre + N(0, tau), times f
        mu = rng.uniform(10, 100)
        s = mu * rng.uniform(0.2, 1.0)
        b, a = rng.uniform(0.3, 1.1), rng.uniform(0, 20)
        tau = s * rng.uniform(0.3, 1.5)

        def moments(f):
            mp = (a + b * mu) * f
            return [mp, mu], [[f * f * (b * b * s * s + tau * tau), f * b * s * s], [f * b * s * s, s * s]]

        def sample(n, f):
            pre = np.round(rng.normal(mu, s, n), 2)
            post = np.round((a + b * pre + rng.normal(0, tau, n)) * f, 2)
            return post, pre

    mu0, cov0 = moments(1.0)
    sd_post = math.sqrt(cov0[0][0])
    out = []
    for i, (n, z) in enumerate(zip(ns, zs)):
        f = 1.0
        if i > 0:
            f = max(0.2, 1 + z * sd_post * math.sqrt(1 / ns[0] + 1 / n) / mu0[0])
        if n <= SIM_MAX:
            post, pre = sample(n, f)
            sp, sq, spp, sqq, spq = sums_2d_from_data(post, pre)
        else:
            mu_f, cov_f = moments(f)
            sp, sq, spp, sqq, spq = sums_2d_from_moments(rng, n, mu_f, cov_f)
        out.append(
            {"sum": sp, "sum_squares": spp, "pre_sum": sq, "pre_sum_squares": sqq, "post_pre_sum_product": spq}
        )
    return out, fam


def generate_data(rng, kind_key, ns, zs):
    if kind_key == "proportion":
        return gen_proportion(rng, ns, zs), "binomial"
    if kind_key == "mean":
        return gen_mean(rng, ns, zs)
    if kind_key == "ratio":
        return gen_ratio(rng, ns, zs)
    if kind_key == "proportion-cuped":
        return gen_proportion_cuped(rng, ns, zs)
    if kind_key == "mean-cuped":
        return gen_mean_cuped(rng, ns, zs)
    raise ValueError(kind_key)


def draw_ns(rng, largest_arm, weights, mismatch):
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    total = int(round(largest_arm / w.max()))
    total = max(total, int(math.ceil(50 / w.min())) + len(w))
    if mismatch:
        eps = min(0.5, math.sqrt(rng.uniform(20, 120) / (total * w[0])))
        w = w.copy()
        w[0] *= 1 + eps * (1 if rng.random() < 0.5 else -1)
        w = w / w.sum()
    ns = rng.multinomial(total, w)
    return [max(int(x), 50) for x in ns]


def draw_z(rng):
    u = rng.random()
    if u < 0.15:
        return 0.0
    if u < 0.8:
        return float(rng.uniform(-4, 4))
    return float(rng.uniform(-10, 10))


# ---------------------------------------------------------------------------
# gbstats evaluation
# ---------------------------------------------------------------------------
def build_statistic(kind, cuped, v, level=None):
    n = int(v["n"])
    if kind == "quantile":
        common = dict(
            n=n,
            n_star=int(v["n_star"]),
            nu=level,
            quantile_hat=v["quantile_hat"],
            quantile_lower=v["quantile_lower"],
            quantile_upper=v["quantile_upper"],
        )
        if "n_clusters" not in v:
            return QuantileStatistic(**common)
        return QuantileClusteredStatistic(
            **common,
            main_sum=v["main_sum"],
            main_sum_squares=v["main_sum_squares"],
            denominator_sum=v["denominator_sum"],
            denominator_sum_squares=v["denominator_sum_squares"],
            main_denominator_sum_product=v["main_denominator_sum_product"],
            n_clusters=int(v["n_clusters"]),
        )
    if cuped:
        if kind == "proportion":
            post = ProportionStatistic(n=n, sum=v["sum"])
            pre = ProportionStatistic(n=n, sum=v["pre_sum"])
        else:
            post = SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"])
            pre = SampleMeanStatistic(n=n, sum=v["pre_sum"], sum_squares=v["pre_sum_squares"])
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=post,
            pre_statistic=pre,
            post_pre_sum_of_products=v["post_pre_sum_product"],
            theta=0,
        )
    if kind == "proportion":
        return ProportionStatistic(n=n, sum=v["sum"])
    if kind == "mean":
        return SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"])
    if kind == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"]),
            d_statistic=SampleMeanStatistic(n=n, sum=v["den_sum"], sum_squares=v["den_sum_squares"]),
            m_d_sum_of_products=v["num_den_sum_product"],
        )
    raise ValueError(kind)


def make_test(req, stat_a, stat_b):
    method, diff, alpha = req["method"], req["difference"], req["alpha"]
    if method == "frequentist":
        cls = {
            "two-sided": TwoSidedTTest,
            "greater": OneSidedTreatmentGreaterTTest,
            "less": OneSidedTreatmentLesserTTest,
        }[req.get("alternative", "two-sided")]
        return cls(stat_a, stat_b, FrequentistConfig(alpha=alpha, difference_type=diff))
    if method == "sequential":
        cfg = SequentialConfig(
            alpha=alpha, difference_type=diff, sequential_tuning_parameter=req["sequential_tuning"]
        )
        return SequentialTwoSidedTTest(stat_a, stat_b, cfg)
    if method == "bayesian":
        cfg = EffectBayesianConfig(
            alpha=alpha,
            difference_type=diff,
            inverse=req["metric"]["direction"] == "decrease",
            prior_type=diff,
            prior_effect=GaussianPrior(proper=False),
        )
        return EffectBayesianABTest(stat_a, stat_b, cfg)
    raise ValueError(method)


CHECKS = {"scipy_ttest": 0, "srm_chisquare": 0}


def rel_close(a, b, rtol, atol=0.0):
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + atol


def scipy_crosscheck(test, result, alpha):
    """Frequentist two-sided absolute: compare with scipy Welch t-test + statsmodels CI."""
    a, b = test.stat_a, test.stat_b  # after gbstats's CUPED/theta handling
    ma, va, na = a.mean, a.variance, a.n
    mb, vb, nb = b.mean, b.variance, b.n
    res = scipy.stats.ttest_ind_from_stats(mb, math.sqrt(vb), nb, ma, math.sqrt(va), na, equal_var=False)
    # p-value: gbstats computes 2*(1-cdf), which has ~1e-16 absolute error -> small absolute floor
    assert rel_close(result.p_value, res.pvalue, 1e-8, 5e-15), (result.p_value, res.pvalue)
    se2a, se2b = va / na, vb / nb
    df = (se2a + se2b) ** 2 / (se2a**2 / (na - 1) + se2b**2 / (nb - 1))
    diff = mb - ma
    assert rel_close(result.expected, diff, 1e-12, 1e-300), (result.expected, diff)
    lo, hi = _tconfint_generic(diff, math.sqrt(se2a + se2b), df, alpha, "two-sided")
    scale = max(abs(lo), abs(hi), hi - lo)
    assert abs(result.ci[0] - lo) <= 1e-8 * scale, (result.ci, lo, hi)
    assert abs(result.ci[1] - hi) <= 1e-8 * scale, (result.ci, lo, hi)
    CHECKS["scipy_ttest"] += 1


def srm_pvalue(ns, weights):
    p = float(check_srm(list(ns), list(weights)))
    total = sum(ns)
    if total > 0:
        w = np.asarray(weights, dtype=float)
        exp = w / w.sum() * total
        ref = float(scipy.stats.chisquare(np.asarray(ns, dtype=float), exp).pvalue)
        assert abs(p - ref) <= 1e-9, (p, ref, ns, weights)
        CHECKS["srm_chisquare"] += 1
    return p


def compute_expected(req):
    kind, cuped = req["metric"]["kind"], req["metric"]["cuped"]
    level = req["metric"].get("quantile")
    variants = req["variants"]
    rows = []
    for idx, v in enumerate(variants):
        stat = build_statistic(kind, cuped, v, level)
        var_stat = stat.post_statistic if cuped else stat
        row = {"name": v["name"], "n": int(v["n"]), "mean": fnum(stat.unadjusted_mean), "variance": fnum(var_stat.variance)}
        if idx > 0:
            # fresh objects for every comparison (gbstats mutates theta in place)
            stat_a = build_statistic(kind, cuped, variants[0], level)
            stat_b = build_statistic(kind, cuped, v, level)
            test = make_test(req, stat_a, stat_b)
            res = test.compute_result()
            out = {"effect": None, "ci_low": None, "ci_high": None, "p_value": None,
                   "chance_to_win": None, "risk": None, "reason": None}
            if res.error_message:
                out["reason"] = res.error_message
            else:
                out["effect"] = fnum(res.expected)
                out["ci_low"] = fnum(res.ci[0])
                out["ci_high"] = fnum(res.ci[1])
                if req["method"] == "bayesian":
                    out["chance_to_win"] = fnum(res.chance_to_win)
                    out["risk"] = fnum(res.risk[1])
                    for key in ("effect", "ci_low", "ci_high", "chance_to_win", "risk"):
                        assert out[key] is not None, (key, req)
                else:
                    out["p_value"] = fnum(res.p_value)
                    assert out["p_value"] is not None and out["effect"] is not None
                    if (
                        req["method"] == "frequentist"
                        and req.get("alternative", "two-sided") == "two-sided"
                        and req["difference"] == "absolute"
                    ):
                        scipy_crosscheck(test, res, req["alpha"])
            row.update(out)
        rows.append(row)
    # The sample ratio counts units: an event-level quantile's n counts events.
    srm = srm_pvalue([int(v.get("n_clusters", v["n"])) for v in variants], req["expected_weights"])
    return {"srm_p_value": fnum(srm), "variants": rows}


# ---------------------------------------------------------------------------
# request construction
# ---------------------------------------------------------------------------
def variant_names(arms):
    return ["control"] + (["treatment"] if arms == 2 else [f"treatment_{i}" for i in range(1, arms)])


def request_head(metric, method, diff, weights, alpha, tuning, alternative):
    """Every field of a request but its variants, in the order the goldens write them."""
    req = {"metric": metric, "method": method, "difference": diff}
    if method == "frequentist":
        req["alternative"] = alternative
    req["alpha"] = alpha
    req["sequential_tuning"] = tuning if method == "sequential" else 5000
    req["expected_weights"] = list(weights)
    return req


def make_request(kind_key, method, diff, variants_data, ns, weights, alpha=0.05, tuning=5000,
                 direction="increase", alternative="two-sided"):
    kind, cuped = split_kind(kind_key)
    req = request_head({"kind": kind, "cuped": cuped, "direction": direction},
                       method, diff, weights, alpha, tuning, alternative)
    names = variant_names(len(ns))
    req["variants"] = []
    for name, n, d in zip(names, ns, variants_data):
        v = {"name": name, "n": int(n)}
        v.update(d)
        check_consistency(kind, cuped, v)
        req["variants"].append(v)
    return req


def check_consistency(kind, cuped, v):
    n = v["n"]
    assert isinstance(n, int) and n >= 0
    if kind == "proportion":
        assert isinstance(v["sum"], int) and 0 <= v["sum"] <= n and v["sum_squares"] == v["sum"]
        if cuped:
            assert isinstance(v["pre_sum"], int) and 0 <= v["pre_sum"] <= n
            assert v["pre_sum_squares"] == v["pre_sum"]
            assert 0 <= v["post_pre_sum_product"] <= min(v["sum"], v["pre_sum"])
        return
    if n > 0:
        assert v["sum_squares"] >= v["sum"] ** 2 / n * (1 - 1e-12), v
        if kind == "ratio":
            assert v["den_sum_squares"] >= v["den_sum"] ** 2 / n * (1 - 1e-12), v
            check_psd(n, v["sum"], v["den_sum"], v["sum_squares"], v["den_sum_squares"], v["num_den_sum_product"])
        if cuped:
            assert v["pre_sum_squares"] >= v["pre_sum"] ** 2 / n * (1 - 1e-12), v
    if cuped and n > 0:
        check_psd(n, v["sum"], v["pre_sum"], v["sum_squares"], v["pre_sum_squares"], v["post_pre_sum_product"])


def check_psd(n, sx, sy, sxx, syy, sxy):
    """Cauchy-Schwarz: the centred sums must come from real data."""
    cxx = sxx - sx * sx / n
    cyy = syy - sy * sy / n
    cxy = sxy - sx * sy / n
    tol = 1e-9 * (abs(sxx) + sx * sx / n) * (abs(syy) + sy * sy / n) + 1e-300
    assert cxy * cxy <= cxx * cyy + tol, (n, sx, sy, sxx, syy, sxy)


def has_reason(req):
    return any(row.get("reason") for row in compute_expected(req)["variants"][1:])


def case_id(prefix, kind_key, arms, idx, extra=""):
    return f"{prefix}-{kind_key}-{arms}arm{extra}-{idx:03d}"


def regular_cases(rng):
    cases = []
    per_combo = 12
    lo, hi = math.log10(50), 7.0
    for kind_key in KINDS:
        for method in METHODS:
            for diff in DIFFS:
                arms_cycle = rng.permutation([2, 3, 4] * (per_combo // 3))
                strata = rng.permutation(per_combo)
                for i in range(per_combo):
                    arms = int(arms_cycle[i])
                    largest = int(round(10 ** (lo + (strata[i] + rng.random()) / per_combo * (hi - lo))))
                    wlist = WEIGHTS[arms]
                    weights = wlist[0] if rng.random() < 0.5 else wlist[int(rng.integers(1, len(wlist)))]
                    mismatch = rng.random() < 0.25
                    alpha = ALPHAS[i % 4]
                    tuning = TUNINGS[(i // 4 + i) % 4]
                    direction = "decrease" if rng.random() < 0.3 else "increase"
                    # regular cases must give informative results: redraw data that hit a gbstats error
                    for _attempt in range(100):
                        ns = draw_ns(rng, largest, weights, mismatch)
                        zs = [0.0] + [draw_z(rng) for _ in range(arms - 1)]
                        data, fam = generate_data(rng, kind_key, ns, zs)
                        req = make_request(kind_key, method, diff, data, ns, weights, alpha, tuning, direction)
                        if not has_reason(req):
                            break
                    else:
                        raise RuntimeError("could not draw a regular case")
                    extra = "-srm" if mismatch else ""
                    cid = case_id(f"{METHOD_SHORT[method]}-{DIFF_SHORT[diff]}", kind_key, arms, i, extra)
                    cases.append({"id": cid, "input": req, "category": ("regular", kind_key, method, diff)})
    return cases


def one_sided_cases(rng):
    cases = []
    lo, hi = math.log10(50), 7.0
    for kind_key in KINDS:
        for diff in DIFFS:
            for alt in ["greater", "less"]:
                for i in range(3):
                    arms = [2, 3, 4][i]
                    largest = int(round(10 ** rng.uniform(lo, hi)))
                    weights = WEIGHTS[arms][0]
                    alpha = ALPHAS[int(rng.integers(4))]
                    for _attempt in range(100):
                        ns = draw_ns(rng, largest, weights, False)
                        zs = [0.0] + [draw_z(rng) for _ in range(arms - 1)]
                        data, fam = generate_data(rng, kind_key, ns, zs)
                        req = make_request(kind_key, "frequentist", diff, data, ns, weights,
                                           alpha, 5000, "increase", alt)
                        if not has_reason(req):
                            break
                    else:
                        raise RuntimeError("could not draw a one-sided case")
                    cid = case_id(f"freq-{alt}-{DIFF_SHORT[diff]}", kind_key, arms, i)
                    cases.append({"id": cid, "input": req, "category": ("one-sided", kind_key, "frequentist", diff)})
    return cases


# ---------------------------------------------------------------------------
# near-degenerate scenarios
# ---------------------------------------------------------------------------
def prop(s):
    return {"sum": int(s), "sum_squares": int(s)}


def mean_sums(s, ss):
    return {"sum": float(s), "sum_squares": float(ss)}


def degenerate_cases(rng):
    scen = []  # (tag, kind_key, ns, data, weights, methods, diffs, direction)

    def add(tag, kind_key, ns, data, weights=None, methods=METHODS, diffs=DIFFS, direction="increase"):
        if weights is None:
            weights = [1.0 / len(ns)] * len(ns) if len(ns) != 2 else [0.5, 0.5]
        scen.append((tag, kind_key, ns, data, weights, methods, diffs, direction))

    # identical arms -> effect exactly 0, two-sided p = 1
    add("identical-arms", "proportion", [100000, 100000], [prop(5000), prop(5000)])
    # tiny effect: one extra conversion in 10^7
    add("tiny-effect", "proportion", [10_000_000, 10_000_000], [prop(100000), prop(100001)])
    # huge effect: p-values far below 1e-10
    add("huge-effect", "proportion", [1_000_000, 1_000_000], [prop(10000), prop(50000)], direction="decrease")
    d = [sums_1d_from_moments(rng, 2_000_000, 10.0, 5.0), sums_1d_from_moments(rng, 2_000_000, 11.0, 5.0)]
    add("huge-effect", "mean", [2_000_000, 2_000_000], [mean_sums(*x) for x in d])
    # proportions extremely near 0 and 1
    add("p-near-0", "proportion", [1_000_000, 1_000_000], [prop(1), prop(4)])
    add("p-near-1", "proportion", [1_000_000, 1_000_000], [prop(999_999), prop(999_990)], direction="decrease")
    # control proportion exactly 0
    add("control-zero", "proportion", [5000, 5000], [prop(0), prop(12)])
    # zero-variance arms
    add("zero-var-treatment", "proportion", [1000, 1000], [prop(500), prop(1000)])
    add("zero-var-treatment", "mean", [800, 900], [mean_sums(3 * 800, 9 * 800), mean_sums(3 * 900, 9 * 900)])
    add("zero-var-treatment", "mean", [800, 900], [mean_sums(1200.5, 2500.25), mean_sums(7 * 900, 49 * 900)])
    # control mean exactly 0 but positive variance (values +-1)
    add("control-mean-zero", "mean", [1000, 1000], [mean_sums(0, 1000), mean_sums(40, 1000)])
    # negative control mean with relative difference
    d = [sums_1d_from_moments(rng, 300_000, -5.0, 10.0), sums_1d_from_moments(rng, 300_000, -4.9, 10.0)]
    add("negative-mean", "mean", [300_000, 300_000], [mean_sums(*x) for x in d], diffs=["relative"])
    # cancellation stress: large mean, small sd (sum_squares - sum^2/n loses ~6 digits)
    d = [sums_1d_from_moments(rng, 1_000_000, 1000.0, 1.0), sums_1d_from_moments(rng, 1_000_000, 1000.002, 1.0)]
    add("cancellation-mean1000-sd1", "mean", [1_000_000, 1_000_000], [mean_sums(*x) for x in d],
        methods=["frequentist", "bayesian"], diffs=["absolute"])

    # CUPED: pre-period with zero variance -> theta = 0 -> unadjusted fallback
    post = gen_mean(np.random.default_rng(11), [4000, 4000], [0.0, 2.5])[0]
    data = [dict(p, pre_sum=0.0, pre_sum_squares=0.0, post_pre_sum_product=0.0) for p in post]
    add("theta0-pre-all-zero", "mean-cuped", [4000, 4000], data)
    data = [
        {"sum": 410, "sum_squares": 410, "pre_sum": 5000, "pre_sum_squares": 5000, "post_pre_sum_product": 410},
        {"sum": 468, "sum_squares": 468, "pre_sum": 5000, "pre_sum_squares": 5000, "post_pre_sum_product": 468},
    ]
    add("theta0-pre-all-one", "proportion-cuped", [5000, 5000], data)
    data = [
        {"sum": 410, "sum_squares": 410, "pre_sum": 0, "pre_sum_squares": 0, "post_pre_sum_product": 0},
        {"sum": 380, "sum_squares": 380, "pre_sum": 0, "pre_sum_squares": 0, "post_pre_sum_product": 0},
    ]
    add("theta0-pre-all-zero", "proportion-cuped", [5000, 5000], data, direction="decrease")
    # only the treatment's pre-period is constant: joint variance > 0, theta != 0
    c = gen_mean_cuped(np.random.default_rng(12), [3000, 3000], [0.0, 0.0])[0][0]
    t_post = gen_mean(np.random.default_rng(13), [3000], [0.0])[0][0]
    t = dict(t_post, pre_sum=3 * 3000.0, pre_sum_squares=9 * 3000.0, post_pre_sum_product=3 * t_post["sum"])
    add("treatment-pre-constant", "mean-cuped", [3000, 3000], [c, t])
    # joint post-period constant (all zero) -> theta 0 and zero variance / zero baseline
    data = [
        {"sum": 0, "sum_squares": 0, "pre_sum": 120, "pre_sum_squares": 120, "post_pre_sum_product": 0},
        {"sum": 0, "sum_squares": 0, "pre_sum": 131, "pre_sum_squares": 131, "post_pre_sum_product": 0},
    ]
    add("post-all-zero", "proportion-cuped", [2000, 2000], data)

    # ratio with small denominators
    for nn in (20000, 2_000_000):
        data, _ = gen_ratio(rng, [nn, nn], [0.0, 3.0], fam="sparse")
        add(f"ratio-small-den-n{nn}", "ratio", [nn, nn], data)
    # ratio with control denominator sum 0
    data = [
        {"sum": 0.0, "sum_squares": 0.0, "den_sum": 0.0, "den_sum_squares": 0.0, "num_den_sum_product": 0.0},
        # 12 units with denominator 1 (six with numerator 3, six with 2), 388 units with 0 / 0
        {"sum": 30.0, "sum_squares": 78.0, "den_sum": 12.0, "den_sum_squares": 12.0, "num_den_sum_product": 30.0},
    ]
    add("ratio-control-den-zero", "ratio", [400, 400], data)

    # tiny arms: n = 1 and n = 2
    add("n1-treatment", "proportion", [2, 1], [prop(1), prop(1)])
    add("n1-control", "mean", [1, 50], [mean_sums(4.0, 16.0), mean_sums(110.0, 400.0)])
    add("n2-arms", "mean", [2, 2], [mean_sums(3.0, 5.0), mean_sums(7.0, 25.0)])
    # n = 0 treatment arm (bayesian: NO_UNITS_IN_VARIATION)
    add("n0-treatment", "proportion", [1000, 0], [prop(100), prop(0)])

    # multi-arm mixing an error arm, an identical arm and a regular arm
    add("mixed-4arm", "proportion", [20000, 20000, 20000, 20000], [prop(600), prop(20000), prop(600), prop(690)],
        weights=[0.25, 0.25, 0.25, 0.25])
    # gross SRM mismatch
    add("srm-gross", "proportion", [10_000_000, 9_000_000], [prop(210_000), prop(190_500)])
    add("srm-gross", "mean", [1_000_000, 2_000_000, 3_000_000],
        [mean_sums(*sums_1d_from_moments(rng, n, 20.0, 30.0)) for n in (1_000_000, 2_000_000, 3_000_000)],
        weights=[0.5, 0.25, 0.25], methods=["frequentist"], diffs=["relative"])

    cases = []
    counters = {}
    for tag, kind_key, ns, data, weights, methods, diffs, direction in scen:
        for method in methods:
            for diff in diffs:
                alpha = 0.05
                req = make_request(kind_key, method, diff, data, ns, weights, alpha, 5000, direction)
                base = f"degen-{tag}-{METHOD_SHORT[method]}-{DIFF_SHORT[diff]}-{kind_key}"
                counters[base] = counters.get(base, 0) + 1
                cases.append({"id": f"{base}-{counters[base]:03d}", "input": req,
                              "category": ("degenerate", kind_key, method, diff)})
    return cases


# ---------------------------------------------------------------------------
# stats.json
# ---------------------------------------------------------------------------
def build_stats(rng):
    cases = regular_cases(rng) + one_sided_cases(rng) + degenerate_cases(rng)
    ids = set()
    out = []
    summary = {}
    reasons = {}
    CHECKS["scipy_ttest"] = CHECKS["srm_chisquare"] = 0  # count only the final pass
    for c in cases:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
        c["expected"] = compute_expected(c["input"])
        cat = c.pop("category")
        summary[cat] = summary.get(cat, 0) + 1
        for row in c["expected"]["variants"][1:]:
            if row["reason"]:
                reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        out.append(c)
    doc = {"generator": GENERATOR, "versions": VERSIONS, "cases": out}
    return doc, summary, reasons


# ---------------------------------------------------------------------------
# quantile.json: gbstats' QuantileStatistic and QuantileClusteredStatistic
# ---------------------------------------------------------------------------
QUANTILE_LEVELS = [0.5, 0.9, 0.95, 0.99]
Z95 = float(scipy.stats.norm.ppf(0.975))


def quantile_arm(rng, units, events_per_unit, level, shift, clustered, n_star_ratio=1.0):
    """One arm's quantile fields from simulated data: log-normal values (a latency) with a
    per-unit random effect, the sample quantile, and the order statistics at ranks
    n*level -+ 1.96 sqrt(n level (1 - level)) as bounds, as a warehouse query computes them."""
    counts = rng.poisson(events_per_unit - 1, size=units) + 1 if clustered else np.ones(units, dtype=int)
    unit_effect = rng.normal(0.0, 0.4, size=units)
    values = np.exp(4.0 + shift + np.repeat(unit_effect, counts) + rng.normal(0.0, 0.6, size=int(counts.sum())))
    n = int(values.size)
    ordered = np.sort(values)
    spread = Z95 * math.sqrt(n * level * (1 - level))
    rank = lambda r: ordered[int(min(max(math.ceil(r) - 1, 0), n - 1))]
    hat = float(np.quantile(values, level, method="inverted_cdf"))
    arm = {
        "n": n,
        "n_star": max(1, int(round(n * n_star_ratio))),
        "quantile_hat": hat,
        "quantile_lower": float(rank(n * level - spread)),
        "quantile_upper": float(rank(n * level + spread)),
    }
    if clustered:
        owner = np.repeat(np.arange(units), counts)
        below = np.bincount(owner, weights=(values <= hat).astype(float), minlength=units)
        den = counts.astype(float)
        arm.update({
            "main_sum": float(below.sum()),
            "main_sum_squares": float((below * below).sum()),
            "denominator_sum": float(den.sum()),
            "denominator_sum_squares": float((den * den).sum()),
            "main_denominator_sum_product": float((below * den).sum()),
            "n_clusters": int(units),
        })
    return arm


def quantile_request(method, diff, level, arms_data, weights, alpha=0.05, tuning=5000,
                     direction="decrease", alternative="two-sided"):
    req = request_head({"kind": "quantile", "quantile": level, "cuped": False, "direction": direction},
                       method, diff, weights, alpha, tuning, alternative)
    names = variant_names(len(arms_data))
    req["variants"] = [dict({"name": name}, **arm) for name, arm in zip(names, arms_data)]
    return req


def build_quantile(rng):
    """Regular cases over every method, difference, level and form (per-unit values, or
    events clustered in units), one-sided ones, and the degenerate shapes gbstats refuses:
    too few values for the level, bounds of zero width in a small sample; and the variance
    floor of 1e-5 from 100 values on."""
    cases = []
    for method in METHODS:
        for diff in DIFFS:
            for i, level in enumerate(QUANTILE_LEVELS * 2):
                clustered = i % 2 == 1
                arms = 2 + (i % 3 == 2)
                weights = WEIGHTS[arms][0]
                units = int(loguniform(rng, 1000 if level >= 0.99 else 300, 40_000))
                per_unit = float(rng.uniform(1.5, 6.0)) if clustered else 1.0
                shifts = [0.0] + [float(rng.normal(0.0, 0.05)) for _ in range(arms - 1)]
                ratio = 1.0 if i % 4 else float(rng.uniform(0.8, 1.0))
                data = [quantile_arm(rng, units, per_unit, level, shift, clustered, ratio) for shift in shifts]
                req = quantile_request(method, diff, level, data, weights,
                                       alpha=ALPHAS[i % 4], tuning=TUNINGS[i % 4])
                form = "clustered" if clustered else "units"
                cid = f"{METHOD_SHORT[method]}-{DIFF_SHORT[diff]}-quantile-{form}-p{int(level * 100)}-{arms}arm-{i:03d}"
                cases.append({"id": cid, "input": req})
    for alternative in ("greater", "less"):
        for i, level in enumerate([0.5, 0.95]):
            data = [quantile_arm(rng, 5000, 3.0, level, shift, True) for shift in (0.0, 0.08)]
            req = quantile_request("frequentist", "relative", level, data, [0.5, 0.5], alternative=alternative)
            cases.append({"id": f"freq-rel-quantile-{alternative}-p{int(level * 100)}-{i:03d}", "input": req})
    # Degenerate and edge shapes, every method.
    for method in METHODS:
        small = [quantile_arm(rng, 20, 1.0, 0.99, 0.0, False), quantile_arm(rng, 20, 1.0, 0.99, 0.1, False)]
        cases.append({"id": f"{METHOD_SHORT[method]}-quantile-too-few-for-p99",
                      "input": quantile_request(method, "relative", 0.99, small, [0.5, 0.5])})
        flat = {"n": 500, "n_star": 500, "quantile_hat": 40.0, "quantile_lower": 40.0, "quantile_upper": 40.0}
        moving = quantile_arm(rng, 500, 1.0, 0.5, 0.05, False)
        cases.append({"id": f"{METHOD_SHORT[method]}-quantile-zero-width-small",
                      "input": quantile_request(method, "absolute", 0.5, [flat, moving], [0.5, 0.5])})
        flat_large = dict(flat, n=5000, n_star=5000)
        moving_large = quantile_arm(rng, 5000, 1.0, 0.5, 0.05, False)
        cases.append({"id": f"{METHOD_SHORT[method]}-quantile-zero-width-floored",
                      "input": quantile_request(method, "absolute", 0.5, [flat_large, moving_large], [0.5, 0.5])})
        narrow = [quantile_arm(rng, 400, 1.0, 0.5, shift, False) for shift in (0.0, 0.02)]
        for arm in narrow:
            arm["quantile_lower"] = arm["quantile_hat"] - 1e-6
            arm["quantile_upper"] = arm["quantile_hat"] + 1e-6
        cases.append({"id": f"{METHOD_SHORT[method]}-quantile-variance-floor",
                      "input": quantile_request(method, "relative", 0.5, narrow, [0.5, 0.5])})
    reasons = {}
    for c in cases:
        c["expected"] = compute_expected(c["input"])
        for row in c["expected"]["variants"][1:]:
            if row["reason"]:
                reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    return {"generator": GENERATOR, "versions": VERSIONS, "cases": cases}, reasons


# ---------------------------------------------------------------------------
# power.json
# ---------------------------------------------------------------------------
def power_k(alpha, power):
    return (scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)) ** 2


def power_forward(kind, baseline, sd, mde, relative, alpha, power, arms, daily):
    delta = baseline * mde if relative else mde
    if kind == "proportion":
        q = baseline + delta
        assert 0 < q < 1
        var = baseline * (1 - baseline) + q * (1 - q)
    else:
        var = 2 * sd * sd
    raw = power_k(alpha, power) * var / (delta * delta)
    return raw


def build_power(rng):
    cases = []
    combos = [(a, p) for p in (0.8, 0.9, 0.95) for a in ALPHAS]
    i = 0
    # forward: sample size from mde
    for kind in ("proportion", "mean"):
        for relative in (True, False):
            for j in range(12):
                alpha, power = combos[i % len(combos)]
                arms = [2, 3, 4][j % 3]
                daily = None if j % 4 == 0 else int(rng.choice([500, 2000, 10000, 123457]))
                while True:
                    if kind == "proportion":
                        baseline = float(rng.choice([0.001, 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 0.8]))
                        sd = None
                        if relative:
                            mde = float(rng.choice([0.01, 0.02, 0.05, 0.1, 0.2, 0.5]))
                        else:
                            mde = float(rng.choice([0.0005, 0.001, 0.005, 0.01, 0.02, 0.05]))
                        delta = baseline * mde if relative else mde
                        if not (0 < baseline + delta < 1):
                            continue
                    else:
                        baseline = float(rng.choice([1.5, 10.0, 42.0, 100.0, 2500.0]))
                        sd = float(baseline * rng.choice([0.1, 0.5, 1.0, 2.0, 3.7]))
                        mde = float(rng.choice([0.01, 0.02, 0.05, 0.1])) if relative else float(
                            baseline * rng.choice([0.005, 0.02, 0.05, 0.1]))
                    raw = power_forward(kind, baseline, sd, mde, relative, alpha, power, arms, daily)
                    # avoid values within 1e-6 of an integer (ceil would be fragile)
                    if abs(raw - round(raw)) < 1e-6:
                        continue
                    per_arm = int(math.ceil(raw))
                    total = per_arm * arms
                    days = None if daily is None else -(-total // daily)
                    break
                args = {"kind": kind, "baseline": baseline}
                if kind == "mean":
                    args["sd"] = sd
                args.update({"mde": mde, "relative": relative, "alpha": alpha, "power": power,
                             "arms": arms, "daily_units": daily})
                cases.append({"id": f"power-{kind}-{'rel' if relative else 'abs'}-{arms}arm-{j:03d}",
                              "args": args, "expected": {"per_arm": per_arm, "total": total, "days": days}})
                i += 1
    # inverse: mde from per-arm n
    for kind in ("proportion", "mean"):
        for j in range(14):
            alpha, power = combos[i % len(combos)]
            i += 1
            arms = [2, 3, 4][j % 3]
            relative = j % 2 == 0
            while True:
                if kind == "proportion":
                    baseline = float(rng.choice([0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9]))
                    sd = None
                else:
                    baseline = float(rng.choice([2.0, 10.0, 50.0, 1000.0]))
                    sd = float(baseline * rng.choice([0.2, 1.0, 2.5]))
                per_arm = int(round(10 ** rng.uniform(2, 7)))
                k = power_k(alpha, power)
                if kind == "proportion":
                    p = baseline

                    def f(dl):
                        q = p + dl
                        return k * (p * (1 - p) + q * (1 - q)) - per_arm * dl * dl

                    hi = 1 - p
                    if f(hi) >= 0:
                        continue
                    # closed form of the quadratic (n + k) d^2 - k (1 - 2p) d - 2 k p (1 - p) = 0
                    aa, bb, cc = per_arm + k, -k * (1 - 2 * p), -2 * k * p * (1 - p)
                    closed = (-bb + math.sqrt(bb * bb - 4 * aa * cc)) / (2 * aa)
                else:

                    def f(dl):
                        return k * 2 * sd * sd - per_arm * dl * dl

                    closed = math.sqrt(2 * k / per_arm) * sd
                    hi = 10 * closed + 1
                root = scipy.optimize.brentq(f, 1e-300, hi, xtol=1e-15, rtol=1e-15, maxiter=1000)
                assert rel_close(root, closed, 1e-11), (root, closed)
                break
            args = {"kind": kind, "baseline": baseline}
            if kind == "mean":
                args["sd"] = sd
            args.update({"per_arm": per_arm, "relative": relative, "alpha": alpha, "power": power,
                         "arms": arms, "daily_units": None})
            cases.append({"id": f"mde-{kind}-{arms}arm-{j:03d}", "args": args,
                          "expected": {"mde": float(root), "mde_relative": float(root / baseline)}})
    return {"generator": GENERATOR, "versions": VERSIONS, "cases": cases}


# ---------------------------------------------------------------------------
# adjust.json
# ---------------------------------------------------------------------------
def build_adjust(rng):
    vectors = []
    vectors.append(("single", [0.03]))
    vectors.append(("single-one", [1.0]))
    vectors.append(("single-tiny", [1e-300]))
    vectors.append(("two-equal", [0.04, 0.04]))
    vectors.append(("all-ones", [1.0, 1.0, 1.0, 1.0]))
    vectors.append(("all-tied", [0.02] * 7))
    vectors.append(("near-zero", [1e-12, 3e-15, 2.2e-16, 1e-9, 0.5]))
    vectors.append(("exact-zero", [0.0, 0.01, 0.2]))
    vectors.append(("near-one", [0.999999, 0.9999999999, 0.98, 1.0, 0.97]))
    vectors.append(("descending", [0.9, 0.5, 0.2, 0.05, 0.01, 0.001]))
    vectors.append(("ascending", [0.001, 0.01, 0.05, 0.2, 0.5, 0.9]))
    vectors.append(("classic-bh", [0.01, 0.04, 0.03, 0.005, 0.2, 0.6, 0.045, 0.15]))
    vectors.append(("ties-with-one", [0.05, 0.05, 1.0, 0.01, 0.01, 1.0]))
    vectors.append(("max30-ones-and-small", [1.0] * 25 + [1e-4, 2e-4, 3e-4, 1e-4, 0.049]))
    for i in range(30):
        m = int(rng.integers(1, 31))
        u = rng.random()
        if u < 0.3:
            p = rng.random(m)
        elif u < 0.55:  # mostly small p-values
            p = 10 ** rng.uniform(-12, -0.5, m)
        elif u < 0.8:  # ties via rounding
            p = np.round(rng.random(m), 2)
        else:  # mix of signals, nulls and exact ones
            p = np.where(rng.random(m) < 0.3, 10 ** rng.uniform(-8, -2, m), rng.random(m))
            p = np.where(rng.random(m) < 0.15, 1.0, p)
        vectors.append((f"random-{m}-{i:03d}", [float(x) for x in p]))
    cases = []
    for name, p in vectors:
        assert 1 <= len(p) <= 30
        holm = multipletests(p, method="holm")[1]
        bh = multipletests(p, method="fdr_bh")[1]
        cases.append({"id": f"adjust-{name}", "p_values": p, "holm": [float(x) for x in holm],
                      "bh": [float(x) for x in bh]})
    return {"generator": GENERATOR, "versions": VERSIONS, "cases": cases}


# ---------------------------------------------------------------------------
# srm.json
# ---------------------------------------------------------------------------
def build_srm(rng):
    items = []
    items.append(("perfect-2arm", [500, 500], [0.5, 0.5]))
    items.append(("perfect-3arm-thirds", [100, 100, 100], [1 / 3, 1 / 3, 1 / 3]))
    items.append(("perfect-unequal", [250, 250, 500], [0.25, 0.25, 0.5]))
    items.append(("perfect-unnormalized-weights", [20, 80], [1, 4]))
    items.append(("perfect-6arm-1e8", [16_666_667] * 6, [1 / 6] * 6))
    items.append(("tiny-total", [3, 7], [0.5, 0.5]))
    items.append(("gross-mismatch-2arm", [60_000_000, 40_000_000], [0.5, 0.5]))
    items.append(("gross-mismatch-4arm", [1000, 10, 10, 10], [0.25, 0.25, 0.25, 0.25]))
    items.append(("gross-mismatch-small", [10, 0], [0.5, 0.5]))
    items.append(("zero-arm", [5000, 0, 4800], [1 / 3, 1 / 3, 1 / 3]))
    weight_sets = {
        2: [[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]],
        3: [[1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.5], [0.6, 0.2, 0.2]],
        4: [[0.25] * 4, [0.1, 0.2, 0.3, 0.4]],
        5: [[0.2] * 5, [0.3, 0.1, 0.2, 0.2, 0.2]],
        6: [[1 / 6] * 6, [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]],
    }
    for i in range(40):
        arms = 2 + i % 5
        ws = weight_sets[arms]
        w = np.asarray(ws[int(rng.integers(len(ws)))], dtype=float)
        total = int(round(10 ** (1 + 7 * (i + rng.random()) / 40)))
        mode = ["match", "match", "slight", "gross"][i % 4]
        wp = w / w.sum()
        if mode == "slight":
            wp = wp * (1 + rng.uniform(-0.02, 0.02, arms))
        elif mode == "gross":  # chi-square statistic of roughly 10..200
            wp = wp * (1 + min(0.3, rng.uniform(3, 15) / math.sqrt(total * wp.min())) * rng.choice([-1, 1], arms))
        wp = wp / wp.sum()
        counts = [int(x) for x in rng.multinomial(total, wp)]
        items.append((f"{mode}-{arms}arm-n{total}-{i:03d}", counts, [float(x) for x in w]))
    cases = []
    for name, counts, weights in items:
        w = np.asarray(weights, dtype=float)
        total = sum(counts)
        exp = w / w.sum() * total
        p = float(scipy.stats.chisquare(np.asarray(counts, dtype=float), exp).pvalue)
        assert abs(p - float(check_srm(counts, weights))) <= 1e-9
        cases.append({"id": f"srm-{name}", "counts": counts, "weights": [float(x) for x in weights],
                      "p_value": fnum(p)})
    return {"generator": GENERATOR, "versions": VERSIONS, "cases": cases}


# ---------------------------------------------------------------------------
# bench/stats_inputs.json
# ---------------------------------------------------------------------------
def build_bench_inputs():
    rng = np.random.default_rng(SEED + 99)
    inputs = []
    bench_kinds = [("proportion", "proportion"), ("mean", "mean"), ("ratio", "ratio"), ("mean_cuped", "mean-cuped")]
    data_by_kind = {}
    for label, kind_key in bench_kinds:
        ns = [100_000, 100_000 + int(rng.integers(-300, 300))]
        data, _ = generate_data(rng, kind_key, ns, [0.0, 2.0])
        data_by_kind[label] = (ns, data, kind_key)
    for method in METHODS:
        for label, _ in bench_kinds:
            ns, data, kind_key = data_by_kind[label]
            req = make_request(kind_key, method, "relative", data, ns, [0.5, 0.5], 0.05, 5000)
            compute_expected(req)  # sanity: must not raise / error
            inputs.append({"id": f"{method}-{label}", "request": req})
    return {"generator": GENERATOR, "versions": VERSIONS, "inputs": inputs}


# ---------------------------------------------------------------------------
def write_json(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(doc, fh, allow_nan=False, indent=1)
        fh.write("\n")


def main():
    np.seterr(all="ignore")  # gbstats's sequential e-value may overflow to inf (p -> 0)
    rng = np.random.default_rng(SEED)
    stats_doc, summary, reasons = build_stats(rng)
    power_doc = build_power(np.random.default_rng(SEED + 1))
    adjust_doc = build_adjust(np.random.default_rng(SEED + 2))
    srm_doc = build_srm(np.random.default_rng(SEED + 3))
    bench_doc = build_bench_inputs()
    quantile_doc, quantile_reasons = build_quantile(np.random.default_rng(SEED + 4))

    write_json(GOLDEN / "stats.json", stats_doc)
    write_json(GOLDEN / "power.json", power_doc)
    write_json(GOLDEN / "adjust.json", adjust_doc)
    write_json(GOLDEN / "srm.json", srm_doc)
    write_json(GOLDEN / "quantile.json", quantile_doc)
    write_json(BENCH / "stats_inputs.json", bench_doc)

    print(f"stats.json : {len(stats_doc['cases'])} cases")
    for key in sorted(summary):
        print(f"   {'/'.join(key):45s} {summary[key]}")
    print(f"   treatment rows with a reason: {reasons}")
    print(f"   scipy Welch cross-checks: {CHECKS['scipy_ttest']}, SRM chisquare cross-checks: {CHECKS['srm_chisquare']}")
    print(f"quantile.json: {len(quantile_doc['cases'])} cases; treatment rows with a reason: {quantile_reasons}")
    print(f"power.json : {len(power_doc['cases'])} cases")
    print(f"adjust.json: {len(adjust_doc['cases'])} cases")
    print(f"srm.json   : {len(srm_doc['cases'])} cases")
    print(f"bench/stats_inputs.json: {len(bench_doc['inputs'])} inputs")


if __name__ == "__main__":
    main()
