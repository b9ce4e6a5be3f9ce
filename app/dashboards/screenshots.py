"""`make screenshots`: the README's pictures (``docs/img/<page>.png``) from a demo lake, in headless Chromium.

Builds the lake once under ``data/screenshots/`` with the real commands (`python -m app demo --events N
--days D` and `python -m app batch`), serves it with `python -m app dashboard` on a free port and saves one
full-page screenshot per page through :func:`app.dashboards.browser.visit_pages`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from app.dashboards.server import pick_port, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))}
    return {**env, "AUCTION_LAKE_URL": str(base / "lake"), "AUCTION_STATE_DIR": str(base / "state"),
            "AUCTION_RUNTIME_DIR": str(base / "run")}  # fmt: skip


def demo_lake(base: Path, events: int, days: float) -> None:
    """The demo lake under ``base``: the demo once (its bronze is kept between runs), then a batch each time
    (gold as the current queries make it, and a recorded run for the Pipeline Runs page)."""
    base.mkdir(parents=True, exist_ok=True)
    steps = [["batch"]]
    if not (base / "lake" / "bronze").exists():
        steps.insert(0, ["demo", "--events", str(events), "--days", str(days)])
    for args in steps:
        subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=_env(base), check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--lake", type=Path, default=ROOT / "data" / "screenshots")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--days", type=float, default=5.0)
    args = parser.parse_args(argv)
    from app.dashboards.browser import browser_page, visit_pages

    demo_lake(args.lake, args.events, args.days)
    port = pick_port("127.0.0.1", 0)
    server = subprocess.Popen([sys.executable, "-m", "app", "dashboard", "--port", str(port)], cwd=ROOT,
                              env=_env(args.lake))  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/"
        if not wait_ready(server, base):
            raise SystemExit("the dashboard server did not start")
        with browser_page() as page:
            for visit in visit_pages(page, base, shots=args.out):
                if visit.errors or visit.seconds is None:
                    raise SystemExit(f"{visit.title} shows an error: {visit.errors}")
                print(f"{visit.title}: {visit.screenshot} ({visit.seconds:.2f} s, {visit.charts} charts)")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
