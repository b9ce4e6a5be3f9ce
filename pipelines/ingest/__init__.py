"""The ingest stage: historical files into bronze.

Takes a file (the project's own CSV, Parquet or JSON lines, or the public eBay online-auctions CSV);
gives bronze files in the stream's layout, with a run id derived from the file's content (re-importing
rewrites the same files), and a quarantine of the rows that cannot be events, with the reason.

Public face: :func:`pipelines.ingest.files.run_import` and its :class:`pipelines.ingest.files.ImportReport`;
:func:`pipelines.ingest.extract.extract` (PostgreSQL rows changed since the watermark into bronze).

Inside: ``read`` (opening files, rows, rejects), ``contract`` (rows validated against the contracts),
``ebay`` (the eBay translation), ``write`` (bronze and quarantine files).
"""
