"""Peak memory by strategy, stacked: what was there before training, the training's
live tensor bytes (the floor no allocator can go under), and what the strategy cost
on top. The overhead segment takes the strategy's colour; the two floors are grey.
"""
from matplotlib.patches import Patch

from .. import figure, strategy
from . import panels

BASELINE_COLOUR, LIVE_COLOUR = "#d4d4d4", "#8f8f8f"


def segments(cell):
    """(baseline, live, overhead, live not resident) in MiB; the first three add up to peak RSS."""
    peak = cell.get_mib("peak_rss_bytes")
    baseline = min(cell.get_mib("baseline_rss_bytes") or 0.0, peak)
    live_peak, live_base = cell.get_mib("peak_live_bytes"), cell.get_mib("baseline_live_bytes") or 0.0
    live = max(0.0, live_peak - live_base) if live_peak is not None else 0.0
    grown = peak - baseline
    # Live bytes beyond what RSS grew by were never resident (offloaded, or pages never touched).
    return baseline, min(live, grown), max(0.0, grown - live), max(0.0, live - grown)


def draw(results, out_dir):
    fig, panel_list = panels.workload_panels(
        results, "Peak memory (RSS) by strategy: baseline, live tensor bytes, and the strategy's overhead", 11)
    value = lambda c: c.get_mib("peak_rss_bytes")  # noqa: E731
    any_hidden = False
    for ax, title, cells in panel_list:
        ordered = panels.strategy_rows(ax, cells, value)
        right = max(value(c) for c in ordered if c.ok and value(c) is not None)
        for y, cell in enumerate(ordered):
            if not cell.ok or value(cell) is None:
                continue
            baseline, live, overhead, hidden = segments(cell)
            ax.barh(y, baseline, color=BASELINE_COLOUR, height=0.7)
            ax.barh(y, live, left=baseline, color=LIVE_COLOUR, height=0.7)
            ax.barh(y, overhead, left=baseline + live, color=strategy.colour(cell.strategy), height=0.7)
            if hidden > 0:
                any_hidden = True
                ax.barh(y, hidden, left=baseline + live, fill=False, edgecolor=LIVE_COLOUR,
                        linestyle="--", height=0.7)
            ratio = cell.get("overhead_ratio")
            text = f" {value(cell):.1f} MiB" + (f"  (overhead ×{ratio:.2f})" if ratio is not None else "")
            ax.text(max(value(cell), baseline + live + hidden), y, text, va="center", fontsize=9)
        panels.note_failures(ax, ordered, value)
        ax.set_xlim(0, right * 1.42)
        ax.set_title(title, loc="left")
        ax.set_xlabel("MiB")
    legend = [Patch(color=BASELINE_COLOUR, label="baseline RSS (before training)"),
              Patch(color=LIVE_COLOUR, label="live tensor bytes (training's growth)"),
              Patch(facecolor="white", edgecolor="#333333", label="strategy overhead\n(strategy's colour)")]
    if any_hidden:
        legend.append(Patch(fill=False, edgecolor=LIVE_COLOUR, linestyle="--", label="live bytes not resident"))
    panel_list[0][0].legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure.save(fig, out_dir, "peak_memory")
