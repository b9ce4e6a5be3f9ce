"""Reference data kept twice (the generator's prices in Python, gold's USD rates in SQL) must agree."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import CURRENCIES
from pipelines.generate.world import COUNTRIES, CURRENCY_CODES

ROOT = Path(__file__).resolve().parent.parent


def test_generator_currencies_are_the_contract_currencies() -> None:
    assert set(CURRENCY_CODES) == set(CURRENCIES)
    assert {currency for _, currency, _, _ in COUNTRIES.values()} <= set(CURRENCIES)


def test_generator_exchange_rates_agree_with_gold_usd_rates() -> None:
    sql = (ROOT / "queries" / "ref" / "fx_usd.sql").read_text()
    rates = dict(duckdb.sql(sql).fetchall())
    for country, (_, currency, per_usd, _) in COUNTRIES.items():
        assert float(rates[currency]) == pytest.approx(1 / per_usd, rel=0.02), country
