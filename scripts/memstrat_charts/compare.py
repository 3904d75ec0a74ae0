"""scripts/compare: two results files (two machines, or two dates), cell by cell.

For every cell in both: B's step time over A's with its interval, and peak RSS of B
over A's. The test is on the repeats, each a process of its own and so the
independent measurements; the steps inside one process are not, and are not
counted as samples. The ratio is the Hodges-Lehmann estimate of the pairwise
ratios of repeat medians, its interval the one that belongs to the Mann-Whitney U
test on them; cells either side flags unstable (disturbed by other load, or
repeats that disagree) are marked and never called the same. Cells in only one
file are named, not a failure.
"""
import os
import sys

from . import cli, html, strategy
from .figure import machine_line
from .results import load
from .units import fmt, fmt_ms
from .utest import mann_whitney_u, ratio_interval

DESCRIPTION = """Compares two memstrat results files cell by cell: B's step time and peak RSS as ratios of
A's (below 1: B is faster, or smaller). The step-time test is on the repeats (each a process
of its own), never on the steps inside one: the ratio is the median of the pairwise ratios
of repeat medians, with the interval that goes with the Mann-Whitney U test at --alpha.
Verdicts: "B faster" or "B slower" when the interval leaves out 1; "same" when it lies within
--margin of 1 and neither side is unstable; "undecided: N vs M repeats" when that many repeats
cannot reach the level (3 a side reach 90% at best: run more repeats or pass --alpha 0.1);
"undecided" when the interval straddles 1 but is wider than the margin. Flags: A or B unstable
(the suite found the cell disturbed by other load, or its repeats disagreeing)."""


def time_verdict(ca, cb, alpha, margin):
    """(ratio, low, high, coverage, p, verdict) of B's step time over A's, from the repeats."""
    a, b = ca.repeat_medians(), cb.repeat_medians()
    interval = ratio_interval(a, b, alpha)
    if interval is None:
        return None, None, None, None, None, "no times"
    ratio, low, high, coverage = interval
    _, p = mann_whitney_u(a, b)
    flagged = ca.unstable or cb.unstable
    if coverage < 1 - alpha:
        verdict = f"undecided: {len(a)} vs {len(b)} repeats"
    elif low > 1:
        verdict = "B slower"
    elif high < 1:
        verdict = "B faster"
    elif high <= 1 + margin and low >= 1 / (1 + margin) and not flagged:
        verdict = "same"
    else:
        verdict = "undecided"
    return ratio, low, high, coverage, p, verdict


def compare_cells(a, b, alpha, margin=0.05):
    """Rows for cells in both files, in A's order, and the cell names found in only one."""
    cells_b = {c.name: c for c in b.cells}
    names_a = {c.name for c in a.cells}
    rows = []
    for ca in a.cells:
        cb = cells_b.get(ca.name)
        if cb is None:
            continue
        row = {"cell": ca.name, "strategy": ca.strategy, "a": ca, "b": cb, "status": None}
        if not (ca.ok and cb.ok):
            row["status"] = f"A {ca.status}, B {cb.status}"
            rows.append(row)
            continue
        (row["time_ratio"], row["low"], row["high"], row["coverage"], row["p"],
         row["verdict"]) = time_verdict(ca, cb, alpha, margin)
        peak_a, peak_b = ca.get("peak_rss_bytes"), cb.get("peak_rss_bytes")
        row["peak_ratio"] = peak_b / peak_a if peak_a and peak_b is not None else None
        row["flags"] = ", ".join(f"{side} unstable" for side, c in (("A", ca), ("B", cb)) if c.unstable)
        rows.append(row)
    only_a = [c.name for c in a.cells if c.name not in cells_b]
    only_b = [c.name for c in b.cells if c.name not in names_a]
    return rows, only_a, only_b


def _interval_text(r):
    if r.get("low") is None:
        return "–"
    return f"{r['low']:.2f}–{r['high']:.2f} ({r['coverage'] * 100:.0f}%)"


def print_table(a, b, rows, only_a, only_b, out=sys.stdout):
    print(f"A: {a.path}  ({machine_line(a.context)})", file=out)
    print(f"B: {b.path}  ({machine_line(b.context)})", file=out)
    width = max([len(r["cell"]) for r in rows] + [4])
    verdict_width = max([len(r.get("verdict") or "") for r in rows] + [7])
    head = (f"{'cell':<{width}}  {'A ms':>9} {'B ms':>9} {'B/A':>6} {'interval':>17} {'p':>6} "
            f"{'verdict':<{verdict_width}}  {'A MiB':>8} {'B MiB':>8} {'B/A':>6}  flags")
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        if r["status"]:
            print(f"{r['cell']:<{width}}  {r['status']}", file=out)
            continue
        a_cell, b_cell = r["a"], r["b"]
        p = "–" if r["p"] is None else f"{r['p']:.3f}"
        print(f"{r['cell']:<{width}}  {fmt_ms(a_cell.get('step_ms')):>9} {fmt_ms(b_cell.get('step_ms')):>9} "
              f"{fmt(r['time_ratio'], 2):>6} {_interval_text(r):>17} {p:>6} {r['verdict']:<{verdict_width}}  "
              f"{fmt(a_cell.get_mib('peak_rss_bytes')):>8} {fmt(b_cell.get_mib('peak_rss_bytes')):>8} "
              f"{fmt(r['peak_ratio'], 2):>6}  {r['flags']}", file=out)
    for side, results in (("A", a), ("B", b)):
        names = {r["cell"] for r in rows if not r["status"]}
        for cell in results.cells:
            if cell.name in names and cell.unstable:
                print(f"{side} unstable: {cell.name}: {cell.unstable_reason}", file=out)
    for label, names in (("only in A", only_a), ("only in B", only_b)):
        if names:
            print(f"{label} ({len(names)}): " + ", ".join(names), file=out)


def draw_chart(a, b, rows, path, alpha):
    from . import figure  # matplotlib only when a chart is asked for

    rows = [r for r in rows if not r["status"] and (r["time_ratio"] or r["peak_ratio"])]
    if not rows:
        raise ValueError("no cell with figures in both files: nothing to chart")
    height = 1.6 + figure.CORNER_INCHES + 0.32 * len(rows)
    corner = f"A: {machine_line(a.context)}\nB: {machine_line(b.context)}"
    fig, axes = figure.new_figure(12, height + 0.15, "B against A, cell by cell: below 1, B is faster or smaller",
                                  None, corner=corner, ncols=2, sharey=True)
    fig.get_layout_engine().set(rect=(0, 0.5 / height, 1, 1 - 0.5 / height))
    for ax, key, xlabel in ((axes[0], "time_ratio", "step time, B ÷ A (log scale)"),
                            (axes[1], "peak_ratio", "peak RSS, B ÷ A (log scale)")):
        values = [r[key] for r in rows if r[key]]
        if key == "time_ratio":
            values += [r[end] for r in rows for end in ("low", "high") if r.get(end)]
        spread = max([max(v, 1 / v) for v in values] + [1.1])
        for y, r in enumerate(rows):
            v = r[key]
            if not v:
                continue
            faint = key == "time_ratio" and r["verdict"] not in ("B faster", "B slower")
            ax.barh(y, v - 1, left=1, height=0.6, color=strategy.colour(r["strategy"]),
                    alpha=0.35 if faint else 1.0, hatch="//" if key == "time_ratio" and r["flags"] else None)
            if key == "time_ratio" and r.get("low") is not None:
                ax.errorbar(v, y, xerr=[[v - r["low"]], [r["high"] - v]], fmt="none", ecolor="#333333",
                            elinewidth=0.9, capsize=2.5)
            mark = "" if key != "time_ratio" or faint else " *"
            ax.text(v, y, f" {v:.2f}{mark} " if v >= 1 else f" {v:.2f}{mark} ", va="center",
                    ha="left" if v >= 1 else "right", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(1 / spread ** 1.35, spread ** 1.35)
        ax.axvline(1, color="#333333", lw=0.9)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", color="#e5e5e5", which="both")
        ax.set_axisbelow(True)
        ax.minorticks_off()
        ticks = [t for t in (0.25, 0.5, 0.8, 1, 1.25, 2, 4) if 1 / spread ** 1.35 <= t <= spread ** 1.35]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes[0].set_yticks(range(len(rows)), [r["cell"] for r in rows])
    axes[0].set_ylim(len(rows) - 0.5, -0.5)
    axes[0].tick_params(axis="y", length=0)
    axes[0].set_title(f"step time, interval over the repeats (* decided at {(1 - alpha) * 100:g}%; "
                      "faint: not decided; hatched: unstable)", loc="left")
    axes[1].set_title("peak RSS", loc="left")
    axes[1].tick_params(axis="y", length=0)
    stem, ext = os.path.splitext(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path if ext else stem + ".png", dpi=120)
    figure.plt.close(fig)
    return path if ext else stem + ".png"


def main(argv=None):
    p = cli.parser("compare", DESCRIPTION)
    p.add_argument("a", metavar="A.json", help="the reference results file")
    p.add_argument("b", metavar="B.json", help="the results file compared with it")
    p.add_argument("--chart", metavar="FILE", help="also draw the ratios into FILE (.png or .svg)")
    p.add_argument("--html", metavar="FILE", help="also write the comparison as one interactive HTML page")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="1 minus the interval's level, the U test's significance level (default 0.05)")
    p.add_argument("--margin", type=float, default=0.05,
                   help="how close to 1 the whole interval must lie for \"same\" (default 0.05: within 5%%)")
    args = p.parse_args(argv)

    def run():
        a, b = load(args.a), load(args.b)
        if not 0 < args.alpha < 1 or args.margin < 0:
            print("compare: --alpha must lie between 0 and 1, --margin must not be negative", file=sys.stderr)
            return 2
        rows, only_a, only_b = compare_cells(a, b, args.alpha, args.margin)
        if not rows:
            print(f"compare: {args.a} and {args.b} have no cell in common", file=sys.stderr)
        print_table(a, b, rows, only_a, only_b)
        if args.chart:
            try:
                print(f"chart: {draw_chart(a, b, rows, args.chart, args.alpha)}")
            except ValueError as e:
                print(f"compare: no chart: {e}", file=sys.stderr)
                return 1
        if args.html:
            print(f"page: {html.write(html.render_compare(a, b, rows, only_a, only_b), args.html)}")
        return 0 if rows else 1

    return cli.run("compare", run)


if __name__ == "__main__":
    sys.exit(main())
