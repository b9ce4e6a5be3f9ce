"""The deployment artefacts speak the settings' language: every AUCTION_*/AWS_* variable that compose.yaml,
the Dockerfile, the ECS task definition (terraform) or .env.example sets is a real setting, the values
compose and the image give the app load, and the image's health check and command are real subcommands.

The artefacts' own tools (hadolint, compose config, terraform validate/test, checkov) run in .ci/deploy-checks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from app.cli import cli
from pipelines.infra.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP_VARIABLE = re.compile(r"^(AUCTION|AWS)_[A-Z0-9_]+$")


def setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        choices = getattr(field.validation_alias, "choices", None)
        names.add(str(choices[0]) if choices else f"AUCTION_{name.upper()}")
    return names


def compose_app_environment() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    environment = compose["services"]["app"]["environment"]
    assert isinstance(environment, dict), "write the app's environment as a mapping"
    return {str(k): str(v) for k, v in environment.items()}


def interpolate(value: str) -> str:
    """compose's ${VAR}, ${VAR:-default} and ${VAR:?message}, with a placeholder for required variables."""
    return re.sub(
        r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}",
        lambda m: m.group(3) if m.group(2) == "-" else f"placeholder-{m.group(1).lower()}",
        value,
    )


def dockerfile_environment() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", line)))
    return env


def terraform_environment_names() -> set[str]:
    names = set()
    for path in (ROOT / "terraform").rglob("*.tf"):
        names.update(re.findall(r'\bname\s*=\s*"((?:AUCTION|AWS)_[A-Z0-9_]+)"', path.read_text()))
    return names


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))


@pytest.mark.parametrize(
    ("artefact", "names"),
    [
        ("compose.yaml (service app)", lambda: set(compose_app_environment())),
        ("Dockerfile", lambda: set(dockerfile_environment())),
        ("terraform (ECS task definition)", terraform_environment_names),
        (".env.example", env_example_names),
    ],
)
def test_artefacts_set_only_existing_settings(artefact: str, names: object) -> None:
    found = {name for name in names() if APP_VARIABLE.match(name)}  # type: ignore[operator]
    assert found, f"{artefact}: no AUCTION_*/AWS_* variable found (did the parser break?)"
    unknown = found - setting_names()
    assert not unknown, f"{artefact} sets variables that no setting reads: {sorted(unknown)}"


def test_env_example_documents_every_setting() -> None:
    missing = setting_names() - env_example_names()
    assert not missing, f".env.example does not list these settings (add a line with the default): {sorted(missing)}"


def test_the_app_loads_the_environment_compose_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in compose_app_environment().items():
        monkeypatch.setenv(name, interpolate(value))
    settings = load_settings()
    assert settings.broker_address == "redpanda:9092"
    assert settings.lake_url == "s3://auction-lake/lake"
    assert settings.storage_options()["endpoint_url"] == "http://minio:9000"
    assert settings.database_url.get_secret_value().startswith("postgresql://auction:placeholder-postgres_password@")
    assert settings.dashboard_host == "0.0.0.0"


def test_the_image_environment_loads_and_binds_the_dashboards_to_all_interfaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = dockerfile_environment()
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if APP_VARIABLE.match(name):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.dashboard_host == "0.0.0.0" and settings.dashboard_port == 8501
    assert str(settings.runtime_dir).startswith("/data") and settings.lake_url.startswith("/data")
    assert re.search(r"^EXPOSE .*\b8501\b", (ROOT / "Dockerfile").read_text(), flags=re.M)


def test_compose_requires_its_secrets_and_waits_for_healthy_services() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    text = (ROOT / "compose.yaml").read_text()
    for secret in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.search(r"\$\{" + secret + r":\?[^}]+\}", text), f"{secret} must be required (${{{secret}:?…}})"
    conditions = {name: dep["condition"] for name, dep in compose["services"]["app"]["depends_on"].items()}
    assert conditions == {
        "redpanda": "service_healthy",
        "minio-init": "service_completed_successfully",
        "postgres": "service_healthy",
    }
    for name in ("redpanda", "minio", "postgres"):
        assert "healthcheck" in compose["services"][name], f"{name} needs a healthcheck"
    assert "rpk" in str(compose["services"]["redpanda"]["healthcheck"]["test"])


def test_image_health_check_and_command_are_real_subcommands() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    health = re.search(r'^HEALTHCHECK .*CMD \["python", "-m", "app", "([a-z-]+)"\]', text, flags=re.M)
    command = re.search(r'^CMD \["([a-z-]+)"\]', text, flags=re.M)
    assert health and command
    assert health.group(1) == "status"
    assert {health.group(1), command.group(1)} <= set(cli.commands)
    assert re.search(r"^USER [1-9][0-9]*", text, flags=re.M), "the image must not run as root"


@pytest.mark.integration
def test_the_image_command_gets_healthy_and_drains_on_sigterm() -> None:
    """What the container does: `python -m app run`, HEALTHCHECK `status` exits 0, `docker stop` (SIGTERM) drains
    and exits 0 — measured by `bench startup` on this interpreter and source tree, one run."""
    import json

    from click.testing import CliRunner

    from app.benchmarks.startup import command

    result = CliRunner().invoke(command, ["--python", sys.executable, "--source", str(ROOT), "--runs", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (run,) = report["runs"]
    assert run["healthy_s"] is not None, run
    assert run["status_probes_started_took_exit"][-1][2] == 0
    assert run["exit_code"] == 0 and run["last_lines"][-1] == "stopped", run
    assert report["environment_mb"] > 0
