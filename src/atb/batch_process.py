"""Settings and helpers for a process that runs one command and exits (`atb backtest ...` from the shell).

A million-bar run allocates a few hundred short-lived numpy temporaries of
1-10 MB and a few hundred thousand Python objects. By default that costs:

* glibc serves a block that large from a fresh `mmap` (its threshold starts at
  128 KiB) and unmaps it on free, so every temporary is faulted in anew;
  raising the mmap and trim thresholds keeps the blocks in the heap, where a
  freed block is reused without new faults (a third fewer faults);
* numpy's OpenBLAS keeps a thread per core that spins for a while after
  each BLAS call (numpy's own `convolve`, behind the SMAs, calls `ddot`
  once per bar): on a 2-core machine they took 7-12 % of the run's CPU
  samples, the core the forked worker below and Arrow's CSV threads need.
  ATB's own statistics do not use BLAS at all (`analytics.reductions`), so
  one thread (`OPENBLAS_NUM_THREADS=1`, read when numpy loads OpenBLAS)
  loses nothing; a strategy doing large matrix products in `atb backtest`
  can ask for more by setting the variable itself;
* the cycle collector's young generation is collected every 700 net
  allocations by default; a run that builds a few hundred thousand
  long-lived lists, tuples and dicts (orders, fills, JSON rows) paid 68
  collections, 32 ms, each walking objects that were never garbage. Every
  100,000 allocations: no collection at all in that run, and cycles are
  still collected in a long event-driven run;
* numpy asks for transparent huge pages on large arrays, and on a busy
  machine the kernel may compact memory synchronously to find a 2 MiB page:
  single runs then spent 0.3-0.6 s in the kernel instead of 0.15 s. A
  temporary that lives for milliseconds never earns that back, so the batch
  process asks numpy not to (`NUMPY_MADVISE_HUGEPAGE=0`, numpy's documented
  switch, read when numpy is imported);
* Arrow's memory pool (mimalloc) asks for huge pages too, and touching a
  new 2 MiB region makes the kernel zero all of it: `clear_page_erms` under
  mimalloc's free-list set-up was 16 % of a run's CPU samples. The process
  turns transparent huge pages off for itself (`prctl(PR_SET_THP_DISABLE)`,
  Linux 3.15+): 0.2-0.3 s less CPU per million-row run.

Only for a process that ends after the command: a long-running service (the
API, a live node) keeps the defaults, so only the console entry point calls
`prepare`, before numpy is imported; never library code. Each setting is
skipped where it does not apply (not glibc, numpy already imported, the
variable already set by the user).

When the command is done, `exit_now` flushes the standard streams and ends
the process without the interpreter's teardown: module clean-up and final
garbage collections walk every object the run left, 25-40 ms spent freeing
memory the exit returns anyway. Every file the commands write is closed
before they return.

`ForkedBytes` puts the machine's other core to work on an independent,
pure-Python part of the output (the order rows of a large result JSON): a
forked child computes the bytes while the parent goes on, and hands them
back in an in-memory file. Linux only, and only in this one-command process:
a service with threads of its own must never fork. Any failure in the child
(an exception, a crash, a short read) gives None, and the caller computes
the part itself.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's <malloc.h>
_MALLOPT = ((_M_MMAP_THRESHOLD, 64 << 20), (_M_TRIM_THRESHOLD, 512 << 20), (_M_TOP_PAD, 64 << 20))
_PR_SET_THP_DISABLE = 41  # <linux/prctl.h>
_GC_THRESHOLDS = (100_000, 50, 100)
"""Young collections every 100,000 net allocations instead of 700 (see the module docstring)."""


def prepare() -> None:
    """Apply the one-command settings (see the module docstring)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    tune_allocator()
    gc.set_threshold(*_GC_THRESHOLDS)
    disable_huge_pages()


def exit_now(code: int = 0) -> NoReturn:
    """End the process at once, after flushing stdout and stderr (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            code = code or 1
    os._exit(code)


def disable_huge_pages() -> bool:
    """`prctl(PR_SET_THP_DISABLE)` for this process (see the module docstring); True when the kernel took it."""
    prctl = _libc("prctl")
    return prctl is not None and prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0


def tune_allocator() -> bool:
    """The glibc thresholds; True when the C library took all of them."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(mallopt(option, value) == 1 for option, value in _MALLOPT)


def _libc(name: str) -> Any:
    """The C library's function `name` returning an int, or None off Linux or when there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    return function


class ForkedBytes:
    """`make()` run in a forked child process; `result()` is its bytes, or None when the child failed.

    The bytes come back through an anonymous in-memory file (`memfd_create`)
    rather than a pipe: the child writes them all and exits without waiting
    for the parent to read, and the parent reads them in one call (a pipe cost
    ~50 ms more for 12 MB, the two processes taking turns on its 64 KiB).
    """

    def __init__(self, make: Callable[[], bytes]) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing buffered twice
        self._fd = os.memfd_create("atb-forked-bytes", os.MFD_CLOEXEC)
        try:
            self._pid = os.fork()
        except OSError:  # no process to spare (EAGAIN, ENOMEM): the caller makes the bytes itself
            os.close(self._fd)
            raise
        if self._pid == 0:  # pragma: no cover - the child: its result travels through the file
            code = 1
            try:
                view = memoryview(make())
                while view:
                    view = view[os.write(self._fd, view) :]
                code = 0
            finally:
                os._exit(code)

    @staticmethod
    def available() -> bool:
        return sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(os, "memfd_create")

    def result(self) -> bytes | None:
        """Wait for the child; its bytes if it finished cleanly."""
        try:
            _, status = os.waitpid(self._pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            size = os.fstat(self._fd).st_size
            data = os.pread(self._fd, size, 0)
            return data if len(data) == size else None
        finally:
            os.close(self._fd)
