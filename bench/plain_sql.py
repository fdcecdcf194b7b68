"""The plain pipeline's SQL: one query per metric, per-variant sums of per-unit values.

Shared by `analysis_plain.py` (DuckDB) and `analysis_plain_spark.py` (Spark through Spark
Connect): the same text runs on both engines (DuckDB 1.2 and Spark 4.3 both read `::DOUBLE`,
`INTERVAL n HOUR` and `TIMESTAMP '...'`). Same semantics as rctgate (SPEC §7). No imports, so
either script's environment can load it.
"""

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
