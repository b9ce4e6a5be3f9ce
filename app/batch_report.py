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


def counts(table: str, frame: pl.DataFrame) -> list[TableDay]:
    """Per bronze day: rows by fate (``_fate``), quarantined rows by rule (``_rule``)."""
    reports: dict[dt.date, TableDay] = {}
    by_fate = frame.group_by(["_bronze_date", "_fate"]).len().sort(["_bronze_date", "_fate"])
    for day, fate, n in by_fate.iter_rows():
        report = reports.setdefault(day, TableDay(table, day))
        report.bronze += n
        if fate == "duplicate":
            report.duplicates += n
        elif fate != "quarantine":
            setattr(report, fate, n)
    quarantined = frame.filter(pl.col("_fate") == "quarantine")
    for day, rule, n in (
        quarantined.group_by(["_bronze_date", "_rule"]).len().sort(["_bronze_date", "_rule"]).iter_rows()
    ):
        reports[day].quarantined[rule] = n
    return list(reports.values())
