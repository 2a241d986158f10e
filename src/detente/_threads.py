"""One shared pool of threads for array work that releases the GIL (NumPy loops, hashlib).

>>> list(pool().map(len, ["ab", "c"]))
[2, 1]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache


def workers() -> int:
    """Threads in the pool: one per core (the work is CPU-bound and waits on nothing else)."""
    return max(os.cpu_count() or 1, 1)


@cache
def pool() -> ThreadPoolExecutor:
    """The shared pool of :func:`workers` threads."""
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="detente")
