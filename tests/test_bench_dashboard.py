"""`python -m app bench dashboard` on a tiny lake (no browser rounds: the browser is tested on its own):
JSON per page, synthetic scores and alerts added once, the prepared lake reused."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb

from app.benchmarks.dashboard import prepared_lake
from app.cli import main
from app.dashboards import pages


def test_bench_dashboard_prints_per_page_timings_and_reuses_the_lake(tmp_path: Path, capsys: Any) -> None:
    argv = ["bench", "dashboard", "--bids", "3000", "--days", "2", "--rounds", "1", "--browser-rounds", "0",
            "--cache", str(tmp_path / "bench")]  # fmt: skip
    main(argv)
    first = json.loads(capsys.readouterr().out)
    assert list(first["pages"]) == [p.title for p in pages()]
    for title, page in first["pages"].items():
        assert page["queries_per_load"] >= 1 and page["data_cold"]["p50_ms"] > 0, title
        assert page["warnings"] == [], (title, page["warnings"])
    assert first["lake"]["cached"] is False and first["lake"]["synthetic_scores"]["fraud-alerts"] > 0
    lake = Path(first["lake"]["path"])
    generated = Path(first["lake"]["generation"]["lake"])  # bench batch's input: left as the generator wrote it
    assert lake != generated and sorted(p.name for p in (generated / "bronze").iterdir()) == [
        "auctions",
        "bids",
        "users",
    ]
    scored, labelled_low, honest_high = duckdb.sql(
        f"select count(*), count(*) filter (where fraud_label is not null and fraud_score < 0.55), "
        f"count(*) filter (where fraud_label is null and fraud_score >= 0.5) "
        f"from '{lake}/bronze/bids-scored/*/*.parquet'"
    ).fetchone()
    assert scored == first["lake"]["synthetic_scores"]["bids-scored"] and labelled_low == honest_high == 0
    again, info = prepared_lake(tmp_path / "bench", 3000, 2.0, 7, dict(os.environ))
    assert again == lake and info["cached"] is True
