"""`run`'s status: ``AUCTION_RUNTIME_DIR/status.json`` every few seconds, and one console line each time.

The file (written atomically: temp file + rename) is what `python -m app status` and the dashboards read::

    {"updated_at", "pid", "broker", "lake", "dashboard_url",
     "workers": [{"name", "pid", "alive", "restarts", "started_at"}],
     "jobs": [{"id", "next_run", "last_run", "last_status"}],
     "lag": {"<topic>/<partition>": int}, "rates": {"produced_per_s", "scored_per_s"}}

Lag is what the generator produced (its delivery reports' end offsets) minus the group's committed
offsets: tansu's high watermarks are too low to count on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.jobs import Echo
from pipelines.infra.settings import Settings
from pipelines.infra.topics import committed_offsets

FILE = "status.json"


def status_path(settings: Settings) -> Path:
    return Path(settings.runtime_dir) / FILE


def write_status(path: Path, payload: dict[str, Any]) -> None:
    """Replace the status file atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def lag(ends: dict[tuple[str, int], int], committed: dict[tuple[str, int], int]) -> dict[str, int]:
    """Messages produced but not yet committed, per ``topic/partition``."""
    return {f"{t}/{p}": max(0, end - committed.get((t, p), 0)) for (t, p), end in sorted(ends.items())}


class StatusWriter(threading.Thread):
    """Every ``settings.status_every_s``: gather the parts' state, write the file, echo one line."""

    def __init__(
        self,
        settings: Settings,
        address: str,
        base: dict[str, Any],
        parts: Callable[[], dict[str, Any]],
        produced: Callable[[], tuple[int, dict[tuple[str, int], int]]],
        echo: Echo,
    ) -> None:
        super().__init__(name="status", daemon=True)
        self.settings, self.address, self.base, self.parts, self.produced, self.echo = (
            settings, address, base, parts, produced, echo,
        )  # fmt: skip
        self.stop_event = threading.Event()
        self.path = status_path(settings)
        self._last: tuple[float, int, int] | None = None
        self._committed: dict[tuple[str, int], int] = {}
        self._progress: tuple[int, str] = (-1, dt.datetime.now(dt.UTC).isoformat())

    def run(self) -> None:
        """The first file at once (a health check may come early), then one every ``status_every_s``."""
        first = True
        while first or not self.stop_event.wait(self.settings.status_every_s):
            try:
                payload = self.snapshot()
                write_status(self.path, payload)
                if not first:
                    self.echo(line(payload))
            except Exception as exc:  # status is best effort: never take `run` down
                self.echo(f"warning: status not updated: {exc}")
            first = False

    def snapshot(self) -> dict[str, Any]:
        count, ends = self.produced()
        try:
            committed = self._committed = committed_offsets(self.address, self.settings.consumer_group, 5)
        except Exception:  # the broker is slow to answer: keep the last known offsets (no false rate dip)
            committed = self._committed
        scored = sum(v for (t, _), v in committed.items() if t == "bids")
        moment = time.monotonic()
        rates = {"produced_per_s": 0.0, "scored_per_s": 0.0}
        if self._last is not None:
            elapsed = max(moment - self._last[0], 1e-3)
            rates = {
                "produced_per_s": round((count - self._last[1]) / elapsed, 1),
                "scored_per_s": round(max(0, scored - self._last[2]) / elapsed, 1),
            }
        self._last = (moment, count, scored)
        total = sum(committed.values())
        if total > self._progress[0]:  # the group committed something since the last look
            self._progress = (total, dt.datetime.now(dt.UTC).isoformat())
        return {
            **self.base,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
            "pid": os.getpid(),
            **self.parts(),
            "lag": lag(ends, committed),
            "rates": rates,
            "progress_at": self._progress[1],
        }


def line(payload: dict[str, Any]) -> str:
    """The console's status line: rates, total lag, workers, the last batch."""
    rates, lags = payload["rates"], payload["lag"]
    workers = payload.get("workers", [])
    alive = sum(1 for w in workers if w["alive"])
    batch = [j for j in payload.get("jobs", []) if j["id"] in ("refresh", "daily") and j["last_run"]]
    last = max(batch, key=lambda j: j["last_run"], default=None)
    last_text = f"{last['id']} {last['last_status']} at {last['last_run'][11:19]}" if last else "none yet"
    return (
        f"status: produced {rates['produced_per_s']:g}/s, scored {rates['scored_per_s']:g} bids/s, "
        f"lag {sum(lags.values())}, workers {alive}/{len(workers)} alive, last batch {last_text}"
    )
