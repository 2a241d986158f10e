"""Evidence stores: the embedded DuckDB store (default).

>>> from detente.store import open_store
>>> with open_store(None) as store:
...     store.count()
0
"""

from detente.store.duckdb import SCHEMA_VERSION, DuckDBStore, IngestResult, open_store

__all__ = ["SCHEMA_VERSION", "DuckDBStore", "IngestResult", "open_store"]
