"""The CLI: help on every command, one-line errors with the right exit codes, commands documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=60
    )


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", _all_commands(cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = _run(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m app " + " ".join(path) in result.stdout
    # the first help line says what the command does
    assert len(result.stdout.split("\n\n")[1].strip()) > 10


def test_top_level_help_lists_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for name in ("topics", "tail", "bench"):
        assert name in result.stdout


@pytest.mark.parametrize("args", [("--no-such-flag",), ("no-such-command",), ("tail",), ("tail", "bids", "-n", "zero")])
def test_usage_errors_are_one_line_with_exit_2(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_bad_configuration_is_one_line_with_exit_1(tmp_path: Path) -> None:
    result = _run("topics", env={"AUCTION_PARTITIONS": "lots"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: bad configuration: AUCTION_PARTITIONS='lots': Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_unreachable_broker_is_one_line_within_10s() -> None:
    from app.broker import free_port

    result = _run("topics", env={"AUCTION_BROKER_ADDRESS": f"127.0.0.1:{free_port()}", "AUCTION_BROKER_TIMEOUT_S": "3"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: broker at 127.0.0.1:") and result.stderr.count("\n") == 1


def test_tail_without_a_running_broker_says_what_to_do(tmp_path: Path) -> None:
    result = _run("tail", "bids", env={"AUCTION_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "python -m app run" in result.stderr and "Traceback" not in result.stderr


def test_topics_with_embedded_broker_creates_every_topic() -> None:
    result = _run("topics")
    assert result.returncode == 0, result.stderr
    for topic in ("users", "auctions", "bids", "bids-scored", "fraud-alerts", "dead-letters"):
        assert any(line.startswith(topic + " ") and "retention.ms=" in line for line in result.stdout.splitlines())


def test_readme_lists_every_top_level_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for (name,) in [p for p in _all_commands(cli) if len(p) == 1]:
        assert f"python -m app {name}" in readme, f"README does not document `{name}`"


def test_importing_the_app_and_its_stream_prints_nothing() -> None:
    """authlib (quixstreams -> confluent_kafka's schema registry) warns on import that httpx is deprecated,
    under a filter of its own set to "always": every command's stderr carried the two lines."""
    code = "import app, pipelines.stream.graph, quixstreams"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
