#!/usr/bin/env python3
"""Tests of scripts/plot, scripts/report and scripts/compare on tests/fixtures/results-small.json.

The scripts run as a user runs them (the launchers, in a subprocess). The report's
tables are read back and held against the fixture's own figures, parsed here
independently of the report's code. Run by ctest through run_tests.sh.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-small.json")
CHARTS = ["peak_memory", "step_time", "time_vs_memory", "memory_over_time", "fragmentation", "fit"]
MIB = 1024.0 * 1024.0
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def script(name, *args):
    return subprocess.run([os.path.join(ROOT, "scripts", name), *args], capture_output=True, text=True,
                          timeout=300)


def fixture(path=FIXTURE):
    with open(path) as f:
        return json.load(f)


def read(path):
    with open(path) as f:
        return f.read()


def put(path, text):
    with open(path, "w") as f:
        f.write(text)


def write(path, document):
    with open(path, "w") as f:
        json.dump(document, f)
    return path


def medians(document):
    return [r for r in document["benchmarks"] if r.get("run_type") == "aggregate"]


def strategy_label(config):
    return config["alloc"] if config["tech"] == "none" else f"{config['alloc']} + {config['tech']}"


def report_tables(text):
    """{section heading: {strategy: {column: cell text}}} for every table of the report."""
    tables, heading, header = {}, None, None
    for line in text.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        if not line.startswith("|"):
            header = None  # the next table starts with its own header
        elif header is None:
            header = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        elif heading is not None and not set(line) <= set("|-: "):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            tables.setdefault(heading, {})[cells[0]] = dict(zip(header, cells))
    return tables


def close_to_shown(text, expected):
    """Whether the number shown equals expected to the decimals shown."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - expected) <= 0.5 * 10 ** -decimals + 1e-9


class Scratch(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memstrat-scripts-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def assertRan(self, result):
        self.assertEqual(result.returncode, 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        self.assertNotIn("Traceback", result.stderr)


class Plot(Scratch):
    def test_every_chart_is_drawn_as_png_and_svg(self):
        self.assertRan(script("plot", FIXTURE, "--out", self.path("charts")))
        context = fixture()["context"]
        for name in CHARTS:
            with open(self.path("charts", f"{name}.png"), "rb") as f:
                png = f.read()
            self.assertTrue(png.startswith(b"\x89PNG"), name)
            self.assertGreater(len(png), 10000, f"{name}.png is suspiciously small")
            svg = read(self.path("charts", f"{name}.svg"))
            self.assertIn("<svg", svg)
            # The machine is named in a corner of every chart.
            self.assertIn(context["cpu_model"], svg, f"{name}.svg does not name the machine")

    def test_memory_over_time_has_a_panel_per_recorded_step_and_falls_back_without(self):
        from memstrat_charts.results import load
        cells = [c for c in load(FIXTURE).cells if c.ok and c.step_timeline() is not None]
        self.assertGreater(len(cells), 5, "the fixture's runs record their last step")
        self.assertRan(script("plot", FIXTURE, "--out", self.path("charts")))
        svg = read(self.path("charts", "memory_over_time.svg"))
        self.assertIn("Memory inside one step", svg)
        # One panel per cell: its strategy is the panel's title, once per workload it ran in.
        for cell in cells:
            self.assertIn(f">{cell.strategy}<", svg.replace("&gt;", ">"), cell.name)
        self.assertEqual(len(re.findall(r"RSS \d+, live \d+", svg)), len(cells), "one 'RSS n, live m' per panel")
        # Files from before step timelines: the RSS of each run over wall-clock time.
        document = fixture()
        for record in document["benchmarks"]:
            record.pop("step_timeline", None)
        self.assertRan(script("plot", write(self.path("old.json"), document), "--out", self.path("old")))
        self.assertIn("Memory over time: RSS of each run", read(self.path("old", "memory_over_time.svg")))

    def test_ranks_chart_draws_every_rank_cell_and_the_formula(self):
        from unittest import mock
        from memstrat_charts import figure
        from memstrat_charts.charts import Skip, ranks
        from memstrat_charts.results import load
        results = load(os.path.join(ROOT, "results", "suites", "ranks-vm-2026-12-07.json"))
        drawn = {}
        with mock.patch.object(figure, "save", lambda fig, out, stem: drawn.setdefault(stem, fig) and []):
            ranks.draw(results, self.dir)
        left, right = drawn["ranks"].axes[:2]
        ok = [c for c in results.cells if c.ok]
        self.assertEqual(len(left.patches), len(ok), "one bar per cell")
        self.assertEqual(sorted(round(p.get_width(), 3) for p in left.patches),
                         sorted(round(c.get_mib("peak_rss_bytes"), 3) for c in ok))
        labels = [t.get_text() for t in left.get_yticklabels()]
        for label in ("1 process", "2 ranks, zero:3", "4 ranks, dp", "2 ranks over tcp, zero:1"):
            self.assertIn(label, labels)
        # The formula's line for each stage goes through the records' zero_formula_bytes.
        lines = {line.get_label(): line for line in right.get_lines()}
        for stage in ranks.STAGES:
            cells = sorted((ranks.ranks_of(c), c) for c in ok if c.alloc == "malloc" and ranks.ranks_of(c) > 1
                           and ranks.stage_of(c) == stage and not c.config.get("transport"))
            ys = list(lines[f"{stage} formula"].get_ydata())[1:]
            self.assertEqual([round(y, 3) for y in ys], [round(c.get_mib("zero_formula_bytes"), 3) for _, c in cells])
        with self.assertRaisesRegex(Skip, "no run over --ranks"):
            ranks.draw(load(FIXTURE), self.dir)

    def test_missing_figures_and_sections_skip_charts_and_remove_stale_ones(self):
        document = fixture()
        del document["fit"]
        for record in document["benchmarks"]:
            for key in ("fragmentation", "rss_timeline", "step_timeline", "overhead_ratio", "step_ms_p10",
                        "step_ms_p90"):
                record.pop(key, None)
        os.makedirs(self.path("charts"))
        for stale in ("fit.png", "fit.svg", "memory_over_time.png"):
            put(self.path("charts", stale), "stale")
        result = script("plot", write(self.path("sparse.json"), document), "--out", self.path("charts"))
        self.assertRan(result)
        self.assertRegex(result.stdout, r"fit: skipped, no fit section")
        self.assertRegex(result.stdout, r"memory_over_time: skipped, no run with an RSS timeline")
        for name in ("peak_memory", "step_time", "time_vs_memory", "fragmentation"):
            self.assertGreater(os.path.getsize(self.path("charts", f"{name}.png")), 0)
        for stale in ("fit.png", "fit.svg", "memory_over_time.png"):
            self.assertFalse(os.path.exists(self.path("charts", stale)), stale)

    def test_a_single_run_file_without_medians(self):
        # What `memstrat run --json` writes: one iteration record, no aggregate.
        document = fixture()
        first = next(r for r in document["benchmarks"] if r.get("run_type") == "iteration" and not r.get("superseded"))
        document["benchmarks"] = [first]
        del document["fit"]
        self.assertRan(script("plot", write(self.path("one.json"), document), "--out", self.path("charts")))
        self.assertTrue(os.path.exists(self.path("charts", "peak_memory.png")))

    def test_default_is_the_newest_results_file_with_the_newest_fit_beside_it(self):
        document = fixture()
        fit = document.pop("fit")
        fit["budget_bytes"] = 123 * 1024 * 1024
        host = document["context"]["host_name"]
        older = write(self.path(f"{host}-2000-01-01.json"), fixture())
        newer = write(self.path(f"{host}-2000-01-02.json"), document)
        fit_file = write(self.path(f"fit-{host}-2000-01-03.json"),
                         {"context": document["context"], "benchmarks": [], "fit": fit})
        now = time.time()
        for age, path in ((30, older), (20, newer), (10, fit_file)):
            os.utime(path, (now - age, now - age))
        result = script("report", "--results-dir", self.dir, "--out", self.path("REPORT.md"))
        self.assertRan(result)
        self.assertIn(newer, result.stdout)
        text = read(self.path("REPORT.md"))
        self.assertIn("Within a budget of 123.0 MiB", text)
        self.assertIn(f"({os.path.basename(fit_file)})", text)  # linked beside the report


class Report(Scratch):
    def setUp(self):
        super().setUp()
        self.assertRan(script("plot", FIXTURE, "--out", self.path("charts")))
        self.assertRan(script("report", FIXTURE, "--out", self.path("REPORT.md")))
        self.text = read(self.path("REPORT.md"))

    def table_for(self, config):
        prefix = f"{config['model']}, batch {config['batch']}"
        tables = report_tables(self.text)
        matching = [h for h in tables if h.startswith(prefix)]
        self.assertEqual(len(matching), 1, f"one table for {prefix}, found {matching}")
        return tables[matching[0]]

    def test_tables_hold_every_cell_with_its_figures(self):
        columns = {"step ms": ("step_ms", 1), "samples/s": ("samples_per_s", 1),
                   "peak RSS MiB": ("peak_rss_bytes", 1 / MIB), "baseline RSS MiB": ("baseline_rss_bytes", 1 / MIB),
                   "peak live MiB": ("peak_live_bytes", 1 / MIB), "overhead ×": ("overhead_ratio", 1),
                   "fragmentation %": ("fragmentation", 100), "retained MiB": ("retained_bytes", 1 / MIB),
                   "alloc calls/step": ("alloc_calls_per_step", 1), "minor faults": ("minor_faults", 1)}
        checked = 0
        for record in medians(fixture()):
            row = self.table_for(record["config"]).get(strategy_label(record["config"]))
            self.assertIsNotNone(row, f"no row for {record['run_name']}")
            if record["status"] != "ok":
                self.assertIn(record["status"], row["status"])
                self.assertIn(record["reason"], row["status"])
                self.assertEqual(row["peak RSS MiB"], "–")
                continue
            self.assertEqual(row["status"], "ok, **unstable**" if record.get("unstable") else "ok", record["run_name"])
            for column, (key, scale) in columns.items():
                if key not in record:
                    self.assertEqual(row[column], "–", f"{record['run_name']}: {column}")
                    continue
                self.assertTrue(close_to_shown(row[column], record[key] * scale),
                                f"{record['run_name']}: {column} shows {row[column]}, the file has "
                                f"{record[key] * scale}")
                checked += 1
        self.assertGreater(checked, 100)

    def test_machine_charts_and_findings(self):
        context = fixture()["context"]
        for value in (context["host_name"], context["cpu_model"], context["kernel"], context["libc"]):
            self.assertIn(value, self.text)
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", self.text)
        self.assertEqual(sorted(os.path.splitext(os.path.basename(p))[0] for p in links), sorted(CHARTS))
        for link in links:
            self.assertFalse(os.path.isabs(link), link)
            self.assertTrue(os.path.exists(self.path(link)), link)
        # The lowest-peak allocator of each workload, found here independently.
        by_workload = {}
        for r in medians(fixture()):
            if r["status"] == "ok" and r["config"]["tech"] == "none":
                by_workload.setdefault((r["config"]["model"], r["config"]["batch"]), []).append(r)
        for cells in by_workload.values():
            lowest = min(cells, key=lambda r: r["peak_rss_bytes"])
            name = "glibc malloc" if lowest["config"]["alloc"] == "malloc" else lowest["config"]["alloc"]
            self.assertIn(f"**Lowest peak**: {name}, {lowest['peak_rss_bytes'] / MIB:.1f} MiB", self.text)
        top = max(e["max_batch"] for e in fixture()["fit"]["results"])
        self.assertIn(f"**Largest batch**: {top}", self.text)
        self.assertNotRegex(self.text, r"\bnan\b|\bNone\b")

    def test_results_file_is_linked_relative_to_the_report(self):
        row = [line for line in self.text.splitlines() if line.startswith("| results file |")]
        self.assertEqual(len(row), 1, self.text)
        target = re.search(r"\]\(([^)]+)\)", row[0]).group(1)
        self.assertFalse(os.path.isabs(target), target)
        self.assertTrue(os.path.samefile(os.path.join(self.dir, target), FIXTURE), target)


DISTURBED = os.path.join(ROOT, "tests", "fixtures", "results-disturbed.json")
GBENCH_COMPARE = "/usr/share/benchmark/compare.py"  # Debian's libbenchmark-tools


def compare_rows(stdout):
    """{cell: row text} of scripts/compare's table."""
    return {line.split()[0]: line for line in stdout.splitlines() if line.startswith(("vgg-mini/", "mlp/"))}


class Compare(Scratch):
    def derived(self, factor=0.5, cells=None, repeats=None, clear_flags=False):
        """The fixture with the step times of vgg-mini (or of `cells`) times `factor` (only in the
        repeats listed, when given), one cell gone and one new; flags cleared if asked."""
        document = fixture()
        kept = []
        for record in document["benchmarks"]:
            if record["run_name"] == "mlp/b16/pool/none":
                continue
            if clear_flags:
                for key in ("unstable", "unstable_reason", "disturbed", "disturbed_reason"):
                    record.pop(key, None)
            chosen = record["run_name"] in cells if cells else record["config"]["model"] == "vgg-mini"
            this_repeat = repeats is None or record.get("repetition_index") in repeats
            if chosen and this_repeat and record["run_type"] == "iteration":
                for key in ("step_ms", "step_ms_p10", "step_ms_p90", "real_time"):
                    if key in record:
                        record[key] *= factor
                record["step_times_ms"] = [t * factor for t in record.get("step_times_ms", [])]
            if chosen and record["run_type"] == "aggregate" and repeats is None:
                for key in ("step_ms", "step_ms_p10", "step_ms_p90", "real_time", "step_ms_ci_low", "step_ms_ci_high"):
                    if key in record:
                        record[key] *= factor
                record["step_ms_repeats"] = [t * factor for t in record.get("step_ms_repeats", [])]
            kept.append(record)
        extra = json.loads(json.dumps(next(r for r in kept if r["run_type"] == "iteration"
                                          and not r.get("superseded"))))
        extra["name"] = extra["run_name"] = "mlp/b64/malloc/none"
        document["benchmarks"] = kept + [extra]
        return write(self.path(f"b-{factor}-{len(os.listdir(self.dir))}.json"), document)

    def test_against_itself_every_ratio_is_one_and_three_repeats_decide_nothing(self):
        result = script("compare", FIXTURE, FIXTURE)
        self.assertRan(result)
        rows = compare_rows(result.stdout)
        self.assertEqual(len(rows), len(medians(fixture())))
        for cell, row in rows.items():
            if " oom" in row:
                continue
            self.assertRegex(row, r" 1\.00 +\d")
            # Three repeats a side reach 90% at best: below the 95% asked, nothing is decided.
            self.assertIn("undecided: 3 vs 3 repeats", row, cell)
        self.assertNotIn("only in", result.stdout)

    def test_ratios_intervals_and_cells_in_one_file_only(self):
        chart = self.path("compare.png")
        result = script("compare", FIXTURE, self.derived(0.5), "--chart", chart, "--alpha", "0.1")
        self.assertRan(result)
        repeat_medians = {}
        for r in fixture()["benchmarks"]:
            if r["run_type"] == "iteration" and r["status"] == "ok" and not r.get("superseded"):
                repeat_medians.setdefault(r["run_name"], []).append(r["step_ms"])
        for cell, row in compare_rows(result.stdout).items():
            if cell.startswith("vgg-mini/") and " oom" not in row:
                # B's repeats are A's halved: the pairwise ratios run from 0.5 min/max to 0.5 max/min,
                # their median is 0.5, and with 3 a side the interval is the widest (90%).
                a = repeat_medians[cell]
                low, high = 0.5 * min(a) / max(a), 0.5 * max(a) / min(a)
                self.assertIn(f" 0.50 {low:6.2f}–{high:.2f} (90%)", row)
                self.assertIn("B faster" if high < 1 else "undecided", row)
        self.assertIn("only in A (1): mlp/b16/pool/none", result.stdout)
        self.assertIn("only in B (1): mlp/b64/malloc/none", result.stdout)
        self.assertGreater(os.path.getsize(chart), 10000)
        svg = self.path("compare.svg")
        self.assertRan(script("compare", FIXTURE, self.derived(0.5), "--chart", svg))
        self.assertIn("<svg", read(svg))

    def test_a_cell_with_a_disturbed_repeat_is_flagged_not_same(self):
        # A real disturbed repeat: the run competed with busy processes and was not re-run.
        result = script("compare", FIXTURE, DISTURBED, "--alpha", "0.1")
        self.assertRan(result)
        row = compare_rows(result.stdout)["vgg-mini/b8/malloc/none/i16"]
        self.assertIn("B unstable", row)
        self.assertNotIn(" same ", row)
        self.assertRegex(result.stdout, r"B unstable: vgg-mini/b8/malloc/none/i16: [123] of 3 repeats stayed "
                                        r"disturbed after 0 re-runs .*waited for a CPU")
        # The same cell 4.5 times slower in one repeat of three, in a file with no flags at all
        # (as files written before the suite flagged anything): not "same" at any level.
        cell = "vgg-mini/b8/pool/none/i16"
        for alpha in ("0.05", "0.1", "0.5"):
            b = self.derived(4.5, cells={cell}, repeats={1}, clear_flags=True)
            row = compare_rows(script("compare", self.derived(1.0, clear_flags=True), b, "--alpha", alpha).stdout)[cell]
            self.assertNotIn(" same ", row, f"alpha {alpha}: {row}")
            self.assertIn("undecided", row)
        # 4.5 times slower in every repeat: decided, at the level three repeats can reach.
        b = self.derived(4.5, cells={cell}, clear_flags=True)
        row = compare_rows(script("compare", self.derived(1.0, clear_flags=True), b, "--alpha", "0.1").stdout)[cell]
        self.assertRegex(row, r" 4\.50 .* B slower")

    def test_google_benchmark_compare_py_reads_the_files(self):
        if not os.path.exists(GBENCH_COMPARE):
            self.fail(f"{GBENCH_COMPARE} is missing: scripts/setup.sh installs libbenchmark-tools")
        result = subprocess.run(["/usr/bin/python3", GBENCH_COMPARE, "benchmarks", FIXTURE, DISTURBED],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("vgg-mini/b8/malloc/none/i16", result.stdout)
        # A superseded run has a name of its own: compare.py never pairs it with a repeat.
        self.assertNotIn("_superseded", result.stdout)


class UTest(unittest.TestCase):
    def test_known_p_values(self):
        from memstrat_charts.utest import mann_whitney_u
        self.assertEqual(mann_whitney_u([1, 2, 3], [4, 5, 6]), (0.0, 0.1))        # exact: 2/20
        self.assertAlmostEqual(mann_whitney_u([1, 4, 2], [3, 5, 6])[1], 0.2)       # exact: 2 * 2/20
        # Normal approximation with continuity correction (9 a side), and with ties.
        self.assertAlmostEqual(mann_whitney_u(range(1, 10), range(10, 19))[1], 0.000412, places=5)
        self.assertAlmostEqual(mann_whitney_u([1, 2, 2, 3], [2, 3, 4, 4])[1], 0.1342, places=3)
        self.assertEqual(mann_whitney_u([5, 5, 5], [5, 5, 5])[1], 1.0)
        self.assertEqual(mann_whitney_u([1, 7, 3, 9], [2, 8, 4])[1], mann_whitney_u([2, 8, 4], [1, 7, 3, 9])[1])

    def test_strategy_colours_are_fixed_and_distinct(self):
        from memstrat_charts import strategy
        known = [strategy.label(a, "none") for a in strategy.ALLOCATORS]
        known += [strategy.label("malloc", t) for t in strategy.TECHNIQUES[1:]]
        self.assertEqual(len({strategy.colour(s) for s in known}), len(known))
        code = "from memstrat_charts import strategy; print(strategy.colour('pool + bf16,recompute'))"
        runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "scripts")}).stdout
                for _ in range(2)}
        self.assertEqual(len(runs), 1, "an unknown strategy's colour changed between runs")


class BadFiles(Scratch):
    def cases(self):
        text = read(FIXTURE)
        document = fixture()
        document["benchmarks"][0]["peak_rss_bytes"] = "12 MiB"
        micro = {"context": {"date": "2024-01-01"},
                 "benchmarks": [{"name": "gemm/64", "run_name": "gemm/64", "run_type": "iteration",
                                 "real_time": 1.0, "time_unit": "ns"}]}
        files = {"missing": (self.path("missing.json"), "no such file"),
                 "empty": (self.path("empty.json"), "empty"),
                 "truncated": (self.path("truncated.json"), "truncated"),
                 "not JSON": (self.path("text.json"), "not valid JSON"),
                 "a list": (self.path("list.json"), "not a memstrat results file"),
                 "Google Benchmark": (self.path("micro.json"), "not a memstrat results file"),
                 "wrong type": (self.path("typed.json"), "peak_rss_bytes"),
                 "a folder": (self.dir, "directory")}
        put(files["empty"][0], "")
        put(files["truncated"][0], text[:len(text) // 2])
        put(files["not JSON"][0], "peak RSS 12 MiB\n")
        write(files["a list"][0], [1, 2])
        write(files["Google Benchmark"][0], micro)
        write(files["wrong type"][0], document)
        return files

    def check(self, what, result, path, words):
        self.assertNotEqual(result.returncode, 0, what)
        self.assertNotIn("Traceback", result.stderr, what)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{what}: one line expected, got:\n{result.stderr}")
        self.assertIn(path, lines[0], what)
        self.assertIn(words, lines[0], what)

    def test_one_line_naming_the_file_and_the_fault(self):
        for what, (path, words) in self.cases().items():
            self.check(f"plot, {what}", script("plot", path, "--out", self.path("charts")), path, words)
            self.check(f"report, {what}", script("report", path, "--out", self.path("R.md")), path, words)
            self.check(f"compare A, {what}", script("compare", path, FIXTURE), path, words)
            self.check(f"compare B, {what}", script("compare", FIXTURE, path), path, words)

    def test_an_empty_results_folder(self):
        result = script("plot", "--results-dir", self.path("none"), "--out", self.path("charts"))
        self.check("plot, empty folder", result, self.path("none"), "no results file")


class PredictionError(Scratch):
    """scripts/prediction_error beside two of the fixture's cells: a row each, the summary line."""

    def test_each_ok_cell_gets_its_prediction_and_error(self):
        memstrat = os.environ.get("MEMSTRAT_CLI", os.path.join(ROOT, "build", "memstrat"))
        doc = fixture()
        # In-process allocators only: a sanitizer build refuses the preloaded ones.
        keep = [r for r in medians(doc) if r.get("status") == "ok" and r["config"]["tech"] == "none"
                and r["config"]["alloc"] in ("malloc", "pool", "mmap", "planned")][:2]
        self.assertEqual(len(keep), 2, "the fixture has two ok in-process cells without a technique")
        names = {r["run_name"] for r in keep}
        doc["benchmarks"] = [r for r in doc["benchmarks"] if r.get("run_name") in names]
        results = write(self.path("two.json"), doc)
        result = script("prediction_error", results, "--memstrat", memstrat, "--out", self.path("p.json"))
        self.assertRan(result)
        rows = json.load(open(self.path("p.json")))["rows"]
        self.assertEqual({r["cell"] for r in rows}, names)
        for r in rows:
            self.assertGreater(r["predicted_peak_rss_bytes"], 0)
            expected = (r["predicted_peak_rss_bytes"] - r["measured_peak_rss_bytes"]) / r["measured_peak_rss_bytes"]
            self.assertAlmostEqual(r["error"], expected)
        self.assertIn("2 cells predicted: median |error|", read(self.path("p.txt")))

        missing = script("prediction_error", self.path("nosuch.json"), "--memstrat", memstrat)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("nosuch.json", missing.stderr)
        self.assertNotIn("Traceback", missing.stderr)


class KernelVsTorch(Scratch):
    """scripts/kernel_vs_torch on a committed side-by-side run: each model's ratio recomputed here."""
    BEFORE = os.path.join(ROOT, "results", "kernel-vs-torch", "before-vm-2026-12-07.json")
    # The pairs, written out by hand: kernel cell -> the torch_train.py cell of the same model.
    PAIRS = {"vgg-mini/b64/malloc/none/t2": "exec/torch-vgg-mini/malloc",
             "deepconv:16/b32/malloc/none/c32/t2": "exec/torch-deepconv16-c32/malloc",
             "vgg16/b16/malloc/none/i32/t2": "exec/torch-vgg16-i32/malloc",
             "vgg16/b4/malloc/none/i224/t2": "exec/torch-vgg16-i224/malloc"}

    def test_each_model_is_paired_and_its_ratio_taken_round_by_round(self):
        result = script("kernel_vs_torch", self.BEFORE, "--out", self.path("t.json"))
        self.assertRan(result)
        rows = {r["kernel_cell"]: r for r in json.load(open(self.path("t.json")))["rows"]}
        self.assertEqual({k: r["torch_cell"] for k, r in rows.items()}, self.PAIRS)
        runs = {}
        for r in fixture(self.BEFORE)["benchmarks"]:
            if r.get("run_type") == "iteration":
                runs.setdefault(r["run_name"], {})[r["repetition_index"]] = r["step_ms"]
        for kernel, torch in self.PAIRS.items():
            ratios = sorted(runs[kernel][i] / runs[torch][i] for i in runs[kernel])
            self.assertEqual(rows[kernel]["rounds"], 5)
            self.assertAlmostEqual(rows[kernel]["ratio"], ratios[2])
            self.assertAlmostEqual(rows[kernel]["ratio_range"][0], ratios[0])
            self.assertAlmostEqual(rows[kernel]["ratio_range"][1], ratios[-1])
            self.assertIn(f"**{ratios[2]:.2f}**", read(self.path("t.md")))

    def test_a_file_without_pairs_and_a_missing_binary_are_refused(self):
        alone = script("kernel_vs_torch", FIXTURE)
        self.assertEqual(alone.returncode, 1)
        self.assertIn("no model has both a kernel cell", alone.stderr)
        self.assertNotIn("Traceback", alone.stderr)
        missing = script("kernel_vs_torch", "--run", "--memstrat", self.path("nosuch"), self.path("r.json"))
        self.assertEqual(missing.returncode, 1)
        self.assertIn("is not an executable", missing.stderr)
        self.assertFalse(os.path.exists(self.path("r.json")))


class ReadmeFigures(unittest.TestCase):
    """Every figure the README quotes, recomputed from the committed results file beside it."""

    def test_each_figure_is_its_results_file_s(self):
        import readme_figures
        readme = read(os.path.join(ROOT, "README.md"))
        self.assertTrue(readme_figures.CLAIMS, "no figures listed in tests/scripts/readme_figures.py")
        for claim in readme_figures.CLAIMS:
            path = claim[1]
            self.assertTrue(os.path.exists(os.path.join(ROOT, path)), f"{path}: not committed")
            self.assertTrue(path in readme, f"the README does not name {path}, the source of its figures")
            expected = readme_figures.text(claim)
            self.assertTrue(expected in readme, f"README: {claim} is {expected} in {path}; the README says otherwise")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
