"""Incremental evaluation gives, after every addition, exactly what a full evaluation gives."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONDITIONAL, frame, write_toy
from detente.agreement import Agreement, Status, load_agreement
from detente.engine import evaluate
from detente.engine.live import LiveFindings

AS_OF = datetime.fromisoformat("2020-06-30T12:00:00+00:00")


def random_records(n: int, seed: int) -> pd.DataFrame:
    """Tank sightings and fire around the toy line, some unattributed, some weakly graded."""
    rng = np.random.default_rng(seed)
    minutes = rng.integers(0, 60 * 24 * 200, n)
    return frame(
        [
            {
                "id": f"r{seed}-{i}",
                "time": pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(minutes=int(m)),
                "lon": float(rng.uniform(37.5, 38.5)),
                "lat": float(rng.uniform(48.0, 49.0)),
                "actor": str(rng.choice(["west", "east", "unknown"])),
                "kind": str(rng.choice(["equipment", "fire", "patrol"])),
                "reliability": str(rng.choice(list("ABCDE"))),
                "credibility": int(rng.integers(1, 6)),
                "place_uncertainty_km": float(rng.choice([0.0, 0.0, 30.0])),
            }
            for i, m in enumerate(minutes)
        ]
    )


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory) -> Agreement:
    return load_agreement(write_toy(tmp_path_factory.mktemp("toy"), CONDITIONAL))


def full(agreement: Agreement, parts: list[pd.DataFrame]) -> str:
    return evaluate(agreement, pd.concat(parts, ignore_index=True), AS_OF).to_json()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), batches=st.lists(st.integers(1, 6), min_size=1, max_size=6))
def test_every_addition_matches_a_full_evaluation(
    agreement: Agreement, seed: int, batches: list[int]
) -> None:
    base = random_records(40, seed)
    live = LiveFindings(agreement, base, AS_OF)
    assert live.report().to_json() == full(agreement, [base])
    parts = [base]
    for k, size in enumerate(batches):
        batch = random_records(size, seed * 100 + k + 1)
        live.add(batch)
        parts.append(batch)
        assert live.report().to_json() == full(agreement, parts)


def test_a_trigger_that_fires_late_redoes_its_conditional_obligation(agreement: Agreement) -> None:
    quiet = frame([{"id": "t1", "time": "2020-02-03T10:00:00Z", "lon": 38.3, "lat": 48.5,
                    "actor": "west", "kind": "equipment"}])  # fmt: skip
    live = LiveFindings(agreement, quiet, AS_OF)
    freeze = [f for f in live.report().findings if f.obligation == "freeze"]
    assert {f.status for f in freeze} == {Status.inactive}
    fire = frame([{"id": "t2", "time": "2020-03-05T10:00:00Z", "lon": 38.3, "lat": 48.5,
                   "actor": "east", "kind": "fire"}])  # fmt: skip
    changed = live.add(fire)
    assert any(f.obligation == "freeze" for f in changed)
    assert live.report().to_json() == full(agreement, [quiet, fire])
    fired = [f for f in live.report().findings if f.obligation == "freeze" and f.triggered_at]
    assert fired and fired[0].triggered_at == datetime.fromisoformat("2020-03-05T10:00:00+00:00")


def test_known_records_and_records_after_the_as_of_time_change_nothing(
    agreement: Agreement,
) -> None:
    base = random_records(30, 7)
    live = LiveFindings(agreement, base, AS_OF)
    before = live.report().to_json()
    assert live.add(base.iloc[:5]) == []
    late = frame([{"id": "late", "time": "2020-07-02T00:00:00Z", "lon": 37.9, "lat": 48.5}])
    assert live.add(late) == []
    assert live.report().to_json() == before
    # Moving the as-of time past it brings it in, as a full evaluation would.
    later = datetime.fromisoformat("2020-07-03T00:00:00+00:00")
    moved = live.advance(later).to_json()
    assert moved == evaluate(agreement, pd.concat([base, late]), later).to_json()


def test_only_the_window_of_a_new_record_changes(agreement: Agreement) -> None:
    base = random_records(200, 3)
    live = LiveFindings(agreement, base, AS_OF)
    sighting = frame([{"id": "new", "time": "2020-04-10T08:00:00Z", "lon": 37.9, "lat": 48.5,
                       "actor": "west", "kind": "equipment"}])  # fmt: skip
    changed = live.add(sighting)
    assert changed and {f.window_start.month for f in changed} == {4}
    tanks = [f for f in changed if f.obligation == "tanks" and f.party == "west"]
    assert tanks and tanks[0].status is Status.violation and "new" in tanks[0].evidence


def test_minsk_incremental_matches_full(tmp_path: Path) -> None:
    """The real agreement, gridded zones and all."""
    from detente.synth import synthesize

    root = Path(__file__).resolve().parent.parent
    minsk = load_agreement(root / "examples" / "minsk2" / "agreement.yaml")
    raw = synthesize(minsk, n=3_000, seed=4)
    whole = raw.assign(
        time=pd.to_datetime(raw["time"], utc=True),
        count_high=pd.to_numeric(raw["count"], errors="coerce"),
        content_hash=raw["id"].str.pad(64, fillchar="0"),
    )
    as_of = datetime.fromisoformat("2021-12-31T23:59:59+02:00")
    live = LiveFindings(minsk, whole.iloc[:2_900], as_of)
    for start in range(2_900, 3_000, 25):
        live.add(whole.iloc[start : start + 25])
    assert live.report().to_json() == evaluate(minsk, whole, as_of).to_json()
