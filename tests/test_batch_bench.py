"""`python -m app bench batch` on a tiny volume: JSON with the measured parts, and the bronze cache reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.cli import main


def test_bench_batch_prints_json_and_reuses_generated_bronze(tmp_path: Path, capsys: Any) -> None:
    argv = ["bench", "batch", "--bids", "3000", "--days", "2", "--cache", str(tmp_path / "bench")]
    main(argv)
    first = json.loads(capsys.readouterr().out)
    assert first["bids"] >= 3000 and first["silver_bids"] == first["bids"]
    assert first["generation"]["cached"] is False
    assert set(first["batch"]) >= {"wall_s", "peak_rss_mb", "phases_s", "gold_rows"}
    assert first["batch"]["peak_rss_mb"] > 0 and first["floor"]["seconds"] > 0
    assert first["batch"]["checks_failed"] == {}
    assert set(first["goals_met"]) == {"wall_s < 60", "peak_rss < 4 GB", "ratio <= 5"}
    main(argv)
    second = json.loads(capsys.readouterr().out)
    assert second["generation"]["cached"] is True
    assert second["generation"]["lake"] == first["generation"]["lake"]
    assert second["batch"]["gold_rows"] == first["batch"]["gold_rows"]
