"""Detente: make security agreements verifiable.

>>> import detente
>>> agreement = detente.load_agreement("examples/minsk2/agreement.yaml")  # doctest: +SKIP
>>> with detente.open_store("work.duckdb") as store:                       # doctest: +SKIP
...     report = detente.evaluate(agreement, store.observations(), as_of)
>>> print(report.to_json())                                                # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from detente.agreement import Agreement, Status, load_agreement
from detente.errors import InputError, Problem

__all__ = [
    "Agreement",
    "InputError",
    "Problem",
    "Status",
    "__version__",
    "evaluate",
    "load_agreement",
    "open_store",
]


def __getattr__(name: str) -> object:
    # The engine and the store pull in geometry and DuckDB; import them only when used.
    if name == "evaluate":
        from detente.engine import evaluate

        return evaluate
    if name == "open_store":
        from detente.store import open_store

        return open_store
    raise AttributeError(name)
