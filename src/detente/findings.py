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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


@dataclass(frozen=True)
class Finding:
    """One answer: did ``party`` keep ``obligation`` during ``[window_start, window_end)``?"""

    obligation: str
    party: str
    status: Status
    confidence: float
    window_start: datetime
    window_end: datetime | None
    evidence: tuple[str, ...]
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
            "evidence": list(self.evidence),
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
