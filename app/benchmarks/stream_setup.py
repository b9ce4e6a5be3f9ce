"""What the stream benchmarks share: a benchmark run's settings and its generated traffic on a broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.infra.settings import Settings, load_settings


def bench_settings(root: Path, partitions: int, group: str, topology: str = "two-stage") -> Settings:
    """Settings of a benchmark worker whose lake, state and runtime directories live under ``root``."""
    return load_settings(
        lake_url=str(root / "lake"),
        state_dir=root / "state",
        runtime_dir=root / "run",
        partitions=partitions,
        consumer_group=group,
        stream_topology=topology,  # two stages unless the one-stage baseline is asked for by name
    )


def produce_events(address: str, events: int, seed: int, partitions: int, rate: float | None = None) -> Any:
    """The generator's run of ``events`` for ``seed`` on the broker at ``address`` (its end offsets and more)."""
    from pipelines.generate import GeneratorConfig, to_broker

    return to_broker(GeneratorConfig(seed=seed, events=events, partitions=partitions), address, rate=rate)
