"""Settings: environment names are the contract, secrets are masked, bad values are one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.broker_address == ""
    assert settings.lake_url == "./data/lake"
    assert settings.database_url.get_secret_value() == ""
    assert settings.storage_options() == {}


def test_contract_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUCTION_BROKER_ADDRESS", "redpanda:9092")
    monkeypatch.setenv("AUCTION_LAKE_URL", "s3://lake/prefix/")
    monkeypatch.setenv("AUCTION_DATABASE_URL", "postgresql://u:hunter2@db/auction")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "topsecret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = load_settings()
    assert settings.broker_address == "redpanda:9092"
    assert settings.lake_url == "s3://lake/prefix"
    opts = settings.storage_options()
    assert opts["endpoint_url"] == "http://minio:9000"
    assert opts["key"] == "minio" and opts["secret"] == "topsecret"
    assert opts["client_kwargs"] == {"region_name": "eu-west-1"}
    # secrets never appear in repr or logs
    text = repr(settings) + str(settings)
    assert "hunter2" not in text and "topsecret" not in text


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUCTION_PARTITIONS=7\nAUCTION_LAKE_URL=/tmp/elsewhere\n")
    settings = load_settings()
    assert settings.partitions == 7
    assert settings.lake_url == "/tmp/elsewhere"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.partitions = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AUCTION_PARTITIONS", "many", "AUCTION_PARTITIONS='many'"),
        ("AUCTION_PARTITIONS", "0", "AUCTION_PARTITIONS='0'"),
        ("AUCTION_BROKER_ADDRESS", "no-port", "AUCTION_BROKER_ADDRESS='no-port'"),
        ("AUCTION_LAKE_URL", "gs://bucket", "AUCTION_LAKE_URL='gs://bucket'"),
    ],
)
def test_bad_value_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UserError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("bad configuration: ") and expected in message


def test_readme_configuration_table_matches_settings() -> None:
    """Every setting is documented in the README table, and the table documents nothing else."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M))
    expected = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        expected.add(choices[0] if choices else f"AUCTION_{name.upper()}")
    assert documented == expected
