"""The plain analysis pipeline, the peer of `Store::analyze` in BENCHMARKS.md ("Analysis").

What a team would write without rctgate: one DuckDB query per metric (first exposure per
unit, that metric's events in the unit's window, per-unit values, per-variant sums), then
gbstats on the sums. Same semantics as rctgate (SPEC §7), so the effects must also agree;
the script prints them for `run-analysis-bench.sh` to compare.

    python3 bench/analysis_plain.py DIR [RUNS]

DIR holds `exposures.parquet` and `metric_events.parquet` (`analysis_bench export`); they are
loaded, untimed, into DIR/plain.duckdb, a native DuckDB file like the store's, and the
queries run there. (The Python package cannot open the store's own file: the bundled engine
of the Rust crate writes a development storage version.) Needs `duckdb==1.2.0` (the engine
version the store is built with) and `gbstats==0.8.0`.
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

EXPERIMENT = "ranker-bench"
START = "2026-10-01 00:00:00"
END = "2026-10-16 00:00:00"

# (name, kind, event, denominator, window hours, cuped days)
METRICS = [
    ("bookings", "proportion", "booking", None, 168, 14),
    ("revenue", "mean", "revenue", None, 168, 14),
    ("revenue_per_session", "ratio", "revenue", "session", 168, None),
    ("clicks", "count", "click", None, 72, None),
    ("cancellations", "proportion", "cancel", None, 168, None),
]

UNITS = f"""
WITH first AS (
    SELECT unit, min(variant) AS variant, count(DISTINCT variant) AS arms, min(ts) AS t0
    FROM exposures
    WHERE experiment = '{EXPERIMENT}' AND ts >= TIMESTAMP '{START}' AND ts < TIMESTAMP '{END}'
    GROUP BY unit
),
units AS (SELECT unit, variant, t0 FROM first WHERE arms = 1)
"""


def value(kind, condition):
    if kind == "proportion":
        return f"max(CASE WHEN {condition} THEN 1 ELSE 0 END)::DOUBLE"
    if kind == "count":
        return f"count(CASE WHEN {condition} THEN 1 END)::DOUBLE"
    return f"coalesce(sum(CASE WHEN {condition} THEN e.value END), 0)::DOUBLE"


def metric_sql(kind, event, denominator, hours, cuped):
    post = f"e.event = '{event}' AND e.ts >= u.t0 AND e.ts < u.t0 + INTERVAL {hours} HOUR"
    columns = [f"{value(kind, post)} AS y"]
    sums = ["sum(y)", "sum(y * y)"]
    events = [event]
    low = "u.t0"
    if denominator:
        den = f"e.event = '{denominator}' AND e.ts >= u.t0 AND e.ts < u.t0 + INTERVAL {hours} HOUR"
        columns.append(f"{value('mean', den)} AS d")
        sums += ["sum(d)", "sum(d * d)", "sum(y * d)"]
        events.append(denominator)
    if cuped:
        pre = f"e.event = '{event}' AND e.ts >= u.t0 - INTERVAL {cuped} DAY AND e.ts < u.t0"
        columns.append(f"{value(kind, pre)} AS x")
        sums += ["sum(x)", "sum(x * x)", "sum(y * x)"]
        low = f"u.t0 - INTERVAL {cuped} DAY"
    names = ", ".join(f"'{name}'" for name in events)
    return f"""{UNITS},
per_unit AS (
    SELECT u.unit, u.variant, {", ".join(columns)}
    FROM units u LEFT JOIN metric_events e
      ON e.unit = u.unit AND e.event IN ({names}) AND e.ts >= {low} AND e.ts < u.t0 + INTERVAL {hours} HOUR
    GROUP BY u.unit, u.variant
)
SELECT variant, count(*) AS n, {", ".join(sums)} FROM per_unit GROUP BY variant ORDER BY variant
"""


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


def analyse(conn):
    results = []
    for name, kind, event, denominator, hours, cuped in METRICS:
        rows = {row[0]: row for row in conn.execute(metric_sql(kind, event, denominator, hours, cuped)).fetchall()}
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


def main():
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
