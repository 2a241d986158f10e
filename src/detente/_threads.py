"""One shared pool of threads for array work that releases the GIL (NumPy loops, hashlib).

    >>> parallel_map(len, ["ab", "c"])
    [2, 1]

Work handed to the pool must never wait on the pool: a task that itself calls
:func:`parallel_map` runs its items in its own thread instead, so nested calls cannot
deadlock with every worker waiting for a queued task.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PREFIX = "detente-pool"


def workers() -> int:
    """Threads in the pool: one per core (the work is CPU-bound and waits on nothing else)."""
    return max(os.cpu_count() or 1, 1)


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix=_PREFIX)


def parallel_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]``, spread over the pool (in order); inline inside a pool task."""
    todo = list(items)
    if len(todo) <= 1 or threading.current_thread().name.startswith(_PREFIX):
        return [fn(x) for x in todo]
    return list(_pool().map(fn, todo))
