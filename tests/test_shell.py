"""`python -m app sql`: views over the lake, -c and --csv output, and the read-only guarantee (local and S3)."""

from __future__ import annotations

import datetime as dt
import os
import select
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from app.shell import run_command
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.ingest.files import run_import

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(Path(__file__).parent / "data" / "ebay_sample.csv")
COUNTS = "SELECT auction_id, count(*) AS bids, max(amount) AS top FROM bronze.bids GROUP BY 1 ORDER BY 1"
EXPECTED_CSV = "auction_id,bids,top\nebay:1638893549,7,177.50\nebay:3020530019,12,285.00\nebay:8212145833,11,125.00\n"


def _tiny_lake(settings: Settings) -> None:
    """Bronze from the eBay sample, plus a one-row gold table."""
    run_import(settings, SAMPLE, "ebay")
    revenue = pa.table({"date": [dt.date(2026, 1, 8)], "gmv": pa.array([Decimal("177.50")], pa.decimal128(18, 2))})
    Lake.from_settings(settings).write_parquet("gold/daily_revenue/daily_revenue.parquet", revenue)


def _lake_files(settings: Settings) -> list[str]:
    lake = Lake.from_settings(settings)
    return sorted(lake.fs.find(lake.path()))


def test_c_prints_rows_as_csv_and_box(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _tiny_lake(settings)
    run_command(settings, COUNTS, as_csv=True)
    assert capsys.readouterr().out == EXPECTED_CSV
    run_command(settings, "SELECT gmv FROM gold.daily_revenue; SELECT count(*) AS users FROM bronze.users")
    out = capsys.readouterr().out
    assert "177.50" in out and "│    17 │" in out and "users" in out


def test_csv_formats_nulls_lists_and_times_like_duckdb(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _tiny_lake(settings)
    sql = (
        "SELECT min(bid_time) AS first, NULL AS nothing, [1, 2] AS list, 'a,b' AS text "
        "FROM bronze.bids WHERE auction_id = 'ebay:8212145833'"
    )
    run_command(settings, sql, as_csv=True)
    assert capsys.readouterr().out == 'first,nothing,list,text\n2026-01-05 03:43:39.994+00,,"[1, 2]","a,b"\n'


REFUSED = [
    ("COPY (SELECT 1) TO '{lake}/bronze/x.csv'", "COPY is not allowed"),
    ("COPY bronze.bids TO '{outside}/bids.parquet'", "COPY is not allowed"),
    ("ATTACH '{lake}/x.duckdb' AS x", "ATTACH is not allowed"),
    ("CREATE TABLE t AS SELECT * FROM bronze.bids", "CREATE TABLE is not allowed"),
    ("DROP VIEW bronze.bids", "DROP VIEW is not allowed"),
    ("DELETE FROM bronze.bids", "DELETE is not allowed"),
    ("EXPORT DATABASE '{lake}/export'", "EXPORT is not allowed"),
    ("INSTALL httpfs", "INSTALL is not allowed"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/x.csv'", "EXPLAIN is allowed for SELECT only"),
    ("SELECT 1; COPY (SELECT 1) TO '{lake}/x.csv'", "COPY is not allowed"),
    ("FROM enable_logging(storage='file', storage_path='{lake}/logs')", "enable_logging() writes files"),
    ("SET VARIABLE v = (SELECT count(*) FROM Enable_Profiling(save_location='{lake}/p.json'))", "writes files"),
    ("CALL checkpoint()", "CALL is not allowed"),
    ("SET enable_external_access = true", "the configuration has been locked"),
    ("SELECT * FROM read_csv('/etc/passwd')", "reads only the lake"),
    ("SELECT * FROM read_parquet('{outside}/secret.parquet')", "reads only the lake"),
    ("SELECT * FROM read_parquet('{lake}/../secret.parquet')", "reads only the lake"),
]


@pytest.mark.parametrize(("template", "message"), REFUSED, ids=[t for t, _ in REFUSED])
def test_writes_and_reads_outside_the_lake_are_refused(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, message: str
) -> None:
    _tiny_lake(settings)
    outside = tmp_path / "outside"
    outside.mkdir()
    pa.parquet.write_table(pa.table({"x": [1]}), outside / "secret.parquet")
    (Path(settings.lake_url).parent / "secret.parquet").write_bytes((outside / "secret.parquet").read_bytes())
    before = _lake_files(settings)
    with pytest.raises(UserError, match="the SQL shell is read-only") as caught:
        run_command(settings, template.format(lake=settings.lake_url, outside=outside))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert _lake_files(settings) == before
    assert sorted(os.listdir(outside)) == ["secret.parquet"]
    assert capsys.readouterr().out == ""  # nothing ran, not even the SELECT before a refused COPY


def test_duckdb_settings_alone_would_let_copy_write_into_the_lake(settings: Settings, lake_dir: Path) -> None:
    """Why the shell checks statements: allowed_directories grants writes too, and the lock does not stop
    enable_profiling (DuckDB 1.5.5). If this starts failing, DuckDB got stricter: revisit app/shell_guard.py."""
    con = duckdb.connect()
    con.execute("SET allowed_directories = ?", [[str(lake_dir) + "/"]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    con.execute(f"COPY (SELECT 1 AS x) TO '{lake_dir}/written.csv'")
    con.execute(f"FROM enable_profiling(format = 'json', save_location = '{lake_dir}/profile.json')")
    con.execute("SELECT 42").fetchall()
    assert (lake_dir / "written.csv").exists() and (lake_dir / "profile.json").exists()


def _cli(
    *args: str, lake: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "AUCTION_LAKE_URL": lake, "HOME": str(Path(lake).parent), **(env or {})}
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=environment, timeout=60)  # fmt: skip


def test_cli_c_csv_and_one_line_refusal(settings: Settings) -> None:
    _tiny_lake(settings)
    result = _cli("sql", "--csv", "-c", COUNTS, lake=settings.lake_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED_CSV
    refused = _cli("sql", "-c", f"COPY bronze.bids TO '{settings.lake_url}/out.parquet'", lake=settings.lake_url)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: the SQL shell is read-only: COPY is not allowed")
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_piped_session_answers_and_refuses(settings: Settings) -> None:
    _tiny_lake(settings)
    script = (
        "SELECT count(*) AS n\n  FROM bronze.users;\n.tables\n.output /tmp/out.txt\n"
        f"COPY (SELECT 1) TO '{settings.lake_url}/x.csv';\n.mode csv\nSELECT 'still here' AS alive;\n"
    )
    result = _cli("sql", lake=settings.lake_url, stdin=script)
    assert "│    17 │" in result.stdout
    assert "bronze.bids\nbronze.users\ngold.daily_revenue" in result.stdout
    assert result.stdout.endswith("alive\nstill here\n")
    assert ".output is not available: the SQL shell is read-only" in result.stderr
    assert "the SQL shell is read-only: COPY is not allowed" in result.stderr
    assert result.returncode == 1  # a statement failed in a non-interactive session
    assert not (Path(settings.lake_url) / "x.csv").exists()


def test_interactive_terminal_session_completes_and_answers(settings: Settings, tmp_path: Path) -> None:
    import pty

    _tiny_lake(settings)
    env = {"PATH": os.environ["PATH"], "AUCTION_LAKE_URL": settings.lake_url, "HOME": str(tmp_path),
           "AUCTION_RUNTIME_DIR": str(tmp_path / "run"), "TERM": "dumb"}  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "app", "sql"], env)
    try:
        banner = _read_until(fd, b"lake> ")
        assert b"(read-only)" in banner
        os.write(fd, b"SELECT count(*) AS n FROM bronze.bi\t;\n")  # tab completes bronze.bids
        answer = _read_until(fd, b"lake> ")
        assert b"bronze.bids;" in answer and "│    30 │" in answer.decode()
        os.write(fd, b".quit\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "bronze.bi" in (tmp_path / "run" / "sql_history").read_text()


def _read_until(fd: int, token: bytes, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while token not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data += os.read(fd, 65536)
            except OSError:
                break
    assert token in data, data.decode(errors="replace")
    return data


def test_s3_lake_views_and_refusals(s3_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _tiny_lake(s3_settings)
    run_command(s3_settings, COUNTS, as_csv=True)
    assert capsys.readouterr().out == EXPECTED_CSV
    before = _lake_files(s3_settings)
    with pytest.raises(UserError, match="COPY is not allowed"):
        run_command(s3_settings, f"COPY bronze.bids TO '{s3_settings.lake_url}/copy.parquet'")
    bucket = s3_settings.lake_url.removeprefix("s3://").split("/")[0]
    with pytest.raises(UserError, match="reads only the lake"):
        run_command(s3_settings, f"SELECT * FROM read_parquet('s3://{bucket}/elsewhere/*.parquet')")
    assert _lake_files(s3_settings) == before
