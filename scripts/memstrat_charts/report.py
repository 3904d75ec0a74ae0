"""scripts/report: writes REPORT.md from one results file: the machine, one table per
workload with every cell's figures, the charts, and the findings in plain words.
Every figure in it is read or computed from the results file.
"""
import os
import statistics
import sys

from . import charts, cli, findings, html
from .analysis import time_interval
from .results import load_default_or, workload_label
from .units import MIB, fmt, fmt_ms

DESCRIPTION = """Writes a Markdown report of a memstrat results file: the machine, one table per
workload with every cell's figures, the charts drawn by scripts/plot (linked by
relative path, only those present), and the findings computed from the data; beside it,
the same results as one interactive HTML page (REPORT.html) that opens from disk."""

COLUMNS = ["strategy", "status", "repeats", "step ms", "interval ms", "p10–p90 ms", "samples/s", "peak RSS MiB",
           "baseline RSS MiB", "peak live MiB", "overhead ×", "fragmentation %", "retained MiB",
           "alloc calls/step", "minor faults", "loss first → last"]


def _escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _mib(cell, key):
    value = cell.get(key)
    return fmt(None if value is None else value / MIB)


def cell_row(cell):
    status = cell.status if cell.ok else f"**{cell.status}**" + (f": {_escape(cell.reason)}" if cell.reason else "")
    if cell.ok and cell.unstable:
        status = "ok, **unstable**"
    repeats = str(sum(1 for r in cell.repeats if r.get("status") == "ok") or (1 if cell.ok else 0))
    if cell.superseded:
        repeats += f" (+{len(cell.superseded)} re-run{'s' if len(cell.superseded) > 1 else ''})"
    ci_low, ci_high = time_interval(cell)
    interval = f"{fmt_ms(ci_low)}–{fmt_ms(ci_high)}" if ci_low is not None and ci_high is not None else "–"
    level = cell.get("step_ms_ci_level")
    if level is not None and interval != "–":
        interval += f" ({level * 100:.0f}%)"
    low, high = cell.get("step_ms_p10"), cell.get("step_ms_p90")
    spread = f"{fmt_ms(low)}–{fmt_ms(high)}" if low is not None and high is not None else "–"
    fragmentation = cell.get("fragmentation")
    losses = "–"
    if cell.get("loss_first") is not None and cell.get("loss_last") is not None:
        losses = f"{cell.get('loss_first'):.4f} → {cell.get('loss_last'):.4f}"
    return [cell.strategy, status, repeats, fmt_ms(cell.get("step_ms")), interval, spread,
            fmt(cell.get("samples_per_s")), _mib(cell, "peak_rss_bytes"), _mib(cell, "baseline_rss_bytes"),
            _mib(cell, "peak_live_bytes"), fmt(cell.get("overhead_ratio"), 2),
            fmt(None if fragmentation is None else 100 * fragmentation), _mib(cell, "retained_bytes"),
            fmt(cell.get("alloc_calls_per_step"), 0), fmt(cell.get("minor_faults"), 0), losses]


def table(header, rows, align=None):
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _link(path, report_dir):
    """A path as the report's reader can follow it: relative to the report, so the
    report reads the same in any clone."""
    relative = os.path.relpath(os.path.abspath(path), report_dir)
    return f"[{os.path.basename(path)}]({relative})"


def machine_section(results, report_dir):
    c = results.context
    rows = []

    def add(name, value):
        if value not in (None, "", [], {}):
            rows.append([name, _escape(value)])

    add("host", c.get("host_name"))
    add("date", c.get("date"))
    cpu = c.get("cpu_model", "")
    if c.get("num_cpus"):
        cpu += f", {c['num_cpus']} CPUs"
    if c.get("mhz_per_cpu"):
        cpu += f" at {c['mhz_per_cpu']:.0f} MHz"
    add("CPU", cpu)
    add("caches", ", ".join(f"L{k.get('level')} {k.get('type', '').lower()} {k.get('size', 0) // 1024} KiB"
                            for k in c.get("caches") or [] if isinstance(k, dict)))
    if c.get("memory_bytes"):
        add("memory", f"{c['memory_bytes'] / (1024 * MIB):.1f} GiB"
            + (f", swap {c['swap_bytes'] / (1024 * MIB):.1f} GiB" if c.get("swap_bytes") is not None else ""))
    add("kernel", c.get("kernel"))
    add("transparent huge pages", c.get("transparent_hugepages"))
    add("C library", c.get("libc"))
    add("compiler", f"{c.get('compiler', '')} {c.get('compiler_flags', '')}".strip())
    add("GEMM kernel", c.get("gemm_kernel"))
    revision = c.get("git_revision")
    if revision and "git_dirty" in c:
        revision += " (uncommitted changes)" if c["git_dirty"] else " (clean)"
    add("git revision", revision)
    add("allocator versions", ", ".join(f"{k} {v}" for k, v in (c.get("allocator_versions") or {}).items()))
    add("preset", c.get("preset"))
    add("suite", c.get("suite"))
    add("repeats", c.get("repeats"))
    add("re-runs allowed per cell", c.get("max_reruns"))
    add("budget enforcement", c.get("budget_enforcement"))
    add("command line", f"`{c['command_line']}`" if c.get("command_line") else None)
    add("results file", _link(results.path, report_dir))
    if results.fit_source and results.fit_source != results.path:
        add("fit results", _link(results.fit_source, report_dir))
    lines = ["## Machine", ""] + table(["", ""], rows)
    if c.get("fixture"):
        lines += ["", f"> **Test fixture.** {_escape(c.get('fixture_note', 'Not a reference run.'))}"]
    return lines


def tables_section(results):
    lines = ["## Results", "",
             "Medians over the repeats. Step ms is the median of the repeats' median steps; interval ms is the "
             "distribution-free interval of that median over the repeats, with its coverage (75% from 3 repeats); "
             "p10–p90 is over every measured step. A run disturbed by other load was re-run (\"+N re-runs\"); a cell "
             "still disturbed, or whose repeats disagree, is marked **unstable** and its times are not to be trusted "
             "(Findings says why). Peak RSS is over training alone; overhead × is (peak RSS − baseline RSS) ÷ "
             "(peak live − baseline live), 1.0 being perfect; a dash is a figure the run could not report."]
    for workload, cells in results.workloads().items():
        names = sorted({c.name for c in cells})
        lines += ["", f"### {workload_label(workload)}", "", f"{len(cells)} cells, e.g. `{names[0]}`.", ""]
        lines += table(COLUMNS, [cell_row(c) for c in cells], ["---", "---"] + ["--:"] * (len(COLUMNS) - 2))
    return lines


def prediction_section(results):
    """Predicted against measured peak RSS for every cell the suite predicted, worst first,
    with what each miss is put down to (the prediction's own note)."""
    cells = [c for c in results.cells
             if c.get("predicted_peak_rss_bytes") is not None or c.summary.get("predicted_rss_note")]
    if not cells:
        return []
    rows, errors = [], []
    for c in cells:
        predicted, measured = c.get("predicted_peak_rss_bytes"), c.get("peak_rss_bytes") if c.ok else None
        error = None if predicted is None or not measured else (predicted - measured) / measured
        if error is not None:
            errors.append(abs(error))
        note = c.summary.get("predicted_rss_note") or ""
        if error is not None and abs(error) > 0.03 and not note:
            note = "no cause known"
        rows.append((-abs(error) if error is not None else 1.0, c.name,
                     [c.name, fmt(None if predicted is None else predicted / MIB),
                      fmt(None if measured is None else measured / MIB),
                      "–" if error is None else f"{100 * error:+.1f}%", _escape(note)]))
    rows.sort(key=lambda r: (r[0], r[1]))
    lines = ["## Peak RSS predicted before each cell ran", "",
             "Each cell's peak RSS was predicted once, before its first run, by replaying the dry run's allocations "
             "through its allocator in a child process (`memstrat estimate --alloc`), as many steps as the run; "
             "measured is the cell's median. Error is (predicted − measured) ÷ measured; the note says what the "
             "replay cannot see for that cell."]
    if errors:
        within = sum(1 for e in errors if e <= 0.03)
        lines += ["", f"{len(errors)} cells: median |error| {100 * statistics.median(errors):.1f}%, "
                      f"worst {100 * max(errors):.1f}%, "
                      f"{within} within 3%."]
    lines += [""] + table(["cell", "predicted MiB", "measured MiB", "error", "note"], [r[2] for r in rows],
                          ["---", "--:", "--:", "--:", "---"])
    return lines


def charts_section(report_dir, charts_dir):
    present = [n for n in charts.NAMES if os.path.exists(os.path.join(charts_dir, f"{n}.png"))]
    if not present:
        return ["## Charts", "", f"No charts in `{charts_dir}`: run `scripts/plot` (or `make charts`)."]
    titles = {"peak_memory": "Peak memory by strategy", "step_time": "Step time by strategy",
              "time_vs_memory": "Step time against peak memory (Pareto front)",
              "memory_over_time": "Memory over time", "fragmentation": "Fragmentation and retained memory",
              "fit": "Largest batch within the budget", "ranks": "Memory per rank over MPI ranks"}
    lines = ["## Charts"]
    for name in present:
        path = os.path.relpath(os.path.join(charts_dir, f"{name}.png"), report_dir)
        lines += ["", f"### {titles[name]}", "", f"![{titles[name]}]({path})"]
    return lines


def findings_section(results):
    lines = ["## Findings"]
    for workload, cells in results.workloads().items():
        found = findings.workload_findings(workload, cells)
        if found:
            lines += [""] + found
    if results.fit:
        lines += [""] + findings.fit_findings(results.fit)
    return lines


def render(results, report_dir, charts_dir):
    c = results.context
    title = f"# memstrat results: {c.get('host_name', 'unknown host')}, {str(c.get('date', ''))[:10]}".rstrip(", ")
    lines = [title, "", "Generated by `scripts/report` from the results file; no figure here is typed by hand.", ""]
    for section in (machine_section(results, report_dir), findings_section(results), tables_section(results),
                    prediction_section(results), charts_section(report_dir, charts_dir)):
        lines += section + [""]
    return "\n".join(lines)


def main(argv=None):
    p = cli.parser("report", DESCRIPTION)
    cli.add_results_arguments(p)
    p.add_argument("--out", default=os.path.join(cli.RESULTS_DIR, "REPORT.md"), metavar="FILE",
                   help="where to write the report (default: results/REPORT.md)")
    p.add_argument("--charts", metavar="DIR", help="the charts to link (default: charts/ beside the report)")
    p.add_argument("--html", metavar="FILE", help="where to write the interactive page (default: REPORT.html beside "
                   "the report; plotly.js from Debian's python3-plotly is inlined, it opens with no network)")
    p.add_argument("--no-html", action="store_true", help="write the Markdown report only")
    args = p.parse_args(argv)

    def run():
        results = load_default_or(args.results, args.results_dir, args.fit)
        report_dir = os.path.dirname(os.path.abspath(args.out))
        charts_dir = os.path.abspath(args.charts or os.path.join(report_dir, "charts"))
        text = render(results, report_dir, charts_dir)
        os.makedirs(report_dir, exist_ok=True)
        temp = args.out + ".tmp"
        with open(temp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, args.out)  # never leave a half-written report where the old one was
        print(f"report: {args.out} (from {results.path})")
        if not args.no_html:
            page = html.write(html.render_report(results),
                              args.html or os.path.join(report_dir, os.path.splitext(os.path.basename(args.out))[0]
                                                        + ".html"))
            print(f"report: {page} ({os.path.getsize(page) / 1e6:.1f} MB)")
        return 0

    return cli.run("report", run)


if __name__ == "__main__":
    sys.exit(main())
