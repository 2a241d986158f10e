"""`detente check --db` judges response deadlines on the store's signed hotline records."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ROOT

AGREEMENT = """\
id: hotline_test
title: Replies on the hotline
version: "1"
sources: [{id: s, title: Test source}]
parties: [{id: rus, name: Russia}, {id: ukr, name: Ukraine}]
obligations:
  - id: reply
    kind: response_deadline
    clause: "A party asked on the hotline replies within 48 hours."
    source: {ref: s}
    bearers: [rus, ukr]
    hours: 48
    window: whole
    effective: {from: 2020-01-01T00:00:00}
"""


def detente(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detente", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip


def reply_status(tmp_path: Path, as_of: datetime) -> dict[str, str]:
    done = detente("check", tmp_path / "a.yaml", "--db", tmp_path / "h.duckdb", "--as-of",
                   as_of.isoformat(), "--format", "json", cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {f["party"]: f["status"] for f in json.loads(done.stdout)["findings"]}


def test_unanswered_message_is_a_violation_until_acknowledged(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(AGREEMENT)
    db = tmp_path / "h.duckdb"
    for party in ("ukr", "rus"):
        made = detente("hotline", "keygen", "--party", party, "--out", f"{party}.pem",
                       "--db", db, cwd=tmp_path)  # fmt: skip
        assert made.returncode == 0, made.stderr
    sent = detente("hotline", "send", "--db", db, "--key", "ukr.pem", "--from", "ukr",
                   "--to", "rus", "Explain the convoy near Yelnya.", cwd=tmp_path)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    now = datetime.now(UTC)
    assert reply_status(tmp_path, now + timedelta(hours=1))["rus"] == "pending"
    assert reply_status(tmp_path, now + timedelta(hours=49))["rus"] == "violation"
    acked = detente("hotline", "ack", "--db", db, "--key", "rus.pem", "--from", "rus",
                    "--channel", "rus--ukr", "--seq", "1", cwd=tmp_path)  # fmt: skip
    assert acked.returncode == 0, acked.stderr
    assert reply_status(tmp_path, now + timedelta(hours=49))["rus"] == "compliant"
