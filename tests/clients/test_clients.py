"""Real third-party clients against a running `rctgate serve`.

- The OpenFeature Python SDK with its OFREP provider evaluates experiments as
  flags (value = the variant's payload, variant = its name, reason SPLIT or
  DEFAULT), and agrees with /v1/decide.
- The GrowthBook Python SDK, given the same key, seed, weights, coverage and
  namespace, puts 10,000 units (ASCII and non-ASCII ids) in the same arm as
  /v1/decide: rctgate's buckets are GrowthBook's.
- The same SDK configured with `api_host` = rctgate and an assign-scoped key as
  its client key fetches /api/features/{client_key} and evaluates every
  experiment locally: the same arms and payloads as /v1/decide for 10,000
  units, a QA pin served and not tracked, and its tracking callback's
  exposures posted to /v1/events and counted.

Usage (CI runs it from .ci/run after the Rust tests):
    pip install -r tests/clients/requirements.txt
    python3 tests/clients/test_clients.py PATH/TO/rctgate

Non-ASCII ids stay in the Basic Multilingual Plane: the GrowthBook Python SDK
hashes code points while the JavaScript SDK (and rctgate) hash UTF-16 code
units, so the two SDKs themselves disagree above U+FFFF (emoji).
"""

import json
import random
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from growthbook import Experiment, GrowthBook
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

PASSED = 0
FAILED = 0


def check(condition, message):
    global PASSED, FAILED
    if condition:
        PASSED += 1
    else:
        FAILED += 1
        print(f"FAIL: {message}", file=sys.stderr)


class Server:
    def __init__(self, binary, db):
        self.process = subprocess.Popen(
            [binary, "serve", "--db", str(db), "--addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.key = None
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("rctg_"):
                self.key = line
            if line.startswith("rctgate listening on "):
                self.url = line.removeprefix("rctgate listening on ")
                break
        else:
            raise RuntimeError("rctgate serve exited before listening")
        if self.key is None:
            raise RuntimeError("rctgate serve printed no admin key on a new database")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def random_weights(rng, arms):
    raw = [rng.uniform(0.1, 1.0) for _ in range(arms)]
    total = sum(raw)
    weights = [round(w / total, 4) for w in raw[:-1]]
    weights.append(round(1.0 - sum(weights), 4))
    return weights


def experiments(rng):
    """Random designs: 2-4 arms, random weights, coverage and seeds, three in one layer."""
    designs = []
    layer_bounds = [(0.0, 0.3), (0.3, 0.55), (0.55, 1.0)]
    for i in range(8):
        arms = rng.randint(2, 4)
        design = {
            "key": f"exp-{i}",
            "hypothesis": "client compatibility",
            "seed": rng.choice([None, f"seed-{rng.randint(0, 10**6)}", "ユニット種"]),
            "coverage": rng.choice([1.0, round(rng.uniform(0.2, 1.0), 3)]),
            "variants": [
                {"name": f"arm{a}", "weight": w, "payload": {"model": f"v{a}", "temperature": a / 10}}
                for a, w in enumerate(random_weights(rng, arms))
            ],
            "metrics": {"primary": "bookings"},
        }
        if design["seed"] is None:
            del design["seed"]
        if i < 3:
            start, end = layer_bounds[i]
            design["layer"] = {"name": "search", "start": start, "end": end}
        designs.append(design)
    return designs


def units(rng, count):
    alphabets = ["abcdefghijklmnopqrstuvwxyz0123456789", "éèàüößçñ", "ユーザー顧客", "Ωπλ", "-_.@ "]
    out = []
    for i in range(count):
        if i % 5 == 0:
            letters = rng.choice(alphabets[1:4]) + alphabets[0]
            out.append("".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) + str(i))
        else:
            out.append(f"user-{i}")
    return out


def test_growthbook(server, designs, rng):
    gb_experiments = []
    for d in designs:
        gb_experiments.append(
            Experiment(
                key=d["key"],
                variations=list(range(len(d["variants"]))),
                weights=[v["weight"] for v in d["variants"]],
                coverage=d["coverage"],
                seed=d.get("seed", d["key"]),
                hashVersion=2,
                namespace=(d["layer"]["name"], d["layer"]["start"], d["layer"]["end"]) if "layer" in d else None,
            )
        )
    mismatches = 0
    checked = 0
    for unit in units(rng, 10_000):
        status, answer = server.call("POST", "/v1/decide", {"unit": unit, "expose": False})
        if status != 200:
            check(False, f"decide {unit!r}: {status} {answer}")
            continue
        ours = {a["experiment"]: a for a in answer["assignments"]}
        gb = GrowthBook(attributes={"id": unit})
        for exp in gb_experiments:
            result = gb.run(exp)
            mine = ours[exp.key]
            checked += 1
            if result.inExperiment != mine["in_experiment"] or result.variationId != mine["variant_index"]:
                mismatches += 1
                if mismatches <= 10:
                    print(f"mismatch {exp.key} {unit!r}: growthbook ({result.inExperiment}, {result.variationId})"
                          f" rctgate ({mine['in_experiment']}, {mine['variant_index']})", file=sys.stderr)
        gb.destroy()
    check(mismatches == 0, f"GrowthBook SDK disagrees on {mismatches} of {checked} assignments")
    check(checked == 80_000, f"checked {checked} assignments")
    print(f"growthbook: {checked} assignments of 10000 units x {len(designs)} experiments, {mismatches} mismatches")


def test_growthbook_features(server, designs, rng):
    status, created = server.call("POST", "/v1/keys", {"scopes": ["assign"], "name": "browser"})
    check(status == 201, f"create the client key: {status} {created}")
    client_key = created["key"]
    tracked = []

    def on_experiment_viewed(experiment, result, user_context=None):
        tracked.append({
            "type": "exposure", "id": f"gb-{experiment.key}-{result.hashValue}-{len(tracked)}",
            "unit": result.hashValue, "experiment": experiment.key,
            "variant": designs_by_key[experiment.key]["variants"][result.variationId]["name"],
            "ts": "2026-12-06T12:00:00Z",
        })

    designs_by_key = {d["key"]: d for d in designs}
    gb = GrowthBook(api_host=server.url, client_key=client_key, on_experiment_viewed=on_experiment_viewed)
    gb.load_features()
    features = gb.get_features()
    check(set(features) == set(designs_by_key), f"features served: {sorted(features)}")
    mismatches = checked = in_experiment = 0
    for unit in units(rng, 10_000):
        status, answer = server.call("POST", "/v1/decide", {"unit": unit, "expose": False})
        check(status == 200, f"decide {unit!r}: {status}")
        ours = {a["experiment"]: a for a in answer["assignments"]}
        gb.set_attributes({"id": unit})
        for key in designs_by_key:
            result = gb.eval_feature(key)
            mine = ours[key]
            checked += 1
            in_sdk = result.source == "experiment" and result.experimentResult.inExperiment
            index = result.experimentResult.variationId if in_sdk else 0
            if in_sdk != mine["in_experiment"] or index != mine["variant_index"] or result.value != mine["payload"]:
                mismatches += 1
                if mismatches <= 10:
                    print(f"mismatch {key} {unit!r}: sdk ({in_sdk}, {index}, {result.value})"
                          f" rctgate ({mine['in_experiment']}, {mine['variant_index']}, {mine['payload']})", file=sys.stderr)
            in_experiment += in_sdk
    check(mismatches == 0, f"the SDK on rctgate's features disagrees on {mismatches} of {checked}")
    check(checked == 80_000, f"checked {checked}")
    check(len(tracked) == in_experiment, f"tracked {len(tracked)} of {in_experiment} in-experiment evaluations")

    # A QA pin: a force rule, served its arm and never tracked.
    pinned = designs[5]
    status, answer = server.call("GET", f"/v1/experiments/{pinned['key']}")
    answer["forced"] = {"qa-alice": pinned["variants"][1]["name"]}
    status, answer = server.call("PUT", f"/v1/experiments/{pinned['key']}", answer)
    check(status == 200, f"pin qa-alice: {status} {answer}")
    # A second client key: the SDK caches features per key for a minute.
    status, second = server.call("POST", "/v1/keys", {"scopes": ["assign"], "name": "browser-2"})
    check(status == 201, f"create a second client key: {status}")
    pinned_gb = GrowthBook(api_host=server.url, client_key=second["key"], attributes={"id": "qa-alice"},
                           on_experiment_viewed=lambda e, r, user_context=None: check(False, "a pinned unit was tracked"))
    pinned_gb.load_features()
    forced = pinned_gb.eval_feature(pinned["key"])
    check(forced.source == "force" and forced.value == pinned["variants"][1]["payload"],
          f"pinned unit: {forced.source} {forced.value}")

    # The tracking recipe: the callback's exposures go to /v1/events with an ingest key.
    status, ingest = server.call("POST", "/v1/keys", {"scopes": ["ingest"], "name": "tracking"})
    check(status == 201, f"create the ingest key: {status}")
    sample = tracked[:2000]
    request = urllib.request.Request(
        server.url + "/v1/events", data="\n".join(json.dumps(e) for e in sample).encode(), method="POST",
        headers={"Authorization": f"Bearer {ingest['key']}", "Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    check(answer["accepted"] == len(sample), f"tracked exposures stored: {answer}")
    req = urllib.request.Request(server.url + "/api/features/rctg_000000000000_nope")
    try:
        urllib.request.urlopen(req, timeout=30)
        check(False, "an unknown client key was served")
    except urllib.error.HTTPError as error:
        check(error.code == 401, f"unknown client key: {error.code}")
    gb.destroy()
    pinned_gb.destroy()
    print(f"growthbook features: {checked} evaluations of 10000 units x {len(designs)} experiments from"
          f" /api/features, {mismatches} mismatches, {len(tracked)} tracked")


def test_openfeature(server, designs):
    api.set_provider(OFREPProvider(server.url, headers_factory=lambda: {"Authorization": f"Bearer {server.key}"}))
    client = api.get_client()
    reasons = set()
    for i in range(300):
        unit = f"of-user-{i}"
        d = designs[3 + i % 5]
        details = client.get_object_details(d["key"], {"default": True}, EvaluationContext(targeting_key=unit))
        status, answer = server.call("POST", "/v1/decide", {"unit": unit, "experiments": [d["key"]], "expose": False})
        mine = answer["assignments"][0]
        check(details.value == mine["payload"], f"{d['key']} {unit}: value {details.value} != {mine['payload']}")
        check(details.variant == mine["variant"], f"{d['key']} {unit}: variant {details.variant} != {mine['variant']}")
        expected = "SPLIT" if mine["in_experiment"] else "DEFAULT"
        check(str(details.reason).endswith(expected), f"{d['key']} {unit}: reason {details.reason}")
        reasons.add(expected)
    missing = client.get_object_details("no-such-flag", {"default": True}, EvaluationContext(targeting_key="u1"))
    check(missing.value == {"default": True}, f"unknown flag gives the code default: {missing.value}")
    check("FLAG_NOT_FOUND" in str(missing.error_code), f"unknown flag error code: {missing.error_code}")
    print(f"openfeature: 300 evaluations, reasons seen {sorted(reasons)}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "rctgate"
    rng = random.Random(20261126)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(binary, Path(tmp) / "rctgate.duckdb")
        try:
            status, answer = server.call("POST", "/v1/metrics", {
                "name": "bookings", "kind": "proportion", "event": "booking",
                "window_hours": 168, "direction": "increase"})
            check(status == 201, f"create metric: {status} {answer}")
            designs = experiments(rng)
            for d in designs:
                status, answer = server.call("POST", "/v1/experiments", d)
                check(status == 201, f"create {d['key']}: {status} {answer}")
                status, answer = server.call("POST", f"/v1/experiments/{d['key']}/start")
                check(status == 200, f"start {d['key']}: {status} {answer}")
            test_growthbook(server, designs, rng)
            test_openfeature(server, designs)
            test_growthbook_features(server, designs, rng)
        finally:
            server.stop()
    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
