// GrowthBook's JavaScript SDK (npm @growthbook/growthbook) timing the same decisions as
// crates/assign/benches/assign.rs: the same four experiments (key, weights, coverage,
// namespace, hash version) and the same 4096 unit ids of each of the two shapes.
//
//   node bench/growthbook_js_timing.mjs NODE_MODULES_DIR
//
// NODE_MODULES_DIR is a directory holding node_modules/@growthbook/growthbook (the bench
// script installs 1.8.0 into a temp dir). Two ways of deciding are timed:
//
// - `client`: the SDK's server-side API, one `GrowthBookClient` and
//   `client.runInlineExperiment(experiment, { attributes: { id } })` per decision (what a
//   Node service calls per request);
// - `helpers`: the SDK's own bucketing functions (util.mjs: `inNamespace`, `hash`,
//   `chooseVariation`) with the bucket ranges computed once (`getBucketRanges`), i.e. the
//   arithmetic alone, as rctgate's `Assigner` precomputes them. A lower bound on the SDK's
//   cost per decision.
//
// Each case is warmed up for WARMUP_MS then timed for at least MEASURE_MS over whole
// passes of the 4096 ids. Prints one line per case:
//   gbjs <mode> decide/<ids>/<experiment> <decisions_per_second> <in_experiment_per_pass>
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
if (!prefix) {
  console.error("usage: node growthbook_js_timing.mjs NODE_MODULES_DIR");
  process.exit(2);
}
const pkgDir = path.join(prefix, "node_modules", "@growthbook", "growthbook");
const require = createRequire(path.join(prefix, "package.json"));
const version = require("@growthbook/growthbook/package.json").version;
const { GrowthBookClient } = await import(pathToFileURL(path.join(pkgDir, "dist/esm/index.mjs")));
const util = await import(pathToFileURL(path.join(pkgDir, "dist/esm/util.mjs")));

const WARMUP_MS = Number(process.env.WARMUP_MS ?? 1000);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 3000);
const UNITS = 4096;

// Same ids as the Rust bench: `user-{:010}` of i * 7919, and UUID-shaped ids from the
// same 64-bit LCG.
function shortIds() {
  const ids = [];
  for (let i = 0; i < UNITS; i++) ids.push("user-" + String(i * 7919).padStart(10, "0"));
  return ids;
}
function uuidIds() {
  const M = (1n << 64n) - 1n;
  const hex = (v, w) => v.toString(16).padStart(w, "0");
  let x = 0x123456789abcdef0n;
  const ids = [];
  for (let i = 0; i < UNITS; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & M;
    const y = (((x << 17n) | (x >> 47n)) & M) ^ 0xdeadbeefn;
    ids.push(
      `${hex(x >> 32n, 8)}-${hex((x >> 16n) & 0xffffn, 4)}-4${hex(x & 0xfffn, 3)}-a${hex(y & 0xfffn, 3)}-${hex(y >> 16n, 12)}`,
    );
  }
  return ids;
}

// The four experiments of the Rust bench. (4arm_layer also pins one QA unit,
// "qa-tester-1", in rctgate; no bench id is that unit, and GrowthBook has no per-unit
// pin, so here it is left out: rctgate pays one hash-map lookup more per decision.)
const experiments = [
  ["2arm", { key: "checkout-button-color", variations: [0, 1], hashVersion: 2 }],
  [
    "2arm_layer",
    {
      key: "checkout-button-color",
      variations: [0, 1],
      coverage: 0.9,
      namespace: ["checkout", 0.0, 0.6],
      hashVersion: 2,
    },
  ],
  [
    "4arm_layer",
    {
      key: "pricing-page-layout",
      variations: [0, 1, 2, 3],
      weights: [0.4, 0.2, 0.2, 0.2],
      coverage: 0.8,
      namespace: ["pricing", 0.25, 1.0],
      hashVersion: 2,
    },
  ],
  [
    "4arm_layer_v1",
    {
      key: "pricing-page-layout",
      variations: [0, 1, 2, 3],
      weights: [0.4, 0.2, 0.2, 0.2],
      coverage: 0.8,
      namespace: ["pricing", 0.25, 1.0],
      hashVersion: 1,
    },
  ],
];

const client = new GrowthBookClient({});

function clientPass(exp, ids) {
  let inCount = 0;
  for (let i = 0; i < ids.length; i++) {
    const r = client.runInlineExperiment(exp, { attributes: { id: ids[i] } });
    if (r.inExperiment) inCount++;
  }
  return inCount;
}

function helpersPass(exp, ids) {
  // Compiled once per pass (once per 4096 decisions), like rctgate's Assigner.
  const ranges = util.getBucketRanges(exp.variations.length, exp.coverage ?? 1, exp.weights);
  const seed = exp.seed || exp.key;
  const ns = exp.namespace;
  const hv = exp.hashVersion ?? 1;
  let inCount = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (ns && !util.inNamespace(id, ns)) continue;
    const n = util.hash(seed, id, hv);
    if (n === null) continue;
    if (util.chooseVariation(n, ranges) >= 0) inCount++;
  }
  return inCount;
}

function time(pass, exp, ids) {
  const deadline = (ms) => performance.now() + ms;
  let sink = 0;
  let end = deadline(WARMUP_MS);
  while (performance.now() < end) sink += pass(exp, ids);
  let passes = 0;
  let inCount = 0;
  const start = process.hrtime.bigint();
  end = deadline(MEASURE_MS);
  do {
    inCount = pass(exp, ids);
    sink += inCount;
    passes++;
  } while (performance.now() < end);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink);
  return [(passes * ids.length) / seconds, inCount];
}

console.log(`gbjs_version ${version} node ${process.version}`);
const idSets = [
  ["short_ids", shortIds()],
  ["uuid_ids", uuidIds()],
];
console.log(`gbjs_ids short_ids[0]=${idSets[0][1][0]} uuid_ids[0]=${idSets[1][1][0]}`);
for (const [mode, pass] of [
  ["client", clientPass],
  ["helpers", helpersPass],
]) {
  for (const [idsName, ids] of idSets) {
    for (const [name, exp] of experiments) {
      const [rate, inCount] = time(pass, exp, ids);
      console.log(`gbjs ${mode} decide/${idsName}/${name} ${rate.toFixed(0)} ${inCount}`);
    }
  }
}
