#!/usr/bin/env python3
"""Regenerates tests/fixtures/results-small.json from real runs of build/memstrat.

The fixture is what the scripts' tests chart and report on, so it is made by the
real suite (iteration and median records exactly as `memstrat suite` writes them),
kept small: tiny workloads, two repeats, timelines thinned to a few dozen points.

Its "fit" section is NOT from `memstrat fit` (which did not exist when the fixture
was made): it is built from unconstrained suite runs at a few batch sizes, and
max_batch is the largest probed batch whose peak RSS stayed under a budget derived
from those same runs. The context says so ("fixture": true, "fixture_note").

Beside it, tests/fixtures/results-disturbed.json: two of the same cells, three repeats,
where the first run competed with busy processes the run started itself
(MEMSTRAT_FAULT=busy@1, once) and the suite had no re-run to spend (--max-reruns 0):
a real disturbed repeat, kept, its cell flagged unstable, for scripts/compare's tests.

Usage: tests/scripts/make_fixture.py [--memstrat build/memstrat] [--out tests/fixtures/results-small.json]
It takes a few minutes on a quiet two-core machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MAIN_MATRIX = {
    "repeats": 3, "steps": 4, "warmup": 1, "timeout": 300,
    "matrix": [
        {"models": ["vgg-mini"], "image": 16, "batches": [8],
         "allocators": ["malloc", "jemalloc", "mimalloc", "tcmalloc", "arena", "pool", "mmap", "planned"]},
        {"models": ["vgg-mini"], "image": 16, "batches": [8], "allocators": ["malloc"],
         "techniques": ["recompute", "accum:2"]},
        {"models": ["mlp"], "batches": [16], "allocators": ["malloc", "jemalloc", "arena", "pool", "planned"]},
        {"models": ["mlp"], "batches": [16], "allocators": ["malloc", "pool"], "techniques": ["recompute"]},
    ],
}
# One cell under a budget it cannot meet, so that the fixture holds a real failed record.
OOM_MATRIX = {
    "repeats": 2, "steps": 4, "warmup": 1, "timeout": 300, "budget": "24MiB",
    "matrix": [{"models": ["mlp"], "batches": [16], "allocators": ["mmap"]}],
}
DISTURBED_MATRIX = {
    "repeats": 3, "steps": 4, "warmup": 1, "timeout": 300,
    "matrix": [{"models": ["vgg-mini"], "image": 16, "batches": [8], "allocators": ["malloc", "pool"]}],
}
FIT_BATCHES = [8, 16, 32]
FIT_STRATEGIES = [("malloc", "none"), ("pool", "none"), ("planned", "none"), ("malloc", "recompute")]
FIT_MATRIX = {
    "repeats": 1, "steps": 2, "warmup": 1, "timeout": 300,
    "matrix": [{"models": ["vgg-mini"], "image": 16, "batches": FIT_BATCHES, "allocators": [a],
                "techniques": [t]} for a, t in FIT_STRATEGIES],
}
TIMELINE_POINTS = 40


def run_suite(memstrat, matrix, work, name, extra=(), env=None):
    config = os.path.join(work, name + ".json")
    out = os.path.join(work, name + "-results.json")
    with open(config, "w") as f:
        json.dump(matrix, f)
    subprocess.run([memstrat, "suite", "--config", config, "--out", out, "--verbose", *extra], check=True,
                   env=None if env is None else {**os.environ, **env})
    with open(out) as f:
        return json.load(f)


def thin_timeline(record):
    """Keeps about TIMELINE_POINTS samples, always the first, the last and the peak."""
    timeline = record.get("rss_timeline")
    if not timeline or len(timeline["t_ms"]) <= TIMELINE_POINTS:
        return
    t, rss = timeline["t_ms"], timeline["rss_bytes"]
    stride = max(1, len(t) // TIMELINE_POINTS)
    keep = set(range(0, len(t), stride)) | {len(t) - 1, max(range(len(t)), key=rss.__getitem__)}
    timeline["t_ms"] = [t[i] for i in sorted(keep)]
    timeline["rss_bytes"] = [rss[i] for i in sorted(keep)]


def fit_section(probes):
    """max_batch per strategy from unconstrained runs, against a budget taken from those runs."""
    ok = [r for r in probes["benchmarks"] if r.get("run_type") == "iteration" and r["status"] == "ok"]
    peaks = sorted(r["peak_rss_bytes"] for r in ok)
    mib = 1 << 20
    budget = -(-peaks[len(peaks) // 2] // mib) * mib  # median probe peak, rounded up to a MiB
    results = []
    for alloc, tech in FIT_STRATEGIES:
        mine = [r for r in ok if r["config"]["alloc"] == alloc and r["config"]["tech"] == tech]
        fitting = [r for r in mine if r["peak_rss_bytes"] <= budget]
        entry = {"alloc": alloc, "tech": tech, "max_batch": 0, "probes": len(mine)}
        if fitting:
            best = max(fitting, key=lambda r: r["config"]["batch"])
            entry.update(max_batch=best["config"]["batch"], step_ms=best["step_ms"],
                         samples_per_s=best["samples_per_s"], peak_rss_bytes=best["peak_rss_bytes"])
        results.append(entry)
    fit = {"budget_bytes": budget, "model": "vgg-mini", "image": 16, "steps": FIT_MATRIX["steps"],
           "results": results}
    fitting = [e for e in results if e["max_batch"] > 0]
    if fitting:
        fastest = max(fitting, key=lambda e: e["samples_per_s"])
        fit["fastest"] = {k: fastest[k] for k in ("alloc", "tech", "max_batch", "step_ms", "samples_per_s")}
    return fit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memstrat", default=os.path.join(ROOT, "build", "memstrat"))
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "results-small.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memstrat-fixture-") as work:
        main_results = run_suite(args.memstrat, MAIN_MATRIX, work, "main")
        oom = run_suite(args.memstrat, OOM_MATRIX, work, "oom")
        probes = run_suite(args.memstrat, FIT_MATRIX, work, "fit")
        disturbed = run_suite(args.memstrat, DISTURBED_MATRIX, work, "disturbed", ["--max-reruns", "0"],
                              {"MEMSTRAT_FAULT": "busy@1", "MEMSTRAT_FAULT_ONCE": os.path.join(work, "once")})
    document = main_results
    # Iterations first, then medians, as the suite orders them.
    records = main_results["benchmarks"] + oom["benchmarks"]
    document["benchmarks"] = ([r for r in records if r.get("run_type") == "iteration"] +
                              [r for r in records if r.get("run_type") == "aggregate"])
    for record in document["benchmarks"]:
        thin_timeline(record)
    document["fit"] = fit_section(probes)
    context = document["context"]
    context["fixture"] = True
    context["fixture_note"] = (
        "Made by tests/scripts/make_fixture.py from real runs. The mlp/b16/mmap/none cell ran "
        "under a 24MiB budget (hence oom). The fit section is not from `memstrat fit`: it comes from "
        f"unconstrained runs at batches {FIT_BATCHES}, max_batch being the largest whose peak RSS stayed "
        "within a budget set to the median of those runs' peaks. Timelines thinned to about "
        f"{TIMELINE_POINTS} points.")
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(document['benchmarks'])} records, {os.path.getsize(args.out) // 1024} KiB")
    for record in disturbed["benchmarks"]:
        thin_timeline(record)
    disturbed["context"]["fixture"] = True
    disturbed["context"]["fixture_note"] = (
        "Made by tests/scripts/make_fixture.py: the suite's first run competed with busy processes it "
        "started itself (MEMSTRAT_FAULT=busy@1, once) and --max-reruns 0 left it in place.")
    path = os.path.join(os.path.dirname(args.out), "results-disturbed.json")
    with open(path, "w") as f:
        json.dump(disturbed, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(disturbed['benchmarks'])} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
