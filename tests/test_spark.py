"""The Spark engine (local mode, a real JVM) writes byte-identical findings to the local engine."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from detente.agreement import load_agreement
from detente.cli import app
from detente.engine import evaluate
from detente.engine.spark import evaluate_spark, session
from detente.synth import synthesize

ROOT = Path(__file__).resolve().parent.parent
MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"
AS_OF = datetime.fromisoformat("2021-12-31T23:59:59+02:00")


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    if shutil.which("java") is None:
        pytest.fail("Spark needs a Java runtime: apt-get install default-jre-headless")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = session("local[2]")
    yield spark
    spark.stop()


def minsk_evidence(n: int, seed: int) -> pd.DataFrame:
    raw = synthesize(load_agreement(MINSK), n=n, seed=seed)
    return raw.assign(
        time=pd.to_datetime(raw["time"], utc=True),
        count_high=pd.to_numeric(raw["count"], errors="coerce"),
        content_hash=raw["id"].str.pad(64, fillchar="0"),
        # A seventh placed vaguely: the uncertainty rule runs on the executors too.
        place_uncertainty_km=np.where(np.arange(n) % 7 == 0, 12.0, 0.0),
    )


def test_spark_findings_are_byte_identical(spark: object) -> None:
    agreement = load_agreement(MINSK)
    frame = minsk_evidence(6_000, seed=8)
    local = evaluate(agreement, frame, AS_OF)
    distributed = evaluate_spark(agreement, frame, AS_OF, master="local[2]", partitions=5)
    assert distributed.to_json() == local.to_json()
    assert local.counts()  # there is something to agree on
    # Shuffled input, other partitioning: still the same bytes.
    shuffled = frame.sample(frac=1.0, random_state=2)
    again = evaluate_spark(agreement, shuffled, AS_OF, master="local[2]", partitions=3)
    assert again.to_json() == local.to_json()


def test_check_engine_spark_matches_the_default_engine(spark: object, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.csv"
    synthesize(load_agreement(MINSK), n=2_000, seed=9).to_csv(evidence, index=False)
    runner = CliRunner()
    outputs = []
    for extra in ([], ["--engine", "spark", "--spark-master", "local[2]"]):
        out = tmp_path / f"findings{len(extra)}.json"
        args = [
            "check",
            str(MINSK),
            "--evidence",
            str(evidence),
            "--format",
            "json",
            "-o",
            str(out),
        ]
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
