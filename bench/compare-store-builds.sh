#!/usr/bin/env bash
# Two builds of rctgate against each other on what the event store does, alternating rounds
# so that both see the same hours of a shared host:
#
#   bash bench/compare-store-builds.sh OLD_DIR NEW_DIR
#
# OLD_DIR and NEW_DIR each hold `rctgate` and the `ingest_bench` example of one build (copy
# them out of $CARGO_TARGET_DIR/release after building each commit: both builds share the
# target dir, and building one overwrites the other's binaries). Per round and build:
# 1. `rctgate import` of ROWS events (default 20,000,000, one Parquet file written once by
#    the new build's `import_bench ... generate`, which NEW_DIR must also hold), whole
#    process, on a new database;
# 2. HTTP ingest: `ingest_bench` starts that build's `rctgate serve` and POSTs HTTP_EVENTS
#    events (default 2,000,000) in 5,000-event batches from one client.
# Prints each round's figures and the medians. Environment: ROWS, HTTP_EVENTS, ROUNDS
# (default 3), BENCH_DIR (default a new temp dir, removed at the end).
set -euo pipefail

OLD="${1:?usage: compare-store-builds.sh OLD_DIR NEW_DIR}"
NEW="${2:?usage: compare-store-builds.sh OLD_DIR NEW_DIR}"
ROWS="${ROWS:-20000000}"
HTTP_EVENTS="${HTTP_EVENTS:-2000000}"
ROUNDS="${ROUNDS:-3}"
WORK="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rctgate-compare.XXXXXX")}"
mkdir -p "$WORK"
[[ -n "${BENCH_DIR:-}" ]] || trap 'rm -rf "$WORK"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== load: $(uptime)"
"$NEW/import_bench" "$ROWS" "$WORK" generate >/dev/null
cp "$(dirname "${BASH_SOURCE[0]}")/store-catalog.toml" "$WORK/catalog.toml"

declare -A IMPORT HTTP
measure() { # build dir, label: appends "seconds" to IMPORT[label] and "events/s" to HTTP[label]
    local dir="$1" label="$2" db="$WORK/store.duckdb" start end
    rm -f "$db" "$db.wal" "$db.ids"
    "$dir/rctgate" apply "$WORK/catalog.toml" --db "$db" >/dev/null
    start=$(date +%s.%N)
    "$dir/rctgate" import "$WORK/events.parquet" --db "$db" >"$WORK/import.out"
    end=$(date +%s.%N)
    grep -q "$ROWS rows, $ROWS accepted, 0 duplicates" "$WORK/import.out" ||
        { echo "compare-store-builds: $label's import did not accept every row" >&2; exit 1; }
    IMPORT[$label]+="$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f ", b - a}')"
    rm -f "$db" "$db.wal" "$db.ids" "$WORK/http.duckdb" "$WORK/http.duckdb.wal" "$WORK/http.duckdb.ids"
    "$dir/ingest_bench" "$dir/rctgate" "$WORK/http.duckdb" "$HTTP_EVENTS" 5000 1 >"$WORK/http.out"
    HTTP[$label]+="$(awk '$1 == "http_events_per_second" {printf "%.0f ", $2}' "$WORK/http.out")"
    rm -f "$WORK/http.duckdb" "$WORK/http.duckdb.wal" "$WORK/http.duckdb.ids"
    echo "round: $label import $(echo "${IMPORT[$label]}" | awk '{print $NF}') s, HTTP $(echo "${HTTP[$label]}" | awk '{print $NF}') events/s"
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then measure "$OLD" old; measure "$NEW" new; else measure "$NEW" new; measure "$OLD" old; fi
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for label in old new; do
    echo "$label: import of $ROWS events ${IMPORT[$label]}s (median $(echo "${IMPORT[$label]}" | median) s); HTTP ingest ${HTTP[$label]}events/s (median $(echo "${HTTP[$label]}" | median))"
done
