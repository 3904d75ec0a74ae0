"""Memory over time, inside one step: small multiples, one panel per cell.

Each panel is the cell's recorded step (the record's step_timeline, the last measured
step of its first run): the live bytes the trainer holds, stacked by kind, and the
process's RSS over them, with the allocator's reserved bytes dotted where it knows
them. Time is a percentage of that cell's own step, so panels line up on the phases
(forward, backward, optimizer; thin vertical lines) however long each step took.
Panels of one workload share their y axis, one block of rows per workload.

Results written before runs recorded a step (no step_timeline) get the older chart:
the RSS timelines of one workload's allocators on one wall-clock axis.
"""
import math

import numpy as np

from .. import figure, steps, strategy
from ..results import workload_label
from ..units import MIB
from . import Skip

COLUMNS = 6


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


def _draw_step(ax, cell, s, top):
    x = np.asarray(s["t_ms"]) * 100.0 / s["step_ms"]
    ax.stackplot(x, *[s["live_mib"][k] for k in s["live_mib"]], colors=[steps.KIND_COLOURS.get(k, "#999999")
                                                                         for k in s["live_mib"]],
                 step="post", linewidth=0)
    ax.step(x, s["rss_mib"], where="post", color="#000000", lw=1.4)
    if s["reserved_mib"] is not None:
        ax.step(x, s["reserved_mib"], where="post", color="#000000", lw=1.0, ls=":")
    for _, t in s["phases"][1:]:
        ax.axvline(t * 100.0 / s["step_ms"], color="#777777", lw=0.6)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, top)
    ax.set_xticks([0, 50, 100])
    ax.set_title(cell.strategy, loc="left", fontsize=9, pad=2)
    ax.text(0.98, 0.04, f"RSS {max(s['rss_mib']):.0f}, live {max(s['total_mib']):.0f}", transform=ax.transAxes,
            ha="right", va="bottom", fontsize=7, color="#222222",
            bbox={"facecolor": "#ffffff", "alpha": 0.7, "lw": 0, "pad": 1})


def _draw_steps(results, out_dir):
    blocks = [(w, [c for c in cells if c.ok and c.step_timeline() is not None])
              for w, cells in results.workloads().items()]
    blocks = [(w, cells) for w, cells in blocks if cells]
    rows = [math.ceil(len(cells) / COLUMNS) for _, cells in blocks]
    height = 0.9 + sum(0.45 + 1.55 * r for r in rows) + figure.CORNER_INCHES
    fig = figure.plt.figure(figsize=(13, height), layout="constrained")
    fig.get_layout_engine().set(rect=(0, figure.CORNER_INCHES / height, 1, 1 - (0.55 + figure.CORNER_INCHES) / height))
    fig.suptitle("Memory inside one step, per cell (MiB; time in % of the cell's step, phases marked)",
                 fontweight="bold", y=1 - 0.1 / height)
    fig.text(0.995, 0.008, figure.machine_line(results.context), ha="right", va="bottom", fontsize=8, color="#555555")
    subfigs = fig.subfigures(len(blocks), 1, height_ratios=rows, squeeze=False)[:, 0]
    for sub, (workload, cells), nrows in zip(subfigs, blocks, rows):
        sub.suptitle(workload_label(workload), x=0.01, ha="left", fontsize=10, fontweight="bold")
        axes = sub.subplots(nrows, COLUMNS, sharex=True, sharey=True, squeeze=False)
        series = [steps.series(c.step_timeline()) for c in cells]  # once per cell: the y range and the panel
        top = 1.08 * max(max(max(s["rss_mib"]), max(s["total_mib"])) for s in series)
        for ax, cell, s in zip(axes.flat, cells, series):
            _draw_step(ax, cell, s, top)
            ax.grid(color="#eeeeee", lw=0.5)
        for ax in axes.flat[len(cells):]:
            ax.set_visible(False)
    handles = [figure.plt.Rectangle((0, 0), 1, 1, color=c) for c in steps.KIND_COLOURS.values()]
    handles += [figure.plt.Line2D([], [], color="#000000", lw=1.4), figure.plt.Line2D([], [], color="#000000", ls=":")]
    fig.legend(handles, list(steps.KIND_COLOURS) + ["RSS", "allocator reserved"], loc="upper center",
               bbox_to_anchor=(0.5, 1 - 0.3 / height), ncol=9, frameon=False, fontsize=9)
    return figure.save(fig, out_dir, "memory_over_time")


def draw(results, out_dir):
    if any(c.ok and c.step_timeline() is not None for c in results.cells):
        return _draw_steps(results, out_dir)
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
