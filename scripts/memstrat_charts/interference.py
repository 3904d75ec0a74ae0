"""scripts/interference: do memstrat's time figures hold on a busy machine?

Runs one suite configuration twice with `memstrat suite`: once quiet, once while a
competing load runs, round by round in alternation (quiet round 1, loaded round 1,
quiet round 2, ...: each round is `memstrat suite --repeats k --resume`), so that the
machine's own drift over minutes lands on both files alike. Then it prints per cell the quiet median, the loaded median, their
ratio, and what the loaded suite said about the cell (re-runs taken, unstable and
why). The load is one busy process pinned to one CPU, switched on and off at random
(on for an exponentially distributed time of mean --on seconds, off for mean --off,
so that it covers about on / (on + off) of the run: a third by default), by SIGSTOP
and SIGCONT from this script. The claim it checks: every cell's loaded median within
--tolerance of its quiet median, or the cell flagged unstable in the loaded run.

It is a benchmark to run and quote, not a test: it takes minutes, and its answer
depends on the machine. Run it with nothing else of yours running.
"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

from . import cli
from .results import ResultsError, load

DESCRIPTION = """Runs a suite configuration twice, quiet and under a competing load this script starts
(a busy process on one CPU, switched on and off at random to cover about a third of the run),
round by round in alternation so that the machine's own drift lands on both alike,
and prints per cell the two medians, their ratio, and whether the loaded run flagged the cell
unstable. Writes quiet.json, loaded.json and table.txt into --out-dir."""

ROOT = cli.ROOT


class Load:
    """A busy process on one CPU, stopped and continued at random from a thread."""

    def __init__(self, cpu, on_s, off_s, seed):
        self.cpu, self.on_s, self.off_s = cpu, on_s, off_s
        self.random = random.Random(seed)
        self.busy_s = 0.0
        self.started = None
        self._stop = threading.Event()

    def __enter__(self):
        code = f"import os; os.sched_setaffinity(0, {{{self.cpu}}})\nwhile True: pass"
        self.process = subprocess.Popen([sys.executable, "-c", code])
        os.kill(self.process.pid, signal.SIGSTOP)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._switch, daemon=True)
        self.thread.start()
        return self

    def _switch(self):
        while not self._stop.is_set():
            if self._stop.wait(self.random.expovariate(1 / self.off_s)):
                break
            os.kill(self.process.pid, signal.SIGCONT)
            on = self.random.expovariate(1 / self.on_s)
            began = time.monotonic()
            self._stop.wait(on)
            os.kill(self.process.pid, signal.SIGSTOP)
            self.busy_s += time.monotonic() - began

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self.process.kill()
        self.process.wait()
        self.elapsed_s = time.monotonic() - self.started


def run_suite(memstrat, config, out, extra):
    command = [memstrat, "suite", "--config", config, "--out", out, *extra]
    print("+ " + " ".join(command), flush=True)
    if subprocess.run(command).returncode != 0:
        raise ResultsError(f"the suite failed ({' '.join(command)}); see its message above")


def config_repeats(memstrat, config):
    """The configuration's repeats, as memstrat reads them (its --dry-run's last line)."""
    listing = subprocess.run([memstrat, "suite", "--config", config, "--dry-run"], capture_output=True, text=True)
    found = re.search(r"cells x (\d+) repeats", listing.stdout)
    if listing.returncode != 0 or not found:
        raise ResultsError(f"memstrat cannot read {config}: {listing.stderr.strip() or listing.stdout.strip()}")
    return int(found.group(1))


def table(quiet, loaded, tolerance, load_line):
    loaded_cells = {c.name: c for c in loaded.cells}
    width = max(len(c.name) for c in quiet.cells)
    lines = [load_line,
             f"{'cell':<{width}}  {'quiet ms':>9} {'loaded ms':>9} {'ratio':>6}  {'re-runs':>7}  verdict",
             "-" * (width + 60)]
    held = total = 0
    for q in quiet.cells:
        l = loaded_cells.get(q.name)
        if l is None or not (q.ok and l.ok) or q.get("step_ms") is None or l.get("step_ms") is None:
            lines.append(f"{q.name:<{width}}  not comparable (quiet {q.status}, loaded {l.status if l else 'absent'})")
            continue
        total += 1
        ratio = l.get("step_ms") / q.get("step_ms")
        within = abs(ratio - 1) <= tolerance
        if within:
            verdict = f"within {tolerance:.0%}"
        elif l.unstable:
            verdict = "flagged unstable: " + l.unstable_reason[:90]
        else:
            verdict = "MISSED: off by more than the tolerance and not flagged"
        if q.unstable:
            verdict += " (the quiet run flagged it too)"
        held += within or l.unstable
        lines.append(f"{q.name:<{width}}  {q.get('step_ms'):9.1f} {l.get('step_ms'):9.1f} {ratio:6.3f}  "
                     f"{len(l.superseded):>7}  {verdict}")
    lines.append(f"{held} of {total} cells within {tolerance:.0%} of their quiet median or flagged unstable "
                 f"in the loaded run")
    return lines, held == total


def main(argv=None):
    p = cli.parser("interference", DESCRIPTION)
    p.add_argument("--config", default=os.path.join(ROOT, "results", "configs", "interference.toml"),
                   help="the suite configuration (default: results/configs/interference.toml)")
    p.add_argument("--memstrat", default=os.path.join(ROOT, "build", "memstrat"), help="the memstrat binary")
    p.add_argument("--out-dir", required=True, metavar="DIR",
                   help="where quiet.json, loaded.json and table.txt go (must not hold them already)")
    p.add_argument("--on", type=float, default=0.5, help="mean seconds the load stays on (default 0.5)")
    p.add_argument("--off", type=float, default=1.0, help="mean seconds it stays off (default 1.0)")
    p.add_argument("--cpu", type=int, default=None, help="the CPU the load runs on (default: the last usable)")
    p.add_argument("--tolerance", type=float, default=0.05, help="how close counts as held (default 0.05)")
    p.add_argument("--seed", type=int, default=1, help="seed of the load's random switching")
    args = p.parse_args(argv)

    def run():
        if not os.access(args.memstrat, os.X_OK):
            print(f"interference: {args.memstrat} is not an executable: build it with `make`", file=sys.stderr)
            return 1
        if args.on <= 0 or args.off <= 0:
            print("interference: --on and --off must be positive", file=sys.stderr)
            return 2
        os.makedirs(args.out_dir, exist_ok=True)
        paths = {name: os.path.join(args.out_dir, name) for name in ("quiet.json", "loaded.json", "table.txt")}
        present = [p for p in paths.values() if os.path.exists(p)]
        if present:
            print(f"interference: {present[0]} exists already: choose another --out-dir", file=sys.stderr)
            return 1
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        repeats = config_repeats(args.memstrat, args.config)
        busy_s = elapsed_s = 0.0
        for k in range(1, repeats + 1):
            print(f"interference: round {k} of {repeats}, quiet", flush=True)
            run_suite(args.memstrat, args.config, paths["quiet.json"], ["--repeats", str(k), "--resume"])
            print(f"interference: round {k} of {repeats}, loaded", flush=True)
            with Load(cpu, args.on, args.off, args.seed + k) as busy:
                run_suite(args.memstrat, args.config, paths["loaded.json"], ["--repeats", str(k), "--resume"])
            busy_s, elapsed_s = busy_s + busy.busy_s, elapsed_s + busy.elapsed_s
        quiet, loaded = load(paths["quiet.json"]), load(paths["loaded.json"])
        load_line = (f"load: one busy process on CPU {cpu}, on for {busy_s / elapsed_s:.0%} of the loaded rounds "
                     f"({busy_s:.0f} of {elapsed_s:.0f} s; mean on {args.on} s, off {args.off} s, "
                     f"seed {args.seed} + round); rounds alternate quiet and loaded")
        lines, held = table(quiet, loaded, args.tolerance, load_line)
        text = "\n".join(lines) + "\n"
        with open(paths["table.txt"], "w") as f:
            f.write(text)
        print(text, end="")
        print(f"written: {paths['quiet.json']}, {paths['loaded.json']}, {paths['table.txt']}")
        return 0 if held else 3

    return cli.run("interference", run)


if __name__ == "__main__":
    sys.exit(main())
