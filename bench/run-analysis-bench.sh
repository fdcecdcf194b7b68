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
# 5. what a user waits for, as whole processes, RUNS times each: `rctgate analyze KEY --db
#    --format json` (with the daily series), `rctgate experiment list --db` (a read-only
#    command), `rctgate serve` until it listens, and `GET /results` uncached with and without
#    the series (a new server on a fresh copy per run, so nothing is cached or kept), each
#    with its peak RSS;
# 6. the unit rows a server keeps for a running trial: GET /results after new traffic, and
#    (6b) those `rctgate import` keeps at its end, read by `analyze --db` and GET /results;
#    `rctgate analyze --db` reading the kept rows (step 7 below);
# 7. `rctgate serve` until it listens, on the file and its id index: the first start writes
#    the index (`<db>.ids`), the next RUNS read it; time and peak RSS of each;
# 8. prints the medians, the ratios, and checks that both pipelines agree on every metric's
#    effect, interval and p-value at 1e-6.
#
# Needs python3 with duckdb==1.2.0 and gbstats==0.8.0. Environment: UNITS, RUNS, BENCH_DIR
# (default: a new temp dir, removed unless KEEP=1), NEW_UNITS (default UNITS / 100),
# CARGO_TARGET_DIR.
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

echo "== whole processes, x $RUNS"
RCTGATE="$CARGO_TARGET_DIR/release/rctgate"
KEY="$("$RCTGATE" keys create --scope read --name bench --db "$DB" | tail -n 1 | tr -d '[:space:]')"
# seconds_and_rss LABEL COMMAND...: one run; appends "LABEL SECONDS RSS_KB" to whole.txt.
seconds_and_rss() {
    local label="$1"
    shift
    local started ended
    started="$(date +%s.%N)"
    /usr/bin/time -f '%M' -o "$WORK/rss.txt" "$@" >/dev/null
    ended="$(date +%s.%N)"
    echo "$label $(echo "$ended - $started" | bc) $(tail -n 1 "$WORK/rss.txt")" >>"$WORK/whole.txt"
}
: >"$WORK/whole.txt"
# start_server DB: a new server on DB; sets pid, url, started and listening (epoch seconds).
start_server() {
    started="$(date +%s.%N)"
    "$RCTGATE" serve --db "$1" --addr 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
    pid=$!
    url=""
    while [[ -z "$url" ]]; do
        url="$(sed -n 's/^rctgate listening on //p' "$WORK/serve.out" | head -1)"
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
        [[ -n "$url" ]] || sleep 0.02
    done
    listening="$(date +%s.%N)"
}
# serve_once DB LABEL: a server on DB until it listens; appends "LABEL SECONDS RSS_KB".
serve_once() {
    local started listening pid url rss
    start_server "$1"
    rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$2 $(echo "$listening - $started" | bc) $rss" >>"$WORK/whole.txt"
}
# results_once DB SERIES LABEL: a new server on DB (nothing cached, no id index), one GET
# /results; appends "serve_start ..." (first use only when LABEL is results_series_true) and
# "LABEL SECONDS RSS_KB".
results_once() {
    local db="$1" series="$2" label="$3" started listening answered pid url rss
    start_server "$db"
    curl -sf -o /dev/null -H "Authorization: Bearer $KEY" "$url/v1/experiments/ranker-bench/results?series=$series"
    answered="$(date +%s.%N)"
    rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    wait "$pid" || true
    [[ "$label" == results_series_true ]] && echo "serve_start $(echo "$listening - $started" | bc) $rss" >>"$WORK/whole.txt"
    echo "$label $(echo "$answered - $listening" | bc) $rss" >>"$WORK/whole.txt"
}
for _ in $(seq 1 "$RUNS"); do
    seconds_and_rss analyze "$RCTGATE" analyze ranker-bench --db "$DB" --format json
    seconds_and_rss list "$RCTGATE" experiment list --db "$DB"
    for series in true false; do
        # A copy, so that the unit rows this server keeps are not there for the next run,
        # without an id index: this start builds one (a restart is timed in step 7).
        rm -f "$WORK/fresh.duckdb.ids"
        cp "$DB" "$WORK/fresh.duckdb"
        results_once "$WORK/fresh.duckdb" "$series" "results_series_$series"
    done
done

# 6. the unit rows a server keeps for a running trial (trials::unit_state): on a copy, the
#    first GET /results finds none and answers from the events, then the server keeps them
#    (off the request; it waits for that before it exits); then, RUNS times, NEW_UNITS new units' events
#    arrive (about 1% of the trial's by default; each touched unit is recomputed from all its
#    events, old or new) and a new server answers GET /results from the kept rows refreshed
#    with them; `rctgate analyze --db` then reads the kept rows without writing.
echo "== kept unit rows, x $RUNS"
NEW_UNITS="${NEW_UNITS:-$((UNITS / 100))}"
cp "$DB" "$WORK/kept.duckdb"
results_once "$WORK/kept.duckdb" true results_first_then_keeps_rows
next="$UNITS"
for _ in $(seq 1 "$RUNS"); do
    for series in true false; do
        "$BENCH" more "$WORK/kept.duckdb" "$next" "$NEW_UNITS" 2>/dev/null
        next=$((next + NEW_UNITS))
        results_once "$WORK/kept.duckdb" "$series" "results_kept_new_traffic_series_$series"
    done
    seconds_and_rss analyze_kept_rows "$RCTGATE" analyze ranker-bench --db "$WORK/kept.duckdb" --format json
done
rm -f "$WORK/fresh.duckdb"* "$WORK/kept.duckdb"*

# 6b. the unit rows `rctgate import` keeps at its end (Store::keep_open_trials): on a copy, an
#    import of one new event (its time: the import, most of it keeping the trial's rows, the
#    "import_keeps_rows" line; the seconds the keeping took, as the import prints them), then
#    `rctgate analyze --db` and a new server's first GET /results, which read those rows.
echo "== rows kept by rctgate import, x $RUNS"
cp "$DB" "$WORK/imported.duckdb"
rm -f "$WORK/imported.duckdb.ids"
# A server's first start writes the id index, untimed (step 7 times it).
"$RCTGATE" serve --db "$WORK/imported.duckdb" --addr 127.0.0.1:0 >"$WORK/serve.out" 2>&1 &
ids_pid=$!
until grep -q 'listening on' "$WORK/serve.out"; do sleep 0.05; done
kill -TERM "$ids_pid"
wait "$ids_pid" || true
printf 'type,id,unit,experiment,variant,event,value,ts\nmetric,bench-import-1,bench-unit-1,,,booking,1,2026-10-10T00:00:00Z\n' >"$WORK/one.csv"
seconds_and_rss import_keeps_rows "$RCTGATE" import "$WORK/one.csv" --db "$WORK/imported.duckdb"
for _ in $(seq 1 "$RUNS"); do
    seconds_and_rss analyze_rows_kept_by_import "$RCTGATE" analyze ranker-bench --db "$WORK/imported.duckdb" --format json
    for series in true false; do
        results_once "$WORK/imported.duckdb" "$series" "results_rows_kept_by_import_series_$series"
    done
done
rm -f "$WORK/imported.duckdb"*

# 7. serve's start on the file and its id index (events/id_index.rs): the first start writes
#    the index; a restart reads it and the rows written since (none here).
echo "== serve restarts, x $RUNS"
cp "$DB" "$WORK/served.duckdb"
serve_once "$WORK/served.duckdb" serve_first_start_writes_ids
for _ in $(seq 1 "$RUNS"); do
    serve_once "$WORK/served.duckdb" serve_restart_reads_ids
done
ls -l "$WORK/served.duckdb.ids" >&2
rm -f "$WORK/served.duckdb"*

python3 - "$WORK/rctgate.json" "$WORK/plain.json" "$PEAK_KB" "$WORK/whole.txt" <<'EOF'
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
print()
print("what a user waits for (whole processes; median of the runs, ratio to the plain pipeline's median):")
runs = {}
for line in open(sys.argv[4]):
    label, seconds, rss = line.split()
    runs.setdefault(label, []).append((float(seconds), int(rss)))
for label, values in runs.items():
    times = sorted(s for s, _ in values)
    median = times[len(times) // 2]
    peak = max(r for _, r in values) / 1024
    print(f"  {label:22} median {median:6.2f} s  ratio {median / plain['median_seconds']:.3f}x  "
          f"peak RSS {peak:5.0f} MiB  (runs: {', '.join(f'{s:.2f}' for s, _ in values)})")
EOF
