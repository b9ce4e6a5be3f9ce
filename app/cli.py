"""`python -m app`: one click group, a subcommand per job. With no subcommand it runs everything (`run`).

Expected failures (bad flags, bad config, unreachable services, bad files) print one line and exit
non-zero without a traceback: 2 for usage errors, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings, load_settings


class _Context:
    """Lazily loaded settings shared by the subcommands."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


pass_ctx = click.make_pass_decorator(_Context, ensure=True)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="auction-pipeline")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Auction data pipeline: synthetic marketplace -> broker -> fraud scoring -> Parquet lakehouse.

    Configuration comes from AUCTION_* environment variables (and .env); see the README.
    With no command, `run` starts everything.
    """
    ctx.ensure_object(_Context)
    if ctx.invoked_subcommand is None:
        run_cmd = cli.get_command(ctx, "run")
        if run_cmd is None:  # pragma: no cover - `run` is always registered
            click.echo(ctx.get_help())
            return
        ctx.invoke(run_cmd)


def echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


# ---- broker commands -----------------------------------------------------------------------------


@cli.command("topics")
@pass_ctx
def topics_cmd(obj: _Context) -> None:
    """Create the pipeline's topics if missing (explicit config) and list every topic."""
    from app.broker import broker_address
    from pipelines.infra.topics import describe_topics, ensure_topics

    settings = obj.settings
    with broker_address(settings) as address:
        created = ensure_topics(address, settings)
        for info in describe_topics(address, settings.broker_timeout_s):
            config = " ".join(f"{k}={v}" for k, v in sorted(info.config.items()))
            mark = " (created)" if info.name in created else ""
            click.echo(f"{info.name:<14} partitions={info.partitions} {config}{mark}")


@cli.command("tail")
@click.argument("topic")
@click.option("-n", "--lines", "n", default=10, show_default=True, type=click.IntRange(min=1),
              help="How many of the newest messages to print.")  # fmt: skip
@pass_ctx
def tail_cmd(obj: _Context, topic: str, n: int) -> None:
    """Print the newest messages of TOPIC as JSON lines (partition, offset, key, value)."""
    from app.broker import broker_address, running_embedded_broker
    from pipelines.infra.topics import tail

    settings = obj.settings
    if not settings.broker_address and running_embedded_broker(settings) is None:
        raise UserError(
            "no broker to read: start `python -m app run` (its embedded broker keeps messages while it "
            "runs) or set AUCTION_BROKER_ADDRESS"
        )
    with broker_address(settings) as address:
        rows = tail(address, topic, n, settings.broker_timeout_s)
    for row in rows:
        click.echo(json.dumps(row, default=str))


# ---- import ----------------------------------------------------------------------------------------


@cli.command("run")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=500.0,
    show_default=True,
    help="Generated events per second.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Stream worker processes (one consumer group).",
)
@click.option(
    "--batch-every",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between silver+gold refreshes (0: only at the end) [default: AUCTION_REFRESH_EVERY_S].",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the first generator chunk.")
@click.option("--dashboard/--no-dashboard", default=True, show_default=True,
              help="Serve the dashboards on AUCTION_DASHBOARD_HOST:AUCTION_DASHBOARD_PORT while running.")  # fmt: skip
@pass_ctx
def run_cmd(obj: _Context, rate: float, workers: int, batch_every: float | None, seed: int, dashboard: bool) -> None:
    """Run everything: broker, topics, generator, stream workers, the silver/gold refresh and the dashboards.

    Ctrl-C (or SIGTERM) stops the generator, lets the workers sink everything produced, runs a last
    silver+gold refresh, then stops the workers and the broker.
    """  # fmt: skip
    from app.runtime import RunOptions, run

    every = obj.settings.refresh_every_s if batch_every is None else batch_every
    options = RunOptions(rate=rate, workers=workers, batch_every_s=every, seed=seed, dashboard=dashboard)
    run(obj.settings, options, click.echo)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def status_cmd(obj: _Context, as_json: bool) -> None:
    """Health of a running pipeline: broker, topics, lag, workers, jobs, newest lake files; exit 1 if unhealthy.

    Reads the status file of `python -m app run` (AUCTION_RUNTIME_DIR/status.json) and probes the broker
    and the lake itself; a container HEALTHCHECK can call it.
    """
    from app.status import lines, report

    health = report(obj.settings)
    if as_json:
        echo_json(health)
    else:
        for line in lines(health):
            click.echo(line)
    if not health["healthy"]:
        sys.exit(1)


@cli.command("demo")
@click.option(
    "--events",
    type=click.IntRange(min=100),
    default=200_000,
    show_default=True,
    help="Events to generate (users + auctions opened/closed + bids).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same events.")
@click.option("--days", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Days of marketplace time the events span.")  # fmt: skip
@pass_ctx
def demo_cmd(obj: _Context, events: int, seed: int, days: float) -> None:
    """The whole pipeline headless and bounded: generate, score, silver, gold; print a summary and exit 0."""
    from app.runtime import demo

    result = demo(obj.settings, events, seed, click.echo, days=days)
    for line in result.batch_lines:
        click.echo(line)
    timing = " ".join(f"{k}={v:.1f}s" for k, v in result.seconds.items())
    click.echo(f"demo done: {timing}; lake {obj.settings.lake_url} (query it: python -m app sql)")


@cli.command("import")
@click.argument("path")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl", "ebay"]), default=None,
              help="File format; csv/parquet/jsonl are guessed from the suffix, ebay must be given.")  # fmt: skip
@click.option("--topic", type=click.Choice(["bids", "auctions", "users"]), default="bids", show_default=True,
              help="For the project's own files: which contract the rows follow.")  # fmt: skip
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="For --format ebay: opening day; bidtime counts days from it [default: 2026-01-05].")  # fmt: skip
@click.option("--to", "target", type=click.Choice(["lake", "broker"]), default="lake", show_default=True,
              help="lake: straight into bronze; broker: replay to the input topics for the stream worker.")  # fmt: skip
@click.option("--speed", type=float, default=None,
              help="With --to broker: event time runs this many times faster than the clock (86400: a day a "
                   "second) [default: as fast as possible].")  # fmt: skip
@click.option("--wait", is_flag=True,
              help="With --to broker and running workers: wait until they scored it, print the report.")  # fmt: skip
@pass_ctx
def import_cmd(
    obj: _Context, path: str, fmt: str | None, topic: str, start: Any, target: str, speed: float | None, wait: bool
) -> None:
    """Import historical data from PATH into bronze; rows that break a rule are quarantined, not dropped.

    Formats: the project's own CSV / Parquet / JSON lines (columns = the contract fields of --topic) and
    `ebay`, the public online-auctions CSV (columns auctionid, bid, bidtime, bidder, bidderrate, openbid,
    price, item, auction_type). Missing values (blank, NA, N/A, null, NaN) are null, not errors.
    Re-importing the same file rewrites the same bronze files (idempotent).

    --to broker sends the events in event-time order to the users/auctions/bids topics, so the stream
    worker scores them like live traffic (bids-scored, fraud-alerts, bronze; gold after `batch`). With
    no broker running, it starts the embedded one and scores the replay in this process.
    """
    from pipelines.ingest.files import run_import

    if target == "broker":
        from app.replay import replay

        replay(obj.settings, path, fmt, topic, start.date() if start else None, speed, wait, click.echo)
        return
    if speed is not None or wait:
        raise UserError("--speed and --wait apply to --to broker only")
    report = run_import(obj.settings, path, fmt, topic, start.date() if start else None)
    for line in report.problems():
        click.echo(line, err=True)
    click.echo(report.summary())


@cli.command("sql")
@click.option("-c", "--command", "sql", default=None, help="Run this SQL (one statement or several), print, exit.")
@click.option("--csv", "as_csv", is_flag=True, help="Print results as CSV (all rows, with a header).")
@pass_ctx
def sql_cmd(obj: _Context, sql: str | None, as_csv: bool) -> None:
    """Read-only DuckDB SQL shell over the lake, with views bronze.*, silver.*, gold.* already defined.

    Interactive (history, tab completion, .help) unless -c is given. It only reads: statements that
    would write, copy out, attach or load anything are refused, and DuckDB itself is locked to the lake.
    """
    from app.shell import interactive, run_command

    if sql is not None:
        run_command(obj.settings, sql, as_csv)
        return
    sys.exit(interactive(obj.settings, as_csv))


@cli.command("dashboard")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to serve on; 0 picks a free one [default: AUCTION_DASHBOARD_PORT, 8501].")  # fmt: skip
@click.option("--host", default=None,
              help="Address to bind; loopback unless given [default: AUCTION_DASHBOARD_HOST, 127.0.0.1].")  # fmt: skip
@pass_ctx
def dashboard_cmd(obj: _Context, port: int | None, host: str | None) -> None:
    """The Streamlit dashboards alone (Executive Summary, Auction Performance, User Analytics, Real-Time
    Monitor, Pipeline Runs, Fraud), reading the lake read-only; Ctrl-C stops them."""
    from app.dashboards.server import serve

    settings = obj.settings
    serve(settings, host or settings.dashboard_host, settings.dashboard_port if port is None else port, click.echo)


# ---- batch ---------------------------------------------------------------------------------------


@cli.command("batch")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="One day (YYYY-MM-DD).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First day of a backfill (with --to).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last day of a backfill (inclusive).")
@click.option("--checks/--no-checks", default=True, show_default=True, help="Run queries/checks/*.sql after gold.")
@pass_ctx
def batch_cmd(obj: _Context, day: Any, first: Any, last: Any, checks: bool) -> None:
    """Silver (Polars) and gold (DuckDB) now: every bronze day, one --date, or --from/--to (backfill).

    Re-running a day replaces that day's silver and quarantine; gold is recomputed from all silver.
    Prints per day and table: bronze rows in, silver out, quarantined (by rule), duplicates removed.
    The run is recorded in ops.job_runs (job 'batch', trigger 'manual').
    """
    from app.batch import run_batch, select_days
    from app.batch.report import BatchResult
    from app.jobs import run_manual
    from app.registry import batch_outcome
    from pipelines.infra.lake import Lake

    days = select_days(day, first, last)
    results: list[BatchResult] = []

    def job(_when: Any) -> Any:
        results.append(run_batch(obj.settings, days, checks))
        return batch_outcome(results[-1])

    run_manual(Lake.from_settings(obj.settings), "batch", job, lambda line: click.echo(line, err=True))
    result = results[-1]
    if not result.days:
        click.echo("no bronze days in the lake: nothing to do")
    for line in result.lines():
        click.echo(line)


@cli.command("compact")
@pass_ctx
def compact_cmd(obj: _Context) -> None:
    """Merge small bronze files into files of about AUCTION_COMPACTION_TARGET_MB, keeping the lake exactly once.

    Only files the stream will never rewrite are merged: below the consumer group's committed offsets on
    the configured broker (or a running `run`'s embedded one); with no broker, every file is final.
    Unreadable files are moved to quarantine/corrupt/ with the reason. Recorded in ops.job_runs.
    """
    from app.broker import running_embedded_broker, wait_until_ready
    from app.jobs import run_manual
    from app.registry import compaction
    from pipelines.infra.lake import Lake

    settings = obj.settings
    address = settings.broker_address or running_embedded_broker(settings)
    if address:
        wait_until_ready(address, settings.broker_timeout_s)
    run = run_manual(Lake.from_settings(settings), "compaction", compaction(settings, address),
                     lambda line: click.echo(line, err=True))  # fmt: skip
    detail = run.detail or {}
    quarantined = len(detail.get("quarantined", []))
    line = f"compaction: {detail.get('files_in', 0)} files -> {detail.get('files_out', 0)} ({run.rows_in} rows)"
    click.echo(line + (f"; {quarantined} corrupt file(s) quarantined" if quarantined else ""))


@cli.command("stream")
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Stop after this many seconds without new messages (0: run until Ctrl-C/SIGTERM).",
)
@click.option(
    "--commit-interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between checkpoints (bronze files written, offsets committed).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="WARNING",
    show_default=True,
    help="Quix Streams log level (INFO shows assignments and state recovery).",
)
@pass_ctx
def stream_cmd(obj: _Context, idle_timeout: float, commit_interval: float, log_level: str) -> None:
    """Run the stream worker: validate, score bids, emit alerts and dead letters, write bronze.

    Start it several times to share the partitions (one consumer group).
    """  # fmt: skip
    import dataclasses

    from app.broker import broker_address
    from app.stream import WorkerOptions, run_worker

    settings = obj.settings
    with broker_address(settings) as address:
        summary = run_worker(
            settings,
            address,
            WorkerOptions(
                idle_timeout_s=idle_timeout, commit_interval_s=commit_interval, loglevel=log_level, fail_exit_after_s=30
            ),
        )
    click.echo(json.dumps(dataclasses.asdict(summary)))


# ---- generate ------------------------------------------------------------------------------------


class _FraudMix(click.ParamType):
    """``shill=0.35,bot=0.2,collusion=0.25,takeover=0.2`` -> dict (patterns left out get weight 0)."""

    name = "PATTERN=WEIGHT,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict[str, float]:
        from pipelines.contracts import FRAUD_LABELS

        if isinstance(value, dict):
            return value
        mix: dict[str, float] = {}
        for item in str(value).split(","):
            name, sep, weight = item.partition("=")
            name = name.strip()
            try:
                mix[name] = float(weight) if sep else float("nan")
            except ValueError:
                mix[name] = float("nan")
            if name not in FRAUD_LABELS or not mix[name] >= 0:
                self.fail(f"{item!r}: expected PATTERN=WEIGHT with PATTERN in {', '.join(FRAUD_LABELS)}", param, ctx)
        if sum(mix.values()) <= 0:
            self.fail("the weights must add up to more than 0", param, ctx)
        return mix


@cli.command("generate")
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Events to write in all: users + auctions opened + auctions closed + bids.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Events per second to the broker (default: as fast as possible).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same events.")
@click.option(
    "--to",
    "target",
    type=click.Choice(["broker", "lake"]),
    default="broker",
    show_default=True,
    help="Produce to the broker's topics, or write bronze Parquet straight to the lake.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, max=3650, min_open=True),
    default=1.0,
    show_default=True,
    help="Time span of the events (auction durations scale to it).",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default="2026-11-01",
    show_default=True,
    help="Start of the generator's clock (UTC).",
)
@click.option(
    "--fraud-rate",
    type=click.FloatRange(0, 0.5),
    default=0.05,
    show_default=True,
    help="Fraction of bidders that are planted fraudsters.",
)
@click.option(
    "--fraud-mix",
    type=_FraudMix(),
    default="shill=0.35,bot=0.2,collusion=0.25,takeover=0.2",
    show_default=True,
    help="Relative weights of the planted patterns.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 256),
    default=None,
    help="Partitions for new topics and lake files [default: AUCTION_PARTITIONS].",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr [default: when stderr is a terminal]."
)
@pass_ctx
def generate_cmd(obj: _Context, events: int, rate: float | None, seed: int, target: str, days: float,
                 start: Any, fraud_rate: float, fraud_mix: dict[str, float], partitions: int | None,
                 progress: bool | None) -> None:  # fmt: skip
    """Synthetic marketplace traffic (users, auctions, bids, planted fraud) to the broker or to bronze files.

    Deterministic: the same options give the same events. Prints one summary line at the end.
    """
    import datetime as dt

    from pipelines.generate import GeneratorConfig, to_broker, to_lake

    if rate is not None and target != "broker":
        raise click.UsageError("--rate applies to --to broker only")
    settings = obj.settings
    if partitions is not None:
        settings = settings.model_copy(update={"partitions": partitions})
    config = GeneratorConfig(
        seed=seed, events=events, start=start.replace(tzinfo=dt.UTC), days=days, fraud_rate=fraud_rate,
        fraud_mix=fraud_mix, partitions=settings.partitions,
    )  # fmt: skip
    show = sys.stderr.isatty() if progress is None else progress
    if target == "lake":
        from pipelines.infra.lake import Lake

        summary = to_lake(config, Lake.from_settings(settings), progress=show)
    else:
        from app.broker import broker_address, running_embedded_broker

        if not settings.broker_address and running_embedded_broker(settings) is None:
            click.echo(
                "note: no broker configured or running: using a temporary embedded broker, whose messages are "
                "gone when this command ends (start `python -m app run` or set AUCTION_BROKER_ADDRESS)",
                err=True,
            )
        with broker_address(settings) as address:
            summary = to_broker(config, address, rate=rate, progress=show, settings=settings)
    click.echo(summary.line())


# ---- benchmarks ----------------------------------------------------------------------------------

#: benchmark modules (app/benchmarks/<name>.py); a trailing _ stands for a command named by a keyword
BENCHMARKS = ("generate", "stream", "batch", "import_", "publish", "startup", "dashboard")


@cli.group("bench", invoke_without_command=True)
@click.pass_context
def bench_group(ctx: click.Context) -> None:
    """Benchmarks; each prints JSON on stdout. With no name (or `all`) runs every benchmark."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(bench_all)


@bench_group.command("all")
@click.pass_context
def bench_all(ctx: click.Context) -> None:
    """Run every benchmark with its defaults, one JSON document each."""
    for name in BENCHMARKS:
        command = bench_group.get_command(ctx, name.rstrip("_"))
        if command is not None:
            ctx.invoke(command)


def _register_benchmarks() -> None:
    import importlib

    for name in BENCHMARKS:
        try:
            module = importlib.import_module(f"app.benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.benchmarks.{name}":
                raise
            continue
        bench_group.add_command(module.command, name.rstrip("_"))


_register_benchmarks()


def _register_database_commands() -> None:
    from app.db_commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_register_database_commands()


def _quiet_dependency_warnings() -> None:
    """authlib (pulled in by Quix Streams when present) forces its deprecation warnings on: not ours to fix."""
    import warnings

    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected failures into one line and an exit code."""
    _quiet_dependency_warnings()
    try:
        cli.main(args=argv, prog_name="python -m app", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
