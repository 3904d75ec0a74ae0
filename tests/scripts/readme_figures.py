"""The README's figures, each recomputed from the committed results file it names.

Every number the README quotes is listed here with its source: a results file under
results/, the cell (run_name) and the figure. The test formats the figure from the
file and requires that exact text in the README, so a re-generated results file
whose numbers moved fails it until the README is brought up to date.
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1024.0 * 1024.0

# (kind, file, cell, key[, other cell]): kind says how the README writes it.
#   mib:   the cell's figure in MiB, one decimal ("90.1 MiB")
#   ms:    the cell's figure in ms, no decimals, thousands separated ("6,759 ms")
#   ratio: cell ÷ other cell, two decimals and "x" ("0.58x")
#   pct:   (cell ÷ other cell − 1) as a signed whole percentage ("+36%")
#   pct_less: (1 − cell ÷ other cell) as a whole percentage ("42%")
CLAIMS = []


def _cells(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        document = json.load(f)
    return {r["run_name"]: r for r in document["benchmarks"] if r.get("run_type") == "aggregate"} or \
        {r["run_name"]: r for r in document["benchmarks"]}


def text(claim):
    kind, path, cell, key = claim[:4]
    cells = _cells(path)
    value = cells[cell][key]
    if kind == "mib":
        return f"{value / MIB:.1f} MiB"
    if kind == "ms":
        return f"{value:,.0f} ms"
    other = cells[claim[4]][key]
    if kind == "ratio":
        return f"{value / other:.2f}x"
    if kind == "pct":
        return f"{100 * (value / other - 1):+.0f}%"
    if kind == "pct_less":
        return f"{100 * (1 - value / other):.0f}%"
    raise ValueError(kind)
