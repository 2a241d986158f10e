"""The competitors of the issue-5 benchmark: the same Minsk II findings computed without Detente.

* :mod:`.common`: the plain "plan" both read from the agreement, Detente's findings as a table,
  and :func:`.common.compare`, which lists every difference between two tables;
* :mod:`.geopandas_script`: what an analyst would write today with GeoPandas and pandas;
* :mod:`.postgis_sql`: PostGIS with a GiST index, every status decided in SQL.

All three must give identical tables (obligation, party, window_start, status, evidence_count)
before any time is reported. Imports inside the package are relative, so it works both as
``competitors`` (``benchmarks/`` on ``sys.path``, as the benchmark scripts run) and as
``benchmarks.competitors``.
"""
