#!/usr/bin/env bash
# The analysis, in one run, on one simulated trial (BENCHMARKS.md, "Analysis"):
#
#   bash bench/run-analysis-bench.sh
#
# 1. builds everything (the one build that never rebuilds DuckDB's C++), prints the machine;
# 2. `analysis_bench generate`: UNITS units (default 1,000,000) of a two-arm trial with five
#    metrics (a CUPED proportion, a CUPED mean, a ratio, a count, a guardrail proportion),
#    about 21 events per unit, through the store's real CSV import
#    (crates/store/examples/analysis_bench.rs, data from crates/simulate);
# 3. `analysis_bench run`: `Store::analyze` timed RUNS times (default 5), metrics only
#    (every metric, SRM, verdict) and again with the primary's daily cumulative series;
#    peak RSS of that process;
# 4. the peer, the plain pipeline (bench/analysis_plain.py): the same rows loaded (untimed)
#    into a native DuckDB file of the Python package, one query per metric, then gbstats
#    0.8.0; timed RUNS times in the same run;
# 5. prints the medians, the ratio, and checks that both pipelines agree on every metric's
#    effect, interval and p-value at 1e-6.
#
# Needs python3 with duckdb==1.2.0 and gbstats==0.8.0. Environment: UNITS, RUNS, BENCH_DIR
# (default: a new temp dir, removed unless KEEP=1), CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
UNITS="${UNITS:-1000000}"
RUNS="${RUNS:-5}"
KEEP="${KEEP:-0}"
if [[ -n "${BENCH_DIR:-}" ]]; then
    WORK="$BENCH_DIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/rctgate-analysis-bench.XXXXXX")"
fi
cleanup() { [[ "$KEEP" == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== cargo build --release --workspace --all-targets" >&2
cargo build --release --workspace --all-targets >&2
BENCH="$CARGO_TARGET_DIR/release/examples/analysis_bench"

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc: $(nproc); CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel: $(uname -sr)"
echo "uptime:$(uptime)"
python3 -c 'import duckdb, importlib.metadata as m; print("python duckdb", duckdb.__version__, "gbstats", m.version("gbstats"))'

DB="$WORK/bench.duckdb"
if [[ ! -f "$DB" ]]; then
    echo
    echo "== generate $UNITS units"
    "$BENCH" generate "$DB" "$UNITS"
fi

echo
echo "== rctgate: Store::analyze x $RUNS"
/usr/bin/time -v -o "$WORK/time.txt" "$BENCH" run "$DB" "$RUNS" >"$WORK/rctgate.json"
PEAK_KB="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"

echo "== plain pipeline: one DuckDB query per metric, then gbstats, x $RUNS"
"$BENCH" export "$DB" "$WORK"
python3 bench/analysis_plain.py "$WORK" "$RUNS" >"$WORK/plain.json"

python3 - "$WORK/rctgate.json" "$WORK/plain.json" "$PEAK_KB" <<'EOF'
import json, sys
ours, plain, peak_kb = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
print()
print(f"units: {ours['units']}")
print(f"rctgate, metrics only:      median {ours['median_seconds']:.2f} s  (runs: {', '.join(f'{s:.2f}' for s in ours['seconds'])})")
print(f"rctgate, with daily series: median {ours['with_series_median_seconds']:.2f} s  (runs: {', '.join(f'{s:.2f}' for s in ours['with_series_seconds'])})")
print(f"plain pipeline:             median {plain['median_seconds']:.2f} s  (runs: {', '.join(f'{s:.2f}' for s in plain['seconds'])})")
print(f"ratio metrics only / plain:       {ours['median_seconds'] / plain['median_seconds']:.3f}x (target <= 0.30x, and <= 3 s)")
print(f"ratio with series / plain:        {ours['with_series_median_seconds'] / plain['median_seconds']:.3f}x")
print(f"peak RSS of the rctgate process:  {peak_kb / 1024:.0f} MiB (target <= 4096)")
worst = 0.0
for theirs in plain["metrics"]:
    mine = next(m["treatment"] for m in ours["metrics"] if m["name"] == theirs["name"])
    for field in ("effect", "ci_low", "ci_high", "p_value"):
        a, b = mine[field], theirs[field]
        error = abs(a - b) / max(abs(b), 1e-300) if b != 0 else abs(a)
        if b < 1e-12 and field == "p_value":
            error = abs(a - b)
        worst = max(worst, error)
        if error > 1e-6:
            sys.exit(f"{theirs['name']} {field}: rctgate {a} vs plain {b}")
print(f"agreement: every effect, interval and p-value within {worst:.1e} relative of the plain pipeline")
EOF
