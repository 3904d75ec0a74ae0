"""Step time by strategy: the median step, with whiskers from the 10th to the 90th
percentile of every measured step (over all repeats, where the suite aggregated them).
"""
from .. import figure, strategy
from . import panels


def draw(results, out_dir):
    fig, panel_list = panels.workload_panels(
        results, "Step time by strategy: median, whiskers from p10 to p90 of the measured steps", 10)
    value = lambda c: c.get("step_ms")  # noqa: E731
    for ax, title, cells in panel_list:
        ordered = panels.strategy_rows(ax, cells, value)
        right = 0.0
        for y, cell in enumerate(ordered):
            median = value(cell)
            if not cell.ok or median is None:
                continue
            low, high = cell.get("step_ms_p10"), cell.get("step_ms_p90")
            ax.barh(y, median, color=strategy.colour(cell.strategy), height=0.6)
            end = median
            if low is not None and high is not None:
                ax.errorbar(median, y, xerr=[[median - min(low, median)], [max(high, median) - median]],
                            fmt="none", ecolor="#222222", capsize=3, lw=1.2)
                end = max(high, median)
            ax.text(end, y, f"  {median:.1f} ms", va="center", fontsize=9)
            right = max(right, end)
        panels.note_failures(ax, ordered, value)
        ax.set_xlim(0, right * 1.22)
        ax.set_title(title, loc="left")
        ax.set_xlabel("step time (ms)")
    return figure.save(fig, out_dir, "step_time")
