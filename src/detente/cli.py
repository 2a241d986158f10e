"""The ``detente`` command: thin wrappers that parse, call the library and print.

Exit codes: 0 ok; 1 only with ``--fail-on violation`` when a violation was found; 2 bad input
(every problem printed on its own line as ``file:line:column: field: message``).
"""

from __future__ import annotations

import enum
import sys
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from detente import __version__
from detente.agreement import Agreement, Status, load_agreement
from detente.errors import InputError, Problem
from detente.findings import FindingsReport, iso

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from detente.documents import Document
    from detente.hotline import Hotline
    from detente.store.claims import ClaimStore
    from detente.users import Users

app = typer.Typer(
    help="Detente: check security agreements against evidence, with reasons.",
    no_args_is_help=True,
    add_completion=False,
)
ingest_app = typer.Typer(help="Store evidence in a Detente database.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


MAP_HELP = (
    "Mapping items on the command line, e.g. \"time=date_start,lon=longitude,kind='fire'\": "
    "field=column, or field='constant' when quoted; they override --mapping for those fields."
)


# --db is text, not a Path: a Path would turn "postgresql://u@/db" into "postgresql:/u@/db".
DB_HELP = "Evidence store: a DuckDB file or a postgresql:// URL."
DB_WRITE_HELP = "Store to write into: a DuckDB file (created if missing) or a postgresql:// URL."


def _existing_db(db: str) -> None:
    """A DuckDB file named by --db must exist (a URL is checked by connecting to it)."""
    from detente.store import is_postgres_url

    if not is_postgres_url(db) and not Path(db).exists():
        raise InputError([Problem(db, "--db", "no such database file")])


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    md = "md"
    html = "html"


class Engine(str, enum.Enum):
    local = "local"
    spark = "spark"


@contextmanager
def _input_errors() -> Iterator[None]:
    """Turn :class:`InputError` into readable lines on stderr and exit code 2."""
    try:
        yield
    except InputError as exc:
        for problem in exc.problems:
            # Escaped: a bad value such as "[/x]" is data, not rich markup (it would crash).
            err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def validate(
    agreement: Annotated[Path, typer.Argument(help="Agreement YAML file.")],
) -> None:
    """Check an agreement file: schema, references, geometry and units."""
    with _input_errors():
        ag = load_agreement(agreement)
        from detente.zones import build_zones

        zones = build_zones(ag)
    out.print(f"[green]ok[/green] {agreement}: {ag.title} (version {ag.version})", highlight=False)
    out.print(
        f"  {len(ag.parties)} parties, {len(ag.zones)} zones, {len(ag.obligations)} obligations; "
        f"distances in {zones.crs_description}",
        highlight=False,
    )
    for ob in ag.obligations:
        out.print(f"  - {ob.id} ({ob.kind}) from {iso(ob.effective.start)}", highlight=False)


@ingest_app.command("observations")
def ingest_observations(
    files: Annotated[list[Path], typer.Argument(help="CSV or GeoJSON observation files.")],
    db: Annotated[str, typer.Option(help=DB_WRITE_HELP)],
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Column mapping for another layout: a YAML file or a built-in name (acled, ucdp)."
        ),
    ] = None,
    map_items: Annotated[str | None, typer.Option("--map", help=MAP_HELP)] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Store the good rows; write bad ones to a rejects file."),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Rejects file (default: FILE.rejects.csv beside the input).")
    ] = None,
) -> None:
    """Validate and store observations; a bad row rejects the whole file unless --skip-bad."""
    from detente.ingest import resolve_mapping
    from detente.store import open_store

    with _input_errors():
        spec = resolve_mapping(mapping, map_items)
        with open_store(db) as store, _progress() as bar:
            for file in files:
                started = clock.perf_counter()
                result = store.ingest_observations(
                    file,
                    mapping=spec,
                    skip_bad=skip_bad,
                    rejects=rejects,
                    progress=_stage_progress(bar, file.name),
                )
                seconds = clock.perf_counter() - started
                line = (
                    f"{file}: {result.rows:,} rows read, {result.stored:,} stored, "
                    f"{result.duplicates:,} already stored, {result.rejected:,} rejected "
                    f"in {seconds:.1f} s ({result.rows / max(seconds, 1e-6):,.0f} rows/s)"
                )
                if result.rejects_file is not None and result.rejected:
                    line += f" (see {result.rejects_file})"
                out.print(line, highlight=False)


@app.command()
def check(
    agreement: Annotated[Path, typer.Argument(help="Agreement YAML file.")],
    more: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More evidence files (so that '--evidence a.csv b.csv' works).", show_default=False
        ),
    ] = None,
    evidence: Annotated[
        list[Path] | None, typer.Option("--evidence", "-e", help="Observation CSV/GeoJSON files.")
    ] = None,
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Column mapping for --evidence files: a YAML file or a built-in name "
            "(acled, ucdp)."
        ),
    ] = None,
    map_items: Annotated[str | None, typer.Option("--map", help=MAP_HELP)] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Evaluate as of this time (ISO 8601; a date means the end of that day "
            "in the agreement's time zone). Default: the time of the latest evidence."
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    fail_on: Annotated[
        Status | None, typer.Option(help="Exit with code 1 if any finding has this status.")
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(help="local: this process; spark: per-record work on Apache Spark."),
    ] = Engine.local,
    spark_master: Annotated[
        str | None,
        typer.Option(help="Spark master URL for --engine spark (default: local[*])."),
    ] = None,
) -> None:
    """Evaluate every obligation against the evidence and print the findings."""
    from detente.engine import evaluate

    with _input_errors(), err.status("Reading the agreement and the evidence…") as status:
        ag = load_agreement(agreement)
        frame = _evidence([*(evidence or []), *(more or [])], db, mapping, map_items)
        frame = _with_messages(_with_claims(frame, db, ag), db)
        moment = parse_as_of(as_of, ag) if as_of else default_as_of(frame)
        status.update(f"Evaluating {len(ag.obligations)} obligations on {len(frame):,} records…")
        if engine is Engine.spark:
            from detente.engine.spark import evaluate_spark

            status.update(f"Evaluating on Spark ({spark_master or 'local[*]'})…")
            report = evaluate_spark(ag, frame, moment, master=spark_master)
        else:
            report = evaluate(ag, frame, moment)
    _emit(report, ag, fmt, output)
    if fail_on is not None and report.has(fail_on):
        raise typer.Exit(1)


class ReportFormat(str, enum.Enum):
    md = "md"
    html = "html"
    pdf = "pdf"


PERIOD_HELP = (
    "Days FIRST..LAST (ISO dates, both included) in the agreement's time zone, "
    "e.g. 2017-03-01..2017-03-31; compared with the same number of days before."
)


@app.command()
def report(
    agreement: Annotated[Path, typer.Argument(help="Agreement YAML file.")],
    db: Annotated[str, typer.Option(help=DB_HELP)],
    period: Annotated[str, typer.Option(help=PERIOD_HELP)],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ReportFormat.html,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write (default: report-ID-FIRST_LAST.FORMAT here)."
        ),
    ] = None,
) -> None:
    """Write a periodic report: summary, ceasefire violations by area and type against the
    previous period, weapons inside withdrawal zones, restrictions of freedom of movement,
    triggers, a map and daily plots (see docs/report.md)."""
    from detente.engine import evaluate
    from detente.report import build_periodic_report, default_output, write_periodic

    with _input_errors(), err.status("Reading the agreement and the evidence…") as status:
        ag, span = _report_inputs(agreement, db, period)
        frame = _with_messages(_with_claims(_evidence([], db, None), db, ag), db)
        status.update(f"Evaluating {len(ag.obligations)} obligations on {len(frame):,} records…")
        found = evaluate(ag, frame, span.as_of)
        status.update("Writing the report…")
        data = build_periodic_report(ag, frame, found, span)
        written = write_periodic(data, ag, fmt.value, output or default_output(data, fmt.value))
    for path in written:
        out.print(f"wrote {path}", highlight=False)


if TYPE_CHECKING:
    from detente.report import Period


def _report_inputs(agreement: Path, db: str, period: str) -> tuple[Agreement, Period]:
    """The agreement, --db and the period checked together, so that every problem shows at once
    (the period's syntax is checked even when the agreement, which gives its time zone, is bad)."""
    from detente.report import parse_period

    problems: list[Problem] = []
    ag: Agreement | None = None
    span: Period | None = None
    try:
        ag = load_agreement(agreement)
    except InputError as exc:
        problems += exc.problems
    try:
        _existing_db(db)
    except InputError as exc:
        problems += exc.problems
    try:
        span = parse_period(period, ag.timezone if ag else "UTC")
    except InputError as exc:
        problems += exc.problems
    if problems or ag is None or span is None:
        raise InputError(problems)
    return ag, span


@app.command()
def synth(
    agreement: Annotated[
        Path, typer.Argument(help="Agreement whose bands the sightings surround.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of observations.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 7,
) -> None:
    """Write SYNTHETIC equipment sightings and patrols (labelled so in every row)."""
    from detente.synth import synthesize

    with _input_errors():
        frame = synthesize(load_agreement(agreement), n=n, seed=seed)
    frame.to_csv(output, index=False)
    out.print(f"wrote {n:,} SYNTHETIC observations to {output}", highlight=False)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path(
        "demo-output"
    ),
    root: Annotated[Path, typer.Option(help="Project folder holding examples/ and data/.")] = Path(
        "."
    ),
    n: Annotated[int, typer.Option("--n", help="Synthetic sightings to generate.")] = 20_000,
) -> None:
    """Run Minsk II on real UCDP events plus synthetic sightings; write the report."""
    from detente.demo import run_demo

    with _input_errors():
        result = run_demo(out_dir, root=root, n=n, say=lambda s: out.print(s, highlight=False))
    out.print(f"\n[bold]Report:[/bold] {result.report_html}", highlight=False)
    out.print(
        f"Markdown: {result.report_md}\nFindings JSON: {result.findings_json}", highlight=False
    )


def _evidence(
    files: list[Path],
    db: str | None,
    mapping: str | Path | None,
    map_items: str | None = None,
) -> pd.DataFrame:
    """Observations from a store, from files (read into memory, not stored), or both.

    ``mapping`` (a file or built-in name) and ``map_items`` (``--map``) apply to the files.

    >>> _evidence([Path("acled.csv")], None, "acled", "credibility='2'")   # doctest: +SKIP
    """
    from detente.evidence import empty_observations
    from detente.ingest import resolve_mapping
    from detente.store import open_store

    spec = resolve_mapping(mapping, map_items)  # first: a mistake there is reported at once
    frames = [empty_observations()]
    if db is not None:
        _existing_db(db)
        with open_store(db) as store:
            frames.append(store.observations())
    if files:
        with open_store(None) as memory:
            for file in files:
                memory.ingest_observations(file, mapping=spec)
            frames.append(memory.observations())
    frame = pd.concat([f for f in frames if len(f)] or frames, ignore_index=True)
    return frame.drop_duplicates("content_hash", ignore_index=True)


def parse_as_of(text: str, agreement: Agreement) -> datetime:
    """An ISO date or time; a bare date is the end of that day in the agreement's zone."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.max, agreement.tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            [Problem("<command line>", "--as-of", f"{text!r} is not an ISO 8601 date or time")]
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=agreement.tz)


def default_as_of(frame: pd.DataFrame) -> datetime:
    """The latest evidence time (so that repeated runs agree), or now if there is none."""
    if len(frame) == 0:
        return datetime.now(UTC).replace(microsecond=0)
    latest: datetime = frame["time"].max().to_pydatetime()
    return latest


def _emit(report: FindingsReport, ag: Agreement, fmt: Format, output: Path | None) -> None:
    if fmt is Format.table:
        if output is not None:
            with output.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=160).print(findings_table(report))
        else:
            out.print(findings_table(report))
        return
    from detente.report import to_html, to_markdown

    render = {Format.json: lambda: report.to_json(), Format.md: lambda: to_markdown(report, ag),
              Format.html: lambda: to_html(report, ag)}  # fmt: skip
    text = render[fmt]()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)


STYLE = {
    Status.violation: "bold red",
    Status.unverified: "yellow",
    Status.compliant: "green",
    Status.pending: "dim",
    Status.inactive: "dim",
}


def findings_table(report: FindingsReport) -> Table:
    table = Table(
        title=f"{report.agreement_id} as of {iso(report.as_of)}: {report.evidence_count:,} records",
        show_lines=False,
    )
    for col in ("obligation", "party", "window", "status", "conf.", "evidence", "explanation"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        end = f.window_end.strftime("%Y-%m-%d") if f.window_end else "…"
        table.add_row(
            f.obligation,
            f.party,
            f"{f.window_start:%Y-%m-%d}–{end}",
            f"[{STYLE[f.status]}]{f.status.value}[/]",
            f"{f.confidence:.2f}",
            str(len(f.evidence)),
            f.explanation,
        )
    return table


class _Rate(ProgressColumn):
    """``12,345 rows/s`` for a task added with a ``unit`` field: done so far / time so far.

    The average since the start, not rich's windowed speed: updates come a chunk at a time, too
    rarely for a window, and the average is what tells how long a large file will take.
    """

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        if unit is None:
            return Text("")
        seconds = task.finished_time or task.elapsed
        if not seconds or not task.completed:
            return Text("…", style="progress.data.speed")
        return Text(f"{task.completed / seconds:,.0f} {unit}/s", style="progress.data.speed")


def _progress() -> Progress:
    """A transient progress display on stderr: what, bar, done/total, rate, elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _stage_progress(bar: Progress, name: str) -> Callable[[str, int, int], None]:
    """A store progress callback showing one line per stage ("reading", "storing") of a file.

    >>> with _progress() as bar:                                   # doctest: +SKIP
    ...     store.ingest_observations(path, progress=_stage_progress(bar, path.name))
    """
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:  # a line per stage, so each shows its own rate and time
            tasks[stage] = bar.add_task(f"{name}: {stage}", total=total or None, unit="rows")
        bar.update(tasks[stage], completed=done, total=total or None)

    return update


# ---------------------------------------------------------------------- documents and claims

review_app = typer.Typer(
    help="Review claims extracted from documents: list, show, accept, edit, reject.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


class ClaimFormat(str, enum.Enum):
    jsonl = "jsonl"
    table = "table"


def _date_option(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(
            [Problem("<command line>", name, f"{text!r} is not an ISO date (YYYY-MM-DD)")]
        ) from None


def _with_claims(frame: pd.DataFrame, db: str | None, ag: Agreement) -> pd.DataFrame:
    """Add the store's claims that count as evidence under the agreement's claim policy."""
    from detente.store import open_store
    from detente.store.claims import ClaimStore, has_claims

    if db is None:
        return frame
    with open_store(db) as store:
        if not has_claims(store):
            return frame
        claims = ClaimStore(store).evidence(ag.claims, ag.parties)
    if claims.empty:
        return frame
    return pd.concat([frame, claims], ignore_index=True).drop_duplicates(
        "content_hash", ignore_index=True
    )


def _with_messages(frame: pd.DataFrame, db: str | None) -> pd.DataFrame:
    """Add the store's hotline records (verified first) for ``response_deadline``."""
    from detente.hotline import messages_as_evidence
    from detente.store._db import Database

    if db is None:
        return frame
    database = Database.open(db)
    try:
        # Reading must not create tables: look before opening the hotline.
        found = database.one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'hotline_records'"
        )
        if not found or not found[0]:
            return frame
        messages = messages_as_evidence(database)
    finally:
        database.close()
    if messages.empty:
        return frame
    return pd.concat([frame, messages], ignore_index=True)


def _stdin_documents(published: date | None) -> list[Document]:
    """One document per line of standard input: plain text, or JSON {"text", "id"?,
    "published"?}."""
    from detente.documents import parse_document

    docs = []
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        name, text, day = f"<stdin>:{number}", line, published
        if line.lstrip().startswith("{"):
            name, text, day = _json_line(line, number, published)
        docs.append(parse_document(text, name, "text", day))
    return docs


def _json_line(line: str, number: int, published: date | None) -> tuple[str, str, date | None]:
    import json

    where = "<stdin>"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(where, "", f"not JSON: {exc.msg}", number, exc.colno)]) from None
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise InputError([Problem(where, "text", "a JSON line needs a text string", number)])
    day = published
    if item.get("published") is not None:
        try:
            day = date.fromisoformat(str(item["published"])[:10])
        except ValueError:
            raise InputError(
                [Problem(where, "published", "not an ISO date (YYYY-MM-DD)", number)]
            ) from None
    return str(item.get("id") or f"<stdin>:{number}"), item["text"], day


def _read_documents(files: list[Path], published: date | None) -> list[Document]:
    from detente.documents import read_document

    if [str(f) for f in files] == ["-"]:
        return _stdin_documents(published)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InputError([Problem(str(f), "", "no such file") for f in missing])
    return [read_document(f, published=published) for f in files]


@ingest_app.command("documents")
def ingest_documents(
    files: Annotated[list[Path], typer.Argument(help="Text, Markdown or HTML files; - = stdin.")],
    db: Annotated[str, typer.Option(help=DB_WRITE_HELP)],
    source: Annotated[
        str | None, typer.Option(help="Who published the documents (default: the file name).")
    ] = None,
    reliability: Annotated[str, typer.Option(help="Source reliability A–F.")] = "F",
    credibility: Annotated[int, typer.Option(help="Information credibility 1–6.")] = 6,
    published: Annotated[
        str | None, typer.Option(help="Publication date (default: the page's own, if any).")
    ] = None,
) -> None:
    """Store documents and the claims extracted from them, pending review."""
    from detente.extract import extract_many
    from detente.store import open_store
    from detente.store.claims import ClaimStore

    with _input_errors():
        grade = _grade(reliability, credibility)
        docs = _read_documents(files, _date_option(published, "--published"))
        with open_store(db) as store, _progress() as bar:
            claims = ClaimStore(store)
            task = bar.add_task("extracting claims", total=len(docs))
            found = extract_many((d.doc_id, d.text, d.published) for d in docs)
            for doc, (_, doc_claims) in zip(docs, found, strict=True):
                result = claims.add_document(
                    doc, doc_claims, source=source or Path(doc.file).name, grade=grade
                )
                bar.advance(task)
                state = f"{result.claims} claims" if result.new else "already stored"
                out.print(f"{doc.file}: {result.doc_id}: {state}", highlight=False)


def _grade(reliability: str, credibility: int) -> tuple[str, int]:
    from detente.evidence import RELIABILITY

    problems = []
    if reliability not in RELIABILITY:
        problems.append(Problem("<command line>", "--reliability", "one of A, B, C, D, E, F"))
    if not 1 <= credibility <= 6:
        problems.append(Problem("<command line>", "--credibility", "a number from 1 to 6"))
    if problems:
        raise InputError(problems)
    return reliability, credibility


@app.command()
def extract(
    files: Annotated[list[Path], typer.Argument(help="Text, Markdown or HTML files; - = stdin.")],
    fmt: Annotated[ClaimFormat, typer.Option("--format", "-f")] = ClaimFormat.jsonl,
    published: Annotated[
        str | None, typer.Option(help="Publication date (default: the page's own, if any).")
    ] = None,
) -> None:
    """Print the claims in documents without storing anything (one JSON object per claim)."""
    import json

    from detente.extract import extract_many

    with _input_errors():
        docs = _read_documents(files, _date_option(published, "--published"))
    found = extract_many((d.file, d.text, d.published) for d in docs)
    if fmt is ClaimFormat.jsonl:
        for _, doc_claims in found:
            for claim in doc_claims:
                sys.stdout.write(json.dumps(claim.to_dict(), ensure_ascii=False) + "\n")
        return
    table = Table("doc", "event", "modality", "actor", "quantities", "place", "time", "sentence")
    for doc_id, doc_claims in found:
        for c in doc_claims:
            amounts = ", ".join(f"{q.text} ({q.category})" for q in c.quantities)
            table.add_row(doc_id, c.event_type, c.modality, c.actor or "", amounts,
                          c.place.name if c.place else "", c.time.start if c.time else "",
                          c.sentence)  # fmt: skip
    out.print(table)


def _reviewer(name: str | None) -> str:
    import getpass

    return name or getpass.getuser()


def _claim_store(db: str) -> Iterator[ClaimStore]:
    from detente.store import open_store
    from detente.store.claims import ClaimStore

    _existing_db(db)
    with open_store(db) as store:
        yield ClaimStore(store)


DbOption = Annotated[str, typer.Option(help=DB_HELP)]
ReviewerOption = Annotated[str | None, typer.Option(help="Who reviews (default: the login name).")]


@review_app.command("list")
def review_list(
    db: DbOption,
    status: Annotated[
        str | None, typer.Option(help="pending, accepted or rejected (default: all).")
    ] = None,
    fmt: Annotated[ClaimFormat, typer.Option("--format", "-f")] = ClaimFormat.table,
) -> None:
    """List claims with their review status."""
    with _input_errors(), contextmanager(_claim_store)(db) as claims:
        if status is not None and status not in ("pending", "accepted", "rejected"):
            raise InputError([Problem("<command line>", "--status", "pending|accepted|rejected")])
        frame = claims.claims(status)
    if fmt is ClaimFormat.jsonl:
        dates = {c: "string" for c in ("time_start", "time_end", "published")}
        lines = (
            frame.astype(dates)
            .drop(columns=["quantities"])
            .to_json(orient="records", lines=True, date_format="iso")
        )
        sys.stdout.write(lines + ("\n" if len(frame) else ""))
        return
    table = Table("status", "event", "modality", "actor", "place", "time", "sentence")
    table.add_column("claim", no_wrap=True)  # the id a reviewer types: never cut
    for row in frame.itertuples():
        cells = (row.status, row.event_type, row.modality,
                 _text(row.party) or _text(row.actor), row.place_name, row.time_start,
                 row.sentence, row.claim_id)  # fmt: skip
        table.add_row(*map(_text, cells))
    wide = Console(width=None if out.is_terminal else 200)  # pipes get whole lines
    wide.print(table)
    out.print(f"{len(frame)} claims", highlight=False)


def _text(value: Any) -> str:
    return "" if value is None or bool(pd.isna(value)) else str(value)


@review_app.command("show")
def review_show(
    claim: Annotated[str, typer.Argument(help="Claim id.")],
    db: DbOption,
) -> None:
    """One claim: its sentence in context, its fields as they stand, and its review history."""
    with _input_errors(), contextmanager(_claim_store)(db) as claims:
        frame = claims.claims()
        row = frame.loc[frame["claim_id"] == claim]
        if row.empty:
            raise InputError([Problem(str(db), "claim", f"no claim {claim!r} in this store")])
        history = claims.history(claim)
    record = row.iloc[0]
    for name in ("claim_id", "status", "doc_title", "doc_file", "published", "source",
                 "event_type", "modality", "actor", "party", "target", "place_name", "lon",
                 "lat", "time_start", "time_end", "quantities", "confidence", "reliability",
                 "credibility"):  # fmt: skip
        out.print(f"{name:>12}: " + _text(record[name]), highlight=False)
    out.print("\n  " + _text(record["sentence"]) + "\n", highlight=False)
    for h in history.itertuples():
        what = _text(h.field) + "=" + _text(h.value) if h.action == "edit" else ""
        when = _text(h.reviewed_at)[:16]
        line = f"  {when} {_text(h.reviewer)}: {_text(h.action)} {what} {_text(h.note)}"
        out.print(line.rstrip(), highlight=False)


def _review(claim_ids: list[str], action: str, db: str, reviewer: str | None,
            note: str, changes: dict[str, str] | None = None) -> None:  # fmt: skip
    with _input_errors(), contextmanager(_claim_store)(db) as claims:
        claims.review(claim_ids, action, reviewer=_reviewer(reviewer), changes=changes, note=note)
    out.print(f"{action}: {len(claim_ids)} claim(s)", highlight=False)


NoteOption = Annotated[str, typer.Option(help="Why (kept with the review).")]
ClaimIds = Annotated[list[str], typer.Argument(help="Claim ids.")]


@review_app.command("accept")
def review_accept(claims: ClaimIds, db: DbOption, reviewer: ReviewerOption = None,
                  note: NoteOption = "") -> None:  # fmt: skip
    """Accept claims: they count as evidence from now on."""
    _review(claims, "accept", db, reviewer, note)


@review_app.command("reject")
def review_reject(claims: ClaimIds, db: DbOption, reviewer: ReviewerOption = None,
                  note: NoteOption = "") -> None:  # fmt: skip
    """Reject claims: they never count as evidence."""
    _review(claims, "reject", db, reviewer, note)


@review_app.command("reopen")
def review_reopen(claims: ClaimIds, db: DbOption, reviewer: ReviewerOption = None,
                  note: NoteOption = "") -> None:  # fmt: skip
    """Return claims to pending."""
    _review(claims, "reopen", db, reviewer, note)


@review_app.command("edit")
def review_edit(
    claims: ClaimIds,
    db: DbOption,
    set_: Annotated[
        list[str], typer.Option("--set", help="field=value, e.g. party=rus or lat=48.0.")
    ],
    reviewer: ReviewerOption = None,
    note: NoteOption = "",
) -> None:
    """Correct fields of claims (every edit is kept; the latest value of a field wins)."""
    with _input_errors():
        changes = {}
        for item in set_:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise InputError([Problem("<command line>", "--set", f"{item!r}: field=value")])
            changes[name.strip()] = value.strip()
    _review(claims, "edit", db, reviewer, note, changes)


# ---------------------------------------------------------------------- users of the API server

users_app = typer.Typer(help="API users and their tokens: add, list, revoke.", no_args_is_help=True)
app.add_typer(users_app, name="users")

ServerDbOption = Annotated[
    str, typer.Option("--db", help="Server database: a DuckDB file or a postgresql:// URL.")
]
_USER_FIELDS = {"name": "NAME", "role": "--role", "party": "--party"}


@contextmanager
def _users_db(db: str, *, create: bool = False) -> Iterator[Users]:
    """:class:`detente.users.Users` over ``--db``; a missing DuckDB file is an error unless
    ``create``. Problems come out as command-line fields (``--role``, not ``role``)."""
    from detente.store._db import Database, is_postgres_url
    from detente.users import Users

    if not create and not is_postgres_url(db) and not Path(db).exists():
        raise InputError([Problem(db, "--db", "no such database file")])
    database = Database.open(db)
    try:
        yield Users(database)
    except InputError as exc:
        raise InputError(
            [Problem("<command line>", _USER_FIELDS.get(p.field, p.field), p.message)
             for p in exc.problems]
        ) from None  # fmt: skip
    finally:
        database.close()


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option(help="party, monitor, analyst or admin.")],
    db: ServerDbOption,
    party: Annotated[
        str | None, typer.Option(help="The party id this user speaks for (role party only).")
    ] = None,
) -> None:
    """Add a user and print its API token (shown once: only its hash is stored)."""
    with _input_errors(), _users_db(db, create=True) as users:
        token = users.add(name, role, party)
    # The token alone on stdout, so that TOKEN=$(detente users add …) works; the rest on stderr.
    err.print(
        f"[yellow]Token for {escape(name)} ({role}) — copy it now: it is not stored and "
        "cannot be shown again.[/yellow]",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


@users_app.command("list")
def users_list(db: ServerDbOption) -> None:
    """List active users: name, role, party."""
    with _input_errors(), _users_db(db) as users:
        found = users.list()
    table = Table("name", "role", "party")
    for p in found:
        table.add_row(p.name, p.role, p.party or "")
    out.print(table)
    out.print(f"{len(found)} users", highlight=False)


@users_app.command("revoke")
def users_revoke(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: ServerDbOption,
) -> None:
    """Revoke a user's token at once (the name stays taken)."""
    with _input_errors(), _users_db(db) as users:
        if not users.revoke(name):
            raise InputError([Problem("<command line>", "NAME", f"no active user {name!r}")])
    out.print(f"revoked {name}", highlight=False)


# ---------------------------------------------------------------------- the API server


@app.command()
def serve(
    db: Annotated[
        str,
        typer.Option(help="Database: a DuckDB file (created if missing) or a postgresql:// URL."),
    ] = "detente.duckdb",
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Folder for uploads being ingested and unpacked agreements.")
    ] = Path("detente-data"),
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level: warning hides the line per request.")
    ] = "info",
) -> None:
    """Run the HTTP API (OpenAPI document at /openapi.json, interactive docs at /docs)."""
    import uvicorn

    from detente.api import create_app

    with _input_errors():
        api = create_app(db, data_dir=data_dir)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    out.print(f"Detente API on {url} ({api.state.backend.label})", highlight=False)
    out.print(f"Dashboard: {url}/", highlight=False)
    out.print(f"OpenAPI document: {url}/openapi.json   docs: {url}/docs", highlight=False)
    uvicorn.run(api, host=host, port=port, log_level=log_level)


# ---------------------------------------------------------------------- the hotline

hotline_app = typer.Typer(
    help="The parties' hotline: signed, hash-chained messages and acknowledgements.",
    no_args_is_help=True,
)
app.add_typer(hotline_app, name="hotline")

HotlineDbOption = Annotated[
    str, typer.Option("--db", help="Hotline store: a DuckDB file or a postgresql:// URL.")
]
HotlineKeyOption = Annotated[
    Path, typer.Option("--key", help="The sender's private key (PEM, from hotline keygen).")
]


class ChainFormat(str, enum.Enum):
    table = "table"
    jsonl = "jsonl"


@contextmanager
def _hotline_db(db: str, *, create: bool = False) -> Iterator[Hotline]:
    """:class:`detente.hotline.Hotline` over ``--db``; a missing DuckDB file is an error unless
    ``create``.

    >>> with _hotline_db("work.duckdb") as hotline:                 # doctest: +SKIP
    ...     hotline.channels()
    """
    from detente.hotline import Hotline
    from detente.store._db import Database, is_postgres_url

    if not create and not is_postgres_url(db) and not Path(db).exists():
        raise InputError([Problem(db, "--db", "no such database file")])
    try:
        database = Database.open(db)
    except Exception as exc:  # a file another process holds, a server that is down: say so
        raise InputError([Problem(db, "--db", f"cannot open: {exc}".strip())]) from None
    try:
        yield Hotline(database)
    finally:
        database.close()


def _private_key(path: Path) -> Ed25519PrivateKey:
    from detente.hotline import load_private_key

    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), "--key", f"cannot read: {exc.strerror}")]) from None
    return load_private_key(pem, where=str(path))


def _write_private_key(path: Path, pem: bytes) -> None:
    """Write a new key file readable by its owner only (never over an existing file)."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(
            [Problem(str(path), "--out", "already exists: a key is never overwritten")]
        ) from None
    except OSError as exc:
        raise InputError([Problem(str(path), "--out", f"cannot write: {exc.strerror}")]) from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # whatever the umask
        fh.write(pem)


@hotline_app.command("keygen")
def hotline_keygen(
    party: Annotated[str, typer.Option(help="The party the key belongs to (e.g. ukr).")],
    out_file: Annotated[
        Path, typer.Option("--out", help="Private key file to write (PEM, mode 0600).")
    ],
    db: Annotated[
        str | None, typer.Option(help="Register the public key in this store (created if missing).")
    ] = None,
) -> None:
    """Make a party's Ed25519 key pair: write the private key, print the public key, and
    register it (replacing the party's current key, which stays valid for older records)."""
    from detente.hotline import generate_key, is_party_id

    with _input_errors():
        if not is_party_id(party):
            raise InputError([Problem("<command line>", "--party", "a party id ([a-z][a-z0-9_]*)")])
        pem, public = generate_key()
        if db is None:
            _write_private_key(out_file, pem)
        else:
            with _hotline_db(db, create=True) as hotline:
                _write_private_key(out_file, pem)
                hotline.register_key(party, public)
    # The public key alone on stdout, so that PUB=$(detente hotline keygen …) works.
    sys.stdout.write(public + "\n")
    done = f" and registered it in {db}" if db else ""
    err.print(
        f"wrote {party}'s private key to {out_file}{done}; keep the file secret", highlight=False
    )


@hotline_app.command("send")
def hotline_send(
    text: Annotated[str, typer.Argument(help="The message.")],
    db: HotlineDbOption,
    key: HotlineKeyOption,
    sender: Annotated[str, typer.Option("--from", help="The sending party.")],
    to: Annotated[str, typer.Option("--to", help="The receiving party.")],
    subject: Annotated[str | None, typer.Option(help="A subject line.")] = None,
) -> None:
    """Sign a message and append it to the channel between the two parties."""
    body = {"text": text} if subject is None else {"subject": subject, "text": text}
    with _input_errors():
        private = _private_key(key)
        with _hotline_db(db) as hotline:
            record = hotline.send(private, sender, to, body)
    out.print(
        f"sent {record['channel']} seq {record['seq']} at {record['at']}; hash {record['hash']}",
        highlight=False,
    )


@hotline_app.command("ack")
def hotline_ack(
    db: HotlineDbOption,
    key: HotlineKeyOption,
    sender: Annotated[str, typer.Option("--from", help="The acknowledging party.")],
    channel: Annotated[str, typer.Option(help="Channel id, e.g. rus--ukr.")],
    seq: Annotated[int, typer.Option(help="The message's seq.", min=1)],
) -> None:
    """Sign an acknowledgement of a message sent to you and append it to its channel."""
    with _input_errors():
        private = _private_key(key)
        with _hotline_db(db) as hotline:
            record = hotline.acknowledge(private, sender, channel, seq)
    out.print(
        f"acknowledged {channel} seq {seq} with seq {record['seq']} at {record['at']}; "
        f"hash {record['hash']}",
        highlight=False,
    )


@hotline_app.command("show")
def hotline_show(
    db: HotlineDbOption,
    channel: Annotated[str, typer.Option(help="Channel id, e.g. rus--ukr.")],
    fmt: Annotated[ChainFormat, typer.Option("--format", "-f")] = ChainFormat.table,
) -> None:
    """Print a channel's chain as stored and its head (jsonl: the records on stdout, ready to
    publish, and the head on stderr). Run hotline verify before publishing."""
    import json

    from detente.hotline import to_jsonl

    with _input_errors(), _hotline_db(db) as hotline:
        records = hotline.export(channel)
        head = hotline.head(channel)
    if fmt is ChainFormat.jsonl:
        sys.stdout.write(to_jsonl(records))
        err.print(json.dumps(head), highlight=False)
        return
    table = Table("seq", "at", "kind", "from → to", "content", "hash")
    for r in records:
        body = r.get("body")
        if r.get("kind") == "ack":
            content = f"acknowledges seq {r.get('acks')}"
        elif isinstance(body, dict):
            subject = f"[{body['subject']}] " if isinstance(body.get("subject"), str) else ""
            content = subject + str(body.get("text", json.dumps(body, ensure_ascii=False)))
        else:
            content = str(body)
        table.add_row(str(r.get("seq")), str(r.get("at")), str(r.get("kind")),
                      f"{r.get('sender')} → {r.get('to')}", escape(content),
                      str(r.get("hash", ""))[:16] + "…")  # fmt: skip
    Console(width=None if out.is_terminal else 200).print(table)
    out.print(f"head: seq {head['seq']} hash {head['hash']}", highlight=False)


def _parse_head(text: str, channel: str) -> dict[str, Any]:
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise InputError([Problem("<command line>", "--head", "SEQ:HASH, as verify printed it")])
    return {"channel": channel, "seq": int(seq), "hash": digest}


@hotline_app.command("verify")
def hotline_verify(
    db: Annotated[
        str, typer.Option("--db", help="Store holding the parties' keys (and the chains).")
    ],
    channel: Annotated[
        str | None, typer.Option(help="Verify this channel (default: every channel).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="Verify an exported chain (JSON lines) instead.")
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="A published head, SEQ:HASH, that must be in the chain.")
    ] = None,
) -> None:
    """Check signatures, hashes and links; name the first bad record. Exit 0 when every chain is
    intact, 1 when one is not, 2 on bad input."""
    import json

    from detente.hotline import read_jsonl

    with _input_errors(), _hotline_db(db) as hotline:
        records: list[bytes] | None = None
        if file is not None:
            try:
                records = read_jsonl(file.read_bytes())
            except OSError as exc:
                raise InputError(
                    [Problem(str(file), "--file", exc.strerror or "unreadable")]
                ) from None
            if channel is None and records:
                try:
                    channel = str(json.loads(records[0])["channel"])
                except (ValueError, KeyError, TypeError):
                    raise InputError(
                        [Problem(str(file), "--channel", "cannot tell the channel: give --channel")]
                    ) from None
            if channel is None:
                raise InputError([Problem(str(file), "--file", "no records in the file")])
        elif channel is not None and channel not in hotline.channels():
            raise InputError([Problem(db, "--channel", f"no channel {channel!r} in this store")])
        chosen = [channel] if channel is not None else hotline.channels()
        if head is not None and len(chosen) != 1:
            raise InputError([Problem("<command line>", "--head", "needs --channel or --file")])
        expected = _parse_head(head, chosen[0]) if head is not None else None
        verdicts = [(c, hotline.verify(c, records, expected)) for c in chosen]
    if not verdicts:
        out.print(f"no hotline channels in {db}", highlight=False)
    for name, verdict in verdicts:
        text = str(verdict) if verdict.ok else f"{name}: {verdict}"
        out.print(text, style=None if verdict.ok else "red", highlight=False)
    if not all(v.ok for _, v in verdicts):
        raise typer.Exit(1)


def version_callback(value: bool) -> None:
    if value:
        out.print(f"detente {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Detente: check security agreements against evidence, with reasons."""


def main() -> None:
    app()
