"""Strategy names, their canonical order and their colours.

A strategy is an allocator plus a technique set ("pool + bf16,recompute"). Each one
keeps its colour in every chart, and from one results file to the next: the known
strategies take fixed colours in the order below, any other gets a colour derived
from a hash of its name (never from its position in a file, which would change).
"""
import colorsys
import hashlib

ALLOCATORS = ["malloc", "jemalloc", "mimalloc", "tcmalloc", "arena", "arena:separate",
              "pool", "pool:first", "pool:worst", "mmap", "planned"]
TECHNIQUES = ["none", "fp16", "bf16", "accum:2", "accum:4", "recompute", "offload",
              "bf16,recompute", "bf16,accum:4"]

# Grey is left out on purpose: the peak-memory chart draws baseline and live bytes in grey.
_FIXED = {
    "malloc": "#1f77b4", "jemalloc": "#ff7f0e", "mimalloc": "#2ca02c", "tcmalloc": "#d62728",
    "arena": "#9467bd", "arena:separate": "#c5b0d5", "pool": "#8c564b", "pool:first": "#c49c94",
    "pool:worst": "#e377c2", "mmap": "#17becf", "planned": "#bcbd22",
    "malloc + fp16": "#393b79", "malloc + bf16": "#6b6ecf", "malloc + accum:2": "#637939",
    "malloc + accum:4": "#8ca252", "malloc + recompute": "#843c39", "malloc + offload": "#d6616b",
    "malloc + bf16,recompute": "#7b4173", "malloc + bf16,accum:4": "#a55194",
}


def label(alloc, tech):
    """The name a strategy goes by in charts and tables."""
    return alloc if tech in ("", "none", None) else f"{alloc} + {tech}"


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255.0 for i in (1, 3, 5))


def colour(strategy):
    if strategy in _FIXED:
        return _FIXED[strategy]
    # md5, not hash(): Python salts str hashes per process, and the colour must not change.
    # Candidates too close to a fixed colour are passed over, so that an unknown strategy
    # is never mistaken for a known one in the same chart.
    fixed = [_rgb(c) for c in _FIXED.values()]
    for attempt in range(64):
        digest = hashlib.md5(f"{strategy}#{attempt}".encode()).digest()
        hue, lightness = digest[0] / 255.0, 0.3 + 0.35 * digest[1] / 255.0
        rgb = colorsys.hls_to_rgb(hue, lightness, 0.7)
        if min(sum((a - b) ** 2 for a, b in zip(rgb, f)) for f in fixed) > 0.04:
            break
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in rgb)


def sort_key(alloc, tech):
    """Known allocators and techniques in the order above, others after them by name."""
    def rank(names, name):
        return (names.index(name), "") if name in names else (len(names), name)
    return rank(ALLOCATORS, alloc) + rank(TECHNIQUES, tech or "none")
