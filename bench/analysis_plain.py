"""The plain analysis pipeline, the peer of `Store::analyze` in BENCHMARKS.md ("Analysis").

What a team would write without rctgate: one DuckDB query per metric (first exposure per
unit, that metric's events in the unit's window, per-unit values, per-variant sums), then
gbstats on the sums. Same semantics as rctgate (SPEC §7), so the effects must also agree;
the script prints them for `run-analysis-bench.sh` to compare.

    python3 bench/analysis_plain.py DIR [RUNS]
    python3 bench/analysis_plain_spark.py URL DIR | python3 bench/analysis_plain.py --sums

DIR holds `exposures.parquet` and `metric_events.parquet` (`analysis_bench export`); they are
loaded, untimed, into DIR/plain.duckdb, a native DuckDB file like the store's, and the
queries run there. (The Python package cannot open the store's own file: the bundled engine
of the Rust crate writes a development storage version.) Needs `duckdb==1.2.0` (the engine
version the store is built with) and `gbstats==0.8.0`.

With `--sums` it reads the per-metric sums that `analysis_plain_spark.py` wrote (the same
queries run on Spark) and prints gbstats' effects: the Spark pipeline is two processes because
gbstats 0.8.0 pins pandas < 2 and PySpark's Connect client needs pandas >= 2.2.
"""

import json
import sys
import time

import duckdb
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

from plain_sql import METRICS, metric_sql

def statistic(kind, cuped, denominator, row):
    n = int(row[1])
    if denominator:
        return RatioStatistic(
            n=n,
            m_statistic=SampleMeanStatistic(n=n, sum=row[2], sum_squares=row[3]),
            d_statistic=SampleMeanStatistic(n=n, sum=row[4], sum_squares=row[5]),
            m_d_sum_of_products=row[6],
        )
    if kind == "proportion":
        post = ProportionStatistic(n=n, sum=row[2])
    else:
        post = SampleMeanStatistic(n=n, sum=row[2], sum_squares=row[3])
    if not cuped:
        return post
    if kind == "proportion":
        pre = ProportionStatistic(n=n, sum=row[4])
    else:
        pre = SampleMeanStatistic(n=n, sum=row[4], sum_squares=row[5])
    return RegressionAdjustedStatistic(
        n=n, post_statistic=post, pre_statistic=pre, post_pre_sum_of_products=row[6], theta=0
    )


def effects(sums):
    """gbstats' sequential test of each metric, from `sums`: name -> variant -> the row of
    `metric_sql` (variant, n, sums...)."""
    results = []
    for name, kind, _event, denominator, _hours, cuped in METRICS:
        rows = sums[name]
        control = statistic(kind, cuped, denominator, rows["control"])
        treatment = statistic(kind, cuped, denominator, rows["treatment"])
        config = SequentialConfig(alpha=0.05, difference_type="relative", sequential_tuning_parameter=5000)
        result = SequentialTwoSidedTTest(control, treatment, config).compute_result()
        results.append(
            {
                "name": name,
                "n": [int(rows["control"][1]), int(rows["treatment"][1])],
                "effect": result.expected,
                "ci_low": result.ci[0],
                "ci_high": result.ci[1],
                "p_value": result.p_value,
            }
        )
    return results


def analyse(conn):
    sums = {}
    for name, kind, event, denominator, hours, cuped in METRICS:
        rows = conn.execute(metric_sql(kind, event, denominator, hours, cuped)).fetchall()
        sums[name] = {row[0]: row for row in rows}
    return effects(sums)


def main():
    if sys.argv[1] == "--sums":
        # The second half of the Spark pipeline (analysis_plain_spark.py): its sums, read
        # from stdin, through gbstats.
        sums = json.load(sys.stdin)["sums"]
        print(json.dumps({"metrics": effects(sums)}))
        return
    directory = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    conn = duckdb.connect(f"{directory}/plain.duckdb")
    for table in ("exposures", "metric_events"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{directory}/{table}.parquet')")
    conn.execute("CHECKPOINT")
    seconds = []
    results = None
    for _ in range(runs):
        started = time.perf_counter()
        results = analyse(conn)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "median_seconds": seconds[len(seconds) // 2],
                "duckdb": duckdb.__version__,
                "metrics": results,
            }
        )
    )


if __name__ == "__main__":
    main()
