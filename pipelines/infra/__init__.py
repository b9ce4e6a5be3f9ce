"""What every stage stands on: settings, the user-facing error, the lake, DuckDB and the broker's clients.

It imports no stage (``import-linter`` checks it): ``app`` -> stages -> ``pipelines.contracts`` -> here.

* :mod:`pipelines.infra.settings` -- the one settings object (environment and ``.env``);
* :mod:`pipelines.infra.errors` -- :class:`UserError`, a failure the user can act on (one line, no traceback);
* :mod:`pipelines.infra.lake` -- the lake (local directory or S3) with atomic writes and bronze file names;
* :mod:`pipelines.infra.duck` -- the DuckDB connection over the lake with its views;
* :mod:`pipelines.infra.topics` -- topic creation with explicit config, client configs, broker run ids.
"""
