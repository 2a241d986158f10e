"""Errors that point at the user's input: file, line, column or field, and what was expected.

Every error a user can fix by editing a file is an :class:`InputError`; the CLI prints each
problem on its own line and exits with code 2.

    >>> where = "obligations[0].zone"
    >>> err = InputError([Problem("a.yaml", where, "unknown zone 'x'", line=3, column=5)])
    >>> str(err)
    "a.yaml:3:5: obligations[0].zone: unknown zone 'x'"
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file."""

    file: str
    field: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class InputError(Exception):
    """Bad user input; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
