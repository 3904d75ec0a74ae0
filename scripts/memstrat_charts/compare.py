"""scripts/compare: two results files (two machines, or two dates), cell by cell.

For every cell in both: step time and peak RSS of B as a ratio of A's, and a
Mann-Whitney U test on the repeated step timings (every measured step of every
repeat), as Google Benchmark's compare.py does with repetitions. Cells in only
one file are named, not a failure.
"""
import os
import sys

from . import cli, strategy
from .figure import machine_line
from .results import load
from .units import fmt, fmt_ms
from .utest import mann_whitney_u

DESCRIPTION = """Compares two memstrat results files cell by cell: B's step time and peak RSS as ratios of
A's (below 1: B is faster, or smaller), and a two-sided Mann-Whitney U test on the
step timings (every measured step of every repeat; the per-repeat medians when steps
are absent). p below --alpha says the time difference is more than noise. With
fewer than 9 timings a side the test has little power, and the table says so."""

OPTIMAL_SAMPLES = 9  # Google Benchmark's compare.py asks for 9+ repetitions before it trusts the U test


def compare_cells(a, b, alpha):
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
        time_a, time_b = ca.get("step_ms"), cb.get("step_ms")
        peak_a, peak_b = ca.get("peak_rss_bytes"), cb.get("peak_rss_bytes")
        row["time_ratio"] = time_b / time_a if time_a and time_b is not None else None
        row["peak_ratio"] = peak_b / peak_a if peak_a and peak_b is not None else None
        samples_a, samples_b = ca.step_samples(), cb.step_samples()
        row["samples"] = (len(samples_a), len(samples_b))
        _, p = mann_whitney_u(samples_a, samples_b) if min(row["samples"]) >= 2 else (None, None)
        row["p"] = p
        if p is None:
            row["verdict"] = "too few"
        elif p >= alpha:
            row["verdict"] = "same"
        else:
            row["verdict"] = "B faster" if (row["time_ratio"] or 1) < 1 else "B slower"
        rows.append(row)
    only_a = [c.name for c in a.cells if c.name not in cells_b]
    only_b = [c.name for c in b.cells if c.name not in names_a]
    return rows, only_a, only_b


def print_table(a, b, rows, only_a, only_b, out=sys.stdout):
    print(f"A: {a.path}  ({machine_line(a.context)})", file=out)
    print(f"B: {b.path}  ({machine_line(b.context)})", file=out)
    width = max([len(r["cell"]) for r in rows] + [4])
    head = (f"{'cell':<{width}}  {'A ms':>9} {'B ms':>9} {'B/A':>6} {'p':>7} {'verdict':>9}  "
            f"{'A MiB':>8} {'B MiB':>8} {'B/A':>6}")
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        if r["status"]:
            print(f"{r['cell']:<{width}}  {r['status']}", file=out)
            continue
        a_cell, b_cell = r["a"], r["b"]
        p = "–" if r["p"] is None else f"{r['p']:.4f}"
        print(f"{r['cell']:<{width}}  {fmt_ms(a_cell.get('step_ms')):>9} {fmt_ms(b_cell.get('step_ms')):>9} "
              f"{fmt(r['time_ratio'], 2):>6} {p:>7} {r['verdict']:>9}  "
              f"{fmt(a_cell.get_mib('peak_rss_bytes')):>8} {fmt(b_cell.get_mib('peak_rss_bytes')):>8} "
              f"{fmt(r['peak_ratio'], 2):>6}", file=out)
    few = [r for r in rows if not r["status"] and min(r["samples"]) < OPTIMAL_SAMPLES]
    if few:
        print(f"note: {len(few)} cells have fewer than {OPTIMAL_SAMPLES} step timings on a side: "
              "their U test has little power (run more steps or repeats).", file=out)
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
        spread = max([max(v, 1 / v) for v in values] + [1.1])
        for y, r in enumerate(rows):
            v = r[key]
            if not v:
                continue
            faint = key == "time_ratio" and r["verdict"] != "B faster" and r["verdict"] != "B slower"
            ax.barh(y, v - 1, left=1, height=0.6, color=strategy.colour(r["strategy"]),
                    alpha=0.35 if faint else 1.0)
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
    axes[0].set_title(f"step time (* p < {alpha:g}, U test; faint: not significant)", loc="left")
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
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the U test (default 0.05)")
    args = p.parse_args(argv)

    def run():
        a, b = load(args.a), load(args.b)
        rows, only_a, only_b = compare_cells(a, b, args.alpha)
        if not rows:
            print(f"compare: {args.a} and {args.b} have no cell in common", file=sys.stderr)
        print_table(a, b, rows, only_a, only_b)
        if args.chart:
            try:
                print(f"chart: {draw_chart(a, b, rows, args.chart, args.alpha)}")
            except ValueError as e:
                print(f"compare: no chart: {e}", file=sys.stderr)
                return 1
        return 0 if rows else 1

    return cli.run("compare", run)


if __name__ == "__main__":
    sys.exit(main())
