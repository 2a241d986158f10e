"""One shared pool of threads for array work that releases the GIL (NumPy loops, hashlib).

>>> list(pool().map(len, ["ab", "c"]))
[2, 1]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache


@cache
def pool() -> ThreadPoolExecutor:
    """As many threads as cores: the work is CPU-bound and never waits on anything else."""
    return ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1), thread_name_prefix="detente")
