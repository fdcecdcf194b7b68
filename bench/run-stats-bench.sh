#!/usr/bin/env bash
# Statistics engine vs gbstats 0.8.0, in one run, on the 12 inputs of
# bench/stats_inputs.json (method x kind, two arms, n ~ 1e5).
#
#   bash bench/run-stats-bench.sh
#
# Runs the criterion bench `crates/stats/benches/stats.rs` (results/s of the
# core `StatsRequest::analyse` and of the full JSON path `request::run`), then
# `bench/gbstats_timing.py` (results/s of gbstats doing the same comparison +
# SRM), and prints a markdown table. Needs the Rust toolchain and
#
#   pip install gbstats==0.8.0 scipy
#
# CARGO_TARGET_DIR is honoured; it defaults to ~/.cache/rctgate-target (outside
# the clone, like .ci/run). Extra arguments are passed to the gbstats script
# (e.g. `--seconds 2`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rctgate-target}"
PYTHON="${PYTHON:-python3}"

# Check the Python side first: no point building if it cannot run.
if ! "$PYTHON" - <<'EOF'
import importlib.metadata, sys
try:
    import numpy, scipy, gbstats  # noqa: F401
except ImportError as e:
    sys.exit(f"missing Python package: {e.name}")
v = importlib.metadata.version("gbstats")
if v != "0.8.0":
    sys.exit(f"gbstats {v} is installed; this benchmark compares against gbstats 0.8.0")
EOF
then
    echo "run-stats-bench: install the baseline first: pip install gbstats==0.8.0 scipy" >&2
    exit 1
fi

# Fresh estimates only: drop this bench's previous criterion results.
rm -rf "$CARGO_TARGET_DIR/criterion/stats_core" "$CARGO_TARGET_DIR/criterion/stats_json"

echo "== criterion: cargo bench -p rctgate-stats --bench stats (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
# (`cargo bench` always builds with the `bench` profile, which inherits `release`.)
cargo bench -p rctgate-stats --bench stats >&2

echo "== gbstats: $PYTHON bench/gbstats_timing.py $*" >&2
gbstats_json="$(mktemp)"
trap 'rm -f "$gbstats_json"' EXIT
"$PYTHON" bench/gbstats_timing.py "$@" >"$gbstats_json"

"$PYTHON" - "$CARGO_TARGET_DIR/criterion" "$gbstats_json" <<'EOF'
import json, statistics, sys
from pathlib import Path

criterion, gbstats_file = Path(sys.argv[1]), sys.argv[2]
inputs = [i["id"] for i in json.load(open("bench/stats_inputs.json"))["inputs"]]
gb = json.load(open(gbstats_file))

def per_second(group, bench_id):
    """criterion's mean time per iteration (ns) as iterations (= results) per second."""
    est = json.load(open(criterion / group / bench_id / "new" / "estimates.json"))
    return 1e9 / est["mean"]["point_estimate"]

def fmt(x):
    return f"{x:,.0f}"

print(f"\nrctgate vs gbstats {gb['gbstats_version']}: results/s (one comparison + SRM), higher is better\n")
print("| input | rctgate results/s (core) | rctgate results/s (JSON path) | gbstats results/s | ratio (core) | ratio (JSON path) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
core_ratios, json_ratios = [], []
for i in inputs:
    core, full, base = per_second("stats_core", i), per_second("stats_json", i), gb["results_per_second"][i]
    core_ratios.append(core / base)
    json_ratios.append(full / base)
    print(f"| {i} | {fmt(core)} | {fmt(full)} | {fmt(base)} | {core / base:,.0f}x | {full / base:,.0f}x |")
print()
for name, r in (("core", core_ratios), ("JSON path", json_ratios)):
    print(f"ratio ({name}): min {min(r):,.0f}x, median {statistics.median(r):,.0f}x, max {max(r):,.0f}x")
EOF
