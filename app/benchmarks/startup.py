"""`python -m app bench startup`: cold start of `python -m app run` to a healthy `python -m app status`.

What a container's HEALTHCHECK sees: the interpreter (``--python``, e.g. a venv built like the
Dockerfile's install step) runs ``python -m app run`` on the embedded defaults in the source tree
(``--source``, the image's /app) with a fresh lake, state and runtime directory; ``status`` is polled
every ``--poll`` seconds until it exits 0 (``healthy_s``: when that probe returned; each probe's
start, duration and exit code are listed, since a probe during the broker's start waits for it).
Then SIGTERM (what ``docker stop`` sends) and the time until ``run`` has drained and exited.
The baseline of the same run is ``python -m app --help`` (the interpreter and the CLI's imports),
so ``healthy_over_floor`` says how much of the start is the pipeline itself. Also reports the size
of the interpreter's environment (``du`` of ``sys.prefix``).

Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTION_")}
    env.update(
        AUCTION_LAKE_URL=str(tmp / "lake"),
        AUCTION_STATE_DIR=str(tmp / "state"),
        AUCTION_RUNTIME_DIR=str(tmp / "run"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONPATH", None)  # the source tree is the working directory, as in the image
    return env


def _prefix_mb(python: str) -> float:
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    total = sum(p.stat().st_size for p in Path(prefix).rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 2**20, 1)


def _floor_s(python: str, source: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([python, "-m", "app", "--help"], cwd=source, env=env, capture_output=True, check=True)
    return time.perf_counter() - began


def _one_start(python: str, source: Path, poll: float, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        env = _env(tmp)
        floor = _floor_s(python, source, env)
        log = (tmp / "run.log").open("w")
        began = time.perf_counter()
        run = subprocess.Popen([python, "-m", "app", "run"], cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT)
        healthy_s = None
        probes: list[tuple[float, float, int]] = []  # (started, took, exit code) of each status probe
        try:
            while time.perf_counter() - began < timeout and run.poll() is None:
                started = time.perf_counter()
                status = subprocess.run([python, "-m", "app", "status"], cwd=source, env=env, capture_output=True)
                took = time.perf_counter() - started
                probes.append((round(started - began, 2), round(took, 2), status.returncode))
                if status.returncode == 0:
                    healthy_s = time.perf_counter() - began
                    break
                time.sleep(poll)
        finally:
            stop_began = time.perf_counter()
            run.send_signal(signal.SIGTERM)
            try:
                code = run.wait(timeout=180)
            except subprocess.TimeoutExpired:
                run.kill()
                code = run.wait()
            stop_s = time.perf_counter() - stop_began
            log.close()
        tail = (tmp / "run.log").read_text().splitlines()[-3:]
    return {
        "healthy_s": None if healthy_s is None else round(healthy_s, 2),
        "status_probes_started_took_exit": probes,
        "floor_help_s": round(floor, 2),
        "healthy_over_floor": None if healthy_s is None else round(healthy_s / floor, 1),
        "sigterm_to_exit_s": round(stop_s, 2),
        "exit_code": code,
        "last_lines": tail,
    }


@click.command("startup")
@click.option("--python", "python", default=sys.executable, show_default=True,
              help="Interpreter to start (e.g. a venv built like the Dockerfile's install step).")  # fmt: skip
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path), default=ROOT,
              show_default=True, help="Source tree to run from (the image's /app).")  # fmt: skip
@click.option("--runs", type=click.IntRange(1, 10), default=2, show_default=True)
@click.option("--poll", type=click.FloatRange(min=0.1), default=0.5, show_default=True,
              help="Seconds between status probes.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=5), default=120.0, show_default=True,
              help="Give up on a start after this many seconds.")  # fmt: skip
def command(python: str, source: Path, runs: int, poll: float, timeout: float) -> None:
    """Cold start of `run` to a healthy `status`, SIGTERM to exit, and the environment's size; JSON."""
    starts = [_one_start(python, source, poll, timeout) for _ in range(runs)]
    report = {
        "benchmark": "startup",
        "python": python,
        "environment_mb": _prefix_mb(python),
        "runs": starts,
    }
    click.echo(json.dumps(report, indent=2))
