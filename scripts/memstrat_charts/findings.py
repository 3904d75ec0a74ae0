"""The report's findings: sentences computed from the cells, never typed by hand.

Each function returns a list of Markdown lines (bullets) for one workload, or for
the fit section. Ratios are "this strategy ÷ the reference", so below 1 is less.
"""
from .analysis import describe_technique, intervals_overlap, pareto_front, ratio
from .results import workload_label
from .units import MIB


def _mib(value):
    return f"{value / MIB:.1f} MiB"


def _ms(value):
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _reference(allocators):
    """glibc malloc where it ran: the allocator everyone starts from."""
    for cell in allocators:
        if cell.alloc == "malloc":
            return cell, "glibc malloc"
    return allocators[0], allocators[0].strategy


def allocator_findings(cells):
    allocators = [c for c in cells if c.ok and c.tech == "none" and c.get("peak_rss_bytes") is not None]
    if len(allocators) < 2:
        return []
    lines = []
    ref, ref_name = _reference(allocators)
    peak = lambda c: c.get("peak_rss_bytes")  # noqa: E731
    lowest, highest = min(allocators, key=peak), max(allocators, key=peak)
    if lowest is ref:
        others = sorted((c for c in allocators if c is not ref), key=peak)
        lines.append(f"- **Lowest peak**: {ref_name}, {_mib(peak(ref))}; the next, {others[0].strategy}, "
                     f"peaked at {ratio(peak(others[0]), peak(ref)):.2f}× that ({_mib(peak(others[0]))}).")
    else:
        lines.append(f"- **Lowest peak**: {lowest.strategy}, {_mib(peak(lowest))}: "
                     f"{ratio(peak(lowest), peak(ref)):.2f}× {ref_name}'s {_mib(peak(ref))} "
                     f"({_mib(peak(ref) - peak(lowest))} less).")
    if highest is ref:
        lines.append(f"- **Highest peak**: {ref_name} itself.")
    elif highest is not lowest:
        lines.append(f"- **Highest peak**: {highest.strategy}, {_mib(peak(highest))}, "
                     f"{ratio(peak(highest), peak(ref)):.2f}× {ref_name}.")
    timed = [c for c in allocators if c.get("step_ms") is not None]
    if len(timed) >= 2 and ref in timed:
        step = lambda c: c.get("step_ms")  # noqa: E731
        fastest, slowest = min(timed, key=step), max(timed, key=step)
        if fastest is ref:
            lines.append(f"- **Fastest**: {ref_name}, {_ms(step(ref))} per step.")
        else:
            noise = " — not told apart: the intervals of their medians overlap" \
                if intervals_overlap(fastest, ref) else ""
            lines.append(f"- **Fastest**: {fastest.strategy}, {_ms(step(fastest))} per step, "
                         f"{ratio(step(fastest), step(ref)):.2f}× {ref_name}'s {_ms(step(ref))}{noise}.")
        if slowest is ref:
            lines.append(f"- **Slowest**: {ref_name} itself, {_ms(step(ref))} per step.")
        elif slowest is not fastest:
            lines.append(f"- **Slowest**: {slowest.strategy}, {_ms(step(slowest))} per step, "
                         f"{ratio(step(slowest), step(ref)):.2f}× {ref_name}.")
    return lines


def technique_findings(cells):
    """What each technique bought in memory and cost in time, against its allocator alone."""
    plain = {c.alloc: c for c in cells if c.ok and c.tech == "none"}
    lines = []
    for cell in cells:
        base = plain.get(cell.alloc)
        if cell.tech == "none" or not cell.ok or base is None:
            continue
        parts = []
        rss = ratio(cell.get("peak_rss_bytes"), base.get("peak_rss_bytes"))
        if rss is not None:
            change = cell.get("peak_rss_bytes") - base.get("peak_rss_bytes")
            sign = "±" if abs(change) < 0.05 * MIB else ("+" if change > 0 else "−")
            parts.append(f"peak RSS {rss:.2f}× ({sign}{_mib(abs(change))})")
        live = ratio(cell.get("peak_live_bytes"), base.get("peak_live_bytes"))
        if live is not None:
            parts.append(f"peak live tensor bytes {live:.2f}×")
        time = ratio(cell.get("step_ms"), base.get("step_ms"))
        if time is not None:
            parts.append(f"step time {time:.2f}×" + (" (the intervals overlap)" if intervals_overlap(cell, base) else ""))
        if parts:
            what = describe_technique(cell.tech)
            lines.append(f"- **{what[0].upper() + what[1:]}** on {cell.alloc}: " + ", ".join(parts)
                         + f", against {cell.alloc} alone.")
    return lines


def pareto_findings(cells):
    points = [(c.get("peak_rss_bytes"), c.get("step_ms"), c) for c in cells
              if c.ok and c.get("peak_rss_bytes") is not None and c.get("step_ms") is not None]
    if len(points) < 2:
        return []
    front = pareto_front(points)
    names = ", ".join(f"{p[2].strategy} ({_mib(p[0])}, {_ms(p[1])})" for p in front)
    return [f"- **Worth picking** (the Pareto front: nothing else is both smaller and faster), "
            f"from the smallest to the fastest: {names}."]


def failure_findings(cells):
    failed = [c for c in cells if not c.ok]
    if not failed:
        return []
    return ["- **Did not complete**: " + "; ".join(
        f"{c.strategy} ({c.status}" + (f": {c.reason})" if c.reason else ")") for c in failed) + "."]


def unstable_findings(cells):
    flagged = [c for c in cells if c.ok and c.unstable]
    if not flagged:
        return []
    return ["- **Unstable, times not to be trusted**: " + "; ".join(
        f"{c.strategy} ({c.unstable_reason})" for c in flagged) + "."]


def workload_findings(workload, cells):
    lines = (allocator_findings(cells) + technique_findings(cells) + pareto_findings(cells)
             + failure_findings(cells) + unstable_findings(cells))
    return [f"**{workload_label(workload)}**", ""] + lines if lines else []


def fit_findings(fit):
    entries = fit.get("results") or []
    if not entries:
        return []
    budget = fit.get("budget_bytes")
    where = fit.get("model", "?") + (f" at {fit['image']}×{fit['image']}" if fit.get("image") else "")
    label = lambda e: e["alloc"] if e.get("tech", "none") == "none" else f"{e['alloc']} + {e['tech']}"  # noqa: E731
    top = max(e["max_batch"] for e in entries)
    head = f"**Within a budget of {_mib(budget)}**, {where}" if budget else f"**Within the budget**, {where}"
    if top == 0:
        return [head, "", "- Nothing fits: not even batch 1 trains within the budget."]
    best = [label(e) for e in entries if e["max_batch"] == top]
    lines = [head, "", f"- **Largest batch**: {top}, with {', '.join(best)}."]
    plain = [e for e in entries if e["alloc"] == "malloc" and e.get("tech", "none") == "none"]
    if plain and plain[0]["max_batch"] and plain[0]["max_batch"] != top:
        lines.append(f"- That is {top / plain[0]['max_batch']:.2f}× the batch glibc malloc alone reaches "
                     f"({plain[0]['max_batch']}).")
    confirmed = [e for e in entries if e.get("confirmed")]
    if confirmed:
        lines.append(f"- **Confirmed by runs**: {len(confirmed)} of {len(entries)} answers; each trained at its batch "
                     "and the next batch tried above it did not fit ("
                     + ", ".join(f"{label(e)} {e['max_batch']} → {e['failed']['batch']} {e['failed']['status']}"
                                 for e in confirmed) + ").")
    predicted = [e for e in entries if e.get("predicted_batch") is not None and e["max_batch"]]
    if predicted:
        exact = sum(1 for e in predicted if e["predicted_batch"] == e["max_batch"])
        lines.append(f"- **Predicted before running** (peak RSS by replay): {exact} of {len(predicted)} exactly; "
                     + ", ".join(f"{label(e)} {e['predicted_batch']} for {e['max_batch']}"
                                 for e in predicted if e["predicted_batch"] != e["max_batch"]) + ".")
    none = [label(e) for e in entries if e["max_batch"] == 0]
    if none:
        lines.append(f"- Not even batch 1 fits with: {', '.join(none)}.")
    fastest = fit.get("fastest")
    if fastest and fastest.get("step_ms") is not None:
        speed = f", {fastest['samples_per_s']:.1f} samples/s" if fastest.get("samples_per_s") else ""
        lines.append(f"- **Fastest that fits**: {label(fastest)} at batch {fastest['max_batch']}, "
                     f"{_ms(fastest['step_ms'])} per step{speed}.")
    return lines
