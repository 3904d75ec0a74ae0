"""Comparisons computed from cells, shared by the charts and the report's findings."""


def pareto_front(points):
    """The points (x, y, ...) that no other point beats or equals on both x and y, sorted by x."""
    front = [p for p in points
             if not any(q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1]) for q in points)]
    return sorted(front, key=lambda p: (p[0], p[1]))


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def describe_technique(tech):
    """Plain words for a technique set, e.g. 'bf16,recompute' -> '16-bit storage (bf16) with recomputation'."""
    words = []
    for part in tech.split(","):
        name, _, arg = part.partition(":")
        if name in ("fp16", "bf16"):
            words.append(f"16-bit storage ({name})")
        elif name == "accum":
            words.append(f"gradient accumulation over {arg} micro-batches" if arg else "gradient accumulation")
        elif name == "recompute":
            words.append("recomputation" + (f" ({arg} segments)" if arg else ""))
        elif name == "offload":
            words.append("offloading activations")
        else:
            words.append(part)
    return " with ".join(words)


def time_interval(cell):
    """A cell's step-time interval: the suite's interval for its median over the repeats,
    or, for files written before it had one, the lowest to the highest repeat median."""
    low, high = cell.get("step_ms_ci_low"), cell.get("step_ms_ci_high")
    if low is not None and high is not None:
        return low, high
    medians = cell.repeat_medians()
    return (min(medians), max(medians)) if medians else (None, None)


def intervals_overlap(a, b):
    """Whether two cells' step-time intervals overlap: the repeats cannot tell them apart."""
    a_low, a_high = time_interval(a)
    b_low, b_high = time_interval(b)
    if None in (a_low, a_high, b_low, b_high):
        return False
    return a_low <= b_high and b_low <= a_high
