"""The dashboards under Streamlit's AppTest: every page on an empty lake and on a demo lake (built once per
session by `python -m app demo` + `batch`), figures checked against the lake read another way, filters that
change what is shown, a table that is missing or corrupt named while the rest renders.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.dashboards import data, pages
from app.shell.guard import read_only_statements

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["executive", "auctions", "users", "monitor", "runs", "fraud"]
TITLES = dict(zip(PAGES, [p.title for p in pages()], strict=True))


def render(module: str) -> None:
    """AppTest script: one page, as the navigation runs it."""
    import importlib

    importlib.import_module(f"app.dashboards.{module}").page()


def _page(module: str) -> AppTest:
    at = AppTest.from_function(render, args=(module,), default_timeout=120)
    at.run()
    return at


def _use(monkeypatch: pytest.MonkeyPatch, lake: Path, runtime: Path) -> None:
    monkeypatch.setenv("AUCTION_LAKE_URL", str(lake))
    monkeypatch.setenv("AUCTION_RUNTIME_DIR", str(runtime))


def _charts(at: AppTest) -> list[Any]:
    return list(at.get("vega_lite_chart"))


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _sql(lake: Path, query: str) -> Any:
    """The lake read without the dashboards: plain DuckDB over the Parquet files."""
    return duckdb.sql(query.replace("LAKE", str(lake))).fetchall()


@pytest.fixture
def on_demo(demo_lake: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    _use(monkeypatch, demo_lake, tmp_path / "run")
    return demo_lake


# ---- the empty lake ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", PAGES)
def test_every_page_on_an_empty_lake_says_how_to_fill_it(
    module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "lake").mkdir()
    _use(monkeypatch, tmp_path / "lake", tmp_path / "run")
    at = _page(module)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [TITLES[module]]
    shown = " ".join(i.value for i in at.info)
    expected = "python -m app batch" if module == "runs" else "python -m app demo"
    assert expected in shown, shown
    assert not at.warning and not at.error


def test_navigation_lists_the_six_pages_and_opens_the_first() -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Executive Summary"]
    assert [p.title for p in pages()] == [
        "Executive Summary", "Auction Performance", "User Analytics", "Real-Time Monitor", "Pipeline Runs", "Fraud",
    ]  # fmt: skip


# ---- the demo lake -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("module", PAGES)
def test_every_page_on_the_demo_lake_renders_charts_and_no_warning(module: str, on_demo: Path) -> None:
    at = _page(module)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [TITLES[module]]
    assert len(_charts(at)) >= 1
    assert not at.warning and not at.error, [w.value for w in at.warning]
    assert at.metric


@pytest.mark.integration
def test_executive_summary_figures_and_filters(on_demo: Path) -> None:
    at = _page("executive")
    (gmv, sold, closed), *_ = _sql(
        on_demo, "select sum(gmv), sum(auctions_sold), sum(auctions_closed) from 'LAKE/gold/daily_revenue/*.parquet'"
    )
    shown = _metrics(at)
    assert _money(shown["GMV"]) == pytest.approx(float(gmv), abs=0.5)
    assert shown["Transactions"] == f"{sold:,}" and shown["Auctions closed"] == f"{closed:,}"
    assert len(_charts(at)) == 3
    # category filter: the GMV becomes that category's row of the top-categories table
    top = at.dataframe[0].value
    category, category_gmv = top.iloc[1]["category"], top.iloc[1]["gmv_usd"]
    at.sidebar.selectbox[0].select(category).run()
    assert _money(_metrics(at)["GMV"]) == pytest.approx(category_gmv, abs=0.5) != pytest.approx(float(gmv), abs=1)
    assert list(at.dataframe[0].value["category"]) == [category]
    # date filter: one day -> that day's sold auctions (all categories again)
    at.sidebar.selectbox[0].select("All categories").run()
    first = at.sidebar.date_input[0].value[0]
    at.sidebar.date_input[0].set_value((first, first)).run()
    (day_sold,), *_ = _sql(
        on_demo, f"select auctions_sold from 'LAKE/gold/daily_revenue/*.parquet' where date = DATE '{first}'"
    )
    assert _metrics(at)["Transactions"] == f"{day_sold:,}"


@pytest.mark.integration
def test_auction_performance_figures_and_category_filter(on_demo: Path) -> None:
    at = _page("auctions")
    (closed, sold), *_ = _sql(
        on_demo, "select sum(auctions_closed), sum(auctions_sold) from 'LAKE/gold/daily_revenue/*.parquet'"
    )
    shown = _metrics(at)
    assert shown["Auctions closed"] == f"{closed:,}"
    assert shown["Success rate"] == f"{sold / closed * 100:.1f} %"
    assert len(_charts(at)) == 5
    at.sidebar.selectbox[0].select("books").run()
    assert list(at.dataframe[0].value["category"]) == ["books"]
    (books,), *_ = _sql(
        on_demo,
        "select count(*) from 'LAKE/silver/auctions/*/*.parquet' where category = 'books' and status = 'closed'",
    )
    assert _metrics(at)["Auctions closed"] == f"{books:,}"


@pytest.mark.integration
def test_user_analytics_counts_every_bidder_and_names_top_bidders(on_demo: Path) -> None:
    at = _page("users")
    (bidders,), *_ = _sql(on_demo, "select count(*) from 'LAKE/gold/bidder_analytics/*.parquet'")
    assert _metrics(at)["Active bidders"] == f"{bidders:,}"
    assert len(_charts(at)) == 4
    top = at.dataframe[0].value
    assert len(top) == 20 and top["name"].notna().all()
    assert list(top["total_spend_usd"]) == sorted(top["total_spend_usd"], reverse=True)


@pytest.mark.integration
def test_real_time_monitor_counts_the_last_hour_of_scored_bids(on_demo: Path) -> None:
    at = _page("monitor")
    ((count,),) = _sql(
        on_demo,
        "with b as (select bid_time from 'LAKE/bronze/bids-scored/*/*.parquet') "
        "select count(*) from b where bid_time > (select max(bid_time) from b) - interval 1 hour",
    )
    shown = _metrics(at)
    assert shown["Bids, last hour"] == f"{count:,}"
    assert shown["Last batch"] == "batch: success"
    assert any("No running `python -m app run`" in i.value for i in at.info)


@pytest.mark.integration
def test_pipeline_runs_lists_the_recorded_runs(on_demo: Path) -> None:
    at = _page("runs")
    ((runs,),) = _sql(on_demo, "select count(*) from 'LAKE/ops/job_runs/*/*.parquet'")
    assert runs >= 1 and _metrics(at)["Runs"] == f"{runs:,}"
    assert len(_charts(at)) == 2


@pytest.mark.integration
def test_fraud_drill_down_from_bidder_to_bids_to_the_ladder_and_quality(on_demo: Path) -> None:
    at = _page("fraud")
    bidder = at.selectbox(key="fraud_bidder").options[1].split(" ")[0]
    at.selectbox(key="fraud_bidder").select_index(1).run()
    ((bids, auctions),) = _sql(
        on_demo,
        f"select count(*), count(distinct auction_id) from 'LAKE/silver/bids/*/*.parquet' where bidder_id = '{bidder}'",
    )
    assert any(t.value == f"bidder {bidder}: {bids:,} bids on {auctions:,} auctions" for t in at.text)
    auction = at.selectbox(key="fraud_auction").value
    ((ladder,),) = _sql(on_demo, f"select count(*) from 'LAKE/silver/bids/*/*.parquet' where auction_id = '{auction}'")
    assert len(at.dataframe[-2].value) == ladder  # the ladder, above the quality table
    # detection quality against the generator's labels, counted per bidder without the dashboards
    labelled = pl.read_parquet(on_demo / "silver/bids/*/*.parquet").filter(pl.col("fraud_label").is_not_null())
    alerted = set(pl.read_parquet(on_demo / "silver/fraud_alerts/*/*.parquet")["bidder_id"])
    assert set(pl.read_parquet(on_demo / "gold/alerted_bids/*.parquet")["bidder_id"]) == alerted
    fraudsters = set(labelled["bidder_id"])
    precision = len(alerted & fraudsters) / len(alerted)
    assert _metrics(at)["Precision (all alerted bidders)"] == f"{precision * 100:.1f} %"
    assert _metrics(at)["Labelled fraudsters"] == f"{len(fraudsters):,}"
    assert "synthetic ground truth" in " ".join(s.value for s in at.subheader)


# ---- degradation ---------------------------------------------------------------------------------


@pytest.fixture
def damaged(demo_lake: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(demo_lake, lake)
    _use(monkeypatch, lake, tmp_path / "run")
    return lake


@pytest.mark.integration
def test_a_corrupt_gold_table_is_named_and_the_rest_of_the_page_renders(damaged: Path) -> None:
    (damaged / "gold/seller_stats/seller_stats.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    at = _page("users")
    assert not at.exception
    assert [w.value for w in at.warning if "gold.seller_stats" in w.value], [w.value for w in at.warning]
    assert len(at.warning) == 1 and len(_charts(at)) == 4


@pytest.mark.integration
def test_missing_tables_are_named_and_the_rest_renders(damaged: Path) -> None:
    shutil.rmtree(damaged / "bronze/fraud-alerts")
    shutil.rmtree(damaged / "gold/alerted_bidders")
    monitor = _page("monitor")
    assert not monitor.exception
    warnings = [w.value for w in monitor.warning]
    assert warnings and all("bronze.fraud_alerts unavailable: not in the lake yet" in w for w in warnings), warnings
    assert len(_charts(monitor)) == 1  # bids per minute still drawn
    fraud = _page("fraud")
    assert not fraud.exception
    assert any("gold.alerted_bidders unavailable" in w.value for w in fraud.warning)
    assert fraud.metric  # the detection quality still renders


# ---- safety --------------------------------------------------------------------------------------


def test_every_dashboard_query_is_a_read_with_a_header_and_no_formatting() -> None:
    con = duckdb.connect()
    for path in sorted(data.QUERIES.glob("*.sql")):
        sql = path.read_text()
        header = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
        assert sql.startswith(f"-- {path.stem}:"), path.name
        assert all(part in header for part in ("grain:", "inputs:", "used by:")), path.name
        assert data.inputs(path.stem), path.name
        assert [str(s.type).rsplit(".", 1)[-1] for s in read_only_statements(con, sql)] == ["SELECT"], path.name
        assert not re.search(r"\{\w*\}|%s|read_parquet|'/", sql), path.name


def test_pages_never_render_html_or_unsafe_markdown() -> None:
    for path in (ROOT / "app/dashboards").glob("*.py"):
        text = path.read_text()
        assert "unsafe_allow_html" not in text and "st.html" not in text, path.name


@pytest.mark.integration
def test_widget_values_reach_duckdb_as_parameters(on_demo: Path) -> None:
    sneaky = "x' or '1'='1"
    found = data.load("fraud_bidder_bids", bidder=sneaky)
    assert not isinstance(found, data.Unavailable) and found.empty
    period = data.load("exec_daily", start=dt.date(2000, 1, 1), end=dt.date(2100, 1, 1), category="'; drop --")
    assert not isinstance(period, data.Unavailable) and period.empty


@pytest.mark.integration
def test_pages_read_a_lake_on_s3(demo_lake: Path, s3_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.infra.lake import Lake

    fs = Lake.from_settings(s3_settings).fs
    fs.put(str(demo_lake) + "/", s3_settings.lake_url.removeprefix("s3://") + "/", recursive=True)
    for key, value in {
        "AUCTION_LAKE_URL": s3_settings.lake_url, "AWS_ENDPOINT_URL": s3_settings.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    (gmv,), *_ = _sql(demo_lake, "select sum(gmv) from 'LAKE/gold/daily_revenue/*.parquet'")
    at = _page("executive")
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert _money(_metrics(at)["GMV"]) == pytest.approx(float(gmv), abs=0.5)
    fraud = _page("fraud")
    assert not fraud.exception and not fraud.warning and len(_charts(fraud)) == 3


def test_the_cache_version_moves_when_a_job_run_or_a_gold_table_lands(tmp_path: Path) -> None:
    from app.history import JobRun, record
    from pipelines.infra.lake import Lake
    from pipelines.infra.settings import Settings

    lake = Lake(str(tmp_path / "lake"))
    source = data.Source(Settings(lake_url=str(tmp_path / "lake")))
    versions = [source.version()]
    when = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    for _ in range(3):  # run ids sort in any order: every new file counts
        record(lake, JobRun("batch", "manual", when, when, "success", 1))
        versions.append(source.version())
    lake.write_parquet("gold/daily_revenue/daily_revenue.parquet", pl.DataFrame({"x": [1]}).to_arrow())
    versions.append(source.version())
    assert len(set(versions)) == len(versions)
    assert source.version() == versions[-1]
