"""The stream stage: validates and scores the broker's events as they arrive, and lands them in bronze.

Takes the ``users``, ``auctions`` and ``bids`` topics; gives ``bids-scored``, ``fraud-alerts`` and
``dead-letters`` on the broker and bronze Parquet files (every input and every output, exactly once per
input offset). Quix Streams runs it; the runtime that starts and supervises it is ``app.stream``.

Public face:

* :func:`pipelines.stream.graph.define_pipeline` and :class:`pipelines.stream.graph.Processor` -- the
  Quix graph and the per-message work (validate, score, route outputs, dead letters);
* :class:`pipelines.stream.bronze.BronzeSink` -- the exactly-once bronze sink;
* :class:`pipelines.stream.state.StateCache` and :func:`pipelines.stream.state.recover` -- the scoring
  state and its changelog;
* :class:`pipelines.stream.outputs.OutputProducer` -- the outputs' producer, and
  :class:`pipelines.stream.outputs.InternalBatches` -- the two-stage topology's internal records, one message
  per partition of the internal topic and pass.

Inside: ``fastpath`` (canonical JSON to primitives), ``stages`` (the two-stage topology: auction stage, internal
topic keyed by bidder, bidder stage), ``score`` (the one-stage step and the state shapes), ``rules`` (the pure
fraud rules).
"""
