"""`python -m app bench dashboard`: each page's data access and its render time in headless Chromium, on 10M bids.

1. **The lake**: `bench batch`'s cached bronze (same config, same cache: generated once), hard-linked into
   a lake of its own (``<cache>/dashboard-<bronze dir>/``) so that nothing here changes `bench batch`'s
   input. That bronze comes
   straight from the generator, with no stream worker, so it has no scores and no alerts; scoring 10M bids
   here would take the worker ~8 minutes. So once per cached lake this adds ``bids-scored`` and
   ``fraud-alerts`` bronze files next to each bids file (same names), with a *synthetic* score (labelled
   bids 0.55-0.94, others 0-0.49, by a hash of the bid id) and one alert per (bidder, auction) scoring
   0.6 or more -- volume for the Fraud page and the monitor, not detection -- then runs the batch (silver,
   gold) in a child process. A marker keyed by the queries' text says when that is done.
2. **Data access** (a child process): every page is run by Streamlit's AppTest and the time spent in
   :func:`app.dashboards.data.load` is summed per run; after one unmeasured run (the process's imports and
   first connection: once per server), ``--rounds`` runs with a cold cache (Streamlit's caches cleared and
   the views defined again, as after a new batch) and as many warm; p50/p95 of each.
3. **Rendered**: `python -m app dashboard` on a free port and Debian's Chromium through Playwright opening
   every page through the navigation (:func:`app.dashboards.browser.visit_pages`): seconds from the click
   to the title, no running script, and every chart drawn; opening the app's URL is reported on its own.
   Each round starts a fresh server (cold), then visits again (warm).

Goals (issue 15): data access p95 < 300 ms with a cold cache on every page; rendered page < 1.5 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from pipelines.infra.errors import UserError

GOALS = {"data_p95_cold_ms": 300.0, "render_s": 1.5}
QUERIES = Path(__file__).resolve().parents[2] / "queries"

SCORED = """
SELECT * EXCLUDE (_h), CASE WHEN fraud_score >= 0.5 THEN ['synthetic'] ELSE [] END::VARCHAR[] AS fraud_reasons
FROM (SELECT *, hash(bid_id) % 1000 AS _h,
             CASE WHEN fraud_label IS NOT NULL THEN 0.55 + (_h % 40) / 100 ELSE (_h % 50) / 100 END AS fraud_score
      FROM read_parquet(?))
"""
ALERTS = """
SELECT md5(bidder_id || '|' || auction_id) AS event_id, max(bid_time) AS event_time, 1 AS schema_version,
       md5(bidder_id || '|' || auction_id) AS alert_id, bidder_id, auction_id, max(fraud_score) AS score,
       ['synthetic']::VARCHAR[] AS reasons, min(bid_time) AS window_start, max(bid_time) AS window_end,
       '{}' AS stats, max(bid_time) AS alert_time, any_value(_broker_run) AS _broker_run,
       any_value(_partition) AS _partition, min(_offset) AS _offset, bidder_id AS _key, max(bid_time) AS _ingest_time
FROM scored WHERE fraud_score >= 0.6 GROUP BY bidder_id, auction_id ORDER BY alert_time, alert_id
"""


def _queries_version() -> str:
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(QUERIES.rglob("*.sql")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def add_scores(lake_dir: Path) -> dict[str, int]:
    """Synthetic ``bids-scored`` and ``fraud-alerts`` bronze for every bronze bids file (see the module doc)."""
    import duckdb

    from pipelines.contracts import bronze_schema
    from pipelines.infra.lake import Lake

    lake, con, counts = Lake(str(lake_dir)), duckdb.connect(), {"bids-scored": 0, "fraud-alerts": 0}
    con.execute("SET TimeZone = 'UTC'")
    for path in sorted((lake_dir / "bronze" / "bids").glob("*/*.parquet")):
        relative = path.relative_to(lake_dir / "bronze" / "bids")
        scored = con.execute(SCORED, [str(path)]).to_arrow_table()
        con.register("scored", scored)
        alerts = con.execute(ALERTS).to_arrow_table()
        con.unregister("scored")
        for topic, table in (("bids-scored", scored), ("fraud-alerts", alerts)):
            schema = bronze_schema(topic)
            lake.write_parquet(f"bronze/{topic}/{relative}", table.select(schema.names).cast(schema))
            counts[topic] += table.num_rows
    return counts


def linked_copy(source: Path, target: Path) -> Path:
    """``target`` with ``source``'s generated bronze (users, auctions, bids) as hard links (copies across
    file systems): the synthetic topics and this lake's silver/gold never touch `bench batch`'s input."""
    for path in sorted(source.glob("bronze/*/*/*.parquet")):
        linked = target / path.relative_to(source)
        if not linked.exists():
            linked.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, linked)
            except OSError:
                shutil.copy2(path, linked)
    return target


def _child(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise UserError(f"benchmark step failed (exit {done.returncode}); its error is above")
    return done.stdout.strip().splitlines()[-1]


def prepared_lake(cache: Path, bids: int, days: float, seed: int, env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    """`bench batch`'s bronze with synthetic scores and alerts, and silver/gold built by the current queries."""
    from app.benchmarks.batch import GENERATE_CHILD

    code = GENERATE_CHILD.format(cache=str(cache.resolve()), bids=bids, days=days, seed=seed)
    generated = json.loads(_child(code, env))
    lake_dir = linked_copy(Path(generated["lake"]), cache / f"dashboard-{Path(generated['lake']).name}")
    marker = lake_dir / "dashboard.json"
    wanted = _queries_version()
    if marker.exists() and json.loads(marker.read_text()).get("queries") == wanted:
        return lake_dir, {**json.loads(marker.read_text()), "cached": True}
    marker.unlink(missing_ok=True)
    if not (lake_dir / "bronze" / "fraud-alerts").exists():
        counts = json.loads(_child(f"import json; from app.benchmarks.dashboard import add_scores; from pathlib import "
                                   f"Path; print(json.dumps(add_scores(Path({str(lake_dir)!r}))))", env))  # fmt: skip
    else:
        counts = {}
    batch = subprocess.run([sys.executable, "-m", "app", "batch"], env={**env, "AUCTION_LAKE_URL": str(lake_dir)},
                           stdout=subprocess.DEVNULL)  # fmt: skip
    if batch.returncode:
        raise UserError("the batch on the benchmark lake failed; its error is above")
    info = {"queries": wanted, "generation": generated, "synthetic_scores": counts}
    marker.write_text(json.dumps(info))
    return lake_dir, {**info, "cached": False}


DATA_CHILD = """
import json, logging, time
logging.disable(logging.WARNING)
from streamlit.testing.v1 import AppTest
from app.dashboards import data, pages
from app.benchmarks.dashboard import page_script
out = {{}}
for spec in pages():
    module = spec.render.__module__.rsplit(".", 1)[-1]
    runs = {{"cold": [], "warm": []}}
    AppTest.from_function(page_script, args=(module,), default_timeout=300).run()  # warm-up: imports, connection
    for kind in ["cold"] * {rounds} + ["warm"] * {rounds}:
        if kind == "cold":
            data.clear()
        at = AppTest.from_function(page_script, args=(module,), default_timeout=300)
        with data.timing() as spent:
            began = time.perf_counter()
            at.run()
            script = time.perf_counter() - began
        if at.exception:
            raise SystemExit(spec.title + ": " + at.exception[0].value)
        runs[kind].append((sum(spent), len(spent), script, [w.value for w in at.warning]))
    out[spec.title] = runs
print(json.dumps(out))
"""


def page_script(module: str) -> None:
    """AppTest script of one page."""
    import importlib

    importlib.import_module(f"app.dashboards.{module}").page()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _stats(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(_pct(ms, 0.95), 1), "max_ms": round(max(ms), 1)}


def render_times(env: dict[str, str], rounds: int) -> dict[str, dict[str, list[Any]]]:
    """Per page title, the seconds to render in Chromium: a cold visit on a fresh server, then a warm one
    (None: not rendered within a minute), and the error boxes seen."""
    from app.dashboards.browser import browser_page, visit_pages
    from app.dashboards.server import pick_port, stop, wait_ready

    times: dict[str, dict[str, list[Any]]] = {}
    opens: dict[str, list[Any]] = {}
    for _ in range(rounds):
        port = pick_port("127.0.0.1", 0)
        server = subprocess.Popen([sys.executable, "-m", "app", "dashboard", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}/"
            if not wait_ready(server, base):
                raise UserError("the dashboard server did not start")
            with browser_page() as page:
                for kind in ("cold", "warm"):
                    for index, visit in enumerate(visit_pages(page, base, timeout_s=60)):
                        entry = times.setdefault(visit.title, {"cold": [], "warm": [], "errors": []})
                        entry[kind].append(visit.seconds)
                        entry["errors"] += visit.errors
                        if index == 0:
                            opens.setdefault(kind, []).append(visit.app_open_s)
        finally:
            stop(server)
    times["(open the app)"] = {"cold": opens.get("cold", []), "warm": opens.get("warm", []), "errors": []}
    return times


@click.command()
@click.option("--bids", default=10_000_000, show_default=True, type=click.IntRange(min=1000), help="Bids in the lake.")
@click.option("--days", default=7.0, show_default=True, type=click.FloatRange(min=1), help="Days the bids span.")
@click.option("--seed", default=7, show_default=True, help="Generator seed (the same lake as bench batch).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(min=1),
              help="Page loads per page with a cold cache (and as many warm).")  # fmt: skip
@click.option("--browser-rounds", default=2, show_default=True, type=click.IntRange(min=0),
              help="Fresh servers visited in Chromium (each: a cold and a warm visit of every page).")  # fmt: skip
@click.option("--cache", default="./data/bench", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where generated bronze is kept between runs (shared with bench batch).")  # fmt: skip
def command(bids: int, days: float, seed: int, rounds: int, browser_rounds: int, cache: Path) -> None:
    """Dashboards on a 10M-bid lake: per page data access p50/p95 (cold and warm cache) and render time in Chromium."""
    cache.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))}
    lake_dir, lake_info = prepared_lake(cache, bids, days, seed, env)
    env |= {"AUCTION_LAKE_URL": str(lake_dir), "AUCTION_RUNTIME_DIR": str(cache / "dashboard-run")}
    loads = json.loads(_child(DATA_CHILD.format(rounds=rounds), env))
    rendered = render_times(env, browser_rounds) if browser_rounds else {}
    result_pages = {}
    for title, runs in loads.items():
        cold, warm = runs["cold"], runs["warm"]
        entry: dict[str, Any] = {
            "queries_per_load": cold[0][1],
            "data_cold": _stats([r[0] for r in cold]),
            "data_warm": _stats([r[0] for r in warm]),
            "script_cold": _stats([r[2] for r in cold]),
            "warnings": sorted({w for r in cold for w in r[3]}),
        }
        if title in rendered:
            entry["render_cold_s"] = [None if s is None else round(s, 3) for s in rendered[title]["cold"]]
            entry["render_warm_s"] = [None if s is None else round(s, 3) for s in rendered[title]["warm"]]
            entry["render_errors"] = sorted(set(rendered[title]["errors"]))
        result_pages[title] = entry
    worst_cold = max(p["data_cold"]["p95_ms"] for t, p in result_pages.items() if t in loads)
    if "(open the app)" in rendered:
        result_pages["(open the app)"] = {
            "note": "opening the app's URL until the first page has rendered (a fresh server loads its page modules)",
            "render_cold_s": [None if s is None else round(s, 3) for s in rendered["(open the app)"]["cold"]],
            "render_warm_s": [None if s is None else round(s, 3) for s in rendered["(open the app)"]["warm"]],
        }
    renders = [s for t, p in result_pages.items() if t in loads for s in p.get("render_cold_s", [])]
    worst_render = float("inf") if None in renders else max(renders, default=0.0)
    result = {
        "benchmark": "dashboard",
        "lake": {"path": str(lake_dir), **lake_info},
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "browser_rounds": browser_rounds,
        "pages": result_pages,
        "goals_met": {
            "data access p95 < 300 ms (cold, every page)": worst_cold < GOALS["data_p95_cold_ms"],
            "rendered < 1.5 s (cold, every page)": bool(browser_rounds) and worst_render < GOALS["render_s"],
        },
    }
    click.echo(json.dumps(result, indent=2))
