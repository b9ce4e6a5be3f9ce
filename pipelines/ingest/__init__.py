"""The ingest stage: historical files into bronze, or replayed to the broker for the stream worker.

Takes a file (the project's own CSV, Parquet or JSON lines, or the public eBay online-auctions CSV);
gives bronze files in the stream's layout, with a run id derived from the file's content (re-importing
rewrites the same files), and a quarantine of the rows that cannot be events, with the reason; or the
same events sent to the input topics in event-time order.

Public face: :func:`pipelines.ingest.files.run_import` and its :class:`pipelines.ingest.files.ImportReport`;
:func:`pipelines.ingest.extract.extract` (PostgreSQL rows changed since the watermark into bronze).
:func:`pipelines.ingest.replay.run_replay` and its :class:`pipelines.ingest.replay.ReplaySummary`.

Inside: ``read`` (opening files, rows, rejects, missing-value markers), ``contract`` (rows validated against
the contracts), ``ebay`` (the eBay translation), ``write`` (bronze and quarantine files), ``replay``
(event-time order, producing).
"""
