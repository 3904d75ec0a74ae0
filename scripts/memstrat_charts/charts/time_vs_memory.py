"""Step time against peak memory, one point per strategy: the chart that says what to pick.

The Pareto front (no other strategy is both faster and smaller) is drawn as a
staircase and its points are named; whatever lies in the shaded region above and
to the right of it is beaten on both counts by a strategy on the front.
"""
import math

from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from .. import figure, strategy
from ..analysis import pareto_front
from ..results import workload_label
from . import Skip


NEAR = [(8, 6), (8, -14), (-8, 6), (-8, -14), (0, 12), (0, -18)]
# Further off, with a leader line; down and to the left first, where the front leaves the plot empty.
FAR = [(d * dx, d * dy) for d in (1, 2, 3, 4, 5) for dx, dy in
       [(-18, -30), (-30, 0), (18, -30), (0, -36), (-30, -12), (-18, 22), (18, 22), (30, 0), (0, 30)]]


def _staircase_boxes(ax, stair_x, stair_y):
    """The front's segments as thin boxes in display coordinates (they are all axis-aligned)."""
    boxes = []
    for i in range(len(stair_x) - 1):
        for (xa, ya), (xb, yb) in (((stair_x[i], stair_y[i]), (stair_x[i + 1], stair_y[i])),
                                   ((stair_x[i + 1], stair_y[i]), (stair_x[i + 1], stair_y[i + 1]))):
            (x0, y0), (x1, y1) = ax.transData.transform([(xa, ya), (xb, yb)])
            boxes.append(Bbox.from_extents(min(x0, x1) - 1, min(y0, y1) - 1, max(x0, x1) + 1, max(y0, y1) + 1))
    return boxes


def _place_labels(fig, ax, labelled, points, stairs):
    """Names points next to themselves where the name overlaps no other name, point or the front.

    Runs after the layout is fixed, so display coordinates stay true. A point off the
    front whose name cannot be placed cleanly keeps only its colour (the legend names
    it); a point on the front is always named, at the least crowded place found.
    """
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    radius = 6 * fig.dpi / 72  # a marker's radius in pixels, a little over its drawn size
    markers = [Bbox.from_extents(mx - radius, my - radius, mx + radius, my + radius)
               for mx, my in (ax.transData.transform((p[0], p[1])) for p in points)]
    segments = _staircase_boxes(ax, *stairs)
    taken = []

    def clash(extent):
        inside = extent.x0 >= box.x0 and extent.x1 <= box.x1 and extent.y0 >= box.y0 and extent.y1 <= box.y1
        return (1000 * (not inside) + 100 * sum(extent.overlaps(t) for t in taken)
                + 10 * sum(extent.overlaps(m) for m in markers) + sum(extent.overlaps(g) for g in segments))

    def annotate(x, y, name, bold, dx, dy):
        # A name set further off gets a leader line, so that it cannot be read as another point's.
        arrow = {"arrowstyle": "-", "color": "#888888", "lw": 0.7, "shrinkA": 0, "shrinkB": 5} \
            if (dx, dy) not in NEAR else None
        return ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", arrowprops=arrow,
                           va="center" if dy == 0 else "baseline",
                           ha="left" if dx > 0 else ("right" if dx < 0 else "center"), fontsize=8.5,
                           fontweight="bold" if bold else "normal", color="#111111" if bold else "#555555",
                           zorder=2.5)  # under the markers: a name may cross a point, never hide it

    for x, y, name, bold in labelled:
        best = None
        # A long name that fits nowhere on one line may fit on two, broken after the allocator.
        for text_form in [name] + ([name.replace(" + ", " +\n")] if " + " in name else []):
            for dx, dy in NEAR + FAR:
                text = annotate(x, y, text_form, bold, dx, dy)
                extent = text.get_window_extent(renderer).expanded(1.04, 1.1)
                text.remove()
                score = clash(extent)
                if best is None or score < best[0]:
                    best = (score, text_form, dx, dy, extent)
                if score == 0:
                    break
            if best[0] == 0:
                break
        if best[0] == 0 or (bold and best[0] < 1000):
            annotate(x, y, bold=bold, name=best[1], dx=best[2], dy=best[3])
            taken.append(best[4])


def draw(results, out_dir):
    groups = [(w, [c for c in cells if c.ok and c.get("step_ms") is not None and c.get("peak_rss_bytes") is not None])
              for w, cells in results.workloads().items()]
    groups = [(w, cells) for w, cells in groups if cells]
    if not groups:
        raise Skip("no successful run with both a step time and a peak")
    ncols = min(2, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = figure.new_figure(
        6.6 * ncols + 2.6, 5.0 * nrows + 0.8,
        "Step time against peak memory: the labelled Pareto front is where to pick from", results.context,
        nrows=nrows, ncols=ncols, squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    fronts = []
    for ax, (workload, cells) in zip(axes.flat, groups):
        points = [(c.get_mib("peak_rss_bytes"), c.get("step_ms"), c) for c in cells]
        for x, y, c in points:
            # An unstable cell's time is not to be trusted: drawn hollow.
            ax.scatter(x, y, s=55, color="#ffffff" if c.unstable else strategy.colour(c.strategy),
                       edgecolor=strategy.colour(c.strategy) if c.unstable else "#222222",
                       linewidth=1.6 if c.unstable else 0.6, zorder=3)
        front = pareto_front(points)
        xs, ys = [p[0] for p in front], [p[1] for p in front]
        ax.margins(0.18)
        ax.autoscale_view()
        # The margin below the fastest point leaves room for its name; no negative time is labelled.
        ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= ax.get_ylim()[1]])
        (x_max, y_max) = ax.get_xlim()[1], ax.get_ylim()[1]
        # The staircase, closed to the axes' edges, and the region it dominates.
        stair_x, stair_y = [xs[0]] + xs + [x_max], [y_max] + ys + [ys[-1]]
        ax.step(stair_x, stair_y, where="post", color="#444444", lw=1.2, zorder=2)
        ax.fill_between(stair_x, stair_y, y_max, step="post", color="#eeeeee", zorder=1)
        ax.set_xlim(right=x_max)
        ax.set_ylim(top=y_max)
        ax.set_title(workload_label(workload), loc="left")
        ax.set_xlabel("peak RSS (MiB), less is better")
        ax.set_ylabel("step time (ms), less is better")
        ax.grid(color="#e5e5e5", zorder=0)
        fronts.append((ax, front, points, (stair_x, stair_y)))
    seen = sorted({(c.alloc, c.tech) for _, cells in groups for c in cells}, key=lambda at: strategy.sort_key(*at))
    handles = [Line2D([], [], marker="o", ls="", markersize=7, markeredgecolor="#222222", markeredgewidth=0.6,
                      color=strategy.colour(strategy.label(a, t)), label=strategy.label(a, t)) for a, t in seen]
    handles.append(Line2D([], [], color="#444444", lw=1.2, label="Pareto front"))
    if any(c.unstable for _, cells in groups for c in cells):
        handles.append(Line2D([], [], marker="o", ls="", markersize=7, markerfacecolor="#ffffff",
                              markeredgecolor="#444444", markeredgewidth=1.6, label="hollow: unstable time"))
    # Many strategies (the full preset has dozens) take more than one column.
    axes[0, ncols - 1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                              ncol=math.ceil(len(handles) / (22 * nrows)))
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout so that label positions measured now stay true
    for ax, front, points, stairs in fronts:
        on_front = {id(p[2]) for p in front}
        labelled = [(p[0], p[1], p[2].strategy, True) for p in front]
        labelled += [(p[0], p[1], p[2].strategy, False) for p in points if id(p[2]) not in on_front]
        _place_labels(fig, ax, labelled, points, stairs)
    return figure.save(fig, out_dir, "time_vs_memory")
