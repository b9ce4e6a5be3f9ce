"""`import` of the project's own CSV / Parquet / JSON lines files, through the CLI and on S3."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.contracts import Bid, arrow_schema
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.ingest.files import run_import

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent

AUCTION = {
    "event_id": "e-a1", "event_time": "2026-02-01T09:00:00.000Z", "auction_id": "a1", "seller_id": "s1",
    "title": "Lamp", "category": "home", "start_price": "10.00", "reserve_price": "", "currency": "EUR",
    "start_time": "2026-02-01T09:00:00.000Z", "end_time": "2026-02-03T09:00:00.000Z", "status": "open",
    "final_price": "", "winner_id": "",
}  # fmt: skip


def _bid(n: int, **changes: str) -> dict[str, str]:
    row = {"event_id": f"e-b{n}", "event_time": f"2026-02-0{1 + n % 2}T10:00:00.000Z", "bid_id": f"b{n}",
           "auction_id": "a1", "bidder_id": "u1", "amount": f"{10 + n}.50", "currency": "EUR",
           "bid_time": f"2026-02-0{1 + n % 2}T10:00:00.000Z", "channel": "web", "device_id": "d1",
           "fraud_label": ""}  # fmt: skip
    return row | changes


BIDS = [
    _bid(1), _bid(2), _bid(3, amount="ten"), _bid(4, bid_time="2026-02-30T00:00:00Z"), _bid(5, amount="-2.00"),
    _bid(6, auction_id="nowhere"), _bid(7, currency="XYZ"), _bid(8, bidder_id=""),
]  # fmt: skip
EXPECTED_REJECTS = {
    4: "bad_number",
    5: "bad_date",
    6: "negative_amount",
    7: "unknown_auction",
    8: "bad_value",
    9: "missing_value",
}  # fmt: skip (CSV row = line: header is row 1, BIDS[0] is row 2)


def _write_csv(path: Path, rows: list[dict[str, str]]) -> str:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _write(fmt: str, path: Path, rows: list[dict[str, str]]) -> str:
    if fmt == "csv":
        return _write_csv(path.with_suffix(".csv"), rows)
    if fmt == "jsonl":
        target = path.with_suffix(".jsonl")
        target.write_text("".join(json.dumps({k: v or None for k, v in r.items()}) + "\n" for r in rows))
        return str(target)
    target = path.with_suffix(".parquet")
    pq.write_table(pa.Table.from_pylist([{k: v or None for k, v in r.items()} for r in rows]), target)
    return str(target)


def _bronze(settings: Settings, topic: str) -> list[dict[str, object]]:
    lake = Lake.from_settings(settings)
    return ds.dataset(lake.list_files(f"bronze/{topic}"), filesystem=lake.fs, format="parquet").to_table().to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_own_bids_land_bad_rows_are_quarantined(settings: Settings, tmp_path: Path, fmt: str) -> None:
    run_import(settings, _write_csv(tmp_path / "auctions.csv", [AUCTION]), topic="auctions")
    report = run_import(settings, _write(fmt, tmp_path / "bids", BIDS))  # format guessed from the suffix

    assert report.fmt == fmt and report.rows_read == len(BIDS)
    assert report.imported == {"bids": 2}
    shift = 0 if fmt == "csv" else 1  # CSV rows count the header line; JSON lines and Parquet rows do not
    assert {r.row: r.rule for r in report.rejects} == {k - shift: v for k, v in EXPECTED_REJECTS.items()}
    landed = sorted(_bronze(settings, "bids"), key=lambda r: str(r["bid_id"]))
    expected = [Bid.model_validate({k: v or None for k, v in b.items()}).model_dump() for b in BIDS[:2]]
    assert [{k: r[k] for k in arrow_schema(Bid).names} for r in landed] == expected
    assert landed[0]["_key"] == "a1"


def test_bids_before_their_auctions_wait_in_quarantine_until_reimported(settings: Settings, tmp_path: Path) -> None:
    bids = _write_csv(tmp_path / "bids.csv", BIDS[:2])
    early = run_import(settings, bids)
    assert early.imported == {"bids": 0} and {r.rule for r in early.rejects} == {"unknown_auction"}
    assert early.quarantine_file is not None

    auctions = run_import(settings, _write_csv(tmp_path / "auctions.csv", [AUCTION]), topic="auctions")
    assert auctions.imported == {"auctions": 1}
    stored = _bronze(settings, "auctions")[0]
    assert (stored["auction_id"], stored["reserve_price"], stored["start_price"]) == ("a1", None, Decimal("10.00"))
    again = run_import(settings, bids)
    assert again.imported == {"bids": 2} and again.rejects == []
    assert not Lake.from_settings(settings).list_files("quarantine/import")  # the run's quarantine was replaced


def test_wrong_columns_and_unknown_suffix_are_user_errors(settings: Settings, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "bids.csv", [{k: v for k, v in _bid(1).items() if k != "amount"} | {"price": "1"}])
    with pytest.raises(UserError, match=r"bids.csv row 1: wrong columns: missing amount; unexpected price"):
        run_import(settings, path)
    (tmp_path / "bids.txt").write_text("x")
    with pytest.raises(UserError, match="cannot tell the format"):
        run_import(settings, str(tmp_path / "bids.txt"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match="not a readable Parquet file"):
        run_import(settings, str(tmp_path / "broken.parquet"))


def _cli(*args: str, lake: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "AUCTION_LAKE_URL": str(lake), "HOME": str(lake.parent)}
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)  # fmt: skip


def test_cli_reports_counts_and_one_line_per_bad_row(lake_dir: Path) -> None:
    malformed = str(DATA / "ebay_malformed.csv")
    result = _cli("import", malformed, "--format", "ebay", "--start", "2026-04-01", lake=lake_dir)
    assert result.returncode == 0, result.stderr
    assert "11 rows read; users 7, auctions 4, bids 6; 5 quarantined" in result.stdout
    assert "; 3 notes on optional values (rows kept)" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 5 + 3 and all(line.startswith(f"{malformed} row ") for line in lines)
    assert sum(line.endswith("[kept]") for line in lines) == 3
    assert f"{malformed} row 5: bid: negative amount (got '-150') [negative_amount]" in lines
    assert (lake_dir / "bronze" / "auctions" / "date=2026-04-01").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("import", "/no/such.csv"), "error: /no/such.csv: no such file"),
        (("import", str(DATA / "ebay_sample.csv"), "--start", "2026-01-01"), "--start only applies"),
        (("import", str(DATA / "ebay_sample.csv"), "--format", "ebay", "--topic", "users"), "--topic does not"),
        (("import", str(DATA / "ebay_sample.csv"), "--format", "ebay", "--speed", "10"), "apply to --to broker only"),
        (
            ("import", str(DATA / "ebay_sample.csv"), "--format", "ebay", "--to", "broker", "--speed", "0"),
            "--speed must be more than 0",
        ),
    ],
)
def test_cli_bad_input_is_one_line_exit_1(lake_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = _cli(*args, lake=lake_dir)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_import_to_s3_lake(s3_settings: Settings) -> None:
    report = run_import(s3_settings, str(DATA / "ebay_malformed.csv"), "ebay")
    assert report.imported == {"users": 7, "auctions": 4, "bids": 6} and len(report.rejects) == 5
    lake = Lake.from_settings(s3_settings)
    assert len(_bronze(s3_settings, "bids")) == 6
    assert lake.list_files("quarantine/import") == [report.quarantine_file]
    assert report.files == [f for t in ("users", "auctions", "bids") for f in lake.list_files(f"bronze/{t}")]


def test_big_files_are_written_in_batches_with_running_offsets(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipelines.ingest.files.BATCH_ROWS", 3)
    run_import(settings, _write_csv(tmp_path / "auctions.csv", [AUCTION]), topic="auctions")
    path = _write_csv(tmp_path / "bids.csv", [_bid(n) for n in range(1, 9)])
    report = run_import(settings, path)
    assert report.imported == {"bids": 8} and len(report.files) > 2
    rows = _bronze(settings, "bids")
    assert sorted(r["_offset"] for r in rows) == list(range(8))
    assert sorted(r["bid_id"] for r in rows) == sorted(f"b{n}" for n in range(1, 9))
    assert run_import(settings, path).files == report.files


def test_reimport_drops_files_it_no_longer_writes(settings: Settings, tmp_path: Path) -> None:
    other = AUCTION | {"event_id": "e-a2", "auction_id": "a2"}
    run_import(settings, _write_csv(tmp_path / "a1.csv", [AUCTION]), topic="auctions")
    bids = _write_csv(tmp_path / "bids.csv", [_bid(1, auction_id="a2"), _bid(2), _bid(3), _bid(4, auction_id="a2")])
    first = run_import(settings, bids)
    assert first.imported == {"bids": 2} and [r.rule for r in first.rejects] == ["unknown_auction"] * 2

    run_import(settings, _write_csv(tmp_path / "a2.csv", [other]), topic="auctions")
    second = run_import(settings, bids)
    assert second.imported == {"bids": 4} and second.rejects == []
    lake = Lake.from_settings(settings)
    assert lake.list_files("bronze/bids") == sorted(second.files)
    assert sorted(r["bid_id"] for r in _bronze(settings, "bids")) == ["b1", "b2", "b3", "b4"]  # no copies


def test_a_duckdb_csv_export_of_bronze_bids_imports_again(settings: Settings, tmp_path: Path) -> None:
    import duckdb

    run_import(settings, str(DATA / "ebay_sample.csv"), "ebay")
    export = tmp_path / "export.csv"
    source = f"{settings.lake_url}/bronze/bids/*/*.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{export}' (HEADER)")
    assert "+00," in export.read_text()  # DuckDB writes short UTC offsets; the import accepts them
    report = run_import(settings, str(export))
    assert report.imported == {"bids": 30} and report.rejects == []
    rows = [r for r in _bronze(settings, "bids") if r["_broker_run"] == report.run]
    assert {r["device_id"] for r in rows} == {""}  # a blank required text stays text, it is not "missing"


def test_a_lake_failing_mid_import_is_one_line_and_a_rerun_finishes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = str(DATA / "ebay_sample.csv")
    real_write = Lake.write_bytes
    calls = {"n": 0}

    def flaky(self: Lake, relpath: str, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            raise ConnectionResetError("Connection reset by peer")
        return real_write(self, relpath, data)

    monkeypatch.setattr(Lake, "write_bytes", flaky)
    with pytest.raises(UserError, match=r"writing to the lake .* failed: Connection reset by peer; re-run"):
        run_import(settings, sample, "ebay")
    assert 0 < len(Lake.from_settings(settings).list_files("bronze")) == 3  # whole files, no partial ones
    report = run_import(settings, sample, "ebay")
    assert report.imported == {"users": 17, "auctions": 6, "bids": 30}
    assert Lake.from_settings(settings).list_files("bronze") == sorted(report.files)
