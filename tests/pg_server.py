"""A throwaway PostgreSQL server with PostGIS for the tests: started once, stopped at the end.

    >>> cluster = PgCluster.start()                                        # doctest: +SKIP
    >>> url = cluster.create_database()   # empty, PostGIS already installed
    >>> url                                                                # doctest: +SKIP
    'postgresql://detente@/t_1?host=/tmp/detente-pg-k2x9/sock'
    >>> cluster.drop_database(url); cluster.stop()                         # doctest: +SKIP

How it runs:

- The binaries come from ``$DETENTE_PG_BINDIR``, else ``pg_config --bindir``, else the newest
  ``/usr/lib/postgresql/<version>/bin`` (Debian's layout). ``initdb``/``pg_ctl`` on ``PATH``
  are not used: other tools ship commands with those names.
- ``initdb`` writes a new cluster into a temporary folder (trust authentication, superuser
  ``detente``, no fsync). The server listens on a unix socket in that folder only
  (``listen_addresses=''``: no TCP port, so parallel runs never collide and nothing is
  reachable from outside).
- Durability is switched off (``fsync=off``, ``synchronous_commit=off``,
  ``full_page_writes=off``): the data are thrown away at the end and a commit need not wait for
  the disk. That makes creating a database and committing a transaction several times faster;
  it changes nothing a test can observe short of pulling the power.
- PostgreSQL refuses to run as root. When the tests run as root the server runs as the
  ``postgres`` user (created by the Debian package) and the temporary folder is handed to it.
- ``CREATE EXTENSION postgis`` runs once, in a template database; every
  :meth:`PgCluster.create_database` clones it (a file copy, ~0.1 s; installing PostGIS
  into each new database takes ~0.5 s).
- :meth:`PgCluster.stop` stops the server (immediate mode) and removes the folder; it is also
  registered with :mod:`atexit`, so an interrupted run does not leave a server behind.

Missing PostgreSQL or PostGIS is a :class:`PgUnavailable` saying how to install them (``make
test`` installs them with apt: ``postgresql`` and ``postgresql-15-postgis-3``).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

USER = "detente"
TEMPLATE = "detente_template"
INSTALL_HINT = (
    "install PostgreSQL and PostGIS with `apt-get install -y postgresql postgresql-15-postgis-3` "
    "(`make test` does this when they are missing), or point $DETENTE_PG_BINDIR at a "
    "PostgreSQL bin folder"
)
#: Server settings for throwaway test data (see the module docstring for why each).
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # The API tests run 50 concurrent writers, each with its own connection, beside the rest.
    "max_connections": "200",
}
_NEEDED = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(RuntimeError):
    """PostgreSQL (or PostGIS) cannot be started here; the message says why and what to do."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    >>> find_bindir()                                                      # doctest: +SKIP
    PosixPath('/usr/lib/postgresql/15/bin')
    """
    candidates: list[Path] = []
    if os.environ.get("DETENTE_PG_BINDIR"):
        candidates.append(Path(os.environ["DETENTE_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", p.parent.name))

    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _NEEDED):
            return folder
    raise PgUnavailable(f"no PostgreSQL server binaries found; {INSTALL_HINT}")


class PgCluster:
    """One running PostgreSQL server in a temporary folder (see the module docstring)."""

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.log = root / "server.log"
        self.run_as = run_as
        self.running = False
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, bindir: Path | None = None) -> PgCluster:
        """initdb into a new temporary folder, start the server, create the PostGIS template."""
        bindir = bindir or find_bindir()
        run_as = _server_user()
        # A short path: a unix socket's path may not exceed ~107 bytes.
        root = Path(tempfile.mkdtemp(prefix="detente-pg-", dir="/tmp"))
        cluster = cls(bindir, root, run_as)
        try:
            cluster.socket_dir.mkdir()
            if run_as is not None:
                account = pwd.getpwnam(run_as)
                for path in (root, cluster.socket_dir):
                    os.chown(path, account.pw_uid, account.pw_gid)
            cluster._initdb()
            cluster._start_server()
            cluster._make_template()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, *args: str) -> None:
        """Run a server binary as the server's user; a failure is a PgUnavailable with its output
        and the server log."""
        command = [str(self.bindir / args[0]), *args[1:]]
        extra: dict[str, Any] = {}
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            extra = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", HOME=str(self.root))
        try:
            done = subprocess.run(
                command, cwd=self.root, env=env, capture_output=True, text=True, check=False,
                **extra,
            )  # fmt: skip
        except OSError as exc:  # missing or not executable
            raise PgUnavailable(f"cannot run {command[0]}: {exc}; {INSTALL_HINT}") from exc
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PgUnavailable(
                f"{shlex.join(command)} failed (exit {done.returncode}):\n"
                f"{done.stdout}{done.stderr}{log}"
            )

    def _initdb(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "--no-sync",
            "--encoding=UTF8", "--locale=C",
        )  # fmt: skip

    def _start_server(self) -> None:
        # pg_ctl hands -o to the server through a shell: quote the path, keep '' for "none".
        options = f"-k {shlex.quote(str(self.socket_dir))} " + " ".join(
            f"-c {name}={value}" for name, value in SETTINGS.items()
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self.running = True
        atexit.register(self.stop)

    def _make_template(self) -> None:
        with self.connect("postgres") as con:
            con.execute(f"CREATE DATABASE {TEMPLATE}")
        try:
            with self.connect(TEMPLATE) as con:
                con.execute("CREATE EXTENSION postgis")
        except psycopg.Error as exc:
            raise PgUnavailable(f"PostGIS is not available ({exc}); {INSTALL_HINT}") from exc
        with self.connect("postgres") as con:
            con.execute(f"ALTER DATABASE {TEMPLATE} WITH IS_TEMPLATE true")

    def stop(self) -> None:
        """Stop the server at once and delete its folder (safe to call twice)."""
        if self.running:
            self.running = False
            with contextlib.suppress(PgUnavailable):  # already gone: nothing left to stop
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def url(self, dbname: str) -> str:
        """The connection URL of one database: ``postgresql://detente@/NAME?host=SOCKET_DIR``."""
        return f"postgresql://{USER}@/{dbname}?host={self.socket_dir}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection (for administration)."""
        return psycopg.connect(self.url(dbname), autocommit=True)

    def create_database(self) -> str:
        """A new empty database with PostGIS installed; returns its URL."""
        with self._lock:
            name = f"t_{next(self._names)}"
        with self.connect() as con:
            # FILE_COPY copies the template's files instead of writing them through the WAL:
            # with fsync off its checkpoint is cheap, and it beats WAL_LOG (~0.1 s against ~0.2 s).
            con.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing what is still connected."""
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        if not re.fullmatch(r"t_\d+", name):
            raise ValueError(f"not a test database: {url}")
        with self.connect() as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _server_user() -> str | None:
    """Who runs the server: ourselves, or ``postgres`` when we are root (PostgreSQL refuses
    root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "the tests run as root and PostgreSQL refuses to run as root, but there is no "
            f"'postgres' user to run it as; {INSTALL_HINT} (the package creates the user)"
        ) from None
    return "postgres"
