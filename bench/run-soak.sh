#!/usr/bin/env bash
# The soak (BENCHMARKS.md, "Soak"): a real `rctgate serve` under mixed load for SOAK_SECONDS
# (default 1800; `.ci/run` runs 60), then the checks (crates/cli/examples/soak.rs): every
# acknowledged event stored exactly once, no 5xx or lost connection, resident memory flat
# after warm-up; p50/p99 per route per minute and the memory curve are printed.
#
#   SOAK_SECONDS=1800 bash bench/run-soak.sh
#
# Environment: SOAK_SECONDS, SOAK_EVENTS_PER_SECOND (default 5000), BENCH_DIR (default: a new temp dir, removed unless KEEP=1),
# CARGO_TARGET_DIR. The build is skipped when SOAK_SKIP_BUILD=1 (`.ci/run` has just built).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
SOAK_SECONDS="${SOAK_SECONDS:-1800}"
KEEP="${KEEP:-0}"
if [[ -n "${BENCH_DIR:-}" ]]; then
    WORK="$BENCH_DIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/rctgate-soak.XXXXXX")"
fi
cleanup() { [[ "$KEEP" == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

if [[ "${SOAK_SKIP_BUILD:-0}" != 1 ]]; then
    echo "== cargo build --release --workspace --all-targets" >&2
    cargo build --release --workspace --all-targets >&2
fi
echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc: $(nproc); CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "== soak, $SOAK_SECONDS s"
"$CARGO_TARGET_DIR/release/examples/soak" "$CARGO_TARGET_DIR/release/rctgate" "$WORK" "$SOAK_SECONDS" \
    "${SOAK_EVENTS_PER_SECOND:-5000}"
