"""The dashboards in a real browser: `python -m app dashboard` on a free port, Debian's headless Chromium
(Playwright with ``executable_path``) opening every page through the navigation, with a screenshot each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dashboard_lakes import env_for

from app.broker import free_port
from app.dashboards import pages
from app.dashboards.browser import browser_page, visit_pages
from app.dashboards.server import stop, wait_ready

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_every_page_renders_in_chromium_with_a_chart_and_no_error(demo_lake: Path, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(demo_lake.parent)
    log = (tmp_path / "dashboard.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "app", "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/"
        assert wait_ready(server, base), (tmp_path / "dashboard.log").read_text()
        with browser_page() as page:
            visits = visit_pages(page, base, shots=tmp_path / "shots")
    finally:
        stop(server)
        log.close()
    assert [v.title for v in visits] == [p.title for p in pages()]
    for visit in visits:
        assert visit.charts >= 1 and not visit.errors, visit
        assert visit.screenshot and Path(visit.screenshot).stat().st_size > 10_000, visit
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == sorted(f"{p.url_path}.png" for p in pages())
    assert "Traceback" not in (tmp_path / "dashboard.log").read_text()
