"""The batch stage: bronze to silver (Polars) and silver to gold (DuckDB SQL from ``queries/``).

Takes bronze Parquet from the lake; gives silver tables (typed, deduplicated, checked, enriched), the
rows that failed a data-quality rule in quarantine, and the gold tables with their data checks.
It reads what the stream and the imports wrote only through the lake.

Public face:

* :mod:`pipelines.batch.silver` -- the silver transforms (``LazyFrame -> LazyFrame``);
* :mod:`pipelines.batch.quality` -- the data-quality rules that quarantine rows;
* :func:`pipelines.batch.gold.run_gold` -- gold and its checks for a lake;
* :func:`pipelines.batch.publish.publish` -- gold copied into PostgreSQL schema ``gold``.

The runner that reads and writes the lake day by day is ``app.batch``.
"""
