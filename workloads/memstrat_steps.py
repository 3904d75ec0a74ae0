"""memstrat's step-marking protocol, for Python workloads that `memstrat exec` measures.

When the environment variable MEMSTRAT_STEP_FD names an open file descriptor,
the workload writes one line at each step boundary:

    begin I T_NS\\n    as step I begins
    end I T_NS\\n      as step I ends

I is the step's index counted from 0, T_NS is time.monotonic_ns() (CLOCK_MONOTONIC
nanoseconds); each line is one os.write, so that the reader never sees half a line.
Without the variable nothing is written and every call is a no-op.

A write that fails (the reader has gone: EPIPE, or the descriptor was closed:
EBADF, or any other OS error) turns marking off for the rest of the process,
with one warning on stderr; training goes on.

Use:
    import memstrat_steps
    for i in range(steps):
        with memstrat_steps.step(i):
            train_one_step()
or memstrat_steps.begin(i) ... memstrat_steps.end(i).
"""

import contextlib
import os
import sys
import time

ENV = "MEMSTRAT_STEP_FD"

_fd = None        # where marks go; None: marking is off
_warned = False


def _parse_fd(text):
    try:
        fd = int(text)
    except ValueError:
        return None
    if fd < 0:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def _init():
    global _fd
    text = os.environ.get(ENV)
    if text is None or text.strip() == "":
        return
    fd = _parse_fd(text.strip())
    if fd is None:
        _warn(f"{ENV}={text!r} is not an open file descriptor; steps are not marked")
        return
    _fd = fd  # Python ignores SIGPIPE: a reader that has gone shows as BrokenPipeError


def _warn(message):
    global _warned
    if not _warned:
        _warned = True
        print(f"memstrat_steps: {message}", file=sys.stderr, flush=True)


def enabled():
    """True while marks are being written."""
    return _fd is not None


def _mark(kind, index):
    global _fd
    if _fd is None:
        return
    line = f"{kind} {int(index)} {time.monotonic_ns()}\n".encode("ascii")
    try:
        written = os.write(_fd, line)
        if written != len(line):  # a pipe write of < PIPE_BUF bytes is atomic; anything else is not
            raise OSError(f"short write ({written} of {len(line)} bytes)")
    except OSError as e:
        _fd = None
        _warn(f"cannot write step marks to {ENV} ({e}); marking is off from now on")


def begin(index):
    """Marks the start of step `index` (counted from 0)."""
    _mark("begin", index)


def end(index):
    """Marks the end of step `index`."""
    _mark("end", index)


@contextlib.contextmanager
def step(index):
    """Marks step `index`: begin on entry, end on exit (also when the step raises)."""
    begin(index)
    try:
        yield
    finally:
        end(index)


_init()
