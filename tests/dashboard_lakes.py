"""Lakes for the dashboard tests: a demo lake built once per session by the real commands, and helpers.

The demo lake is what a user gets from ``python -m app demo --events N --days D`` (embedded broker, the
stream worker, silver and gold) followed by ``python -m app batch`` (so ``ops.job_runs`` has a run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_EVENTS = 8000
DEMO_DAYS = 3


def env_for(base: Path) -> dict[str, str]:
    """The environment of the app's commands for a lake under ``base``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))},
        "AUCTION_LAKE_URL": str(base / "lake"),
        "AUCTION_STATE_DIR": str(base / "state"),
        "AUCTION_RUNTIME_DIR": str(base / "run"),
        "AUCTION_PARTITIONS": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }


def build_demo_lake(base: Path) -> Path:
    """Run the demo and a manual batch into ``base/lake``; returns the lake directory."""
    env = env_for(base)
    for args in (["demo", "--events", str(DEMO_EVENTS), "--days", str(DEMO_DAYS), "--seed", "11"], ["batch"]):
        done = subprocess.run(
            [sys.executable, "-m", "app", *args], cwd=base, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return base / "lake"
