"""scripts/prediction_error: how close `memstrat estimate --alloc` comes to measured peak RSS.

For every ok cell of a results file (a suite's median records), predicts the cell's
peak RSS with `memstrat estimate --alloc` (one call per configuration, every allocator
of that configuration in it) and prints predicted, measured and the error, worst
first, with the median and worst |error|. Writes the table and a JSON copy when
--out is given. A benchmark to run and quote: it runs a child process per cell.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from . import cli
from .results import ResultsError, load

DESCRIPTION = """Predicts every ok cell's peak RSS with `memstrat estimate --alloc` and prints it beside the
measured figure, with the error (predicted - measured) / measured."""

# The configuration keys estimate takes, and their flags.
FLAGS = {"model": "--model", "image": "--image", "channels": "--channels", "classes": "--classes",
         "batch": "--batch", "threads": "--threads", "optimizer": "--optimizer", "tech": "--tech"}
MIB = 1024.0 * 1024.0


def estimate_args(config):
    args = []
    for key, flag in FLAGS.items():
        value = config.get(key)
        if value in (None, "", 0):
            continue
        args += [flag, str(value)]
    return args


def main(argv=None):
    p = cli.parser("prediction_error", DESCRIPTION)
    p.add_argument("results", metavar="RESULTS.json", help="a suite's results file")
    p.add_argument("--memstrat", default=os.path.join(cli.ROOT, "build", "memstrat"), help="the memstrat binary")
    p.add_argument("--out", metavar="FILE.json", help="write the rows here as JSON, and the table beside it (.txt)")
    args = p.parse_args(argv)

    def run():
        if not os.access(args.memstrat, os.X_OK):
            raise ResultsError(f"{args.memstrat} is not an executable: build it with `make`")
        doc = load(args.results)
        groups = {}
        for cell in doc.cells:
            if not cell.ok or cell.get("peak_rss_bytes") is None:
                continue
            config = dict(cell.config)
            config.pop("alloc", None)
            # The run's own step count, warm-up included: glibc's heap grows over steps.
            steps = int(cell.get("iterations") or 0) + int(cell.get("warmup_steps") or 0)
            key = tuple(estimate_args(config) + (["--run-steps", str(steps)] if steps else []))
            groups.setdefault(key, []).append(cell)
        rows = []
        for n, (key, cells) in enumerate(groups.items(), 1):
            allocs = ",".join(c.alloc for c in cells)
            command = [args.memstrat, "estimate", *key, "--alloc", allocs, "--json"]
            print(f"prediction_error: {n}/{len(groups)}: {' '.join(key)} under {allocs}", file=sys.stderr, flush=True)
            began = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True)
            seconds = time.monotonic() - began
            if not done.stdout.strip():
                raise ResultsError(f"{' '.join(command)} failed: {done.stderr.strip()}")
            answers = {a["alloc"]: a for a in json.loads(done.stdout)["peak_rss"]}
            for c in cells:
                a = answers[c.alloc]
                measured = c.get("peak_rss_bytes")
                predicted = a.get("predicted_peak_rss_bytes")
                rows.append({"cell": c.name, "measured_peak_rss_bytes": measured,
                             "predicted_peak_rss_bytes": predicted,
                             "error": None if predicted is None else (predicted - measured) / measured,
                             "child_seconds": a.get("seconds"), "estimate_seconds": seconds / len(cells),
                             "run_seconds": sum(r.get("wall_s", 0) for r in c.repeats) / max(1, len(c.repeats)),
                             "note": a.get("error") or a.get("caveat", "")})
        rows.sort(key=lambda r: -abs(r["error"]) if r["error"] is not None else -1e9)
        errors = [abs(r["error"]) for r in rows if r["error"] is not None]
        width = max(len(r["cell"]) for r in rows)
        lines = [f"{'cell':<{width}}  {'predicted':>10} {'measured':>10} {'error':>7}  note"]
        for r in rows:
            pred = "-" if r["predicted_peak_rss_bytes"] is None else f"{r['predicted_peak_rss_bytes'] / MIB:.1f}"
            err = "-" if r["error"] is None else f"{100 * r['error']:+.1f}%"
            lines.append(f"{r['cell']:<{width}}  {pred:>10} {r['measured_peak_rss_bytes'] / MIB:>10.1f} {err:>7}  "
                         f"{r['note']}")
        within = sum(1 for e in errors if e <= 0.03)
        lines.append(f"{len(errors)} cells predicted: median |error| {100 * statistics.median(errors):.1f}%, "
                     f"worst {100 * max(errors):.1f}%, {within} within 3% (MiB; measured: {args.results})")
        text = "\n".join(lines) + "\n"
        cli.print_table(text, args.out, args.results, rows, ".txt")
        return 0

    return cli.run("prediction_error", run)


if __name__ == "__main__":
    sys.exit(main())
