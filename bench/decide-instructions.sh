#!/usr/bin/env bash
# User-space instructions the server executes per request, for GET /healthz and
# POST /v1/decide, counted by valgrind's callgrind:
#
#   bash bench/decide-instructions.sh
#
# Why: requests/s on this host moves 20-30% between 10 s windows (BENCHMARKS.md), which
# hides a change of a few percent. An instruction count does not move with the host, so it
# shows what a change to the request path removed or added. It is not a timing: kernel work
# (about half of a request here) is not counted, and under valgrind some code takes other
# paths (no SHA-NI or AVX-512), so use it to compare builds, and wrk for the targets.
#
# Runs `rctgate serve` under callgrind (pinned to one CPU, so tokio uses one worker) with
# one running experiment, warms each endpoint, zeroes the counters, sends wrk load for
# DURATION seconds (default 4) and divides the instructions of all threads by the requests
# wrk completed. `"expose": true` sends NEW_UNITS distinct units (default 1,000,000: at
# valgrind's speed every unit is new, every exposure is written, and the writer thread's
# DuckDB appends are counted too); NEW_UNITS=200 measures the repeat path instead.
# Prints one line per endpoint and, with KEEP=1, leaves the callgrind files for
# `callgrind_annotate`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
BENCH=decide-instructions
# shellcheck source=bench/decide-server.sh
source bench/decide-server.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
DURATION="${DURATION:-4}"
RCTGATE="${RCTGATE:-$CARGO_TARGET_DIR/release/rctgate}"
for tool in valgrind wrk; do
    if ! command -v "$tool" >/dev/null; then
        echo "== installing $tool (apt-get install -y $tool)" >&2
        SUDO=""
        [[ "$(id -u)" == 0 ]] || SUDO=sudo
        $SUDO apt-get install -y "$tool" >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y "$tool" >&2; }
    fi
done
[[ -n "${RCTGATE_SKIP_BUILD:-}" ]] || cargo build --release --workspace --all-targets >&2

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rctgate-instructions.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "callgrind files in $WORK" >&2; else rm -rf "$WORK"; fi
    return 0
}
trap cleanup EXIT
DB="$WORK/decide.duckdb"
create_keys "$DB"
start_server taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" \
    "$RCTGATE" serve --db "$DB" --addr 127.0.0.1:0
create_metric
create_experiment exp-0

# count NAME LABEL WRK_ARGS...: instructions per request over DURATION seconds of wrk load.
count() {
    local name="$1" label="$2"
    shift 2
    taskset -c 1 wrk -t1 -c8 -d2s "$@" >/dev/null
    sleep 0.5
    callgrind_control --zero "$SERVER_PID" >/dev/null 2>&1
    taskset -c 1 wrk -t1 -c8 -d"${DURATION}s" "$@" >"$WORK/$name.wrk"
    sleep 0.5
    callgrind_control --dump="$name" "$SERVER_PID" >/dev/null 2>&1
    sleep 1
    local requests instructions dump
    requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/$name.wrk")"
    dump="$(grep -l "^desc: Trigger: .*$name\$" "$WORK"/callgrind.* | head -1)"
    instructions="$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$dump")"
    PER_REQUEST["$name"]=$((instructions / requests))
    echo "$label: ${PER_REQUEST[$name]} instructions per request ($requests requests)"
}
declare -A PER_REQUEST
count healthz "GET /healthz" "$URL/healthz"
RCTG_KEY="$ASSIGN" DECIDE_EXPOSE=false count decide_false 'POST /v1/decide "expose": false' -s "$REPO/bench/decide.lua" "$URL/v1/decide"
RCTG_KEY="$ASSIGN" DECIDE_EXPOSE=true DECIDE_UNITS="${NEW_UNITS:-1000000}" \
    count decide_true "POST /v1/decide \"expose\": true, ${NEW_UNITS:-1000000} distinct units" -s "$REPO/bench/decide.lua" "$URL/v1/decide"
awk -v h="${PER_REQUEST[healthz]}" -v d="${PER_REQUEST[decide_false]}" \
    'BEGIN { printf "/healthz / decide (\"expose\": false) instructions: %.2f\n", h / d }'
