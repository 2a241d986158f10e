"""Ingest: read evidence files, validate and normalise them into observation frames.

    >>> from detente.ingest import read_observations, load_mapping
    >>> parsed = read_observations(Path("sightings.csv"))                      # doctest: +SKIP
    >>> ucdp_map = load_mapping(Path("data/ucdp/mapping.yaml"))                 # doctest: +SKIP
    >>> ucdp = read_observations(Path("ged.csv"), ucdp_map)                     # doctest: +SKIP

A mapping file (YAML) reads other layouts without editing them::

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
    values:           # canonical field: source column translated through a table
      place_uncertainty_km: {column: where_prec, map: {"1": 0, "2": 25}, default: 50}

A source value missing from a ``values`` table takes ``default``, or makes the row bad when there
is no default. A mapped file is validated exactly like a canonical one; messages name the source
column where there is one.
"""

from detente.evidence import content_hashes
from detente.ingest._sources import RowProblem
from detente.ingest._validate import Parsed
from detente.ingest.mapping import Mapping, ValueMap, load_mapping, parse_mapping
from detente.ingest.observations import read_observations

__all__ = [
    "Mapping",
    "Parsed",
    "RowProblem",
    "ValueMap",
    "content_hashes",
    "load_mapping",
    "parse_mapping",
    "read_observations",
]
