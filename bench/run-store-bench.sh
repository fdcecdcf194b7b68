#!/usr/bin/env bash
# Event store and ingestion, in one run, on one generated Parquet file:
#
#   bash bench/run-store-bench.sh
#
# 1. builds everything (cargo build --release --workspace --all-targets: the one
#    build that never rebuilds DuckDB's C++), then prints the machine and its load;
# 2. `import_bench ROWS DIR generate`: ROWS events (default 20,000,000) written to
#    DIR/events.parquet by DuckDB (a third exposures, the rest metric events, one
#    attribute column; crates/store/examples/import_bench.rs);
# 3. ROUNDS rounds (default 3) of steps 3a and 3b, alternating, so that both see the same
#    hours of a shared host; the table reports the median time of each (the ratio's noise
#    from one run to the next was ±10 points in slow hours) and lists each round's ratio:
# 3a. the ceiling, `import_bench ROWS DIR ceiling`: DuckDB's own
#    `INSERT INTO events SELECT * FROM read_parquet(...)` into a table with the
#    file's (SPEC §6) columns, no idempotency; the INSERT statement alone is timed;
# 3b. `rctgate import DIR/events.parquet --db DIR/store.duckdb`, the real binary, on a
#    new database holding only the metrics and the experiment the events name
#    (`rctgate apply`); timed as the whole process (open, validate, dedupe, append,
#    close), peak RSS from /usr/bin/time -v (or polled from /proc);
# 4. HTTP ingest: crates/cli/examples/ingest_bench.rs starts `rctgate serve` on a new
#    database, creates and starts the experiment, and POSTs HTTP_EVENTS events
#    (default 2,000,000) in 5000-event NDJSON batches to /v1/events, once per entry
#    of HTTP_CLIENTS (default "1 2": one client with sequential requests on one
#    connection, then two concurrent clients, each on a fresh database);
# 5. prints the table and the ratios against the targets of issue 3.
#
# Environment: ROWS, ROUNDS, HTTP_EVENTS, HTTP_CLIENTS, BENCH_DIR (default: a new temp dir,
# removed at the end unless KEEP=1), CARGO_TARGET_DIR (default ~/.cache/rctgate-target).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
ROWS="${ROWS:-20000000}"
HTTP_EVENTS="${HTTP_EVENTS:-2000000}"
HTTP_BATCH=5000
HTTP_CLIENTS="${HTTP_CLIENTS:-1 2}"
ROUNDS="${ROUNDS:-3}"
KEEP="${KEEP:-0}"
if [[ -n "${BENCH_DIR:-}" ]]; then
    WORK="$BENCH_DIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/rctgate-store-bench.XXXXXX")"
fi
cleanup() { [[ "$KEEP" == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== cargo build --release --workspace --all-targets (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
cargo build --release --workspace --all-targets >&2
RELEASE="$CARGO_TARGET_DIR/release"
RCTGATE="$RELEASE/rctgate"
IMPORT_BENCH="$RELEASE/examples/import_bench"
INGEST_BENCH="$RELEASE/examples/ingest_bench"

bytes() { # size of a DuckDB file plus its write-ahead log, if any
    local total=0 f
    for f in "$1" "$1.wal"; do
        [[ -f "$f" ]] && total=$((total + $(stat -c %s "$f")))
    done
    echo "$total"
}
now() { date +%s.%N; }

# Runs "$@" with stdout to $OUT_FILE and stderr through; sets PEAK_KB and WALL_S.
TIME_BIN="$(command -v /usr/bin/time || true)"
measure() {
    local timing="$WORK/time.txt" start end
    start="$(now)"
    if [[ -n "$TIME_BIN" ]]; then
        "$TIME_BIN" -v -o "$timing" "$@" >"$OUT_FILE"
        PEAK_KB="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
    else # poll the peak from /proc while it runs
        "$@" >"$OUT_FILE" &
        local pid=$! hwm
        PEAK_KB=0
        while kill -0 "$pid" 2>/dev/null; do
            hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
            [[ -n "$hwm" ]] && PEAK_KB="$hwm"
            sleep 0.2
        done
        wait "$pid"
    fi
    end="$(now)"
    WALL_S="$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')"
}

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc: $(nproc); CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel: $(uname -sr)"
echo "rustc: $(rustc --version)"
echo "uptime:$(uptime)"
echo "busiest processes (ps, %CPU over each process's life):"
ps -eo pid,pcpu,rss,etime,comm --sort=-pcpu | head -8
echo "work dir: $WORK (df: $(df -h --output=avail "$WORK" | tail -1 | tr -d ' ') free)"

echo
echo "== generate: $IMPORT_BENCH $ROWS $WORK generate"
"$IMPORT_BENCH" "$ROWS" "$WORK" generate
PARQUET_BYTES="$(stat -c %s "$WORK/events.parquet")"

STORE="$WORK/store.duckdb"
cp bench/store-catalog.toml "$WORK/catalog.toml"

# One round: the ceiling, then the import, each on a new database. Appends the round's
# times to CEILING_TIMES and IMPORT_TIMES; keeps the largest import RSS.
CEILING_TIMES=()
IMPORT_TIMES=()
IMPORT_KB=0
round() {
    echo
    echo "== round $1 of $ROUNDS: ceiling: $IMPORT_BENCH $ROWS $WORK ceiling"
    OUT_FILE="$WORK/ceiling.out"
    measure "$IMPORT_BENCH" "$ROWS" "$WORK" ceiling
    grep -v '^rows_per_second' "$OUT_FILE"
    local rate
    rate="$(awk '/^rows_per_second/ {printf "%.0f", $2}' "$OUT_FILE")"
    CEILING_TIMES+=("$(awk -v r="$ROWS" -v x="$rate" 'BEGIN {printf "%.2f", r / x}')")
    CEILING_KB="$PEAK_KB"
    CEILING_BYTES="$(bytes "$WORK/ceiling.duckdb")"
    echo "process wall time ${WALL_S}s (open, create, insert, checkpoint, close)"
    rm -f "$WORK/ceiling.duckdb" "$WORK/ceiling.duckdb.wal"

    echo
    echo "== round $1 of $ROUNDS: rctgate import: $RCTGATE import $WORK/events.parquet --db $STORE"
    rm -f "$STORE" "$STORE.wal" "$STORE.ids"
    "$RCTGATE" apply "$WORK/catalog.toml" --db "$STORE"
    OUT_FILE="$WORK/import.out"
    measure "$RCTGATE" import "$WORK/events.parquet" --db "$STORE"
    cat "$OUT_FILE"
    grep -q "$ROWS rows, $ROWS accepted, 0 duplicates" "$OUT_FILE" ||
        { echo "run-store-bench: the import did not accept every row" >&2; exit 1; }
    IMPORT_TIMES+=("$WALL_S")
    if ((PEAK_KB > IMPORT_KB)); then IMPORT_KB="$PEAK_KB"; fi
    IMPORT_BYTES="$(bytes "$STORE")"
    echo "wall ${WALL_S}s, peak RSS $((PEAK_KB / 1024)) MB, database $((IMPORT_BYTES / 1048576)) MB"
    rm -f "$STORE" "$STORE.wal" "$STORE.ids"
}
median() {
    printf '%s\n' "$@" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
for ((r = 1; r <= ROUNDS; r++)); do
    round "$r"
done
CEILING_S="$(median "${CEILING_TIMES[@]}")"
IMPORT_S="$(median "${IMPORT_TIMES[@]}")"
CEILING_RATE="$(awk -v r="$ROWS" -v s="$CEILING_S" 'BEGIN {printf "%.0f", r / s}')"
IMPORT_RATE="$(awk -v r="$ROWS" -v s="$IMPORT_S" 'BEGIN {printf "%.0f", r / s}')"
ROUND_RATIOS="$(for ((r = 0; r < ROUNDS; r++)); do
    awk -v r="$r" -v c="${CEILING_TIMES[r]}" -v i="${IMPORT_TIMES[r]}" \
        'BEGIN {printf "%s%.0f%%", (r ? ", " : ""), 100 * c / i}'
done)"

HTTP_ROWS=()
for clients in $HTTP_CLIENTS; do
    echo
    echo "== HTTP ingest: $INGEST_BENCH $RCTGATE $WORK/http.duckdb $HTTP_EVENTS $HTTP_BATCH $clients"
    "$INGEST_BENCH" "$RCTGATE" "$WORK/http.duckdb" "$HTTP_EVENTS" "$HTTP_BATCH" "$clients" |
        tee "$WORK/http.out" | grep -v '^http_'
    value() { awk -v k="$1" '$1 == k {print $2}' "$WORK/http.out"; }
    HTTP_ROWS+=("$clients $(value http_seconds) $(value http_events_per_second) $(value http_server_peak_rss_mb) $(value http_db_bytes) $(value http_latency_ms_p50) $(value http_latency_ms_p99)")
    rm -f "$WORK/http.duckdb" "$WORK/http.duckdb.wal" "$WORK/http.duckdb.ids"
done

echo
echo "== machine after the run"
echo "uptime:$(uptime)"
ps -eo pid,pcpu,rss,etime,comm --sort=-pcpu | head -6

echo
echo "== results"
awk -v rows="$ROWS" -v http_events="$HTTP_EVENTS" -v batch="$HTTP_BATCH" \
    -v parquet="$PARQUET_BYTES" \
    -v c_rate="$CEILING_RATE" -v c_s="$CEILING_S" -v c_kb="$CEILING_KB" -v c_bytes="$CEILING_BYTES" \
    -v i_rate="$IMPORT_RATE" -v i_s="$IMPORT_S" -v i_kb="$IMPORT_KB" -v i_bytes="$IMPORT_BYTES" \
    -v rounds="$ROUNDS" -v round_ratios="$ROUND_RATIOS" \
    -v http="$(printf '%s;' "${HTTP_ROWS[@]}")" '
function commas(n,   s, out) { # 1234567 -> 1,234,567
    s = sprintf("%.0f", n); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return s out
}
function mib(b) { return sprintf("%.0f MiB", b / 1048576) }
function verdict(ok) { return ok ? "met" : "NOT met" }
BEGIN {
    printf "Parquet input: %s events, %s\n\n", commas(rows), mib(parquet)
    print "| measurement | events | time (s) | events/s | peak RSS | database file |"
    print "| --- | ---: | ---: | ---: | ---: | ---: |"
    printf "| ceiling: DuckDB `INSERT INTO events SELECT * FROM read_parquet(...)` | %s | %.2f | %s | %s | %s |\n",
        commas(rows), c_s, commas(c_rate), mib(c_kb * 1024), mib(c_bytes)
    printf "| `rctgate import FILE.parquet --db NEW.duckdb` (validated, idempotent) | %s | %.2f | %s | %s | %s |\n",
        commas(rows), i_s, commas(i_rate), mib(i_kb * 1024), mib(i_bytes)
    n = split(http, runs, ";")
    for (j = 1; j <= n; j++) {
        if (runs[j] == "") continue
        split(runs[j], f, " ")
        printf "| HTTP `POST /v1/events`, %s-event NDJSON batches, %d client(s), durable (batch p50 %.0f ms, p99 %.0f ms) | %s | %.2f | %s | %s (server) | %s |\n",
            commas(batch), f[1], f[6], f[7], commas(http_events), f[2], commas(f[3]), mib(f[4] * 1048576), mib(f[5])
        h_rate[j] = f[3]; h_clients[j] = f[1]
    }
    print ""
    print "| ratio | value | target | verdict |"
    print "| --- | ---: | --- | --- |"
    r = i_rate / c_rate
    printf "| import / ceiling (events/s; medians of %d rounds, which gave %s) | %.0f%% | >= 50%% | %s |\n", rounds, round_ratios, 100 * r, verdict(r >= 0.5)
    for (j = 1; j <= n; j++) {
        if (!(j in h_rate)) continue
        r = h_rate[j] / i_rate
        printf "| HTTP ingest (%d client(s)) / import (events/s) | %.0f%% | >= 50%% | %s |\n", h_clients[j], 100 * r, verdict(r >= 0.5)
    }
    gib = i_kb / 1048576
    printf "| import peak RSS (%s events) | %.2f GiB | < 2 GiB for 20M events | %s |\n",
        commas(rows), gib, (rows >= 20000000 ? verdict(gib < 2) : verdict(gib < 2) " at this size; 20M not measured")
    r = i_bytes / c_bytes
    printf "| import database file / ceiling file | %.2fx | <= 1.5x | %s |\n", r, verdict(r <= 1.5)
}'
