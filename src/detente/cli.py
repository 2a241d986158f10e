"""The ``detente`` command: thin wrappers that parse, call the library and print.

Exit codes: 0 ok; 1 only with ``--fail-on violation`` when a violation was found; 2 bad input
(every problem printed on its own line as ``file:line:column: field: message``).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from detente import __version__
from detente.agreement import Agreement, Status, load_agreement
from detente.errors import InputError, Problem
from detente.findings import FindingsReport, iso

app = typer.Typer(
    help="Detente: check security agreements against evidence, with reasons.",
    no_args_is_help=True,
    add_completion=False,
)
ingest_app = typer.Typer(help="Store evidence in a Detente database.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    md = "md"
    html = "html"


@contextmanager
def _input_errors() -> Iterator[None]:
    """Turn :class:`InputError` into readable lines on stderr and exit code 2."""
    try:
        yield
    except InputError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
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
    db: Annotated[Path, typer.Option(help="DuckDB file to store into (created if missing).")],
    mapping: Annotated[
        Path | None, typer.Option(help="Column mapping YAML for files in another layout.")
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Store the good rows; write bad ones to a rejects file."),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Rejects file (default: FILE.rejects.csv beside the input).")
    ] = None,
) -> None:
    """Validate and store observations; a bad row rejects the whole file unless --skip-bad."""
    from detente.ingest import load_mapping
    from detente.store import open_store

    with _input_errors():
        spec = load_mapping(mapping) if mapping else None
        with open_store(db) as store, _progress() as bar:
            for file in files:
                task = bar.add_task(file.name, total=None)

                def advance(done: int, total: int, task: TaskID = task) -> None:
                    bar.update(task, completed=done, total=total)

                result = store.ingest_observations(
                    file, mapping=spec, skip_bad=skip_bad, rejects=rejects, progress=advance
                )
                bar.update(task, completed=result.rows, total=result.rows)
                line = (
                    f"{file}: {result.rows:,} rows read, {result.stored:,} stored, "
                    f"{result.duplicates:,} already stored, {result.rejected:,} rejected"
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
    db: Annotated[Path | None, typer.Option(help="DuckDB evidence store.")] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Column mapping for --evidence files.")
    ] = None,
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
) -> None:
    """Evaluate every obligation against the evidence and print the findings."""
    from detente.engine import evaluate

    with _input_errors(), err.status("Reading the agreement and the evidence…") as status:
        ag = load_agreement(agreement)
        frame = _evidence([*(evidence or []), *(more or [])], db, mapping)
        moment = parse_as_of(as_of, ag) if as_of else default_as_of(frame)
        status.update(f"Evaluating {len(ag.obligations)} obligations on {len(frame):,} records…")
        report = evaluate(ag, frame, moment)
    _emit(report, ag, fmt, output)
    if fail_on is not None and report.has(fail_on):
        raise typer.Exit(1)


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


def _evidence(files: list[Path], db: Path | None, mapping: Path | None) -> pd.DataFrame:
    """Observations from a store, from files (read into memory, not stored), or both."""
    from detente.evidence import empty_observations
    from detente.ingest import load_mapping
    from detente.store import open_store

    frames = [empty_observations()]
    if db is not None:
        if not db.exists():
            raise InputError([Problem(str(db), "--db", "no such database file")])
        with open_store(db) as store:
            frames.append(store.observations())
    if files:
        spec = load_mapping(mapping) if mapping else None
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


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


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
