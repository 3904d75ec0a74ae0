#!/usr/bin/python3
"""PyTorch (CPU) replica of memstrat's training kernel, for `memstrat exec`.

Same models as kernels/models.cpp (vgg-mini, vgg16 [--image S], deepconv[:L],
mlp[:W,...]), the same initial weights bit for bit (the kernel's splitmix64 +
Box-Muller Rng, its seeds and its He init, reimplemented in numpy), the same
synthetic dataset bit for bit (kernels/data.cpp: class prototypes of plane
waves plus noise, one label in five random), the same loss (softmax
cross-entropy, mean over the batch) and the same optimizer defaults as
`memstrat train` (SGD, momentum 0.9, weight decay 5e-4, the model's default
lr; or Adam). Training itself is PyTorch's own: its convolutions (oneDNN), its
autograd, and its techniques:

  recompute[:N]  torch.utils.checkpoint over the kernel's segments (N layers,
                 default round(sqrt(layers)); the last segment is not checkpointed)
  bf16           torch.autocast("cpu", dtype=torch.bfloat16) around forward. Not the
                 kernel's bf16, which computes in fp32 and only stores the activations
                 saved for backward in bf16 (its losses are those of fp32); under
                 autocast convolutions and matmuls compute in bf16, so the losses move
                 (vgg-mini b64 first loss 3.24684 against 3.25007)
  accum:K        K micro-batches, gradients summed, one optimizer step
(fp16 and offload have no PyTorch CPU counterpart and are refused.)

Setup, before the first step: the weights, and the samples the steps will read
(the kernel's dataset of --samples, default up to 2048, computed for those
samples only), held as one tensor; each step takes its batch from it.
Bit-for-bit holds for a kernel built as the default build makes it (g++,
-march=native on a CPU with FMA: see below); elsewhere a few floats of the data
may differ in their last bit.

Every step is marked for memstrat's probe (workloads/memstrat_steps.py).

Output: the kernel's lines (`memstrat train`):
  model vgg-mini (10 layers, 666538 parameters), input 3x32x32, batch 64, 2 threads, torch 1.13.0
  step     1/10  loss 2.312345     123.4 ms
  loss 2.312345 -> 2.101234 over 10 steps; median step 120.0 ms
and, for scripts, one line per step at full precision (repr of the double):
  step 0 loss 2.3123450755119324
(0-based step index, as in memstrat_steps' marks).

Usage: workloads/torch_train.py --model vgg-mini --batch 64 --steps 10
       [--image S] [--tech none|recompute[:N]|bf16|accum:K[,...]] [--threads N]
       [--seed N] [--samples N] [--classes N] [--channels N (deepconv)]
       [--optimizer sgd|adam] [--lr X] [--quiet]
Needs python3-torch (Debian): make setup-torch.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memstrat_steps  # noqa: E402

F32 = np.float32
F64 = np.float64
U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)
MASK64 = (1 << 64) - 1


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------
# The kernel's numerics, exactly (kernels/tensor.cpp, kernels/layers.cpp,
# kernels/models.cpp, kernels/data.cpp). The kernel is built with g++ -O3
# -march=native: float expressions a * b + c are contracted into FMAs (GCC's
# default -ffp-contract=fast), and the double functions are glibc's. numpy's
# own log/sin/cos (SIMD) differ from glibc's by a few ulp, so each result is
# computed with numpy and, where it lies so close to a float rounding boundary
# that such an ulp could move it, computed again with glibc's (math, ctypes).
# ---------------------------------------------------------------------------

def splitmix64(seed, first, count):
    """Outputs first..first+count-1 (0-based) of the kernel's Rng(seed).next_u64()."""
    with np.errstate(over="ignore"):
        k = np.arange(first + 1, first + count + 1, dtype=U64)
        z = U64(seed & MASK64) + k * GOLDEN
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
        return z ^ (z >> U64(31))


def uniform(raw):
    """Rng::uniform(): float(u >> 40) / 2^24, in [0, 1)."""
    return (raw >> U64(40)).astype(F32) * F32(1.0 / 16777216.0)


def _neighbours(f):
    """The float32 neighbours of f below and above, as float64."""
    lo = np.nextafter(f, F32(-np.inf)).astype(F64)
    hi = np.nextafter(f, F32(np.inf)).astype(F64)
    return lo, hi


def _near_boundary(d, tolerance_ulps):
    """Where the double d is within tolerance_ulps (float32 ulps) of a float32 rounding midpoint."""
    f = d.astype(F32)
    f64 = f.astype(F64)
    lo, hi = _neighbours(f)
    with np.errstate(invalid="ignore"):
        below = np.abs(d - (f64 + lo) / 2) / (f64 - lo)
        above = np.abs(d - (f64 + hi) / 2) / (hi - f64)
    return (np.minimum(below, above) < tolerance_ulps) | ~np.isfinite(d)


_INV_2_53 = 1.0 / 9007199254740993.0   # as the C++ literal parses: 2^-53
_INV_2_53_B = 1.0 / 9007199254740992.0


def normals(seed, count):
    """The first `count` values of Rng(seed).normal() (Box-Muller, pairs: cos then sin), float32."""
    out = np.empty(count, dtype=F32)
    pairs = (count + 1) // 2
    chunk = 1 << 21
    for p0 in range(0, pairs, chunk):
        n = min(chunk, pairs - p0)
        raw = splitmix64(seed, 2 * p0, 2 * n)
        a, b = raw[0::2], raw[1::2]
        u1 = ((a >> U64(11)) + U64(1)).astype(F64) * _INV_2_53
        u2 = (b >> U64(11)).astype(F64) * _INV_2_53_B
        radius = np.sqrt(-2.0 * np.log(u1))
        angle = 2.0 * math.pi * u2
        pair = np.empty(2 * n, dtype=F64)
        pair[0::2] = radius * np.cos(angle)
        pair[1::2] = radius * np.sin(angle)
        for i in np.nonzero(_near_boundary(pair, 1e-6))[0]:  # numpy is within a few double ulp
            j = i // 2
            r = math.sqrt(-2.0 * math.log(float(u1[j])))
            t = 2.0 * math.pi * float(u2[j])
            pair[i] = r * (math.cos(t) if i % 2 == 0 else math.sin(t))
        lo = 2 * p0
        take = min(2 * n, count - lo)
        out[lo:lo + take] = pair[:take].astype(F32)
    return out


def fma32(a, b, c):
    """float32 fma(a, b, c), rounded once, as the contracted C++ `a * b + c`."""
    a, b, c = np.broadcast_arrays(np.asarray(a, F32), np.asarray(b, F32), np.asarray(c, F32))
    p = a.astype(F64) * b.astype(F64)          # exact: 24 + 24 bits
    c64 = c.astype(F64)
    s = p + c64
    bb = s - p                                  # TwoSum: s + e == p + c exactly
    e = (p - (s - bb)) + (c64 - bb)
    f = s.astype(F32)
    # A double-rounding error is only possible where s is exactly a float32 midpoint.
    f64 = f.astype(F64)
    lo, hi = _neighbours(f)
    mid = ((f64 + lo) / 2 == s) | ((f64 + hi) / 2 == s)
    fix = mid & (e != 0)
    if np.any(fix):
        up = np.where(f64 > s, f, np.nextafter(f, F32(np.inf)))
        down = np.where(f64 < s, f, np.nextafter(f, F32(-np.inf)))
        f = np.where(fix, np.where(e > 0, up, down), f)
    return f.astype(F32)


_libm = None


def _sinf_exact(x):
    global _libm
    if _libm is None:
        import ctypes
        _libm = ctypes.CDLL("libm.so.6")
        _libm.sinf.restype = ctypes.c_float
        _libm.sinf.argtypes = [ctypes.c_float]
    return _libm.sinf(float(x))


def sinf(x):
    """glibc's sinf of float32 x. glibc's sinf is off the correctly rounded result by up to
    0.56 ulp: where sin(x) lies within 0.1 ulp of a rounding midpoint glibc is asked."""
    x = np.asarray(x, F32)
    flat = x.reshape(-1)
    d = np.sin(flat.astype(F64))
    out = d.astype(F32)
    for i in np.nonzero(_near_boundary(d, 0.1))[0]:  # about a fifth of them
        out[i] = _sinf_exact(flat[i])
    return out.reshape(x.shape)


# ---- models (kernels/models.cpp) ------------------------------------------

VGG16 = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
VGG_MINI = [32, 32, 0, 64, 64, 0, 128, 0]


def build_spec(model, image, classes=0, channels=0):
    """The kernel's layer list: ("conv", in, out) +relu, ("pool",), ("linear", in, out, relu)."""
    name, _, arg = model.partition(":")
    is_vgg16 = name == "vgg16"
    widths, depth = [], 0
    if name == "mlp":
        for w in filter(None, arg.split(",")) if arg else []:
            if not w.isdigit() or int(w) <= 0:
                raise UsageError(f"an mlp width must be a positive whole number (got '{w}')")
            widths.append(int(w))
    elif name == "deepconv":
        if arg:
            if not arg.isdigit() or int(arg) <= 0:
                raise UsageError(f"deepconv's layer count must be a positive whole number (got '{arg}')")
            depth = int(arg)
    elif name in ("vgg-mini", "vgg16"):
        if arg:
            raise UsageError(f"model '{name}' takes no ':' option")
    else:
        raise UsageError(f"unknown model '{model}' (known: mlp[:W,W,...], vgg-mini, vgg16, deepconv[:L])")
    image = image or (224 if is_vgg16 else 32)
    classes = classes or (1000 if is_vgg16 else 10)
    layers = []
    lr = 0.01

    def conv_stack(config, shape):
        c, h, w = shape
        for v in config:
            if v == 0:
                layers.append(("pool",))
                h, w = h // 2, w // 2
            else:
                layers.append(("conv", c, v))
                c = v
        return c * h * w

    def classifier(features, hidden):
        width = features
        for h in hidden:
            layers.append(("linear", width, h, True))
            width = h
        layers.append(("linear", width, classes, False))

    if name == "mlp":
        if not 1 <= image <= 1024:
            raise UsageError(f"the image size must be between 1 and 1024 (got {image})")
        classifier(3 * image * image, widths or [512, 256])
        display = name
    elif name in ("vgg-mini", "vgg16"):
        low = 32 if is_vgg16 else 8
        if not low <= image <= 4096:
            raise UsageError(f"the image size for {name} must be between {low} and 4096 (got {image})")
        features = conv_stack(VGG16 if is_vgg16 else VGG_MINI, (3, image, image))
        classifier(features, [4096, 4096] if is_vgg16 else [256])
        if is_vgg16:
            lr = 0.001
        display = name
    else:  # deepconv
        depth = depth or 8
        channels = channels or 64
        if not 1 <= depth <= 1000:
            raise UsageError(f"deepconv's layer count must be between 1 and 1000 (got {depth})")
        if not 2 <= image <= 4096:
            raise UsageError(f"the image size must be between 2 and 4096 (got {image})")
        layers.append(("conv", 3, channels))
        for _ in range(depth):
            layers.append(("conv", channels, channels))
        layers.append(("pool",))
        classifier(channels * (image // 2) * (image // 2), [])
        lr = 0.001
        display = f"deepconv:{depth}"
    return {"name": display, "layers": layers, "image": image, "classes": classes, "default_lr": lr}


def init_weights(spec, seed):
    """Model::init: per layer Rng(seed * 1000003 + index); weights N(0, gain / fan_in), biases (-)0.
    Returns, per layer, (weight, bias) float32 arrays in the kernel's layout, or None."""
    params = []
    for index, layer in enumerate(spec["layers"]):
        if layer[0] == "pool":
            params.append(None)
            continue
        if layer[0] == "conv":
            fan_in, rows, gain = layer[1] * 9, layer[2], 2.0
        else:
            fan_in, rows, gain = layer[1], layer[2], 2.0 if layer[3] else 1.0 / 3.0
        gain = F32(gain)
        stddev = np.sqrt(gain / F32(fan_in)).astype(F32)
        # The bias draws go on from the weight's Rng: 0 * normal, so -0.0 where it is negative.
        n = normals((seed * 1000003 + index) & MASK64, rows * fan_in + rows)
        params.append((stddev * n[:rows * fan_in], F32(0.0) * n[rows * fan_in:]))
    return params


# ---- data (kernels/data.cpp, benches/cli/preflight.cpp) ---------------------

def default_samples(batch, image):
    sample_bytes = 3 * image * image * 4
    by_size = max(1, (256 << 20) // sample_bytes)
    return max(batch, min(2048, by_size))


class Dataset:
    """The kernel's generated dataset, computed for the samples asked for only."""

    def __init__(self, samples, channels, height, width, classes, seed):
        self.samples, self.c, self.h, self.w, self.classes, self.seed = samples, channels, height, width, classes, seed
        raw = splitmix64(seed ^ 0x1ABE1, 0, 3 * samples).reshape(samples, 3)
        self.true_class = (raw[:, 0] % U64(classes)).astype(np.int64)
        noisy = uniform(raw[:, 1]) < F32(0.2)
        random_class = (raw[:, 2] % U64(classes)).astype(np.int64)
        self.labels = np.where(noisy, random_class, self.true_class)
        self._protos = {}

    def prototype(self, k):
        if k in self._protos:
            return self._protos[k]
        c, h, w = self.c, self.h, self.w
        u = uniform(splitmix64(self.seed ^ 0x5EEDC1A55, k * c * 9, c * 9)).reshape(c, 3, 3)
        fx = fma32(F32(2.5), u[:, :, 0], F32(0.5))
        fy = fma32(F32(2.5), u[:, :, 1], F32(0.5))
        phase = F32(6.2831853) * u[:, :, 2]
        xs = np.arange(w, dtype=F32)
        ys = np.arange(h, dtype=F32)
        plane = np.zeros((c, h, w), dtype=F32)
        for j in range(3):
            ax = (fx[:, j, None] * xs[None, :]) / F32(w)           # (c, w)
            ay = (fy[:, j, None] * ys[None, :]) / F32(h)           # (c, h)
            inner = ax[:, None, :] + ay[:, :, None]
            arg = fma32(F32(6.2831853), inner, phase[:, j, None, None])
            plane = plane + sinf(arg)
        proto = (plane * F32(0.8)).reshape(-1)
        self._protos[k] = proto
        return proto

    def sample(self, i):
        per = self.c * self.h * self.w
        with np.errstate(over="ignore"):
            seed = (int(self.seed) << 32 & MASK64) ^ (int(i) * int(GOLDEN) & MASK64)
        noise = normals(seed, per)
        return fma32(F32(0.7), noise, self.prototype(int(self.true_class[i])))

    def batch(self, first, count):
        """Samples first..first+count-1 of the stream (sample i is dataset sample i mod N)."""
        idx = [(first + j) % self.samples for j in range(count)]
        x = np.stack([self.sample(i) for i in idx]).reshape(count, self.c, self.h, self.w)
        return x, self.labels[idx]


# ---- techniques (strategies/techniques.cpp) ---------------------------------

def parse_tech(text, layers, batch):
    """--tech: 'none' or a comma-separated list of recompute[:N], bf16, accum:K.
    Returns (recompute_segment or 0, bf16, accum), refusing what the kernel refuses."""
    segment, bf16, accum = 0, False, 1
    if text in ("", "none"):
        return segment, bf16, accum
    seen = set()
    for item in text.split(","):
        if not item:
            raise UsageError(f"empty technique in '{text}'")
        name, colon, option = item.partition(":")
        if name in seen:
            raise UsageError(f"technique '{name}' given twice")
        seen.add(name)
        if name == "recompute":
            if not colon:
                segment = max(1, int(math.floor(math.sqrt(layers) + 0.5)))  # std::lround(sqrt(L))
            else:
                if not option.isdigit() or not 1 <= int(option) <= 100000:
                    raise UsageError(f"recompute takes a segment length of at least 1 layer: recompute:N "
                                     f"(got '{item}')")
                segment = int(option)
                if segment >= layers:
                    raise UsageError(f"recompute:{segment}: segments of {segment} layers cover all {layers} "
                                     f"layers, so nothing would be recomputed (use 1 to {layers - 1})")
        elif name == "bf16":
            if colon:
                raise UsageError(f"bf16 takes no option (got '{item}')")
            bf16 = True
        elif name == "accum":
            if not option.isdigit() or int(option) < 1:
                raise UsageError(f"accum takes a number of micro-batches: accum:K (got '{item}')")
            accum = int(option)
            if accum > batch:
                raise UsageError(f"accum:{accum} is more micro-batches than the batch of {batch} has samples")
            if batch % accum:
                raise UsageError(f"accum:{accum} does not divide the batch of {batch} into equal micro-batches")
        elif name in ("fp16", "offload"):
            raise UsageError(f"technique '{name}' has no PyTorch CPU counterpart here "
                             "(known: none, recompute[:N], bf16, accum:K)")
        else:
            raise UsageError(f"unknown technique '{item}' (known: none, recompute[:N], bf16, accum:K)")
    return segment, bf16, accum


# ---- command line ------------------------------------------------------------

def number(text, convert, kind):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {kind} (got '{text}')")


def positive(text):
    value = number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def seed_value(text):
    value = number(text, int, "a whole number")
    if not 0 <= value <= MASK64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2^64-1 (got {value})")
    return value


def learning_rate(text):
    value = number(text, float, "a number")
    if not (math.isfinite(value) and 0 < value <= 100):
        raise argparse.ArgumentTypeError(f"must be a positive number up to 100 (got {text})")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="torch_train.py",
        description="Train one of memstrat's models with PyTorch on the CPU: the kernel's initial weights, "
                    "data, loss and optimizer; PyTorch's own ops and techniques. Prints each step's loss.")
    p.add_argument("--model", "-m", default="vgg-mini", help="mlp[:W,W,...], vgg-mini, vgg16, deepconv[:L]")
    p.add_argument("--batch", "-b", type=positive, default=32, help="samples per optimizer step (default 32)")
    p.add_argument("--steps", "-s", type=positive, default=10, help="optimizer steps to run (default 10)")
    p.add_argument("--image", type=positive, default=0, help="input height and width (default: 224 for vgg16, else 32)")
    p.add_argument("--channels", type=positive, default=0, help="channels of deepconv's layers (default 64)")
    p.add_argument("--classes", type=positive, default=0, help="classes (default: 1000 for vgg16, else 10)")
    p.add_argument("--tech", default="none", help="none, or comma-separated: recompute[:N], bf16, accum:K")
    p.add_argument("--threads", "-t", type=positive, default=0, help="torch threads (default: every core)")
    p.add_argument("--seed", type=seed_value, default=1, help="seed of the data and the initial weights (default 1)")
    p.add_argument("--samples", type=positive, default=0,
                   help="samples in the dataset (default as the kernel's: up to 2048, about 256 MiB at most)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="sgd (momentum 0.9, weight decay 5e-4) or adam (weight decay 5e-4)")
    p.add_argument("--lr", type=learning_rate, default=None,
                   help="learning rate (default: 0.001 for adam; for sgd the model's: 0.01, vgg16 and deepconv 0.001)")
    p.add_argument("--quiet", "-q", action="store_true", help="print the summary and the full-precision losses only")
    args = p.parse_args(argv)
    try:
        if args.classes and not 2 <= args.classes <= 100000:
            raise UsageError(f"the class count must be between 2 and 100000 (got {args.classes})")
        if args.channels and not args.model.startswith("deepconv"):
            raise UsageError("--channels applies to deepconv only")
        if args.image > 4096 or args.channels > 4096:
            raise UsageError("--image and --channels go up to 4096")
        args.spec = build_spec(args.model, args.image, args.classes, args.channels)
        args.segment, args.bf16, args.accum = parse_tech(args.tech, len(args.spec["layers"]), args.batch)
    except UsageError as e:
        p.error(str(e))
    return args


def import_torch():
    try:
        import torch
    except ImportError as e:
        print(f"torch_train.py: PyTorch is not available to {sys.executable} ({e}); "
              "install with: make setup-torch", file=sys.stderr)
        sys.exit(1)
    return torch


DIVERGED_EXIT = 3       # benches/cli/record.h kDivergedExit
DIVERGENCE_FACTOR = 10.0


def divergence(first, loss):
    if not math.isfinite(loss):
        return f"loss {loss}"
    bound = DIVERGENCE_FACTOR * max(1.0, first if math.isfinite(first) else 1.0)
    return "" if loss <= bound else f"loss {loss:.4g} > {DIVERGENCE_FACTOR:g} x the first step's {first:.4g}"


def build_torch_model(torch, spec, weights):
    nn = torch.nn
    layers = []
    for layer, params in zip(spec["layers"], weights):
        if layer[0] == "conv":
            conv = nn.Conv2d(layer[1], layer[2], 3, stride=1, padding=1)
            mods = [conv, nn.ReLU()]
            w = params[0].reshape(layer[2], layer[1], 3, 3)
        elif layer[0] == "pool":
            layers.append(nn.MaxPool2d(2))
            continue
        else:
            conv = nn.Linear(layer[1], layer[2])
            mods = [nn.Flatten(), conv] + ([nn.ReLU()] if layer[3] else [])
            w = params[0].reshape(layer[2], layer[1])
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            conv.bias.copy_(torch.from_numpy(params[1]))
        layers.append(nn.Sequential(*mods))
    return nn.ModuleList(layers)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch = import_torch()
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    spec = args.spec
    image, classes, batch = spec["image"], spec["classes"], args.batch

    # Setup, as the kernel's: dataset, weights, optimizer state; then the steps.
    samples = args.samples or default_samples(batch, image)
    data = Dataset(samples, 3, image, image, classes, args.seed)
    needed = sorted({(s * batch + j) % samples for s in range(args.steps) for j in range(batch)})
    rows = {i: r for r, i in enumerate(needed)}
    store = torch.from_numpy(np.stack([data.sample(i) for i in needed]).reshape(len(needed), 3, image, image))
    labels = torch.from_numpy(data.labels.astype(np.int64))
    model = build_torch_model(torch, spec, init_weights(spec, args.seed))
    params = [p for p in model.parameters()]
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else spec["default_lr"])
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)

    L = len(model)
    segment = args.segment if 0 < args.segment < L else L
    starts = list(range(0, L, segment))
    last_start = starts[-1]

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def run_layers(first, end):
        def run(x):
            with autocast():  # also when checkpoint recomputes it in backward
                for i in range(first, end):
                    x = model[i](x)
            return x
        return run

    def forward(x):
        for first in starts:
            end = min(L, first + segment)
            if first < last_start:  # checkpointed: only the segment's input is kept
                x = checkpoint(run_layers(first, end), x, use_reentrant=False)
            else:
                x = run_layers(first, end)(x)
        return x

    param_count = sum(p.numel() for p in params)
    tech = "none" if args.tech in ("", "none") else args.tech
    print(f"model {spec['name']} ({L} layers, {param_count} parameters), input 3x{image}x{image}, batch {batch}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}"
          f"{' (oneDNN)' if torch.backends.mkldnn.is_available() else ''}, tech {tech}", flush=True)

    micro = batch // args.accum
    losses, times = [], []
    for step in range(args.steps):
        with memstrat_steps.step(step):
            start = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            idx = [rows[(step * batch + j) % samples] for j in range(batch)]
            x = store[idx]
            y = labels[[(step * batch + j) % samples for j in range(batch)]]
            loss_sum = 0.0
            for k in range(args.accum):
                xs, ys = x[k * micro:(k + 1) * micro], y[k * micro:(k + 1) * micro]
                logits = forward(xs).float()
                # The kernel's loss: the sum over the micro-batch / the full batch, so that
                # micro-batch gradients add up to the full batch's mean.
                (F.cross_entropy(logits, ys, reduction="sum") / batch).backward()
                loss_sum += F.cross_entropy(logits.detach().double(), ys, reduction="sum").item()
            opt.step()
            ms = (time.perf_counter() - start) * 1e3
        loss = loss_sum / batch
        why = divergence(losses[0] if losses else loss, loss)
        if why:
            print(f"step {step + 1:>5}/{args.steps}  loss {loss:.6g}")
            print(f"step {step} loss {loss!r}", flush=True)
            print(f"torch_train.py: training diverged at step {step + 1}: {why}; lower --lr", file=sys.stderr)
            return DIVERGED_EXIT
        losses.append(loss)
        times.append(ms)
        if not args.quiet:
            print(f"step {step + 1:>5}/{args.steps}  loss {loss:.6f}  {ms:8.1f} ms")
        print(f"step {step} loss {loss!r}", flush=True)
    median = sorted(times)[len(times) // 2]
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} over {args.steps} steps; median step {median:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
