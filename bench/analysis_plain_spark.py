"""The plain analysis pipeline on Spark, the peer of `rctgate analyze --engine spark` in
BENCHMARKS.md ("Analysis on Spark").

What a team would write in PySpark without rctgate: the exported events read as two views,
one Spark SQL query per metric (first exposure per unit, that metric's events in the unit's
window, per-unit values, per-variant sums; `plain_sql.py`, the same text the DuckDB pipeline
runs), the sums collected. It prints them as JSON for `analysis_plain.py --sums`, which runs
gbstats on them in its own environment:

    python3 bench/analysis_plain_spark.py sc://127.0.0.1:15002 DIR \
        | python3 bench/analysis_plain.py --sums

DIR holds `exposures.parquet` and `metric_events.parquet` (`rctgate export DIR --format
parquet`). Needs `pyspark[connect]==4.3.0` (tests/spark/requirements.txt).
"""

import json
import sys

from pyspark.sql import SparkSession

from plain_sql import METRICS, metric_sql


def main():
    url, directory = sys.argv[1], sys.argv[2]
    spark = SparkSession.builder.remote(url).getOrCreate()
    # Literal times in the queries are UTC, as the events' are.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    for table in ("exposures", "metric_events"):
        spark.read.parquet(f"{directory}/{table}.parquet").createOrReplaceTempView(table)
    sums = {}
    for name, kind, event, denominator, hours, cuped in METRICS:
        rows = spark.sql(metric_sql(kind, event, denominator, hours, cuped)).collect()
        sums[name] = {row[0]: [row[0]] + [float(value) for value in row[1:]] for row in rows}
    spark.stop()
    json.dump({"sums": sums}, sys.stdout)


if __name__ == "__main__":
    main()
