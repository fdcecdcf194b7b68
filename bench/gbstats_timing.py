#!/usr/bin/env python3
"""Measure how many comparison results per second gbstats computes.

Baseline for rctgate's own stats benchmark.  For every input in
``bench/stats_inputs.json`` (one per method x kind, two arms, n ~ 100000,
relative difference) this times exactly the work of one comparison:

    build the gbstats statistic objects for control and treatment,
    build the test (TwoSidedTTest / OneSided... / SequentialTwoSidedTTest /
    EffectBayesianABTest with a flat prior; CUPED theta is computed in the
    test constructor), call ``compute_result()``, and call ``check_srm``.

Each input is timed with ``timeit`` for at least ``--seconds`` (default 1.0)
seconds of total run time.  The result is printed to stdout as JSON:

    {"gbstats_version": "0.8.0", "results_per_second": {"frequentist-proportion": 1234.5, ...}}

Usage (from the repository root):

    pip install gbstats==0.8.0
    python bench/gbstats_timing.py [--inputs bench/stats_inputs.json] [--seconds 1.0]
"""

import argparse
import importlib.metadata
import json
import sys
import timeit
import warnings
from pathlib import Path

import numpy as np

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
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
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

FREQ_TESTS = {
    "two-sided": TwoSidedTTest,
    "greater": OneSidedTreatmentGreaterTTest,
    "less": OneSidedTreatmentLesserTTest,
}


def statistic(kind, cuped, v):
    """gbstats statistic object for one arm of a `rctgate stats` request."""
    n = int(v["n"])
    if cuped:
        if kind == "proportion":
            post = ProportionStatistic(n=n, sum=v["sum"])
            pre = ProportionStatistic(n=n, sum=v["pre_sum"])
        else:
            post = SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"])
            pre = SampleMeanStatistic(n=n, sum=v["pre_sum"], sum_squares=v["pre_sum_squares"])
        return RegressionAdjustedStatistic(
            n=n, post_statistic=post, pre_statistic=pre,
            post_pre_sum_of_products=v["post_pre_sum_product"], theta=0,
        )
    if kind == "proportion":
        return ProportionStatistic(n=n, sum=v["sum"])
    if kind == "mean":
        return SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"])
    return RatioStatistic(
        n=n,
        m_statistic=SampleMeanStatistic(n=n, sum=v["sum"], sum_squares=v["sum_squares"]),
        d_statistic=SampleMeanStatistic(n=n, sum=v["den_sum"], sum_squares=v["den_sum_squares"]),
        m_d_sum_of_products=v["num_den_sum_product"],
    )


def comparison(req):
    """Return a zero-argument callable doing one full comparison for `req`."""
    kind, cuped = req["metric"]["kind"], req["metric"]["cuped"]
    control, treatment = req["variants"][0], req["variants"][1]
    counts = [int(v["n"]) for v in req["variants"]]
    weights = req["expected_weights"]
    method, diff, alpha = req["method"], req["difference"], req["alpha"]

    if method == "frequentist":
        cls = FREQ_TESTS[req.get("alternative", "two-sided")]

        def make_test(a, b):
            return cls(a, b, FrequentistConfig(alpha=alpha, difference_type=diff))

    elif method == "sequential":
        tuning = req.get("sequential_tuning", 5000)

        def make_test(a, b):
            cfg = SequentialConfig(alpha=alpha, difference_type=diff, sequential_tuning_parameter=tuning)
            return SequentialTwoSidedTTest(a, b, cfg)

    else:
        inverse = req["metric"].get("direction") == "decrease"

        def make_test(a, b):
            cfg = EffectBayesianConfig(alpha=alpha, difference_type=diff, inverse=inverse,
                                       prior_type=diff, prior_effect=GaussianPrior(proper=False))
            return EffectBayesianABTest(a, b, cfg)

    def run():
        a = statistic(kind, cuped, control)
        b = statistic(kind, cuped, treatment)
        result = make_test(a, b).compute_result()
        srm = check_srm(counts, weights)
        return result, srm

    return run


def results_per_second(fn, min_seconds):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # calibrate: a batch taking >= 0.2 s
    elapsed, done = 0.0, 0
    while elapsed < min_seconds:
        elapsed += timer.timeit(number)
        done += number
    return done / elapsed


def main():
    default_inputs = Path(__file__).resolve().parent / "stats_inputs.json"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", default=str(default_inputs))
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timed seconds per input")
    args = parser.parse_args()

    np.seterr(all="ignore")
    warnings.simplefilter("ignore")
    with open(args.inputs) as fh:
        inputs = json.load(fh)["inputs"]

    rates = {}
    for item in inputs:
        fn = comparison(item["request"])
        result, _ = fn()
        if getattr(result, "error_message", None):
            print(f"warning: {item['id']} returns {result.error_message}", file=sys.stderr)
        rates[item["id"]] = results_per_second(fn, args.seconds)

    out = {"gbstats_version": importlib.metadata.version("gbstats"), "results_per_second": rates}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
