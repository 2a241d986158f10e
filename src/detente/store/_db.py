"""One small SQL surface over DuckDB and PostgreSQL, for the server's own tables.

    >>> db = Database.open(None)                                    # an in-memory DuckDB
    >>> db.execute("CREATE TABLE t (a INTEGER)")
    >>> with db.transaction():
    ...     db.execute("INSERT INTO t VALUES (?)", [1])
    >>> db.rows("SELECT a FROM t")
    [(1,)]

SQL is written once with ``?`` placeholders and portable types in capitals (VARCHAR, BIGINT,
INTEGER, SMALLINT, TINYINT, DOUBLE, BOOLEAN, TIMESTAMPTZ, DATE). For PostgreSQL the placeholders
become ``%s``, a literal ``%`` becomes ``%%``, DOUBLE becomes DOUBLE PRECISION and TINYINT
SMALLINT (PostgreSQL has neither); text inside quotes is left alone. The connection's time zone
is UTC on both. Users, hotline messages, webhooks and agreement versions live in such tables;
observations have backend-specific bulk paths in :mod:`detente.store.duckdb` and
:mod:`detente.store.postgres`.

Portable SQL also avoids DuckDB-only functions (``arg_max``: use ``row_number() OVER (…)``)
and names every subquery in FROM (``FROM (SELECT …) AS s``: PostgreSQL 15 requires it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa

from detente.errors import InputError, Problem

#: Quoted text ('…' or "…", doubled quotes inside) or anything up to the next quote.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^'\"]+|['\"]")
#: Arrow types of PostgreSQL result columns, by type OID (others: inferred from the values).
_PG_ARROW = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 25: pa.string(),
    700: pa.float32(), 701: pa.float64(), 1042: pa.string(), 1043: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
}  # fmt: skip
#: Advisory lock key held while tables are created on PostgreSQL ("dete" in ASCII).
SCHEMA_LOCK = 0x64657465
_POSTGRES_WORDS = [
    (re.compile(r"\?"), "%s"),
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)"), "DOUBLE PRECISION"),
    (re.compile(r"\bTINYINT\b"), "SMALLINT"),
]


def is_postgres_url(db: object) -> bool:
    """Whether ``db`` names a PostgreSQL database (``postgresql://…``) rather than a file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


class Database:
    """A connection to DuckDB (a file or memory) or PostgreSQL, used from one thread at a time."""

    def __init__(self, con: Any, dialect: str) -> None:
        self.con = con
        self.dialect = dialect  # "duckdb" | "postgres"
        self._depth = 0
        self._lock = threading.RLock()

    @classmethod
    def open(cls, db: str | None) -> Database:
        """``None`` or a path: DuckDB; ``postgresql://…``: PostgreSQL (autocommit outside
        :meth:`transaction`)."""
        if is_postgres_url(db):
            import psycopg

            try:
                server = psycopg.connect(str(db), autocommit=True)
            except psycopg.Error as exc:
                where = redact_url(str(db))
                message = f"cannot connect to PostgreSQL: {str(exc).strip()}"
                raise InputError([Problem(where, "", message)]) from exc
            server.execute("SET TimeZone = 'UTC'")
            return cls(server, "postgres")
        import duckdb

        con = duckdb.connect(":memory:" if db is None else str(db))
        con.execute("SET TimeZone = 'UTC'")
        return cls(con, "duckdb")

    def _sql(self, sql: str) -> str:
        return postgres_sql(sql) if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        with self._lock:
            self.con.execute(self._sql(sql), list(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        with self._lock:
            if self.dialect == "postgres":
                with self.con.cursor() as cur:
                    cur.executemany(self._sql(sql), [list(r) for r in rows])
            else:
                self.con.executemany(sql, [list(r) for r in rows])

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All result rows as tuples."""
        with self._lock:
            cur = self.con.execute(self._sql(sql), list(params))
            return [tuple(r) for r in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first result row, or None."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """The result as a DataFrame (column names from the query)."""
        with self._lock:
            cur = self.con.execute(self._sql(sql), list(params))
            names = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names)

    def table(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """The result as an Arrow table, typed alike from either backend.

        DuckDB hands its own Arrow result over. From PostgreSQL the rows are typed by the
        result's column types (text -> string, int2/int4/int8 -> int16/int32/int64, float8,
        date, timestamptz -> timestamp[us, UTC], boolean), so ``table(sql).to_pandas()`` gives
        the same frame on both, except where the column types themselves differ (PostgreSQL
        has no TINYINT: its SMALLINT comes back as int16).

        >>> Database.open(None).table("SELECT 1 AS a").column_names
        ['a']
        """
        with self._lock:
            if self.dialect == "duckdb":
                result: pa.Table = self.con.execute(sql, list(params)).to_arrow_table()
                return result
            cur = self.con.execute(self._sql(sql), list(params))
            names = [d.name for d in cur.description]
            columns = list(zip(*cur.fetchall(), strict=True)) or [() for _ in names]
            arrays = [
                pa.array(values, type=_PG_ARROW.get(d.type_code))
                for values, d in zip(columns, cur.description, strict=True)
            ]
            return pa.table(arrays, names=names)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            self.con.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._depth = 0

    def lock(self, table: str) -> None:
        """Keep other writers of ``table`` waiting until the current transaction ends.

        Call it inside :meth:`transaction`, before reading what the writes depend on (e.g. the
        next id). PostgreSQL: ``SHARE ROW EXCLUSIVE`` (readers go on, writers queue; it
        conflicts with itself, so two lockers never both read and then both write). DuckDB: a
        file has one writing process, and conflicting transactions abort there, so nothing.
        """
        if self.dialect == "postgres":
            self.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def create(self, statements: Sequence[str]) -> None:
        """Run ``CREATE … IF NOT EXISTS`` statements in one transaction.

        On PostgreSQL two sessions creating the same table at the same moment can both fail
        the "IF NOT EXISTS" test and one then fails on a catalog key, so creators take a
        transaction-level advisory lock first and run one after the other.

        >>> Database.open(None).create(["CREATE TABLE IF NOT EXISTS t (a INTEGER)"])
        """
        with self.transaction():
            if self.dialect == "postgres":
                self.execute("SELECT pg_advisory_xact_lock(?)", [SCHEMA_LOCK])
            for statement in statements:
                self.execute(statement)

    def has_table(self, name: str) -> bool:
        """Whether a table of that name exists (in the current schema)."""
        found = self.one(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = ? AND table_schema = current_schema()",
            [name],
        )
        return bool(found and found[0])

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


def postgres_sql(sql: str) -> str:
    """``?`` placeholders and portable types as PostgreSQL (via psycopg) wants them.

    >>> print(postgres_sql("SELECT CAST(? AS DOUBLE), '50% ?' FROM t WHERE x LIKE 'a%'"))
    SELECT CAST(%s AS DOUBLE PRECISION), '50%% ?' FROM t WHERE x LIKE 'a%%'
    """
    out = []
    for token in _TOKENS.findall(sql):
        # psycopg reads % as the start of a placeholder everywhere, even inside quotes.
        token = token.replace("%", "%%")
        if token[0] not in "'\"":
            for pattern, replacement in _POSTGRES_WORDS:
                token = pattern.sub(replacement, token)
        out.append(token)
    return "".join(out)


def redact_url(url: str) -> str:
    """A connection URL without its password, for messages.

    >>> redact_url("postgresql://ana:secret@db.example/detente")
    'postgresql://ana:***@db.example/detente'
    """
    return re.sub(r"(://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url)
