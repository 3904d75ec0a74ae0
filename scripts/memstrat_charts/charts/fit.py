"""The largest batch each strategy trains within the memory budget (`memstrat fit`)."""
from .. import figure, strategy
from ..units import MIB
from . import Skip


def draw(results, out_dir):
    fit = results.fit
    if not fit or not fit.get("results"):
        raise Skip("no fit section (run `memstrat fit`)")
    entries = sorted(fit["results"], key=lambda e: (-e["max_batch"], e.get("step_ms") or 0))
    fastest = fit.get("fastest") or {}
    workload = fit.get("model", "?") + (f", {fit['image']}×{fit['image']} images" if fit.get("image") else "")
    budget = fit.get("budget_bytes")
    budget_text = f"{budget / MIB:.0f} MiB" if budget else "the budget"
    height = 1.4 + figure.CORNER_INCHES + 0.36 * len(entries)
    fig, ax = figure.new_figure(10, height, f"Largest batch that trains within {budget_text}: {workload}",
                                results.context)
    labels = [strategy.label(e["alloc"], e.get("tech", "none")) for e in entries]
    top = max(e["max_batch"] for e in entries) or 1
    for y, (entry, name) in enumerate(zip(entries, labels)):
        if entry["max_batch"] == 0:
            ax.text(0, y, " does not fit, even at batch 1", va="center", fontsize=9, color="#b00020")
            continue
        ax.barh(y, entry["max_batch"], color=strategy.colour(name), height=0.6)
        text = f"  {entry['max_batch']}"
        if entry.get("step_ms") is not None:
            text += f"  ({entry['step_ms']:.1f} ms/step"
            text += f", {entry['samples_per_s']:.0f} samples/s)" if entry.get("samples_per_s") else ")"
        is_fastest = (entry["alloc"], entry.get("tech", "none"), entry["max_batch"]) == (
            fastest.get("alloc"), fastest.get("tech", "none"), fastest.get("max_batch"))
        if is_fastest:
            text += "  ← fastest that fits"
        ax.text(entry["max_batch"], y, text, va="center", fontsize=9, fontweight="bold" if is_fastest else "normal")
    ax.set_yticks(range(len(entries)), labels)
    ax.set_ylim(len(entries) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0, top * 1.75)
    ax.set_xlabel("largest batch (samples per step)")
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)
    return figure.save(fig, out_dir, "fit")
