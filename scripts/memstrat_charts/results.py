"""Reading a results file: checking it is one, and grouping its records into cells.

A results file has Google Benchmark's shape: {"context": {...}, "benchmarks": [...],
optionally "fit": {...}}. A cell is one configuration (its "run_name"); a suite
writes one "iteration" record per repeat and one "aggregate" record holding the
median over the repeats. A run disturbed by other load and re-run stays in the file
marked "superseded" (its name ends _superseded); it is kept apart here, out of every
figure. A figure a run could not report is absent, never zero, so every reader here
asks for figures with Cell.get, which answers None.

Problems with the file raise ResultsError with one line naming the file and what is
wrong; the entry points print it and exit non-zero, without a traceback.
"""
import glob
import json
import math
import os
import statistics

from . import schema, steps, strategy
from .units import MIB


class ResultsError(Exception):
    """A results file that cannot be used; str() is the one-line message."""


# Figures that must be numbers where present (anything else means the file is not
# ours): every number the schema declares.
NUMERIC_KEYS = schema.numeric_record_keys()


class Cell:
    """One configuration: its median figures, its repeats, and what they were run with."""

    def __init__(self, name, summary, repeats, superseded=()):
        self.name = name
        self.summary = summary      # the median record, or the only iteration record
        self.repeats = repeats      # iteration records that stand for the repeats, in file order
        self.superseded = list(superseded)  # disturbed runs that a re-run replaced
        self.config = summary.get("config") or {}
        self.status = summary.get("status", "ok")
        self.reason = summary.get("reason", "")

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def unstable(self):
        """Whether the cell's time is not to be trusted: the suite's flag, or for files
        written before the suite set one, a repeat the run itself found disturbed."""
        if "unstable" in self.summary:
            return bool(self.summary["unstable"])
        return any(r.get("disturbed") for r in self.repeats)

    @property
    def unstable_reason(self):
        if self.summary.get("unstable_reason"):
            return self.summary["unstable_reason"]
        for r in self.repeats:
            if r.get("disturbed"):
                return "a repeat was disturbed: " + r.get("disturbed_reason", "")
        return ""

    def repeat_medians(self):
        """Each ok repeat's median step time: the independent measurements of the cell."""
        values = [float(r["step_ms"]) for r in self.repeats
                  if r.get("status") == "ok" and isinstance(r.get("step_ms"), (int, float))]
        if values:
            return values
        return [float(t) for t in self.summary.get("step_ms_repeats") or []]

    @property
    def alloc(self):
        return self.config.get("alloc", "?")

    @property
    def tech(self):
        return self.config.get("tech", "none")

    @property
    def strategy(self):
        return strategy.label(self.alloc, self.tech)

    @property
    def workload(self):
        """Everything but the strategy: cells of one workload are compared in one panel or table."""
        c = self.config
        if "command" in c:  # a command cell (memstrat exec): its label names the workload
            return (c.get("label", "?"), c.get("batch", 0), 0, 0, 0, 0, "sgd", "memory", 1, "")
        return (c.get("model", "?"), c.get("batch", 0), c.get("image", 0), c.get("channels", 0),
                c.get("classes", 0), c.get("threads", 0), c.get("optimizer", "sgd"),
                c.get("data_mode", "memory"), c.get("ranks", 1), c.get("transport", ""))

    def get(self, key):
        """A figure as a float, or None when the run did not report it."""
        value = self.summary.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)

    def get_mib(self, key):
        value = self.get(key)
        return None if value is None else value / MIB

    def timeline(self):
        """The first repeat's RSS timeline (the suite keeps only one per cell), or None."""
        for record in self.repeats or [self.summary]:
            t = record.get("rss_timeline")
            if isinstance(t, dict) and t.get("t_ms") and len(t["t_ms"]) == len(t.get("rss_bytes", [])):
                return t
        return None

    def step_timeline(self):
        """The first repeat's last measured step, event by event (steps.py reads it), or None."""
        for record in self.repeats or [self.summary]:
            t = record.get("step_timeline")
            if steps.valid(t):
                return t
        return None


def workload_label(workload):
    model, batch, image, channels, classes, threads, optimizer, data_mode, ranks, transport = workload
    parts = [f"{model}, batch {batch}" if batch else model]
    if image:
        parts.append(f"{image}×{image} images")
    if channels:
        parts.append(f"{channels} channels")
    if classes:
        parts.append(f"{classes} classes")
    if threads:
        parts.append(f"{threads} threads")
    if optimizer != "sgd":
        parts.append(optimizer)
    if data_mode != "memory":
        parts.append(f"data {data_mode}")
    if ranks > 1:
        parts.append(f"{ranks} ranks" + (f" over {transport}" if transport else ""))
    return ", ".join(parts)


class Results:
    def __init__(self, path, document):
        self.path = path
        self.context = document.get("context") or {}
        self.fit = document.get("fit")
        self.fit_source = path if self.fit else None
        self.cells = _cells(document["benchmarks"])

    def workloads(self):
        """Cells grouped by workload, workloads in file order, cells in strategy order."""
        groups = {}
        for cell in self.cells:
            groups.setdefault(cell.workload, []).append(cell)
        for cells in groups.values():
            cells.sort(key=lambda c: strategy.sort_key(c.alloc, c.tech))
        return groups

    def strategies(self):
        return sorted({(c.alloc, c.tech) for c in self.cells}, key=lambda at: strategy.sort_key(*at))


def _median_summary(repeats):
    """What the suite's median record would hold, for files written without one."""
    repeats = [r for r in repeats if not r.get("superseded")]
    failed = [r for r in repeats if r.get("status") != "ok"]
    if failed:
        return failed[0]
    if len(repeats) == 1:
        return repeats[0]
    summary = dict(repeats[0])
    for key, value in repeats[0].items():
        values = [r.get(key) for r in repeats]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            summary[key] = statistics.median(values)
    summary["step_ms_repeats"] = [r["step_ms"] for r in repeats if "step_ms" in r]
    return summary


def _cells(records):
    order, repeats, superseded, medians = [], {}, {}, {}
    for record in records:
        name = record.get("run_name") or record["name"]
        if name not in repeats:
            order.append(name)
            repeats[name], superseded[name] = [], []
        if record.get("run_type") == "aggregate":
            if record.get("aggregate_name") == "median":
                medians[name] = record
        elif record.get("superseded"):
            superseded[name].append(record)
        else:
            repeats[name].append(record)
    cells = []
    for name in order:
        summary = medians.get(name) or (_median_summary(repeats[name]) if repeats[name] else None)
        if summary is not None:
            cells.append(Cell(name, summary, repeats[name], superseded[name]))
    return cells


def _read_json(path):
    if not os.path.exists(path):
        raise ResultsError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ResultsError(f"{path}: is a directory, not a results file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot be read ({e})")
    if not text.strip():
        raise ResultsError(f"{path}: is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        # An object or list cut short does not end with its closing bracket, wherever the parser stopped.
        body = text.strip()
        cut = body[0] in "{[" and body[-1] != {"{": "}", "[": "]"}[body[0]]
        if e.msg != "Extra data" and (cut or e.pos >= len(body) - 1):
            raise ResultsError(f"{path}: ends in the middle of the JSON (line {e.lineno}): truncated")
        raise ResultsError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg})")


def _check(path, document):
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise ResultsError(f"{path}: not a memstrat results file (no \"benchmarks\" list)")
    if not isinstance(document.get("context", {}), dict):
        raise ResultsError(f"{path}: not a memstrat results file (\"context\" is not an object)")
    for i, record in enumerate(document["benchmarks"]):
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            raise ResultsError(f"{path}: record {i} has no name: not a memstrat results file")
        name = record["name"]
        if "status" not in record or "config" not in record:
            raise ResultsError(f"{path}: record '{name}' has no status or config: not a memstrat results file "
                               "(Google Benchmark output of another program?)")
        if not isinstance(record["config"], dict):
            raise ResultsError(f"{path}: record '{name}': \"config\" is not an object")
        for key in NUMERIC_KEYS:
            value = record.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ResultsError(f"{path}: record '{name}': {key} is {json.dumps(value)[:40]}, not a number")
    fit = document.get("fit")
    if fit is not None:
        if (not isinstance(fit, dict) or not isinstance(fit.get("results"), list)
                or not all(isinstance(r, dict) and "alloc" in r and isinstance(r.get("max_batch"), int)
                           for r in fit["results"])):
            raise ResultsError(f"{path}: its \"fit\" section has no list of results with alloc and max_batch")
    if not document["benchmarks"] and fit is None:
        raise ResultsError(f"{path}: holds no runs")


def load(path):
    document = _read_json(path)
    _check(path, document)
    return Results(path, document)


def _newest(paths):
    return max(paths, key=lambda p: (os.path.getmtime(p), p)) if paths else None


def default_files(results_dir):
    """The newest suite results file in results_dir (or the newest fit file when there is none)."""
    paths = glob.glob(os.path.join(results_dir, "*.json"))
    if not paths:
        shown = os.path.relpath(results_dir) if not os.path.relpath(results_dir).startswith("..") else results_dir
        raise ResultsError(f"{shown}/: no results file (*.json) there; run `make bench` or name a file")
    suites = [p for p in paths if not os.path.basename(p).startswith("fit-")]
    return _newest(suites) or _newest(paths)


def load_default_or(path, results_dir, fit_path=None):
    """Loads the file named, or the newest in results_dir; adds a fit section from elsewhere.

    The fit section comes from fit_path when given; otherwise, when the results have
    none, from the newest fit-*.json of the same machine in the same folder, since
    `memstrat fit` writes its own file beside the suite's.
    """
    results = load(path or default_files(results_dir))
    folder = os.path.dirname(results.path) or "."
    if fit_path is None and results.fit is None:
        host = results.context.get("host_name")
        fits = [p for p in glob.glob(os.path.join(folder, "fit-*.json")) if p != results.path]
        fits = [p for p in fits if host is None or os.path.basename(p).startswith(f"fit-{host}-")]
        fit_path = _newest(fits)
    if fit_path is not None:
        other = load(fit_path)
        if other.fit is None:
            raise ResultsError(f"{fit_path}: has no \"fit\" section")
        results.fit, results.fit_source = other.fit, fit_path
    return results
