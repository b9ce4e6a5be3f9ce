"""A real browser on the served dashboards: Debian's headless Chromium driven by Playwright.

Opening the app's URL is timed on its own (the browser loads the app, the server its page modules on a
first visit); every page, the first one too, is then timed from the click on its navigation link.

Playwright's own browser download needs the internet, so it drives the system's ``chromium`` (apt)
through ``executable_path``. :func:`visit_pages` opens every page through the sidebar navigation, as a
user would, and waits until the page has rendered: its title is the page's, Streamlit is no longer
running the script, every chart has drawn (a canvas or an SVG in each Vega-Lite element), and nothing has
changed for half a second (the time reported is that of the last change). It reports
per page the seconds that took, the charts and any error box; with a directory, it saves a screenshot.
Used by the real-browser test, ``make screenshots`` and ``python -m app bench dashboard``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.dashboards import pages
from pipelines.infra.errors import UserError

VIEWPORT = {"width": 1400, "height": 1000}
STATE = """() => {
  const h1 = document.querySelector('h1');
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return [h1 ? h1.innerText.trim() : '',
          !!document.querySelector('[data-testid="stStatusWidget"]'),
          document.querySelectorAll('[data-stale="true"]').length,
          charts.length, charts.filter(c => c.querySelector('canvas, svg')).length,
          document.querySelectorAll('[data-testid="stElementContainer"]').length];
}"""
SETTLED_S = 0.5
"""A page counts as rendered once nothing has changed for this long; its time is that of the last change."""
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'


@dataclass(frozen=True)
class Visit:
    title: str
    url: str
    seconds: float | None
    """None: it did not render in time (see errors)."""
    charts: int
    errors: list[str]
    screenshot: str | None
    app_open_s: float | None = None
    """The first page only: seconds from opening the app's URL until that page had rendered."""


def chromium() -> str:
    """The system Chromium (apt's ``chromium``), or a one-line error saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise UserError("no Chromium found: install Debian's browser (apt-get install -y chromium)")


@contextlib.contextmanager
def browser_page() -> Iterator[Any]:
    """A fresh headless Chromium page (Playwright), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise UserError("the browser needs Playwright: pip install 'playwright>=1.48,<2'") from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]})
        finally:
            browser.close()


def visit_pages(page: Any, base_url: str, shots: Path | None = None, timeout_s: float = 60.0) -> list[Visit]:
    """Open ``base_url`` and every page of its sidebar navigation in turn; see the module docstring."""
    slugs = {spec.title: spec.url_path for spec in pages()}
    began = time.perf_counter()
    page.goto(base_url, wait_until="domcontentloaded")
    links = page.locator('[data-testid="stSidebarNav"] a')
    links.first.wait_for(timeout=timeout_s * 1000)
    titles = [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]
    opened = rendered(page, titles[0], began, timeout_s)
    visits: dict[int, Visit] = {}
    # the first page is visited last, through the navigation like the others: opening the app was its first load
    for index in [*range(1, len(titles)), 0]:
        title = titles[index]
        began = time.perf_counter()
        links.nth(index).click()
        seconds = rendered(page, title, began, timeout_s)
        if seconds is None:
            errors = [f"not rendered within {timeout_s:g} s (title, idle script, every chart drawn)"]
        else:
            errors = [e.inner_text() for e in page.locator(ERRORS).all()]
        shot = None
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            shot = str(shots / f"{slugs.get(title, f'page-{index}')}.png")
            page.screenshot(path=shot, full_page=True)
        charts = page.locator('[data-testid="stVegaLiteChart"]').count()
        visits[index] = Visit(title, page.url, seconds, charts, errors, shot, opened if index == 0 else None)
    return [visits[i] for i in range(len(titles))]


def rendered(page: Any, title: str, began: float, timeout_s: float) -> float | None:
    """Seconds from ``began`` until the page showed ``title`` with its script idle, nothing stale and every
    chart drawn, and then stayed unchanged for :data:`SETTLED_S` (charts arrive one by one: a page whose
    script is still sending them is not done). None if that did not happen within ``timeout_s``."""
    last: list[Any] | None = None
    changed = began
    while time.perf_counter() - began < timeout_s:
        state = page.evaluate(STATE)
        now = time.perf_counter()
        if state != last:
            last, changed = state, now
        heading, running, stale, charts, drawn, _ = state
        done = heading == title and not running and not stale and charts and drawn == charts
        if done and now - changed >= SETTLED_S:
            return changed - began
        page.wait_for_timeout(25)
    return None
