"""Serving the dashboards: `streamlit run streamlit_app.py` as a child process, on a checked host and port.

`python -m app dashboard` runs it in the foreground; `python -m app run` starts it next to the workers
(:func:`start`, with ``PR_SET_PDEATHSIG`` so it never outlives `run`) and prints its URL. The host is the
setting ``AUCTION_DASHBOARD_HOST`` (loopback unless told otherwise), the port ``AUCTION_DASHBOARD_PORT``
(0: a free one). Streamlit's file watcher, usage statistics and "run on save" are off: this is a served
app, not a development session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings

APP_FILE = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def pick_port(host: str, port: int) -> int:
    """``port`` if it can be bound on ``host`` (a free one for 0); a one-line UserError otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"dashboards cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(pass --port/--host or set AUCTION_DASHBOARD_PORT / AUCTION_DASHBOARD_HOST)"
            ) from None
        return int(sock.getsockname()[1])


def url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_FILE),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--logger.level",
        "warning",
    ]


def environment(settings: Settings) -> dict[str, str]:
    """The child's environment: ours, with the lake and runtime dir made absolute (its cwd may differ)."""
    env = dict(os.environ)
    if "://" not in settings.lake_url:
        env["AUCTION_LAKE_URL"] = str(Path(settings.lake_url).resolve())
    env["AUCTION_RUNTIME_DIR"] = str(Path(settings.runtime_dir).resolve())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APP_FILE.parent), env.get("PYTHONPATH", "")]))
    return env


def start(
    settings: Settings, host: str, port: int, log: Path | None = None, own_session: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the Streamlit server (killed by the kernel if we die: ``PR_SET_PDEATHSIG``); returns the process
    and the URL it serves. ``own_session``: Ctrl-C in the terminal does not reach it (`run` stops it)."""
    from app.supervise import _die_with_parent

    port = pick_port(host, port)
    out = open(log, "ab") if log is not None else None  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(
            streamlit_command(host, port),
            env=environment(settings),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=own_session,
        )
    finally:
        if out is not None:
            out.close()
    return process, url(host, port)


def wait_ready(process: subprocess.Popen[bytes], address: str, timeout_s: float = 60.0) -> bool:
    """Poll Streamlit's health endpoint until it answers; False if the process died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(address + "_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(settings: Settings, host: str, port: int, echo: Callable[[str], None] = print) -> int:
    """`python -m app dashboard`: run the server in the foreground until Ctrl-C; returns its exit code."""
    process, address = start(settings, host, port)
    stopped: list[int] = []

    def terminated(signum: int, frame: object) -> None:  # stopped as a service (SIGTERM): stop Streamlit too
        stopped.append(signum)
        stop(process)

    signal.signal(signal.SIGTERM, terminated)
    try:
        if wait_ready(process, address):
            echo(f"dashboards: {address} (lake {settings.lake_url}); Ctrl-C stops")
        code = process.wait()
    except KeyboardInterrupt:
        stop(process)
        return 0
    if code and not stopped:
        raise UserError(f"the dashboard server exited with code {code} (its error is above)")
    return code


@contextlib.contextmanager
def alongside(settings: Settings, echo: Callable[[str], None]) -> Iterator[str | None]:
    """`run`'s dashboards: started for the duration of the block (its URL, or None with a warning if the port
    is taken), logging to ``AUCTION_RUNTIME_DIR/dashboard.log``, and never outliving `run`."""
    log = Path(settings.runtime_dir) / "dashboard.log"
    try:
        process, address = start(settings, settings.dashboard_host, settings.dashboard_port, log, own_session=True)
    except UserError as exc:
        echo(f"warning: dashboards not started: {exc}")
        yield None
        return
    try:
        yield address
    finally:
        stop(process)
