"""What a batch run did: per day and table, where every bronze row went; then gold and the checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl


@dataclass
class TableDay:
    """What the batch did with one table's bronze rows of one day."""

    table: str
    day: dt.date
    bronze: int = 0
    silver: int = 0
    duplicates: int = 0
    superseded: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)

    def balanced(self) -> bool:
        return self.bronze == self.silver + self.duplicates + self.superseded + sum(self.quarantined.values())

    def line(self) -> str:
        rules = ", ".join(f"{rule}={n}" for rule, n in sorted(self.quarantined.items()))
        text = (
            f"{self.day} {self.table:<12} bronze={self.bronze} silver={self.silver} "
            f"quarantined={sum(self.quarantined.values())}{f' ({rules})' if rules else ''} "
            f"duplicates={self.duplicates}"
        )
        return text + (f" superseded={self.superseded}" if self.table in ("users", "auctions") else "")


@dataclass
class BatchResult:
    days: list[dt.date]
    tables: list[TableDay]
    gold: dict[str, int]
    checks: dict[str, int] = field(default_factory=dict)
    #: wall seconds per phase: silver, gold, checks
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What the run did, one line per day and table, then the gold tables."""
        gold = " ".join(f"{name}={rows}" for name, rows in self.gold.items())
        order = ["users", "auctions", "bids", "fraud_alerts"]
        tables = sorted(self.tables, key=lambda t: (t.day, order.index(t.table)))
        failed = [f"check {name} FAILED: {n} rows (queries/checks/{name}.sql)" for name, n in self.checks.items() if n]
        checks = failed or [f"checks: {len(self.checks)} passed" if self.checks else "checks: skipped"]
        return [t.line() for t in tables] + [f"gold rows: {gold}", *checks]


def tally(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows per (bronze day, fate, rule) of a classified frame: the input of :func:`counts`."""
    return frame.group_by(["_bronze_date", "_fate", "_rule"]).len()


def counts(table: str, tallied: pl.DataFrame) -> list[TableDay]:
    """Per bronze day: rows by fate, quarantined rows by rule (from a :func:`tally`)."""
    reports: dict[dt.date, TableDay] = {}
    for day, fate, rule, n in tallied.sort(["_bronze_date", "_fate", "_rule"]).iter_rows():
        report = reports.setdefault(day, TableDay(table, day))
        report.bronze += n
        if fate == "quarantine":
            report.quarantined[rule] = n
        elif fate == "duplicate":
            report.duplicates += n
        else:
            setattr(report, fate, getattr(report, fate) + n)
    return list(reports.values())
