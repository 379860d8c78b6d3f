"""Memory settings for a process that runs one command and exits (`atb backtest ...` from the shell).

A million-bar run allocates a few hundred short-lived numpy temporaries of
1-10 MB. By default each costs system time twice over:

* glibc serves a block that large from a fresh `mmap` (its threshold starts at
  128 KiB) and unmaps it on free, so every temporary is faulted in anew;
  raising the mmap and trim thresholds keeps the blocks in the heap, where a
  freed block is reused without new faults (a third fewer faults);
* numpy asks for transparent huge pages on large arrays, and on a busy
  machine the kernel may compact memory synchronously to find a 2 MiB page:
  single runs then spent 0.3-0.6 s in the kernel instead of 0.15 s. A
  temporary that lives for milliseconds never earns that back, so the batch
  process asks numpy not to (`NUMPY_MADVISE_HUGEPAGE=0`, numpy's documented
  switch, read when numpy is imported).

Measured on peerbench's 1M-row CSV: median whole-process time 0.05-0.1 s
lower, and the slow outliers gone.

When the command is done, `exit_now` flushes the standard streams and ends
the process without the interpreter's teardown: module clean-up and final
garbage collections walk every object the run left (a million-bar result
holds a few hundred thousand), 25-40 ms spent freeing memory the exit
returns anyway. Every file the commands write is closed before they return. Only for a process that ends after the
command: a long-running service (the API, a live node) keeps the defaults,
so only the console entry point calls `prepare`, before numpy is imported;
never library code. Each setting is skipped where it does not apply (not
glibc, numpy already imported, the variable already set by the user).
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import NoReturn

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's <malloc.h>
_MALLOPT = ((_M_MMAP_THRESHOLD, 64 << 20), (_M_TRIM_THRESHOLD, 512 << 20), (_M_TOP_PAD, 64 << 20))


def prepare() -> None:
    """Apply the one-command settings (see the module docstring)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    tune_allocator()


def exit_now(code: int = 0) -> NoReturn:
    """End the process at once, after flushing stdout and stderr (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            code = code or 1
    os._exit(code)


def tune_allocator() -> bool:
    """The glibc thresholds; True when the C library took all of them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in _MALLOPT)
