#!/usr/bin/python3
"""Tests of workloads/torch_train.py, the PyTorch replica of the training kernel.

Its first-step loss must equal the kernel's (`memstrat run`, MEMSTRAT_CLI) within
1e-5 relative, for vgg-mini at batch 64 and vgg16 at 32x32, batch 16: the same
initial weights, data, loss, optimizer; its dataset must be bit for bit the file
the kernel generates. Its steps must be marked for memstrat's
probe (MEMSTRAT_STEP_FD), and bad arguments must be refused with a message.

Needs PyTorch (Debian's python3-torch). Where it is missing every test FAILS and
says to run make setup-torch: a silent skip would hide the comparison.
Run by ctest (scripts.torch) as /usr/bin/python3 tests/scripts/test_torch.py.
"""
import functools
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "workloads", "torch_train.py")
MEMSTRAT = os.environ.get("MEMSTRAT_CLI", os.path.join(ROOT, "build", "memstrat"))
FIRST_LOSS_RTOL = 1e-5
SECOND_LOSS_RTOL = 1e-4  # after one optimizer step: PyTorch's ops round differently from the kernel's


@functools.lru_cache(maxsize=None)
def torch_missing():
    """Why PyTorch cannot be imported by the Python that runs torch_train.py, or None."""
    result = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["import torch failed"])[-1]
        return (f"PyTorch cannot be imported by {sys.executable} ({last}): run make setup-torch "
                "(scripts/setup.sh --torch installs Debian's python3-torch)")
    return None


def train(*args, env=None, pass_fds=(), timeout=600):
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, pass_fds=pass_fds)


def torch_losses(result):
    """The full-precision `step I loss X` lines, in order."""
    losses = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "step" and parts[2] == "loss":
            assert int(parts[1]) == len(losses), f"step lines out of order: {line!r}"
            losses.append(float(parts[3]))
    return losses


class TorchCase(unittest.TestCase):
    def setUp(self):
        why = torch_missing()
        if why:
            self.fail(why)

    def assertRan(self, result, what):
        self.assertEqual(result.returncode, 0,
                         f"{what} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")


def require_memstrat(case):
    if not os.access(MEMSTRAT, os.X_OK):
        case.fail(f"no memstrat binary at {MEMSTRAT}: build it (make) or set MEMSTRAT_CLI")


class FirstLoss(TorchCase):
    """The first loss of torch_train.py against the kernel's, at full precision."""

    def kernel_losses(self, *args):
        require_memstrat(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            result = subprocess.run([MEMSTRAT, "run", *args, "--warmup", "0", "--no-timeline", "--json", path],
                                    capture_output=True, text=True, timeout=600)
            self.assertRan(result, "memstrat run")
            with open(path) as f:
                record = json.load(f)["benchmarks"][0]
        self.assertEqual(record.get("status", "ok"), "ok", record)
        self.assertEqual(record["losses"][0], record["loss_first"])
        return record["losses"]

    def compare(self, *args):
        kernel = self.kernel_losses(*args, "--steps", "2")
        result = train(*args, "--steps", "2")
        self.assertRan(result, "torch_train.py")
        ours = torch_losses(result)
        self.assertEqual(len(ours), 2, result.stdout)
        first = abs(ours[0] - kernel[0]) / abs(kernel[0])
        print(f"\n  {' '.join(args)}: first loss kernel {kernel[0]!r} torch {ours[0]!r} relative {first:.3g}; "
              f"second kernel {kernel[1]!r} torch {ours[1]!r}", file=sys.stderr)
        self.assertLessEqual(first, FIRST_LOSS_RTOL,
                             f"first loss: kernel {kernel[0]!r}, torch_train.py {ours[0]!r} ({first:.3g} relative)")
        second = abs(ours[1] - kernel[1]) / abs(kernel[1])
        self.assertLessEqual(second, SECOND_LOSS_RTOL,
                             f"second loss: kernel {kernel[1]!r}, torch_train.py {ours[1]!r} ({second:.3g} relative)")
        # The kernel's own lines are printed too, rounded as `memstrat train` rounds them.
        self.assertIn(f"step     1/2  loss {ours[0]:.6f}", result.stdout)
        self.assertIn(f"loss {ours[0]:.6f} -> {ours[1]:.6f} over 2 steps", result.stdout)

    def test_vgg_mini_batch_64(self):
        self.compare("--model", "vgg-mini", "--batch", "64")

    def test_vgg16_image_32_batch_16(self):
        self.compare("--model", "vgg16", "--image", "32", "--batch", "16")


class SameData(unittest.TestCase):
    """torch_train.py's dataset, bit for bit the file the kernel generates (`--data PATH`).
    Numpy only: it runs without PyTorch."""

    def check(self, *args, classes):
        sys.path.insert(0, os.path.join(ROOT, "workloads"))
        import torch_train  # noqa: E402
        require_memstrat(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.bin")
            result = subprocess.run([MEMSTRAT, "train", *args, "--steps", "1", "--quiet", "--data", path],
                                    capture_output=True, text=True, timeout=600)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(path, "rb") as f:
                raw = f.read()
        magic, version, c, h, w, k, _, samples, seed, labels_at, samples_at = struct.unpack_from(
            "<8s6I4Q", raw, 0)
        self.assertEqual((magic, version, k, seed), (b"MEMSTRAT", 1, classes, 1))
        data = torch_train.Dataset(samples, c, h, w, k, seed)
        labels = np.frombuffer(raw, np.int32, samples, labels_at)
        self.assertTrue(np.array_equal(labels, data.labels), "labels differ")
        count = min(samples, 64)
        want = np.frombuffer(raw, np.float32, count * c * h * w, samples_at).reshape(count, c, h, w)
        got, _ = data.batch(0, count)
        differ = np.count_nonzero(got.view(np.uint32) != want.view(np.uint32))
        self.assertEqual(differ, 0, f"{differ} of {want.size} sample floats differ from the kernel's "
                                    f"(largest by {np.abs(got - want).max()})")

    def test_vgg_mini(self):
        self.check("--model", "vgg-mini", "--batch", "8", classes=10)

    def test_vgg16_image_32(self):
        self.check("--model", "vgg16", "--image", "32", "--batch", "1", "--samples", "64", classes=1000)


class StepMarks(TorchCase):
    """MEMSTRAT_STEP_FD: `begin I T` and `end I T` for every step, T CLOCK_MONOTONIC ns."""

    ARGS = ("--model", "vgg-mini", "--batch", "8", "--steps", "3", "--threads", "1")

    def test_every_step_is_marked_in_order(self):
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, MEMSTRAT_STEP_FD=str(write_fd))
        before = time.monotonic_ns()
        try:
            result = train(*self.ARGS, env=env, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        after = time.monotonic_ns()
        with os.fdopen(read_fd, "rb") as f:
            marks = f.read().decode("ascii")
        self.assertRan(result, "torch_train.py")
        self.assertEqual(result.stderr, "")
        self.assertTrue(marks.endswith("\n"), repr(marks))
        lines = [line.split() for line in marks.splitlines()]
        self.assertEqual([(kind, int(i)) for kind, i, _ in lines],
                         [(kind, i) for i in range(3) for kind in ("begin", "end")], marks)
        times = [int(t) for _, _, t in lines]
        self.assertEqual(times, sorted(times), f"mark times go back: {marks}")
        self.assertLess(times[0], times[1], "a step takes time")
        self.assertTrue(before <= times[0] and times[-1] <= after,
                        f"mark times {times[0]}..{times[-1]} are not CLOCK_MONOTONIC ns of the run "
                        f"({before}..{after})")
        self.assertEqual(len(torch_losses(result)), 3)

    def test_marks_into_a_file(self):
        with tempfile.TemporaryFile() as f:
            env = dict(os.environ, MEMSTRAT_STEP_FD=str(f.fileno()))
            result = train(*self.ARGS, env=env, pass_fds=(f.fileno(),))
            self.assertRan(result, "torch_train.py")
            f.seek(0)
            kinds = [line.split()[0] for line in f.read().decode("ascii").splitlines()]
        self.assertEqual(kinds, ["begin", "end"] * 3)

    def test_a_reader_that_has_gone_turns_marking_off_with_one_warning(self):
        read_fd, write_fd = os.pipe()
        os.close(read_fd)  # every write now fails with EPIPE
        env = dict(os.environ, MEMSTRAT_STEP_FD=str(write_fd))
        try:
            result = train(*self.ARGS, env=env, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        self.assertRan(result, "torch_train.py")
        warnings = [line for line in result.stderr.splitlines() if line.strip()]
        self.assertEqual(len(warnings), 1, result.stderr)
        self.assertIn("marking is off", warnings[0])
        self.assertEqual(len(torch_losses(result)), 3)

    def test_no_variable_no_marks(self):
        env = {k: v for k, v in os.environ.items() if k != "MEMSTRAT_STEP_FD"}
        result = train(*self.ARGS[:-2], "--steps", "1", env=env)
        self.assertRan(result, "torch_train.py")
        self.assertEqual(result.stderr, "")


class BadArguments(TorchCase):
    """Refused before anything runs: a non-zero exit and a one-line reason, no traceback."""

    CASES = [
        (("--model", "nosuch"), "unknown model"),
        (("--batch", "0"), "--batch"),
        (("--steps", "x"), "--steps"),
        (("--model", "vgg16", "--image", "16"), "image size"),
        (("--batch", "64", "--tech", "accum:3"), "does not divide"),
        (("--tech", "recompute:10"), "nothing would be recomputed"),
        (("--tech", "fp16"), "fp16"),
        (("--tech", "bf16,bf16"), "given twice"),
        (("--tech", "magic"), "unknown technique"),
        (("--channels", "8"), "deepconv only"),
        (("--lr", "-1"), "--lr"),
        (("--no-such-option",), "unrecognized"),
    ]

    def test_each_is_refused_with_its_reason(self):
        for args, reason in self.CASES:
            with self.subTest(args=args):
                result = train("--steps", "1", *args, timeout=120)  # a later --steps wins
                self.assertNotEqual(result.returncode, 0, result.stdout)
                self.assertIn(reason, result.stderr)
                self.assertNotIn("Traceback", result.stderr)
                self.assertEqual(result.stdout, "")


class MissingTorch(unittest.TestCase):
    """Without PyTorch, torch_train.py says how to install it (this test needs no torch)."""

    def test_says_make_setup_torch(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "torch"))
            with open(os.path.join(tmp, "torch", "__init__.py"), "w") as f:
                f.write("raise ImportError('No module named torch (hidden by the test)')\n")
            env = dict(os.environ, PYTHONPATH=tmp + os.pathsep + os.environ.get("PYTHONPATH", ""))
            result = train("--steps", "1", env=env, timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("install with: make setup-torch", result.stderr)
        self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
