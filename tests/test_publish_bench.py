"""`python -m app bench publish` on a tiny lake: JSON with both sides, rows that add up, the scratch database gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from app.cli import main


def test_bench_publish_prints_json_and_drops_its_database(pg_dsn: str, tmp_path: Path, capsys: Any) -> None:
    def databases() -> set[str]:
        with psycopg.connect(pg_dsn) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'auction_bench_%'")}

    before = databases()
    main(["bench", "publish", "--bids", "2000", "--days", "1", "--runs", "1", "--cache", str(tmp_path / "bench"),
          "--database-url", pg_dsn])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == sum(result["gold_rows"].values()) > 0
    assert result["gold_rows"]["bidder_analytics"] > 0
    assert result["lake"]["bronze_cached"] is False and result["lake"]["gold_reused"] is False
    assert result["publish"]["rows_per_s"] > 0 and result["floor_psql_copy"]["rows_per_s"] > 0
    assert result["ratio"] > 0 and set(result["goals_met"]) == {"ratio >= 0.8"}
    assert databases() == before
