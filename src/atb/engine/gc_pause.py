"""Pause the cyclic garbage collector around allocation-heavy, cycle-free work.

A backtest holds million-element lists (the revealed series); every full
collection walks them, and building tens of thousands of orders, fills and
result rows triggers many collections. Nothing in that work forms reference
cycles, so the collector is paused (and the existing heap frozen out of its
scans) and restored afterwards, exactly as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
