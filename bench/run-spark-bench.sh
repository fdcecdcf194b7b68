#!/usr/bin/env bash
# The analysis on Spark, in one run (BENCHMARKS.md, "Analysis on Spark"):
#
#   RCTGATE_SPARK_URL=sc://127.0.0.1:15002 SPARK_PYTHON=<venv>/bin/python \
#   GBSTATS_PYTHON=<venv>/bin/python bash bench/run-spark-bench.sh
#
# 1. builds everything (the one build that never rebuilds DuckDB's C++), prints the machine
#    and the Spark server's version;
# 2. `analysis_bench generate`: UNITS units (default 1,000,000) of the two-arm trial of the
#    DuckDB analysis bench (five metrics, about 21 events per unit), then `rctgate export
#    --format parquet`: the lake Spark reads;
# 3. RUNS rounds (default 3), in turn:
#    - the plain pipeline on Spark: `bench/analysis_plain_spark.py` (one Spark SQL query per
#      metric over the exported files, the sums collected) piped into `bench/analysis_plain.py
#      --sums` (gbstats 0.8.0), two whole processes;
#    - `rctgate analyze KEY --db FILE --engine spark --format json` (the scorecard with the
#      daily series and novelty), and `--format table` (metrics only: no series), each a
#      whole process reading the same files through the same server;
#    - `rctgate analyze KEY --db FILE --format json` on the embedded DuckDB;
# 4. prints the medians, the ratios, and checks that rctgate on Spark and the plain pipeline
#    agree on every metric's effect, interval and p-value at 1e-6.
#
# Needs a Spark Connect server (start one as `.ci/run` does, with `local[2]`), SPARK_PYTHON
# with pyspark[connect] 4.3.0 (tests/spark/requirements.txt) and GBSTATS_PYTHON with
# gbstats==0.8.0 (which pins pandas < 2: two environments). Environment: UNITS, RUNS,
# BENCH_DIR (default: a new temp dir, removed unless KEEP=1), CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
UNITS="${UNITS:-1000000}"
RUNS="${RUNS:-3}"
KEEP="${KEEP:-0}"
: "${RCTGATE_SPARK_URL:?set RCTGATE_SPARK_URL to a Spark Connect server (sc://host:port)}"
: "${SPARK_PYTHON:?set SPARK_PYTHON to a python with pyspark[connect]==4.3.0}"
: "${GBSTATS_PYTHON:?set GBSTATS_PYTHON to a python with gbstats==0.8.0}"
if [[ -n "${BENCH_DIR:-}" ]]; then
    WORK="$BENCH_DIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/rctgate-spark-bench.XXXXXX")"
fi
cleanup() { [[ "$KEEP" == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== cargo build --release --workspace --all-targets" >&2
cargo build --release --workspace --all-targets >&2
BENCH="$CARGO_TARGET_DIR/release/examples/analysis_bench"
RCTGATE="$CARGO_TARGET_DIR/release/rctgate"

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc: $(nproc); CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel: $(uname -sr)"
"$SPARK_PYTHON" - "$RCTGATE_SPARK_URL" <<'EOF' 2>/dev/null
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
conf = {key: spark.conf.get(key, None) for key in ("spark.master", "spark.driver.memory", "spark.sql.shuffle.partitions")}
print(f"spark {spark.version} at {sys.argv[1]}: {conf}")
EOF

DB="$WORK/bench.duckdb"
if [[ ! -f "$DB" ]]; then
    echo "== generate $UNITS units"
    "$BENCH" generate "$DB" "$UNITS"
fi
LAKE="$WORK/lake"
if [[ ! -f "$LAKE/metric_events.parquet" ]]; then
    echo "== rctgate export --format parquet"
    rm -rf "$LAKE"
    "$RCTGATE" export "$LAKE" --format parquet --db "$DB" >/dev/null
fi
ls -l "$LAKE/exposures.parquet" "$LAKE/metric_events.parquet"

ON_SPARK=(--engine spark --spark-url "$RCTGATE_SPARK_URL"
    --spark-exposures "parquet.\`$LAKE/exposures.parquet\`"
    --spark-metric-events "parquet.\`$LAKE/metric_events.parquet\`")
plain() {
    "$SPARK_PYTHON" bench/analysis_plain_spark.py "$RCTGATE_SPARK_URL" "$LAKE" 2>/dev/null |
        "$GBSTATS_PYTHON" bench/analysis_plain.py --sums
}
# timed LABEL COMMAND...: one whole run; appends "LABEL SECONDS" to times.txt, keeps stdout.
timed() {
    local label="$1" started ended
    shift
    started="$(date +%s.%N)"
    "$@" >"$WORK/$label.out"
    ended="$(date +%s.%N)"
    echo "$label $(echo "$ended - $started" | bc)" >>"$WORK/times.txt"
}
: >"$WORK/times.txt"
echo "== warm-up: one plain pipeline, untimed (the server's first queries compile its code)"
plain >/dev/null
for round in $(seq 1 "$RUNS"); do
    echo "== round $round of $RUNS"
    # Alternating which goes first.
    if ((round % 2)); then
        timed plain_pipeline plain
        timed rctgate_spark_series "$RCTGATE" analyze ranker-bench --db "$DB" --format json "${ON_SPARK[@]}"
    else
        timed rctgate_spark_series "$RCTGATE" analyze ranker-bench --db "$DB" --format json "${ON_SPARK[@]}"
        timed plain_pipeline plain
    fi
    timed rctgate_spark_metrics_only "$RCTGATE" analyze ranker-bench --db "$DB" --format table "${ON_SPARK[@]}"
    timed rctgate_duckdb_series "$RCTGATE" analyze ranker-bench --db "$DB" --format json
done

python3 - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
runs = {}
for line in open(f"{work}/times.txt"):
    label, seconds = line.split()
    runs.setdefault(label, []).append(float(seconds))
median = {label: sorted(times)[len(times) // 2] for label, times in runs.items()}
plain = median["plain_pipeline"]
print()
for label, times in runs.items():
    print(f"{label:28} median {median[label]:7.2f} s  ratio to the plain pipeline {median[label] / plain:.3f}x"
          f"  (runs: {', '.join(f'{t:.2f}' for t in times)})")
print(f"rctgate on Spark against rctgate on DuckDB: "
      f"{median['rctgate_spark_series'] / median['rctgate_duckdb_series']:.1f}x")
ours = json.load(open(f"{work}/rctgate_spark_series.out"))
theirs = json.load(open(f"{work}/plain_pipeline.out"))
worst = 0.0
for metric in theirs["metrics"]:
    mine = next(
        arm for m in ours["metrics"] if m["name"] == metric["name"] for arm in m["variants"] if arm["name"] == "treatment"
    )
    for field in ("effect", "ci_low", "ci_high", "p_value"):
        a, b = mine[field], metric[field]
        error = abs(a - b) if field == "p_value" and b < 1e-12 else abs(a - b) / max(abs(b), 1e-300)
        worst = max(worst, error)
        if error > 1e-6:
            sys.exit(f"{metric['name']} {field}: rctgate on Spark {a} vs the plain pipeline {b}")
print(f"agreement: every effect, interval and p-value within {worst:.1e} relative of the plain pipeline")
EOF
