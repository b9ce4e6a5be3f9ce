"""The Streamlit dashboards: one module per page (each a ``page()`` function), one data-access module.

``streamlit_app.py`` (at the root) only builds the navigation from :data:`PAGES`. ``data`` is the only
module that reads the lake (the SQL shell's views, read-only, cached per batch); ``widgets`` holds what the
pages share (filters, money, titled charts, the empty state); ``server`` runs `streamlit run` for
`python -m app dashboard` and `python -m app run`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class PageSpec(NamedTuple):
    title: str
    url_path: str
    icon: str
    render: Callable[[], None]


def pages() -> list[PageSpec]:
    """The six pages in navigation order (imported here, so ``server`` does not pull in Streamlit)."""
    from app.dashboards import auctions, executive, fraud, monitor, runs, users

    return [
        PageSpec(executive.TITLE, "executive", ":material/monitoring:", executive.page),
        PageSpec(auctions.TITLE, "auctions", ":material/gavel:", auctions.page),
        PageSpec(users.TITLE, "users", ":material/group:", users.page),
        PageSpec(monitor.TITLE, "monitor", ":material/sensors:", monitor.page),
        PageSpec(runs.TITLE, "runs", ":material/event_repeat:", runs.page),
        PageSpec(fraud.TITLE, "fraud", ":material/policy:", fraud.page),
    ]
