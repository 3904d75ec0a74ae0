"""scripts/kernel_vs_torch: the kernel's step time beside PyTorch's, model by model.

Reads a suite's results file holding, for each model, a kernel cell and a command
cell that trains the same model with workloads/torch_train.py (the suite config
results/configs/kernel-vs-torch.toml makes one; --run runs it first). The cells
are paired by model, image, channels and batch. A suite runs its cells round by
round, so each round's kernel run and PyTorch run are minutes apart at most:
the ratio is taken per round, and the table gives its median over the rounds
with the smallest and largest, beside each side's median step (median over the
rounds of each run's median step) and its range.
"""
import os
import statistics
import subprocess
import sys

from . import cli
from .results import ResultsError, load

DESCRIPTION = """Prints kernel / PyTorch step time per model, per round of an interleaved suite, with the
rounds' median and range."""

CONFIG = os.path.join(cli.ROOT, "results", "configs", "kernel-vs-torch.toml")
# torch_train.py's flags that name the workload, and the kernel record's config keys.
WORKLOAD_FLAGS = {"--model": "model", "--image": "image", "--channels": "channels", "--batch": "batch"}


def torch_workload(command):
    """The (model, image, channels, batch) a torch_train.py command line trains, or None."""
    if not any(os.path.basename(str(word)) == "torch_train.py" for word in command):
        return None
    found = {}
    for flag, key in WORKLOAD_FLAGS.items():
        if flag in command:
            value = command[command.index(flag) + 1]
            found[key] = value if key == "model" else int(value)
    return workload_key(found)


def workload_key(config):
    """0 and absent mean the model's default alike (vgg16's image, deepconv's channels)."""
    return (config.get("model"), int(config.get("image") or 0), int(config.get("channels") or 0),
            int(config.get("batch") or 0))


def label(key):
    model, image, channels, batch = key
    text = model
    if image:
        text += f" {image}x{image}"
    if channels:
        text += f", {channels} channels"
    return f"{text}, batch {batch}"


def pairs(doc):
    """[(key, kernel cell, torch cell)] in the file's order of kernel cells."""
    kernels, torches = {}, {}
    for cell in doc.cells:
        config = cell.config
        if "command" in config:
            key = torch_workload(config["command"])
            if key is not None:
                torches.setdefault(key, cell)
        elif config.get("tech", "none") == "none" and config.get("alloc") == "malloc":
            kernels.setdefault(workload_key(config), cell)
    found = [(key, cell, torches[key]) for key, cell in kernels.items() if key in torches]
    if not found:
        raise ResultsError(f"{doc.path}: no model has both a kernel cell (malloc, no technique) and a "
                           "torch_train.py cell of the same model, image, channels and batch")
    return found


def step_ms(record):
    return float(record["step_ms"]) if record.get("status") == "ok" and "step_ms" in record else None


def row(key, kernel, torch):
    ks = [step_ms(r) for r in kernel.repeats]
    ts = [step_ms(r) for r in torch.repeats]
    ratios = [k / t for k, t in zip(ks, ts) if k is not None and t is not None]
    ks = [k for k in ks if k is not None]
    ts = [t for t in ts if t is not None]
    if not ratios:
        return {"workload": label(key), "rounds": 0, "note": "no round with both runs ok"}
    return {"workload": label(key), "rounds": len(ratios),
            "kernel_ms": statistics.median(ks), "kernel_ms_range": [min(ks), max(ks)],
            "torch_ms": statistics.median(ts), "torch_ms_range": [min(ts), max(ts)],
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
            "ratios": ratios, "kernel_cell": kernel.name, "torch_cell": torch.name}


def table(rows, source):
    lines = ["| model | kernel step | PyTorch step | kernel ÷ PyTorch (rounds' median [min–max]) |",
             "|---|---|---|---|"]
    for r in rows:
        if not r["rounds"]:
            lines.append(f"| {r['workload']} | - | - | {r['note']} |")
            continue
        lines.append(f"| {r['workload']} | {r['kernel_ms']:.1f} ms [{r['kernel_ms_range'][0]:.1f}–"
                     f"{r['kernel_ms_range'][1]:.1f}] | {r['torch_ms']:.1f} ms [{r['torch_ms_range'][0]:.1f}–"
                     f"{r['torch_ms_range'][1]:.1f}] | **{r['ratio']:.2f}** [{r['ratio_range'][0]:.2f}–"
                     f"{r['ratio_range'][1]:.2f}] over {r['rounds']} rounds |")
    lines.append(f"(median step of each run, warm-up excluded; {source})")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = cli.parser("kernel_vs_torch", DESCRIPTION)
    p.add_argument("results", metavar="RESULTS.json", help="a suite's results file (written first with --run)")
    p.add_argument("--run", action="store_true",
                   help=f"run the suite first ({os.path.relpath(CONFIG, cli.ROOT)}, or --config) into RESULTS.json")
    p.add_argument("--config", default=CONFIG, help="the suite config --run runs")
    p.add_argument("--memstrat", default=os.path.join(cli.ROOT, "build", "memstrat"), help="the memstrat binary")
    p.add_argument("--out", metavar="FILE.json", help="write the rows here as JSON, and the table beside it (.md)")
    args = p.parse_args(argv)

    def run():
        if args.run:
            if not os.access(args.memstrat, os.X_OK):
                raise ResultsError(f"{args.memstrat} is not an executable: build it with `make`")
            command = [args.memstrat, "suite", "--config", args.config, "--out", args.results]
            print("kernel_vs_torch: " + " ".join(command), file=sys.stderr, flush=True)
            # The suite's relative paths (workloads/torch_train.py) are the repository's.
            if subprocess.run(command, cwd=cli.ROOT).returncode != 0:
                raise ResultsError(f"the suite failed: {' '.join(command)}")
        doc = load(args.results)
        rows = [row(*found) for found in pairs(doc)]
        text = table(rows, args.results)
        cli.print_table(text, args.out, args.results, rows, ".md")
        return 0

    return cli.run("kernel_vs_torch", run)


if __name__ == "__main__":
    sys.exit(main())
