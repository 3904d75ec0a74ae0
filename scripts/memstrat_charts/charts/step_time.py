"""Step time by strategy: the median of the repeats' medians, with whiskers over the
interval of that median (from the repeats, the suite's order-statistic interval).
A cell flagged unstable (disturbed by other load, or repeats that disagree) is
hatched and says so: its time is drawn, not to be trusted.
"""
from .. import figure, strategy
from ..analysis import time_interval
from . import panels


def draw(results, out_dir):
    fig, panel_list = panels.workload_panels(
        results, "Step time by strategy: median over the repeats, whiskers over its interval; hatched: unstable", 10)
    value = lambda c: c.get("step_ms")  # noqa: E731
    for ax, title, cells in panel_list:
        ordered = panels.strategy_rows(ax, cells, value)
        right = 0.0
        for y, cell in enumerate(ordered):
            median = value(cell)
            if not cell.ok or median is None:
                continue
            low, high = time_interval(cell)
            ax.barh(y, median, color=strategy.colour(cell.strategy), height=0.6,
                    hatch="///" if cell.unstable else None, edgecolor="#ffffff" if cell.unstable else None)
            end = median
            if low is not None and high is not None:
                ax.errorbar(median, y, xerr=[[median - min(low, median)], [max(high, median) - median]],
                            fmt="none", ecolor="#222222", capsize=3, lw=1.2)
                end = max(high, median)
            ax.text(end, y, f"  {median:.1f} ms" + (", unstable" if cell.unstable else ""), va="center", fontsize=9,
                    color="#b00020" if cell.unstable else "#000000")
            right = max(right, end)
        panels.note_failures(ax, ordered, value)
        ax.set_xlim(0, right * 1.22)
        ax.set_title(title, loc="left")
        ax.set_xlabel("step time (ms)")
    return figure.save(fig, out_dir, "step_time")
