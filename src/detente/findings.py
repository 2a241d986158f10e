"""Findings: what Detente concludes, per obligation, party and window, and the JSON contract.

    >>> f = Finding("ceasefire", "ukr", Status.pending, 1.0,
    ...             datetime(2015, 2, 15, tzinfo=UTC), None, (), "Not yet in effect.")
    >>> f.to_dict()["status"]
    'pending'

The JSON written by :meth:`FindingsReport.to_json` is the contract of DESIGN.md; the same
agreement, evidence and as-of time always give byte-identical output.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from detente import __version__
from detente.agreement import Status

#: Display order of statuses: the ones that need attention first.
STATUS_ORDER = (
    Status.violation, Status.unverified, Status.compliant, Status.pending, Status.inactive,
)  # fmt: skip


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with its offset (UTC as ``Z``); ``None`` stays ``None``."""
    if moment is None:
        return None
    text = moment.isoformat()  # seconds, or microseconds when there are any: exact
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class EvidenceIds(Sequence[str]):
    """The ids of a finding's evidence, read from the evidence's id column only when asked.

    A compliant finding over a busy zone may rest on millions of records: their ids stay in
    one shared Arrow array, and the finding keeps only their row numbers.

    >>> ids = EvidenceIds(pa.array(["a", "b", "c"]), np.array([0, 2]))
    >>> len(ids), list(ids), ids == ("a", "c")
    (2, ['a', 'c'], True)
    """

    __slots__ = ("_ids", "_rows")

    def __init__(self, ids: pa.Array, rows: npt.NDArray[np.int64]) -> None:
        self._ids = ids
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self._ids.take(pa.array(self._rows[index])).to_pylist())
        return str(self._ids[int(self._rows[index])].as_py())

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_list())

    def to_list(self) -> list[str]:
        return [str(v) for v in self._ids.take(pa.array(self._rows)).to_pylist()]

    def to_arrow(self) -> pa.Array:
        """The ids as an Arrow array (no Python strings made)."""
        return self._ids.take(pa.array(self._rows))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvidenceIds):  # compared in Arrow, without Python strings
            return len(other) == len(self) and self.to_arrow().equals(other.to_arrow())
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        shown = ", ".join(repr(i) for i in self[:3])
        return f"EvidenceIds([{shown}{', …' if len(self) > 3 else ''}], n={len(self)})"


@dataclass(frozen=True)
class Finding:
    """One answer: did ``party`` keep ``obligation`` during ``[window_start, window_end)``?"""

    obligation: str
    party: str
    status: Status
    confidence: float
    window_start: datetime
    window_end: datetime | None
    evidence: Sequence[str]  # a tuple, or EvidenceIds for large sets
    explanation: str
    triggered_at: datetime | None = None
    #: Earliest time among the deciding evidence; used by triggers, not part of the contract.
    first_evidence_time: datetime | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "obligation": self.obligation,
            "party": self.party,
            "status": self.status.value,
            "confidence": round(self.confidence, 3),
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "evidence": (
                self.evidence.to_list()
                if isinstance(self.evidence, EvidenceIds)
                else list(self.evidence)
            ),
            "explanation": self.explanation,
        }
        if self.triggered_at is not None:
            out["triggered_at"] = iso(self.triggered_at)
        return out


@dataclass(frozen=True)
class FindingsReport:
    """Everything one evaluation produced, with the identity of its inputs."""

    agreement_id: str
    agreement_title: str
    agreement_sha256: str
    as_of: datetime
    evidence_count: int
    evidence_sha256: str
    findings: tuple[Finding, ...]
    detente_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {
            "detente": self.detente_version,
            "agreement": {"id": self.agreement_id, "sha256": self.agreement_sha256},
            "as_of": iso(self.as_of.astimezone(UTC)),
            "evidence": {"count": self.evidence_count, "sha256": self.evidence_sha256},
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    def counts(self) -> Counter[Status]:
        return Counter(f.status for f in self.findings)

    def has(self, status: Status) -> bool:
        return any(f.status is status for f in self.findings)

    def by_obligation(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.obligation, []).append(f)
        return out
