"""Training over MPI ranks: per-rank peak memory by stage and allocator, and a rank's
model states against the number of ranks beside the ZeRO paper's formula.

Left, one row per (ranks, stage): a bar per allocator to the largest rank's peak RSS,
a black tick at its peak live bytes, a white one at the estimator's prediction.
Right, for each stage under one allocator: a rank's parameters, gradients and
optimizer state at their peaks (solid) against ranks, and the formula's figure for
that stage (dashed, zero_formula_bytes); one process is the point at 1 rank. What the
formula leaves out (activations, workspace, collective buffers, a layer's gathered
parameters under zero:3) is the gap up to peak live, drawn thin.
"""
from .. import figure, strategy
from ..units import MIB
from . import Skip

STAGES = ["dp", "zero:1", "zero:2", "zero:3"]
STAGE_COLOURS = {"dp": "#4c72b0", "zero:1": "#dd8452", "zero:2": "#55a868", "zero:3": "#c44e52"}
MODEL_STATE_KEYS = ("peak_parameter_bytes", "peak_gradient_bytes", "peak_optimizer_state_bytes")


def ranks_of(cell):
    return int(cell.config.get("ranks", 1) or 1)


def stage_of(cell):
    """dp, zero:S, or None for one process; the rest of the techniques must be none."""
    parts = [p for p in cell.tech.split(",") if p and p != "none"]
    stages = [p for p in parts if p in STAGES]
    if len(parts) != len(stages) or len(stages) > 1:
        return "other"
    return stages[0] if stages else ("dp" if ranks_of(cell) > 1 else None)


def model_states(cell):
    values = [cell.get(k) for k in MODEL_STATE_KEYS]
    return None if any(v is None for v in values) else sum(values)


def row_label(ranks, stage, transport):
    if ranks == 1 and stage is None:
        return "1 process"
    return f"{ranks} ranks{' over ' + transport if transport else ''}, {stage}"


def draw(results, out_dir):
    cells = [c for c in results.cells if c.ok and stage_of(c) != "other"]
    if not any(ranks_of(c) > 1 for c in cells):
        raise Skip("no run over --ranks in these results")
    models = sorted({c.config.get("model", "?") for c in cells if ranks_of(c) > 1})
    if len(models) != 1:
        raise Skip(f"runs over ranks of {len(models)} models; this chart draws one")
    cells = [c for c in cells if c.config.get("model") == models[0]]
    allocs = sorted({c.alloc for c in cells}, key=lambda a: strategy.sort_key(a, "none"))
    rows = sorted({(ranks_of(c), stage_of(c) or "", c.config.get("transport", "")) for c in cells},
                  key=lambda r: (r[2] != "", r[0], STAGES.index(r[1]) if r[1] in STAGES else -1))

    fig, (left, right) = figure.new_figure(
        13, 0.42 * len(rows) * max(1, len(allocs)) / 2 + 2.6,
        f"{models[0]} over MPI ranks: memory per rank by ZeRO stage", results.context, ncols=2,
        gridspec_kw={"width_ratios": [1.25, 1]})
    height = 0.8 / max(1, len(allocs))
    for y, (ranks, stage, transport) in enumerate(rows):
        in_row = [c for c in cells if ranks_of(c) == ranks and (stage_of(c) or "") == stage
                  and c.config.get("transport", "") == transport]
        present = [a for a in allocs if any(c.alloc == a for c in in_row)]
        for i, alloc in enumerate(present):
            c = next(c for c in in_row if c.alloc == alloc)
            yy = y + height * (i - (len(present) - 1) / 2)
            rss = c.get_mib("peak_rss_bytes")
            left.barh(yy, rss, height=height * 0.9, color=strategy.colour(alloc), label=alloc)
            live, predicted = c.get_mib("peak_live_bytes"), c.get_mib("predicted_peak_live_bytes")
            if live is not None:
                left.plot([live, live], [yy - height * 0.45, yy + height * 0.45], color="black", lw=2)
            if predicted is not None:
                left.plot([predicted, predicted], [yy - height * 0.3, yy + height * 0.3], color="white", lw=1.2)
            left.text(rss, yy, f" {rss:.0f}", va="center", fontsize=7)
    left.set_yticks(range(len(rows)), [row_label(r, s or None, t) for r, s, t in rows])
    left.invert_yaxis()
    left.set_xlabel("peak RSS of the largest rank (MiB); black: peak live, white: predicted live")
    handles, labels = left.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    left.legend(unique.values(), unique.keys(), loc="lower right", title="allocator")
    left.set_title("Peak memory of a rank", loc="left")

    # Right: one allocator (glibc's when there), the default transport.
    alloc = "malloc" if "malloc" in allocs else allocs[0]
    mine = [c for c in cells if c.alloc == alloc and not c.config.get("transport")]
    single = [c for c in mine if ranks_of(c) == 1 and stage_of(c) is None]
    drawn = 0
    for stage in STAGES:
        points = sorted(((ranks_of(c), c) for c in mine if ranks_of(c) > 1 and stage_of(c) == stage),
                        key=lambda p: p[0])
        if single:
            points = [(1, single[0])] + points
        measured = [(n, model_states(c) / MIB) for n, c in points if model_states(c) is not None]
        # At one rank the formula is one process's model states, as measured.
        formula = [(n, v / MIB) for n, v in ((n, c.get("zero_formula_bytes") if n > 1 else model_states(c))
                                            for n, c in points) if v is not None]
        live = [(n, c.get_mib("peak_live_bytes")) for n, c in points if c.get("peak_live_bytes") is not None]
        colour = STAGE_COLOURS[stage]
        if measured:
            right.plot(*zip(*measured), marker="o", color=colour, label=f"{stage} measured")
            drawn += 1
        if formula:
            right.plot(*zip(*formula), ls="--", color=colour, label=f"{stage} formula")
        if live:
            right.plot(*zip(*live), lw=0.8, ls=":", color=colour, label=f"{stage} peak live")
    if not drawn:
        raise Skip("no per-kind peaks in the runs over ranks")
    ranks_drawn = sorted({ranks_of(c) for c in mine})
    right.set_xscale("log", base=2)
    right.set_xticks(ranks_drawn, [str(n) for n in ranks_drawn])
    right.set_xlabel("ranks")
    right.set_ylabel("MiB a rank")
    right.set_ylim(bottom=0)
    right.grid(color="#e5e5e5")
    right.legend(fontsize=8, ncol=3, loc="lower left")
    right.set_title(f"A rank's model states against ranks ({alloc})", loc="left")
    return figure.save(fig, out_dir, "ranks")
