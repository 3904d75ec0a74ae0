"""What every chart shares: the Agg backend, sizes, the machine in a corner, saving.

Charts are written twice with a stable name: PNG for reading anywhere, SVG for
print and for diffing. A strip along the bottom of every figure is kept free of
axes by the layout engine, so the machine line never lands on a tick label.
"""
import os

import matplotlib

matplotlib.use("Agg")  # no display: the scripts run in CI and over ssh
import matplotlib.pyplot as plt  # noqa: E402  (must follow use())

from .units import MIB  # noqa: E402

plt.rcParams.update({
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "figure.titlesize": 13,
    "legend.fontsize": 9, "axes.spines.top": False, "axes.spines.right": False,
    "svg.hashsalt": "memstrat",  # stable SVG ids, so that regenerated charts diff cleanly
    "svg.fonttype": "none",
})

CORNER_INCHES = 0.32


def machine_line(context):
    """One line naming the machine, for the corner of every chart."""
    parts = [context.get("host_name", "unknown host")]
    if context.get("cpu_model"):
        parts.append(context["cpu_model"])
    if context.get("num_cpus"):
        parts.append(f"{context['num_cpus']} CPUs")
    if context.get("memory_bytes"):
        parts.append(f"{context['memory_bytes'] / (1024 * MIB):.0f} GiB")
    if context.get("kernel"):
        parts.append(context["kernel"])
    if context.get("date"):
        parts.append(str(context["date"])[:10])
    if context.get("fixture"):
        parts.append("test fixture")
    return " · ".join(parts)


def new_figure(width, height, title, context, corner=None, **subplots):
    """A figure with its title and the machine line (or corner, when given); returns (figure, axes)."""
    fig, axes = plt.subplots(figsize=(width, height), layout="constrained", **subplots)
    fig.get_layout_engine().set(rect=(0, CORNER_INCHES / height, 1, 1 - CORNER_INCHES / height))
    fig.suptitle(title, fontweight="bold")
    fig.text(0.995, 0.008, corner or machine_line(context), ha="right", va="bottom", fontsize=8, color="#555555")
    return fig, axes


def save(fig, out_dir, stem):
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        fig.savefig(path, dpi=120, metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def failed_text(cell):
    """How a failed cell is written where its bar would be."""
    reason = cell.reason if len(cell.reason) <= 60 else cell.reason[:57] + "…"
    return f"{cell.status}: {reason}" if reason else cell.status
