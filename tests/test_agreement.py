"""Agreement files: the shipped example validates; bad files say file, line, field and why."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from detente.agreement import ExclusionZone, load_agreement
from detente.errors import InputError

MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"


def test_minsk2_example_encodes_the_treaty_numbers() -> None:
    ag = load_agreement(MINSK)
    bands = {zid: z.band for zid, z in ag.zones.items() if z.band is not None}
    widths = {
        ob.id: {bands[z].to_km for z in ob.zones.values()}
        for ob in ag.obligations
        if isinstance(ob, ExclusionZone)
    }
    # Point 2: 50, 70 and 140 km zones, equal distances on each side; addendum: 15 km each side.
    assert widths == {
        "heavy_artillery_withdrawal": {25.0},
        "mlrs_withdrawal": {35.0},
        "heavy_mlrs_missile_withdrawal": {70.0},
        "light_weapons_withdrawal": {15.0},
    }
    ceasefire = ag.obligation("ceasefire")
    assert ceasefire.effective.start.isoformat() == "2015-02-15T00:00:00+02:00"
    assert all(ob.clause and ob.source.ref for ob in ag.obligations)
    assert len(ag.sha256) == 64


def problems_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_agreement(path)
    return str(info.value)


def edit(toy: Callable[..., Path], old: str, new: str) -> Path:
    path = toy()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_missing_field_points_at_the_obligation(toy: Callable[..., Path]) -> None:
    path = edit(toy, "    zone: everywhere\n", "")
    msg = problems_of(path)
    assert f"agreement.yaml:{line_of(path, '- id: cf')}:" in msg
    assert "obligations[0].zone: Field required" in msg


def test_wrong_type_names_the_value(toy: Callable[..., Path]) -> None:
    path = edit(toy, "to_km: 25}}\n  band_e", "to_km: far}}\n  band_e")
    msg = problems_of(path)
    assert f"agreement.yaml:{line_of(path, 'to_km: far')}:" in msg
    assert "zones.band_w.band.to_km" in msg and "'far'" in msg


def test_unknown_zone_lists_the_known_ones(toy: Callable[..., Path]) -> None:
    path = edit(toy, "zone: everywhere", "zone: nowhere")
    msg = problems_of(path)
    assert (
        f"agreement.yaml:{line_of(path, 'zone: nowhere')}:5: "
        "obligations[0].zone: unknown zone 'nowhere'" in msg
    )
    assert "everywhere" in msg


def test_unknown_kind_and_unknown_field(toy: Callable[..., Path]) -> None:
    assert "does not match any of the expected tags" in problems_of(
        edit(toy, "kind: ceasefire", "kind: truce")
    )
    msg = problems_of(edit(toy, "    zone: everywhere\n", "    zone: everywhere\n    zonee: x\n"))
    assert "obligations[0].zonee: unknown field" in msg


def test_invalid_geometry_is_reported_at_its_zone(toy: Callable[..., Path]) -> None:
    path = toy()
    bowtie = '{"type": "Polygon", "coordinates": [[[37,47],[38,48],[38,47],[37,48],[37,47]]]}'
    (path.parent / "west.geojson").write_text(bowtie)
    msg = problems_of(path)
    assert f"agreement.yaml:{line_of(path, 'west_side: {file')}:" in msg
    assert "west_side" in msg


def test_band_side_must_exist_and_distances_be_ordered(toy: Callable[..., Path]) -> None:
    msg = problems_of(
        edit(toy, "side: west_side, to_km: 25", "side: west_side, from_km: 30, to_km: 25")
    )
    assert "zones.band_w.band" in msg and "greater than from_km" in msg
    assert "unknown zone 'wrong'" in problems_of(
        edit(toy, "side: east_side, to_km", "side: wrong, to_km")
    )


def test_yaml_syntax_error_has_a_position(toy: Callable[..., Path]) -> None:
    msg = problems_of(edit(toy, "title: A toy", "title: [unclosed"))
    assert re.search(r"agreement\.yaml:\d+:\d+: invalid YAML", msg)


def test_duplicate_keys_are_errors_not_silently_merged(toy: Callable[..., Path]) -> None:
    msg = problems_of(edit(toy, 'version: "1"\n', 'version: "1"\nversion: "2"\n'))
    assert "duplicate key 'version'" in msg


def test_naive_times_are_in_the_agreement_time_zone(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy())
    assert ag.obligation("cf").effective.start.isoformat() == "2020-01-01T00:00:00+02:00"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_arbitrary_text_never_crashes_the_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_agreement(path)
    assert all(p.file == str(path) for p in info.value.problems)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["id", "title", "version", "sources", "parties", "obligations"]), st.data())
def test_any_corrupted_top_level_value_is_located(
    tmp_path: Path, key: str, data: st.DataObject
) -> None:
    from conftest import write_toy

    path = write_toy(tmp_path)
    lines = path.read_text().splitlines()
    bad = data.draw(st.sampled_from(["42", "[]", "{}", "''", "Z!"]))
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = index + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1  # drop the block that belonged to the key
    lines[index:end] = [f"{key}: {bad}"]
    path.write_text("\n".join(lines) + "\n")
    try:
        load_agreement(path)
    except InputError as exc:
        assert any(p.field.startswith(key) and p.line is not None for p in exc.problems), exc
