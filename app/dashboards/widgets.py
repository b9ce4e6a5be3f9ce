"""What every page is made of: filters, money, titled charts, the empty state and the "table unavailable" line.

User-supplied strings (names, titles from imported files) only reach the screen through ``st.dataframe``,
``st.text`` or widget labels -- which show text -- never through Markdown or HTML.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app.dashboards.data import Unavailable, load, source

FILL = "python -m app demo --events 200000"
HINTS = {
    "gold": "run `python -m app batch` to build it",
    "silver": "run `python -m app batch` to build it",
    "bronze": "it fills while `python -m app run` streams (or `python -m app generate --to lake`)",
    "live": "it fills while `python -m app run` streams",
    "ops": "jobs are recorded by `python -m app batch`, `compact` and `run`",
}
ALL = "All categories"


def usd(value: Any, cents: bool = True) -> str:
    """``$1,234,567.89`` (``$1,234,568`` without cents); a dash for nothing."""
    if value is None or pd.isna(value):
        return "—"
    return f"${value:,.2f}" if cents else f"${value:,.0f}"


def count(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{int(value):,}"


def percent(value: Any, digits: int = 1) -> str:
    return "—" if value is None or pd.isna(value) else f"{value * 100:.{digits}f} %"


def got(result: pd.DataFrame | Unavailable) -> pd.DataFrame | None:
    """The frame, or None after saying which table is unavailable (the page carries on)."""
    if isinstance(result, Unavailable):
        layer = result.tables[0].split(".")[0] if result.tables else ""
        st.warning(f"{result} — {HINTS.get(layer, 'check the lake')}", icon="⚠️")
        return None
    return result


def lake_is_empty() -> bool:
    """True after showing the empty state: the lake holds no bronze, silver or gold table yet."""
    try:
        empty = source().empty
    except Exception as exc:  # the lake cannot even be listed (S3 down, bad path)
        st.error(f"The lake cannot be read: {str(exc).splitlines()[0] if str(exc) else exc}", icon="🚫")
        return True
    if empty:
        st.info(
            f"The lake at `{source().settings.lake_url}` has no data yet. Fill it with a bounded demo run:\n\n"
            f"```\n{FILL}\n```\nor run the whole pipeline with `python -m app run`; this page shows it once a "
            "batch has landed.",
            icon="📭",
        )
    return empty


def period(key: str, bounds: pd.DataFrame | None) -> tuple[dt.date, dt.date] | None:
    """The sidebar's date range (UTC days), within the data's first and last day; None when there are none."""
    if bounds is None or bounds.empty or pd.isna(bounds.iloc[0]["first_day"]):
        return None
    first, last = (pd.Timestamp(bounds.iloc[0][c]).date() for c in ("first_day", "last_day"))
    chosen = st.sidebar.date_input(
        "Date range (UTC)", value=(first, last), min_value=first, max_value=last, key=f"{key}_dates"
    )
    days = [d for d in (chosen if isinstance(chosen, tuple | list) else (chosen,)) if d is not None]
    return (days[0], days[-1]) if days else (first, last)


def category(key: str, categories: Any) -> str | None:
    """The sidebar's category filter; None = all categories."""
    names = [str(c) for c in (categories if categories is not None else [])]
    picked = st.sidebar.selectbox("Category", [ALL, *names], key=f"{key}_category")
    return None if picked == ALL else picked


def chart(
    frame: pd.DataFrame,
    kind: str,
    x: str,
    y: str,
    title: str,
    x_title: str,
    y_title: str,
    color: str | None = None,
    sort: Any = None,
    x_type: str | None = None,
) -> None:
    """A titled Altair chart (``kind``: bar, line or point) whose axes name their units."""
    figure = alt.Chart(frame, title=alt.Title(title))
    base = (
        figure.mark_bar() if kind == "bar" else figure.mark_line(point=True) if kind == "line" else figure.mark_point()
    )
    x_field = f"{x}:{x_type}" if x_type else x
    encoding: dict[str, Any] = {
        "x": alt.X(x_field, title=x_title),
        "y": alt.Y(y, title=y_title, sort=sort),  # horizontal bars: "-x" lists the largest first
        "tooltip": list(frame.columns),
    }
    if color:
        encoding["color"] = alt.Color(color, title=color.replace("_", " "))
    st.altair_chart(base.encode(**encoding), width="stretch")


def table(frame: pd.DataFrame, money: tuple[str, ...] = (), shares: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """``st.dataframe`` with money as dollars with thousands separators and shares as percentages."""
    config: dict[str, Any] = {c: st.column_config.NumberColumn(c, format="dollar") for c in money if c in frame}
    config |= {c: st.column_config.NumberColumn(c, format="percent") for c in shares if c in frame}
    return st.dataframe(frame, hide_index=True, column_config=config, **kwargs)


def previous(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length just before ``[start, end]``."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


def change(now: float, before: float) -> str | None:
    """Relative change for ``st.metric``'s delta; None when there is nothing to compare with."""
    if not before:
        return None
    return f"{(now - before) / before * 100:+.1f} % vs previous period"


def bounds_load(name: str) -> pd.DataFrame | None:
    return got(load(name))


def auction_filters(key: str, empty: str) -> tuple[dt.date, dt.date, str | None] | None:
    """The auction pages' sidebar: a date range and a category over ``auction_results``' bounds; None (with
    ``empty`` shown) when the lake or gold has nothing to filter yet."""
    if lake_is_empty():
        return None
    bounds = bounds_load("exec_bounds")
    chosen = period(key, bounds)
    if chosen is None:
        st.info(empty)
        return None
    start, end = chosen
    return start, end, category(key, bounds.iloc[0]["categories"] if bounds is not None else [])
