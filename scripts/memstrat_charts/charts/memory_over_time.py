"""Memory over time: the RSS timelines of every allocator overlaid, for one workload.

The workload is the one with the most allocator timelines. Step boundaries are the
dots on each line (each run has its own pace, so one set of vertical lines would be
wrong for all but one). When that workload also has technique runs, a second panel
shows them against the plain allocator they ran on.
"""
import numpy as np

from .. import figure, strategy
from ..results import workload_label
from ..units import MIB
from . import Skip


def _draw_lines(ax, cells):
    for cell in cells:
        t = cell.timeline()
        t_ms, rss = np.asarray(t["t_ms"], float), np.asarray(t["rss_bytes"], float) / MIB
        colour = strategy.colour(cell.strategy)
        ax.plot(t_ms, rss, color=colour, lw=1.6, label=cell.strategy)
        ends = np.asarray(t.get("step_end_ms") or [], float)
        if ends.size:
            ax.plot(ends, np.interp(ends, t_ms, rss), "o", color=colour, markersize=4,
                    markeredgecolor="#222222", markeredgewidth=0.5)
    ax.set_xlabel("time since training started (ms)")
    ax.set_ylabel("RSS (MiB)")
    ax.grid(color="#e5e5e5")
    ax.set_xlim(left=0)
    ax.plot([], [], "o", color="#999999", markeredgecolor="#222222", markeredgewidth=0.5, label="end of a step")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def draw(results, out_dir):
    best = None
    for workload, cells in results.workloads().items():
        with_timeline = [c for c in cells if c.ok and c.timeline() is not None]
        allocators = [c for c in with_timeline if c.tech == "none"]
        if allocators and (best is None or len(allocators) > len(best[1])):
            best = (workload, allocators, [c for c in with_timeline if c.tech != "none"])
    if best is None:
        raise Skip("no run with an RSS timeline")
    workload, allocators, techniques = best
    if techniques:
        bases = {c.alloc for c in techniques}
        techniques = [c for c in allocators if c.alloc in bases] + techniques
    rows = 2 if techniques else 1
    fig, axes = figure.new_figure(11, 1.4 + 3.6 * rows,
                                  f"Memory over time: RSS of each run, {workload_label(workload)}",
                                  results.context, nrows=rows, squeeze=False)
    _draw_lines(axes[0, 0], allocators)
    axes[0, 0].set_title("allocators, no technique", loc="left")
    if techniques:
        _draw_lines(axes[1, 0], techniques)
        axes[1, 0].set_title("techniques, against the allocator they ran on", loc="left")
    return figure.save(fig, out_dir, "memory_over_time")
