"""Fragmentation at the allocator's peak, and the bytes still resident after training.

Only runs without techniques: this chart is about allocators. Fragmentation is
1 − allocated ÷ reserved as the allocator itself reports them; an allocator that
cannot tell is marked "not reported", never drawn as zero.
"""
from .. import figure, strategy
from . import panels


def _bars(ax, ordered, value, unit):
    values = [value(c) for c in ordered if c.ok and value(c) is not None]
    low, high = min(values + [0.0]), max(values + [0.0])
    span = (high - low) or 1.0
    for y, cell in enumerate(ordered):
        v = value(cell)
        if not cell.ok or v is None:
            continue
        ax.barh(y, v, color=strategy.colour(cell.strategy), height=0.6)
        ax.text(max(v, 0.0) + 0.01 * span, y, f"{v:.1f} {unit}", va="center", fontsize=9)
    panels.note_failures(ax, ordered, value)
    ax.axvline(0, color="#444444", lw=0.8)
    ax.set_xlim(low - 0.05 * span if low < 0 else 0, high + 0.3 * span)


def draw(results, out_dir):
    fig, panel_list = panels.workload_panels(
        results, "Fragmentation at peak and memory retained after training, by allocator", 11,
        keep=lambda c: c.tech == "none", ncols=2)
    fragmentation = lambda c: None if c.get("fragmentation") is None else 100 * c.get("fragmentation")  # noqa: E731
    retained = lambda c: c.get_mib("retained_bytes")  # noqa: E731
    for (left, right), title, cells in panel_list:
        # Allocators in their usual order, the same in both panels, rather than sorted by one of them.
        ordered = panels.strategy_rows(left, cells, lambda c: strategy.sort_key(c.alloc, c.tech))
        right.tick_params(axis="y", length=0, labelleft=False)
        right.grid(axis="x", color="#e5e5e5")
        right.set_axisbelow(True)
        _bars(left, ordered, fragmentation, "%")
        _bars(right, ordered, retained, "MiB")
        left.set_title(f"{title}: fragmentation", loc="left")
        left.set_xlabel("fragmentation (% of reserved bytes not allocated)")
        right.set_title("retained after training", loc="left")
        right.set_xlabel("RSS after training − baseline (MiB)")
    return figure.save(fig, out_dir, "fragmentation")
