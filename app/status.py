"""`python -m app status`: is the pipeline healthy? Each part, then an exit code (0 healthy, 1 not).

It reads the status file of a live `python -m app run` (``AUCTION_RUNTIME_DIR/status.json``: workers,
jobs, lag, rates, dashboards' URL), then probes for itself: the broker answers, the pipeline's topics
exist, the group's committed offsets per partition, and the lake's newest bronze and gold files.
Unhealthy: no live `run` (or its file is stale), the broker unreachable, a topic missing, a worker dead,
a job whose last run failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from app.status_file import status_path
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.infra.topics import TOPICS, committed_offsets


def read_status_file(settings: Settings) -> dict[str, Any] | None:
    """The status file of a `run` whose process is alive; None otherwise."""
    try:
        payload: dict[str, Any] = json.loads(status_path(settings).read_text())
        os.kill(int(payload["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return payload


def _probe_broker(address: str, settings: Settings) -> dict[str, Any]:
    from app.broker import wait_until_ready
    from pipelines.infra.errors import UserError
    from pipelines.infra.topics import describe_topics

    timeout = min(settings.broker_timeout_s, 5.0)
    try:
        wait_until_ready(address, timeout)
        topics = {t.name: t.partitions for t in describe_topics(address, timeout)}
        committed = committed_offsets(address, settings.consumer_group, timeout)
    except (UserError, Exception) as exc:
        return {"address": address, "reachable": False, "error": str(exc).splitlines()[0] if str(exc) else "?"}
    return {
        "address": address,
        "reachable": True,
        "topics": {name: topics.get(name) for name in TOPICS},
        "committed": {f"{t}/{p}": o for (t, p), o in sorted(committed.items())},
    }


def _newest(lake: Lake, relpath: str) -> dict[str, Any] | None:
    """The most recently modified Parquet file under a lake directory: its path and time."""
    try:
        found = lake.fs.find(lake.path(relpath), detail=True)
    except (FileNotFoundError, OSError):
        return None
    best: tuple[float, str] | None = None
    for path, info in found.items():
        if not path.endswith(".parquet") or os.path.basename(path).startswith("."):
            continue
        modified = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
        stamp = modified.timestamp() if isinstance(modified, dt.datetime) else float(modified)
        if best is None or stamp > best[0]:
            best = (stamp, path)
    if best is None:
        return None
    when = dt.datetime.fromtimestamp(best[0], dt.UTC)
    return {"path": best[1], "modified": when.isoformat(), "age_s": round(_age(when), 1)}


def _age(when: dt.datetime) -> float:
    return (dt.datetime.now(dt.UTC) - when).total_seconds()


def report(settings: Settings) -> dict[str, Any]:
    """The health report: each part's state and the list of problems (empty: healthy)."""
    problems: list[str] = []
    run = read_status_file(settings)
    if run is None:
        problems.append(f"no `python -m app run` is running (no live status file at {status_path(settings)})")
    elif _age(dt.datetime.fromisoformat(run["updated_at"])) > 3 * settings.status_every_s + 15:
        problems.append(f"the status file of run pid={run['pid']} is stale (updated {run['updated_at']})")
    address = (run or {}).get("broker") or settings.broker_address
    broker = _probe_broker(address, settings) if address else None
    if broker is None:
        problems.append("no broker to probe (no running `run`, AUCTION_BROKER_ADDRESS empty)")
    elif not broker["reachable"]:
        problems.append(f"broker {address} unreachable: {broker['error']}")
    else:
        missing = [name for name, partitions in broker["topics"].items() if partitions is None]
        if missing:
            problems.append(f"topics missing: {', '.join(missing)}")
    for worker in (run or {}).get("workers", []):
        if not worker["alive"]:
            problems.append(f"{worker['name']} is not running (restarts: {worker['restarts']})")
    if run is not None and run.get("progress_at"):
        behind, still = sum(run.get("lag", {}).values()), _age(dt.datetime.fromisoformat(run["progress_at"]))
        if behind and still > settings.stall_after_s:
            problems.append(
                f"the stream workers committed nothing for {still:.0f} s with {behind} messages waiting (stalled)"
            )
    for job in (run or {}).get("jobs", []):
        if job["last_status"] == "failed":
            problems.append(f"job {job['id']} failed at {job['last_run']} (see ops.job_runs)")
    lake = Lake.from_settings(settings)
    lake_part = {"url": lake.url, "newest_bronze": _newest(lake, "bronze"), "newest_gold": _newest(lake, "gold")}
    return {"healthy": not problems, "problems": problems, "run": run, "broker": broker, "lake": lake_part}


def lines(health: dict[str, Any]) -> list[str]:
    """The report for a terminal."""
    out = [f"health: {'OK' if health['healthy'] else 'UNHEALTHY'}"]
    out += [f"  problem: {p}" for p in health["problems"]]
    run, broker, lake = health["run"], health["broker"], health["lake"]
    if run:
        rates = run.get("rates", {})
        out.append(f"run: pid={run['pid']} updated {run['updated_at']}; dashboards {run.get('dashboard_url') or '-'}")
        out.append(f"  rates: produced {rates.get('produced_per_s', 0):g}/s, scored {rates.get('scored_per_s', 0):g}/s")
        for w in run.get("workers", []):
            state = "alive" if w["alive"] else "DEAD"
            out.append(f"  {w['name']}: pid={w['pid']} {state} restarts={w['restarts']} since {w['started_at']}")
        for j in run.get("jobs", []):
            out.append(
                f"  job {j['id']}: last {j['last_run'] or '-'} {j['last_status'] or ''} next {j['next_run'] or '-'}"
            )
        lag = run.get("lag", {})
        out.append("  lag: " + (" ".join(f"{k}={v}" for k, v in lag.items()) or "-"))
    if broker:
        if broker["reachable"]:
            present = sum(1 for p in broker["topics"].values() if p is not None)
            out.append(f"broker: {broker['address']} reachable; topics {present}/{len(broker['topics'])}")
            committed = " ".join(f"{k}={v}" for k, v in broker["committed"].items()) or "-"
            out.append(f"  committed offsets: {committed}")
        else:
            out.append(f"broker: {broker['address']} UNREACHABLE")
    for layer in ("bronze", "gold"):
        newest = lake[f"newest_{layer}"]
        text = f"{newest['path']} ({newest['age_s']:g} s ago)" if newest else "none"
        out.append(f"lake {lake['url']}: newest {layer} {text}")
    return out
