"""The composition root: `demo` (bounded, headless) and `run` (everything until Ctrl-C).

`demo` runs in one process: broker, generator, one stream worker (main thread: Quix installs signal
handlers), then silver and gold. `run` supervises: the embedded broker, stream worker processes
(restarted when they die: app/supervise.py), the generator at a steady rate, the scheduler's jobs
(app/scheduler.py, app/registry.py) and a status file with a status line every few seconds
(app/status_file.py). Ctrl-C (or SIGTERM) stops the generator first, lets the workers consume and sink
everything produced, then stops the workers and, last, the broker; a last refresh of silver and gold
follows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.jobs import Job, now, run_job
from app.status_file import status_path
from app.supervise import WorkerPool
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.infra.topics import committed_offsets

Echo = Callable[[str], None]


@dataclass
class DemoResult:
    generated: dict[str, int]
    processed: dict[str, int]
    batch_lines: list[str]
    gold: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def demo(settings: Settings, events: int, seed: int, echo: Echo, days: float = 1.0) -> DemoResult:
    """Generate ``events`` to a broker, score them with one worker, build silver and gold; return counts."""
    from app.batch import run_batch
    from app.broker import broker_address
    from app.stream import WorkerOptions, run_worker
    from pipelines.generate import GeneratorConfig, to_broker

    Lake.from_settings(settings).check_writable()
    seconds: dict[str, float] = {}
    with broker_address(settings, attach=False) as address:
        echo(f"broker {address}")
        began = time.perf_counter()
        config = GeneratorConfig(seed=seed, events=events, days=days, partitions=settings.partitions)
        generated = to_broker(config, address, settings=settings)
        seconds["generate"] = time.perf_counter() - began
        echo(generated.line())
        began = time.perf_counter()
        worker = run_worker(settings, address, WorkerOptions(stop_at=generated.end_offsets, commit_interval_s=1.0))
        seconds["stream"] = time.perf_counter() - began
        echo(f"stream worker processed {sum(worker.processed.values())} messages: {_counts(worker.processed)}")
    began = time.perf_counter()
    batch = run_batch(settings)
    seconds["batch"] = time.perf_counter() - began
    return DemoResult(generated.counts, worker.processed, batch.lines(), batch.gold, seconds)


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


# ---- run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    rate: float = 500.0
    """Generator events per second."""
    workers: int = 1
    batch_every_s: float = 300.0
    """Seconds between silver+gold refreshes (0: only the final one)."""
    chunk_s: float = 60.0
    """Each generator chunk covers this much wall-clock time (one seeded simulation per chunk)."""
    seed: int = 42
    drain_timeout_s: float = 120.0
    dashboard: bool = True
    """Serve the dashboards (on AUCTION_DASHBOARD_HOST:AUCTION_DASHBOARD_PORT) while running."""


class _Generator(threading.Thread):
    """Generates in chunks of ``chunk_s`` seconds of live traffic until stopped; remembers the end offsets."""

    def __init__(self, settings: Settings, address: str, options: RunOptions, echo: Echo) -> None:
        super().__init__(name="generator", daemon=True)
        self.settings, self.address, self.options, self.echo = settings, address, options, echo
        self.stop_event = threading.Event()
        self.end_offsets: dict[tuple[str, int], int] = {}
        self.live_ends: dict[tuple[str, int], int] = {}
        """End offsets as the acks come (the status file's lag and rate)."""
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        from pipelines.generate import GeneratorConfig, to_broker

        chunk = 0
        events = max(100, int(self.options.rate * self.options.chunk_s))
        try:
            while not self.stop_event.is_set():
                config = GeneratorConfig(
                    seed=self.options.seed + chunk, events=events, start=dt.datetime.now(dt.UTC),
                    days=self.options.chunk_s / 86_400, partitions=self.settings.partitions,
                )  # fmt: skip
                summary = to_broker(
                    config, self.address, rate=self.options.rate, settings=self.settings, stop=self.stop_event,
                    ends=self.live_ends,
                )  # fmt: skip
                for topic, n in summary.counts.items():
                    self.counts[topic] = self.counts.get(topic, 0) + n
                for key, end in summary.end_offsets.items():
                    self.end_offsets[key] = max(end, self.end_offsets.get(key, 0))
                chunk += 1
        except BaseException as exc:  # reported by the supervisor
            self.error = exc


def wait_drained(
    address: str,
    settings: Settings,
    ends: dict[tuple[str, int], int],
    timeout_s: float,
    tick: Callable[[], None] = lambda: None,
) -> bool:
    """Wait until the stream workers have committed past every end offset the generator produced
    (``tick`` is called on every poll: the supervisor restarts a worker that died meanwhile).

    Two stages: then also past where the internal topic ends once those inputs are committed (the
    auction stage delivers its records before it commits their inputs, and produces nothing more).
    """
    from pipelines.infra.topics import internal_ends

    deadline = time.monotonic() + timeout_s
    wanted, internal_added = dict(ends), settings.stream_topology != "two-stage"
    while time.monotonic() < deadline:
        tick()
        try:
            done = committed_offsets(address, settings.consumer_group, 5)
        except Exception:
            done = {}
        if all(done.get(key, 0) >= end for key, end in wanted.items()):
            if internal_added:
                return True
            wanted.update(internal_ends(address, settings, done))
            internal_added = True
            continue
        time.sleep(0.5)
    return False


@contextlib.contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set the returned event instead of interrupting: the caller drains, then stops."""
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watch(stopping: threading.Event, generator: _Generator, pool: WorkerPool) -> None:
    """Block until a stop is requested, supervising the workers; a failed generator is an error."""
    while not stopping.wait(0.5):
        if generator.error is not None:
            raise UserError(f"generator failed: {generator.error}")
        pool.check()


def _produced(generator: _Generator) -> tuple[int, dict[tuple[str, int], int]]:
    """Messages acknowledged so far (offsets start at 0 on a new broker) and the end offsets."""
    ends = dict(generator.live_ends)
    return sum(ends.values()), ends


def _banner(
    settings: Settings, address: str, options: RunOptions, jobs: list[Job], echo: Echo, dashboard_url: str | None = None
) -> None:
    """What runs where, once at start."""
    echo(f"broker {address} ({'configured' if settings.broker_address else 'embedded'})")
    echo(f"lake {settings.lake_url}")
    echo(f"generator: {options.rate:g} events/s")
    every = [f"{job.name} " + (f"daily at {job.at} UTC" if job.at else f"every {job.every_s:g} s") for job in jobs]
    echo(f"scheduler: {', '.join(every) or 'no jobs'}; history: python -m app sql -c 'from ops.job_runs'")
    echo(f"dashboards: {dashboard_url}" if dashboard_url else "dashboards: not started")
    echo(f"sql shell: python -m app sql; health: python -m app status ({status_path(settings)})")


def _dashboards(settings: Settings, options: RunOptions, echo: Echo) -> contextlib.AbstractContextManager[str | None]:
    """The dashboards' server for the run (a no-op when they are off)."""
    if not options.dashboard:
        return contextlib.nullcontext(None)
    from app.dashboards.server import alongside

    return alongside(settings, echo)


def run(settings: Settings, options: RunOptions, echo: Echo) -> None:
    """Everything, until Ctrl-C or SIGTERM; then drain and stop in order, and refresh silver and gold."""
    from app.broker import broker_address
    from app.registry import jobs_for, refresh
    from app.scheduler import start_scheduler
    from app.status_file import StatusWriter
    from pipelines.infra.topics import ensure_topics

    Lake.from_settings(settings).check_writable()
    Path(settings.runtime_dir).mkdir(parents=True, exist_ok=True)
    with (
        broker_address(settings, attach=False, publish=True) as address,
        _dashboards(settings, options, echo) as dashboard_url,
    ):
        ensure_topics(address, settings)
        jobs = jobs_for(settings, address, options.batch_every_s)
        _banner(settings, address, options, jobs, echo, dashboard_url)
        # entered after the broker's own SIGTERM handler: a signal now means "drain, then stop"
        with _stop_requested() as stopping, WorkerPool(settings, address, options.workers, echo) as pool:
            generator = _Generator(settings, address, options, echo)
            generator.start()
            scheduler = start_scheduler(settings, jobs, echo)
            status = StatusWriter(
                settings, address, {"broker": address, "lake": settings.lake_url, "dashboard_url": dashboard_url},
                lambda: {"workers": pool.status(), "jobs": scheduler.job_status()},
                lambda: _produced(generator), echo,
            )  # fmt: skip
            status.start()
            try:
                echo("running: Ctrl-C stops (the workers drain first)")
                _watch(stopping, generator, pool)
                echo("stopping: generator")
                generator.stop_event.set()
                generator.join(timeout=options.chunk_s + 30)
                echo(f"generator produced {_counts(generator.counts)}")
                echo("draining: waiting for the stream workers to sink everything produced")
                ends = generator.end_offsets
                if not wait_drained(address, settings, ends, options.drain_timeout_s, tick=pool.check):
                    echo(f"warning: not drained after {options.drain_timeout_s:g} s; the rest stays unprocessed")
            finally:
                generator.stop_event.set()
                status.stop_event.set()
                scheduler.shutdown()
                status_path(settings).unlink(missing_ok=True)
            echo("stopping: stream workers")
        echo("stopping: broker")
    final = run_job(Lake.from_settings(settings), Job("refresh", refresh(settings), retries=0), "manual", now(), echo)
    if final.status != "success":
        raise UserError(f"final batch failed: {final.error}")
    detail = final.detail or {}
    echo(f"final batch: {len(detail.get('days', []))} day(s); gold rows {_counts(detail.get('gold', {}))}")
    for follow in next((job.then for job in jobs if job.name == "refresh"), ()):  # publish the final gold too
        if run_job(Lake.from_settings(settings), follow, "after", now(), echo).status == "success":
            echo(f"final {follow.name}: ok")
    echo("stopped")
