"""Ingest: read evidence files, validate and normalise them into observation frames.

    >>> from detente.ingest import read_observations, resolve_mapping
    >>> parsed = read_observations(Path("sightings.csv"))                      # doctest: +SKIP
    >>> ucdp = read_observations(Path("ged.csv"), resolve_mapping("ucdp"))      # doctest: +SKIP
    >>> acled = read_observations(Path("acled.csv"),                           # doctest: +SKIP
    ...                           resolve_mapping("acled", "actor=actor1"))

A mapping file (YAML) reads other layouts without editing them; the built-in ones (``ucdp``,
``acled``) live in ``detente/ingest/presets/``::

    columns:          # canonical field: source column
      id: id
      time: date_start
      lon: longitude
      lat: latitude
    id_prefix: "ucdp-"
    constants:        # canonical field: fixed value
      kind: fire
      reliability: B
      credibility: 2
      source: "UCDP GED 22.1"
    templates:        # canonical field: str.format template over source columns ({col} only)
      note: "{dyad_name}; {source_headline}"
      place_precision: "ucdp:{where_prec}"
    values:           # canonical field: source column translated through a table
      place_uncertainty_km: {column: where_prec, map: {"1": 0, "2": 25}, default: 50}
    formats:          # strptime formats tried on times that are not ISO 8601
      time: ["%d %B %Y"]

A source value missing from a ``values`` table takes ``default``, or makes the row bad when there
is no default. A mapped file is validated exactly like a canonical one; messages name the source
column where there is one. ``--map "time=date_start,kind='fire'"`` gives the same on the command
line (:func:`parse_map_option`), alone or on top of a file (:func:`resolve_mapping`).
"""

from detente.evidence import content_hashes
from detente.ingest._sources import RowProblem
from detente.ingest._validate import Parsed
from detente.ingest.mapping import (
    PRESETS,
    Mapping,
    ValueMap,
    combine,
    load_mapping,
    load_preset,
    parse_map_option,
    parse_mapping,
    preset_file,
    resolve_mapping,
)
from detente.ingest.observations import read_observations

__all__ = [
    "PRESETS",
    "Mapping",
    "Parsed",
    "RowProblem",
    "ValueMap",
    "combine",
    "content_hashes",
    "load_mapping",
    "load_preset",
    "parse_map_option",
    "parse_mapping",
    "preset_file",
    "read_observations",
    "resolve_mapping",
]
