"""The dashboard server's edges: a taken port is one line (no traceback), loopback unless a host is given."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.dashboards.server import pick_port, streamlit_command, url
from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"cannot listen on 127.0.0.1:{port}.*AUCTION_DASHBOARD_PORT"):
            pick_port("127.0.0.1", port)
        done = subprocess.run([sys.executable, "-m", "app", "dashboard", "--port", str(port)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                              "PYTHONPATH": str(ROOT), "AUCTION_LAKE_URL": str(tmp_path / "lake")})  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: dashboards cannot listen") and "Traceback" not in done.stderr


def test_loopback_by_default_and_the_url_printed_for_a_wildcard_host() -> None:
    assert Settings().dashboard_host == "127.0.0.1" and Settings().dashboard_port == 8501
    command = streamlit_command("127.0.0.1", 8555)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8555"
    assert url("0.0.0.0", 8555) == "http://127.0.0.1:8555/"
    assert pick_port("127.0.0.1", 0) > 0
