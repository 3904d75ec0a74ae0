"""The largest batch each strategy trains within the memory budget (`memstrat fit`): the
confirmed batch as a bar, the batch the replayed prediction allowed as a diamond, and the
next batch tried above, which did not fit, as a cross."""
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
    if fit.get("budget_per_rank"):
        budget_text += " a rank"
    height = 1.4 + figure.CORNER_INCHES + 0.36 * len(entries)
    fig, ax = figure.new_figure(10, height, f"Largest batch that trains within {budget_text}: {workload}",
                                results.context)
    labels = [strategy.label(e["alloc"], e.get("tech", "none")) + (f", {e['ranks']} ranks" if e.get("ranks") else "")
              for e in entries]
    top = max(e["max_batch"] for e in entries) or 1
    top = max([top] + [(e.get("failed") or {}).get("batch", 0) for e in entries] +
              [e.get("predicted_batch", 0) for e in entries])
    shown = set()  # each marker in the legend once

    def mark(x, y, style, label):
        ax.plot([x], [y], linestyle="none", label=None if label in shown else label, zorder=3, **style)
        shown.add(label)

    for y, (entry, name) in enumerate(zip(entries, labels)):
        failed = entry.get("failed") or {}
        if failed.get("batch"):
            mark(failed["batch"], y, {"marker": "x", "color": "#b00020", "markersize": 7},
                 "next batch tried: did not fit")
        if entry.get("predicted_batch"):
            mark(entry["predicted_batch"], y, {"marker": "D", "color": "black", "markersize": 5,
                                               "markerfacecolor": "white"}, "largest batch predicted to fit")
        if entry["max_batch"] == 0:
            where = f" on {entry['ranks']} ranks" if entry.get("ranks") else ""
            ax.text(0, y, f" does not fit{where}, even at batch {failed.get('batch') or 1}", va="center",
                    fontsize=9, color="#b00020")
            continue
        ax.barh(y, entry["max_batch"], color=strategy.colour(strategy.label(entry["alloc"], entry.get("tech", "none"))),
                height=0.6)
        text = f"  {entry['max_batch']}"
        if failed.get("batch"):
            text += f", {failed['batch']} {failed.get('status', '?')}"
        if entry.get("step_ms") is not None:
            text += f" · {entry['step_ms']:.0f} ms/step"
            text += f", {entry['samples_per_s']:.3g} samples/s" if entry.get("samples_per_s") else ""
        is_fastest = (entry["alloc"], entry.get("tech", "none"), entry["max_batch"]) == (
            fastest.get("alloc"), fastest.get("tech", "none"), fastest.get("max_batch"))
        if is_fastest:
            text += "  ← fastest that fits"
        right = max(entry["max_batch"], failed.get("batch") or 0, entry.get("predicted_batch") or 0)
        ax.text(right, y, text, va="center", fontsize=9, fontweight="bold" if is_fastest else "normal")
    ax.set_yticks(range(len(entries)), labels)
    ax.set_ylim(len(entries) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0, top * 2.1)
    ax.set_xlabel("largest batch that trained under the budget (samples per step)")
    if shown:
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)
    return figure.save(fig, out_dir, "fit")
