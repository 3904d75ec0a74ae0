"""One recorded training step (the record's `step_timeline`), turned into series.

The record holds events: after every allocate and free of the step, which kind of
buffer changed by how many bytes, RSS and the allocator's reserved bytes. Live bytes
by kind follow by summing from the step's start. Each series here starts at the
step's start (t = 0) and ends at its end, so that steps of different lengths can be
laid over each other on a time normalised to the step.
"""
from .units import MIB

KIND_COLOURS = {
    "parameter": "#4c72b0", "gradient": "#dd8452", "optimizer_state": "#55a868", "activation": "#c44e52",
    "temporary": "#8172b3", "workspace": "#937860", "input": "#da8bc3",
}


def valid(t):
    """Whether t is a step timeline this module can read."""
    if not isinstance(t, dict):
        return False
    n = t.get("events")
    keys = ("t_us", "kind", "bytes", "rss_bytes")
    return (isinstance(n, int) and n > 0 and all(isinstance(t.get(k), list) and len(t[k]) == n for k in keys)
            and isinstance(t.get("kinds"), list) and isinstance(t.get("start_live_by_kind"), list)
            and len(t["kinds"]) == len(t["start_live_by_kind"]) and isinstance(t.get("step_us"), (int, float))
            and all(isinstance(k, int) and 0 <= k < len(t["kinds"]) for k in t["kind"]))


def series(t):
    """{"t_ms", "live_mib": {kind: [...]}, "total_mib", "rss_mib", "reserved_mib" or None,
    "phases": [(phase, t_ms)], "step_ms"}: one point at the step's start, one after
    every event, one at its end; MiB throughout."""
    kinds = t["kinds"]
    live = [float(v) for v in t["start_live_by_kind"]]
    step_ms = t["step_us"] / 1000.0
    t_ms = [0.0]
    by_kind = {k: [live[i] / MIB] for i, k in enumerate(kinds)}
    rss = [float(t.get("start_rss_bytes") or t["rss_bytes"][0]) / MIB]
    reserved_raw = t.get("reserved_bytes")
    reserved = [reserved_raw[0] / MIB] if isinstance(reserved_raw, list) and reserved_raw else None
    for i in range(t["events"]):
        live[t["kind"][i]] += t["bytes"][i]
        t_ms.append(t["t_us"][i] / 1000.0)
        for j, k in enumerate(kinds):
            by_kind[k].append(live[j] / MIB)
        rss.append(t["rss_bytes"][i] / MIB)
        if reserved is not None:
            reserved.append(reserved_raw[i] / MIB)
    # Held flat to the step's end.
    t_ms.append(max(step_ms, t_ms[-1]))
    for k in kinds:
        by_kind[k].append(by_kind[k][-1])
    rss.append(rss[-1])
    if reserved is not None:
        reserved.append(reserved[-1])
    total = [sum(by_kind[k][i] for k in kinds) for i in range(len(t_ms))]
    phases = [(p.get("phase", "?"), p.get("t_us", 0) / 1000.0) for p in t.get("phases") or []]
    return {"t_ms": t_ms, "live_mib": by_kind, "total_mib": total, "rss_mib": rss, "reserved_mib": reserved,
            "phases": phases, "step_ms": step_ms}
