"""Horizontal-bar panels, one per workload, one row per strategy: shared by several charts.

Strategy names are long ("pool + bf16,recompute"), so they go on the y axis where
they can be read; panels are as tall as their number of rows, so a bar keeps the
same thickness whatever the workload.
"""
from .. import figure
from ..results import workload_label
from . import Skip

ROW_INCHES = 0.3


def workload_panels(results, title, width, keep=lambda cell: True, ncols=1):
    """Figure with one row of panels per workload that has cells to show.

    Returns the figure and a list of (ax, workload label, cells): ax is one axes, or a
    row of ncols axes sharing the y axis when ncols > 1.
    """
    groups = [(w, [c for c in cells if keep(c)]) for w, cells in results.workloads().items()]
    groups = [(w, cells) for w, cells in groups if any(c.ok for c in cells)]
    if not groups:
        raise Skip("no successful run")
    rows = [len(cells) for _, cells in groups]
    height = 1.1 + figure.CORNER_INCHES + sum(rows) * ROW_INCHES + 0.75 * len(groups)
    fig, axes = figure.new_figure(width, height, title, results.context, nrows=len(groups),
                                  ncols=ncols, sharey="row" if ncols > 1 else False,
                                  gridspec_kw={"height_ratios": [r + 1.2 for r in rows]}, squeeze=False)
    rows_of_axes = axes if ncols > 1 else axes[:, 0]
    panels = [(ax, workload_label(w), cells) for ax, (w, cells) in zip(rows_of_axes, groups)]
    return fig, panels


def strategy_rows(ax, cells, value):
    """Orders rows best first (smallest value), failures last; labels the y axis. Returns ordered cells."""
    ok = sorted((c for c in cells if c.ok and value(c) is not None), key=value)
    rest = [c for c in cells if c not in ok]
    ordered = ok + rest
    ax.set_yticks(range(len(ordered)), [c.strategy for c in ordered])
    ax.set_ylim(len(ordered) - 0.5, -0.5)  # first row on top
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e5e5", zorder=0)
    ax.set_axisbelow(True)
    return ordered


def note_failures(ax, ordered, value):
    """Writes the status and reason of each failed (or figureless) row where its bar would be."""
    for y, cell in enumerate(ordered):
        if not cell.ok:
            ax.text(0, y, " " + figure.failed_text(cell), va="center", ha="left", fontsize=9, color="#b00020")
        elif value(cell) is None:
            ax.text(0, y, " not reported", va="center", ha="left", fontsize=9, color="#777777")
