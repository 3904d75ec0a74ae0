"""The README's figures, each recomputed from the committed results file it names.

Every number the README quotes is listed here with its source: a results file under
results/, the cell (run_name) and the figure. The test formats the figure from the
file and requires that exact text in the README, so a re-generated results file
whose numbers moved fails it until the README is brought up to date.
"""
import functools
import json
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1024.0 * 1024.0

# (kind, file, cell, key[, other cell]): kind says how the README writes it.
#   fit:   a fit file's entry ("malloc+accum:4") and its figure, a whole number ("552")
#   num:   the figure itself, two decimals ("1.09")
#   mib:   the cell's figure in MiB, one decimal ("90.1 MiB")
#   ms:    the cell's figure in ms, no decimals, thousands separated ("6,759 ms")
#   ms1:   the cell's figure in ms, one decimal ("54.2 ms")
#   ratio: cell ÷ other cell, two decimals and "x" ("0.58x")
#   pct:   (cell ÷ other cell − 1) as a signed whole percentage ("+36%")
#   pct_less: (1 − cell ÷ other cell) as a whole percentage ("42%")
#   count: the figure as a whole number, thousands separated ("58,764")
#   hl:    cell over other cell from their repeats' medians (scripts/compare's estimate, "0.96x")
#   hl_range: that ratio's interval ("0.84-1.04x")
#   pred:  the |error| of predicted peak RSS over the cells, from scripts/prediction_error's
#          file or a suite's own predictions: key "median" or "worst" ("1.3%"),
#          "within" ("23 of 40 cells"); cell unused
#   predcost: a suite's prediction_seconds over wall_s, median over its runs ("0.46"); cell unused
#   unstable: how many of the file's cells are flagged ("27 of the 40 cells"); cell and key unused
#   replay: a `trace replay` file's figure for strategy `cell` in MiB ("233.3 MiB"); cell None: the
#           file's own top-level key
#   rep:   an iteration record's figure in MiB, cell "RUN_NAME#REPETITION" ("229.4 MiB")
#   l2rel: the largest relative difference of weights_l2 between any ok cell and the file's
#          cell `cell` ("7e-11"); key unused
#   kvt:   scripts/kernel_vs_torch's table of a side-by-side run, its header and rows as printed;
#          cell and key unused
#   step:  the cell's recorded step (step_timeline, scripts/memstrat_charts/steps.py) in MiB:
#          key "rss_start", "rss_max", "rss_end" or "live_max" ("86.9 MiB")
F = "results/vm-2026-12-08.json"  # the default preset, 3 repeats, each cell predicted before it ran
S = "results/vm-2026-12-08.json"  # the same run: each cell's last step recorded (step_timeline)
D = "results/suites/deepconv-pool-vm-2026-12-03.json"  # results/configs/deepconv-pool.toml
R = "results/suites/recompute-vm-2026-12-02.json"  # results/configs/recompute.toml
FIT = "results/fit-vm-2026-12-02.json"
PO = "results/suites/planned-overhead-vm-2026-12-03.json"  # results/configs/planned-overhead.toml
FIT224 = "results/fit-vm-2026-12-03.json"  # vgg16 at 224x224 within 3 GiB
O = "results/suites/offload-vm-2026-12-02.json"  # results/configs/offload.toml
X = "results/exec-torch-vgg-mini-b64-vm-2026-12-06.json"  # memstrat exec, PyTorch under each allocator
XJ = "results/exec-torch-vgg-mini-b64-jemalloc-nodecay-vm-2026-12-06.json"  # the same, MALLOC_CONF set
T = "results/suites/torch-vm-2026-12-07.json"  # preset torch, 5 repeats
RK = "results/suites/ranks-vm-2026-12-07.json"  # results/configs/ranks.toml: vgg16 32x32 b32 over 1, 2, 4 ranks
RF = "results/fit-ranks-vm-2026-12-07.json"  # fit --ranks 2 --model vgg16 --image 32 --budget 480MiB
XC = "results/capture/torch-vgg-mini-exec-2026-12-07.json"  # exec --capture, PyTorch vgg-mini b64
XR = "results/capture/torch-vgg-mini-replay-2026-12-07.json"  # trace replay of XC's last capture
REPLAYED = ("malloc", "jemalloc", "mimalloc", "tcmalloc", "arena", "arena:separate", "pool", "mmap", "planned")
GEMM = "results/micro/gemm-vm-2026-12-08.json"  # memstrat-micro, OpenBLAS's own kernel choice
CONV_BEFORE = "results/micro/conv-before-vm-2026-12-08.json"  # memstrat-micro of commit 361e4b4
CONV = "results/micro/conv-vm-2026-12-08.json"  # memstrat-micro, with the OpenBLAS reference
CONV_CASES = ["vgg-mini/conv1_2/b32", "vgg-mini/conv2_2/b32", "vgg-mini/conv3_1/b32", "vgg16-i32/conv1_2/b16",
              "vgg16-i32/conv3_3/b16", "vgg16-i32/conv5_3/b16", "vgg16/conv1_2/b1", "vgg16/conv2_2/b1",
              "vgg16/conv3_3/b1", "vgg16/conv4_3/b1", "vgg16/conv5_3/b1"]
KV = "results/kernel-vs-torch/vm-2026-12-08.json"  # scripts/kernel_vs_torch --run, this kernel
KVB = "results/kernel-vs-torch/before-vm-2026-12-08.json"  # the same with commit 361e4b4's kernel
TORCH_TABLE = [(kernel.format(a), f"exec/torch-{label}/{a}") for kernel, label in
               (("vgg-mini/b64/{}/none", "vgg-mini"), ("vgg16/b16/{}/none/i32", "vgg16-i32"))
               for a in ("malloc", "jemalloc", "mimalloc", "tcmalloc")]
CLAIMS = [
    ("mib", O, "deepconv:16/b64/pool/none/c64/n256", "peak_live_bytes"),
    ("mib", O, "deepconv:16/b64/pool/offload/c64/n256", "peak_live_bytes"),
    ("mib", O, "deepconv:16/b64/pool/none/c64/n256", "peak_rss_bytes"),
    ("mib", O, "deepconv:16/b64/pool/offload/c64/n256", "peak_rss_bytes"),
    ("mib", O, "deepconv:16/b64/mmap/offload/c64/n256", "peak_rss_bytes"),
    ("mib", O, "deepconv:16/b64/malloc/none/c64/n256", "peak_rss_bytes"),
    ("mib", O, "deepconv:16/b64/malloc/offload/c64/n256", "peak_rss_bytes"),
    ("gflops", GEMM, "gemm/ours/square/1024/min_time:0.500/real_time_median", "GFLOP/s"),
    ("gflops", GEMM, "gemm/openblas/square/1024/min_time:0.500/real_time_median", "GFLOP/s"),
    ("gflops", GEMM, "gemm/ours/square/2048/min_time:0.500/real_time_median", "GFLOP/s"),
    ("gflops", GEMM, "gemm/openblas/square/2048/min_time:0.500/real_time_median", "GFLOP/s"),
    ("mib", R, "deepconv:40/b104/pool/none/c64/n416", "peak_live_bytes"),
    ("mib", R, "deepconv:40/b104/pool/recompute/c64/n416", "peak_live_bytes"),
    ("ratio", R, "deepconv:40/b104/pool/none/c64/n416", "peak_live_bytes", "deepconv:40/b104/pool/recompute/c64/n416"),
    ("mib", R, "deepconv:40/b104/pool/none/c64/n416", "peak_rss_bytes"),
    ("mib", R, "deepconv:40/b104/pool/recompute/c64/n416", "peak_rss_bytes"),
    ("mib", R, "deepconv:40/b104/malloc/recompute/c64/n416", "peak_rss_bytes"),
    ("pct", R, "deepconv:40/b104/pool/recompute/c64/n416", "step_ms", "deepconv:40/b104/pool/none/c64/n416"),
    ("pct", R, "deepconv:40/b104/malloc/recompute/c64/n416", "step_ms", "deepconv:40/b104/malloc/none/c64/n416"),
    ("fit", FIT, "malloc+accum:4", "max_batch"),
    ("fit", FIT, "malloc+bf16", "max_batch"),
    ("fit", FIT, "malloc+recompute", "max_batch"),
    ("num", PO, "vgg-mini/b64/planned/none", "overhead_ratio"),
    ("num", PO, "vgg-mini/b64/pool/none", "overhead_ratio"),
    ("num", PO, "vgg-mini/b64/malloc/none", "overhead_ratio"),
    ("num", PO, "vgg-mini/b64/planned/accum:4", "overhead_ratio"),
    ("num", PO, "vgg-mini/b64/pool/accum:4", "overhead_ratio"),
    ("num", PO, "vgg-mini/b64/malloc/accum:4", "overhead_ratio"),
    ("num", PO, "deepconv:16/b32/planned/none/c32", "overhead_ratio"),
    ("num", PO, "deepconv:16/b32/pool/none/c32", "overhead_ratio"),
    ("num", PO, "deepconv:16/b32/malloc/none/c32", "overhead_ratio"),
    ("num", PO, "vgg16/b16/planned/none/i32", "overhead_ratio"),
    ("num", PO, "vgg16/b16/malloc/none/i32", "overhead_ratio"),
    ("num", PO, "vgg16/b16/pool/none/i32", "overhead_ratio"),
    ("fit", FIT224, "malloc+none", "max_batch"),
    ("fit", FIT224, "jemalloc+none", "max_batch"),
    ("fit", FIT224, "mimalloc+none", "max_batch"),
    ("fit", FIT224, "pool+none", "max_batch"),
    ("fit", FIT224, "arena+none", "max_batch"),
    ("fit", FIT224, "malloc+accum:4", "max_batch"),
    ("fit", FIT224, "malloc+bf16", "max_batch"),
    ("fit", FIT224, "malloc+recompute", "max_batch"),
    ("mib", F, "vgg-mini/b64/malloc/none", "peak_rss_bytes"),
    ("mib", F, "vgg-mini/b64/malloc/accum:4", "peak_rss_bytes"),
    ("ratio", F, "vgg-mini/b64/malloc/accum:4", "peak_rss_bytes", "vgg-mini/b64/malloc/none"),
    ("ratio", F, "vgg-mini/b64/malloc/accum:4", "step_ms", "vgg-mini/b64/malloc/none"),
    ("mib", F, "vgg-mini/b64/malloc/bf16", "peak_rss_bytes"),
    ("mib", F, "vgg-mini/b64/malloc/bf16", "peak_live_bytes"),
    ("mib", F, "vgg-mini/b64/malloc/none", "peak_live_bytes"),
    ("mib", F, "vgg-mini/b64/mmap/none", "peak_rss_bytes"),
    ("num", F, "vgg-mini/b64/mmap/none", "overhead_ratio"),
    ("mib", F, "vgg-mini/b64/pool/none", "peak_rss_bytes"),
    ("mib", F, "vgg-mini/b64/planned/none", "peak_rss_bytes"),
    ("num", F, "vgg-mini/b64/planned/none", "overhead_ratio"),
    ("mib", F, "vgg16/b8/malloc/none/i32", "peak_rss_bytes"),
    ("ratio", F, "vgg16/b8/arena/none/i32", "peak_rss_bytes", "vgg16/b8/malloc/none/i32"),
    ("mib", F, "deepconv:16/b32/pool/none/c32", "peak_rss_bytes"),
    ("mib", F, "deepconv:16/b32/pool/recompute/c32", "peak_rss_bytes"),
    ("mib", F, "deepconv:16/b32/malloc/none/c32", "peak_rss_bytes"),
    ("mib", F, "deepconv:16/b32/malloc/recompute/c32", "peak_rss_bytes"),
    ("mib", F, "deepconv:16/b32/malloc/offload/c32", "peak_rss_bytes"),
    ("unstable", F, None, None),
    # The pool before this round's kernel (the default preset of 2026-12-05) and after.
    ("mib", "results/vm-2026-12-05.json", "vgg-mini/b64/pool/none", "peak_rss_bytes"),
    ("mib", "results/vm-2026-12-05.json", "vgg-mini/b64/pool/none", "pool_peak_reserved_bytes"),
    ("num", "results/vm-2026-12-05.json", "vgg-mini/b64/pool/none", "fragmentation"),
    ("mib", F, "vgg-mini/b64/pool/none", "pool_peak_reserved_bytes"),
    ("num", F, "vgg-mini/b64/pool/none", "fragmentation"),
    ("mib", "results/vm-2026-12-03-2.json", "vgg-mini/b64/malloc/none", "peak_rss_bytes"),
    ("ms", D, "deepconv:16/b32/pool/none/c32", "step_ms"),
    ("ms", D, "deepconv:16/b32/malloc/none/c32", "step_ms"),
    ("hl", D, "deepconv:16/b32/pool/none/c32", "step_ms_repeats", "deepconv:16/b32/malloc/none/c32"),
    ("hl_range", D, "deepconv:16/b32/pool/none/c32", "step_ms_repeats", "deepconv:16/b32/malloc/none/c32"),
    ("hl", D, "deepconv:16/b32/pool/recompute/c32", "step_ms_repeats", "deepconv:16/b32/pool/none/c32"),
    ("hl_range", D, "deepconv:16/b32/pool/recompute/c32", "step_ms_repeats", "deepconv:16/b32/pool/none/c32"),
    ("count", D, "deepconv:16/b32/pool/none/c32", "minor_faults"),
    ("count", D, "deepconv:16/b32/malloc/none/c32", "minor_faults"),
    ("pred", F, None, "median"),
    ("pred", F, None, "worst"),
    ("pred", F, None, "within"),
    ("predcost", F, None, None),
    ("mib", X, "exec/torch-vgg-mini-b64/malloc", "peak_rss_bytes"),
    ("mib", X, "exec/torch-vgg-mini-b64/malloc", "baseline_rss_bytes"),
    ("ms1", X, "exec/torch-vgg-mini-b64/malloc", "step_ms"),
    ("ms1", X, "exec/torch-vgg-mini-b64/malloc", "step_ms_ci_low"),
    ("ms1", X, "exec/torch-vgg-mini-b64/malloc", "step_ms_ci_high"),
    ("count", X, "exec/torch-vgg-mini-b64/malloc", "minor_faults"),
    ("num", X, "exec/torch-vgg-mini-b64/malloc", "fragmentation"),
    ("mib", X, "exec/torch-vgg-mini-b64/jemalloc", "peak_rss_bytes"),
    ("mib", X, "exec/torch-vgg-mini-b64/jemalloc", "baseline_rss_bytes"),
    ("ms1", X, "exec/torch-vgg-mini-b64/jemalloc", "step_ms"),
    ("ms1", X, "exec/torch-vgg-mini-b64/jemalloc", "step_ms_ci_low"),
    ("ms1", X, "exec/torch-vgg-mini-b64/jemalloc", "step_ms_ci_high"),
    ("count", X, "exec/torch-vgg-mini-b64/jemalloc", "minor_faults"),
    ("num", X, "exec/torch-vgg-mini-b64/jemalloc", "fragmentation"),
    ("mib", X, "exec/torch-vgg-mini-b64/mimalloc", "peak_rss_bytes"),
    ("mib", X, "exec/torch-vgg-mini-b64/mimalloc", "baseline_rss_bytes"),
    ("ms1", X, "exec/torch-vgg-mini-b64/mimalloc", "step_ms"),
    ("ms1", X, "exec/torch-vgg-mini-b64/mimalloc", "step_ms_ci_low"),
    ("ms1", X, "exec/torch-vgg-mini-b64/mimalloc", "step_ms_ci_high"),
    ("count", X, "exec/torch-vgg-mini-b64/mimalloc", "minor_faults"),
    ("mib", X, "exec/torch-vgg-mini-b64/tcmalloc", "peak_rss_bytes"),
    ("mib", X, "exec/torch-vgg-mini-b64/tcmalloc", "baseline_rss_bytes"),
    ("ms1", X, "exec/torch-vgg-mini-b64/tcmalloc", "step_ms"),
    ("ms1", X, "exec/torch-vgg-mini-b64/tcmalloc", "step_ms_ci_low"),
    ("ms1", X, "exec/torch-vgg-mini-b64/tcmalloc", "step_ms_ci_high"),
    ("count", X, "exec/torch-vgg-mini-b64/tcmalloc", "minor_faults"),
    ("num", X, "exec/torch-vgg-mini-b64/tcmalloc", "fragmentation"),
    ("ms1", XJ, "exec/torch-vgg-mini-b64-jemalloc-nodecay/jemalloc", "step_ms"),
    ("count", XJ, "exec/torch-vgg-mini-b64-jemalloc-nodecay/jemalloc", "minor_faults"),
    ("mib", XJ, "exec/torch-vgg-mini-b64-jemalloc-nodecay/jemalloc", "peak_rss_bytes"),
    ("mib", T, "vgg-mini/b64/malloc/none", "peak_live_bytes"),
    ("mib", T, "vgg16/b16/malloc/none/i32", "peak_live_bytes"),
    ("mib", T, "exec/torch-vgg-mini/malloc", "baseline_rss_bytes"),
    ("unstable", T, None, None),
]
CLAIMS += [("kvt", KVB, None, None), ("kvt", KV, None, None)]
# The convolution table: each layer forward and backward, before, after and the OpenBLAS reference.
CLAIMS += [("gflops", path, f"conv/{who}{way}/{case}/real_time_median", "GFLOP/s") for case in CONV_CASES
           for way in ("forward", "backward") for path, who in ((CONV_BEFORE, ""), (CONV, ""), (CONV, "openblas/"))]
CLAIMS += [("gflops", "results/micro/conv-before-2-vm-2026-12-08.json", f"conv/forward/{case}/real_time_median",
            "GFLOP/s") for case in ("vgg16/conv3_3/b1", "vgg-mini/conv1_2/b32")]
CLAIMS += [("gflops", GEMM, f"gemm/{who}/{shape}/real_time_median", "GFLOP/s") for who in ("ours", "openblas")
           for shape in ("vggmini/NT/32x27x1024/min_time:0.200", "fc/NT/64x4096x25088/min_time:0.300")]
# Inside one step (the memory_over_time chart), from the default suite's recorded steps.
CLAIMS += [("step", S, cell, key) for cell, keys in (
    ("vgg-mini/b64/malloc/none", ("rss_start", "rss_max", "live_max")),
    ("vgg-mini/b64/mmap/none", ("rss_start", "rss_max", "rss_end")),
    ("vgg-mini/b64/jemalloc/none", ("rss_start", "rss_max", "rss_end")),
    ("deepconv:16/b32/malloc/bf16/c32", ("rss_start", "rss_max", "rss_end")),
    ("deepconv:16/b32/malloc/offload/c32", ("rss_start", "rss_max", "live_max"))) for key in keys]
CLAIMS += [("mib", S, "vgg-mini/b64/pool/none", "peak_rss_bytes"), ("unstable", S, None, None)]
# The capture and its replay.
CLAIMS += [
    ("ratio", XC, "exec/torch_train+capture/malloc", "step_ms", "exec/torch_train/malloc"),
    ("ms1", XC, "exec/torch_train+capture/malloc", "step_ms"),
    ("ms1", XC, "exec/torch_train/malloc", "step_ms"),
    ("rep", XC, "exec/torch_train+capture/malloc#2", "allocator_reserved_bytes"),
    ("rep", XC, "exec/torch_train+capture/malloc#2", "peak_rss_bytes"),
    ("replay", XR, None, "live_bytes_step_peak"),
    ("replay", XR, None, "live_bytes_at_first_step"),
]
CLAIMS += [("replay", XR, a, key) for a in REPLAYED for key in ("heap_bytes", "rise_bytes")]
CLAIMS += [("mib", XC, f"exec/torch_train/{a}", "allocator_reserved_bytes")
           for a in ("malloc", "jemalloc", "mimalloc", "tcmalloc")]
# The torch preset's table: each row's peak RSS and step time, kernel and PyTorch.
CLAIMS += [(kind, T, cell, key) for pair in TORCH_TABLE for cell in pair
           for kind, key in (("mib", "peak_rss_bytes"), ("ms1", "step_ms"))]


@functools.lru_cache(maxsize=None)
def _document(path):
    """A committed file, read once however many claims cite it."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return json.load(f)


def _cells(path):
    records = _document(path)["benchmarks"]
    return {r["run_name"]: r for r in records if r.get("run_type") == "aggregate"} or \
        {r["run_name"]: r for r in records}


def text(claim):
    kind, path, cell, key = claim[:4]
    if kind == "fit":  # a fit file's entry for ALLOC+TECH: its figure as a whole number
        alloc, tech = cell.split("+")
        entry = next(e for e in _document(path)["fit"]["results"]
                     if e["alloc"] == alloc and e.get("tech", "none") == tech)
        return f"{entry[key]:,.0f}"
    if kind == "gflops":  # a memstrat-micro benchmark's GFLOP/s, whole
        return f"{next(b for b in _document(path)['benchmarks'] if b['name'] == cell)[key]:.0f} GFLOP/s"
    if kind == "kvt":
        from memstrat_charts import kernel_vs_torch as kvt
        from memstrat_charts.results import load
        rows = [kvt.row(*found) for found in kvt.pairs(load(os.path.join(ROOT, path)))]
        return kvt.table(rows, path).rstrip("\n").rsplit("\n", 1)[0]
    if kind == "pred":
        document = _document(path)
        if "rows" in document:  # scripts/prediction_error's file
            errors = [abs(r["error"]) for r in document["rows"] if r["error"] is not None]
        else:  # a suite's, predicted before each cell ran
            errors = [abs(c["prediction_error"]) for c in _cells(path).values() if c.get("prediction_error") is not None]
        if key == "within":
            return f"{sum(1 for e in errors if e <= 0.03)} of {len(errors)} cells"
        value = statistics.median(errors) if key == "median" else max(errors)
        return f"{100 * value:.1f}%"
    if kind == "predcost":  # a suite's prediction time over its runs' wall time, median over the runs
        runs = [r for r in _document(path)["benchmarks"] if r.get("run_type") == "iteration"
                and not r.get("superseded") and "prediction_seconds" in r and r.get("wall_s")]
        return f"{statistics.median(r['prediction_seconds'] / r['wall_s'] for r in runs):.2f}"
    if kind == "unstable":
        cells = _cells(path).values()
        return f"{sum(1 for c in cells if c.get('unstable'))} of the {len(cells)} cells"
    if kind == "replay":
        document = _document(path)
        value = document[key] if cell is None else next(r for r in document["replays"] if r["alloc"] == cell)[key]
        return f"{value / MIB:.1f} MiB"
    if kind == "l2rel":
        cells = _cells(path)
        base = cells[cell]["weights_l2"]
        worst = max(abs(c["weights_l2"] / base - 1) for c in cells.values() if c.get("weights_l2"))
        return f"{worst:.0e}"
    if kind == "step":
        from memstrat_charts import steps
        record = next(r for r in _document(path)["benchmarks"] if r.get("run_type") == "iteration"
                      and r["run_name"] == cell and steps.valid(r.get("step_timeline")))
        s = steps.series(record["step_timeline"])
        series = s["total_mib"] if key == "live_max" else s["rss_mib"]
        value = {"rss_start": series[0], "rss_end": series[-1]}.get(key, max(series))
        return f"{value:.1f} MiB"
    if kind == "rep":
        name, repetition = cell.split("#")
        record = next(r for r in _document(path)["benchmarks"] if r.get("run_type") == "iteration"
                      and r["run_name"] == name and r["repetition_index"] == int(repetition))
        return f"{record[key] / MIB:.1f} MiB"
    value = _cells(path)[cell][key]
    if kind == "count":
        return f"{value:,.0f}"
    if kind in ("hl", "hl_range"):  # the same estimate and interval scripts/compare prints
        from memstrat_charts.utest import ratio_interval
        estimate, low, high, _ = ratio_interval(_cells(path)[claim[4]][key], value, 0.05)
        return f"{estimate:.2f}x" if kind == "hl" else f"{low:.2f}-{high:.2f}x"
    if kind == "mib":
        return f"{value / MIB:.1f} MiB"
    if kind == "num":
        return f"{value:.2f}"
    if kind == "ms":
        return f"{value:,.0f} ms"
    if kind == "ms1":
        return f"{value:.1f} ms"
    other = _cells(path)[claim[4]][key]
    if kind == "ratio":
        return f"{value / other:.2f}x"
    if kind == "pct":
        return f"{100 * (value / other - 1):+.0f}%"
    if kind == "pct_less":
        return f"{100 * (1 - value / other):.0f}%"
    raise ValueError(kind)

# The ranks table: one process, then each stage over 2 and 4 ranks under glibc.
RANK_CELLS = ["vgg16/b32/malloc/none/i32"] + [f"vgg16/b32/malloc/{t}/i32/r{n}" for n in (2, 4)
                                               for t in ("dp", "zero:1", "zero:2", "zero:3")]
CLAIMS += [("mib", RK, cell, key) for cell in RANK_CELLS
           for key in ("peak_live_bytes", "peak_rss_bytes")]
CLAIMS += [("mib", RK, cell, "zero_formula_bytes") for cell in RANK_CELLS[1:]]
CLAIMS += [("mib", RK, cell.replace("malloc", "jemalloc"), "peak_rss_bytes") for cell in RANK_CELLS]
CLAIMS += [("ms1", RK, cell, key) for cell in RANK_CELLS[1:] for key in ("step_ms", "comm_ms_per_step")]
CLAIMS += [("ms1", RK, RANK_CELLS[0], "step_ms"), ("l2rel", RK, RANK_CELLS[0], None)]
CLAIMS += [("ms1", RK, f"vgg16/b32/malloc/{t}/i32/r2/tcp", "comm_ms_per_step") for t in ("dp", "zero:3")]
# fit --ranks 2: the strategies that fit no batch, by their runs at batch 2, and zero:3's answer.
CLAIMS += [("rep", RF, f"vgg16/b2/malloc/{t}/i32/r2/n4#0", "peak_rss_bytes") for t in ("dp", "zero:1", "zero:2")]
CLAIMS += [("rep", RF, "vgg16/b68/malloc/zero:3/i32/r2/n136#0", "peak_rss_bytes"),
           ("fit", RF, "malloc+zero:3", "max_batch"), ("fit", RF, "malloc+zero:3", "predicted_batch")]
