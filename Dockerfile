# syntax=docker/dockerfile:1
# One image for the whole app: `docker run -p 8501:8501 IMAGE` runs `python -m app run` on the embedded
# defaults (tansu broker, local lake under /data) with the dashboards on 0.0.0.0:8501.
# Point it at real services with the AUCTION_* / AWS_* variables (see .env.example and compose.yaml).
# `docker stop` sends SIGTERM: the app stops the generator, drains the workers, runs a last batch and
# exits; give it time with `docker stop -t 90` (compose.yaml sets stop_grace_period: 90s).

# ---- build: a virtualenv with the dependencies declared in pyproject.toml ------------------------
# the same pinned base in both stages (the venv's interpreter path must match)
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only the metadata first, so the dependency layer is rebuilt when pyproject.toml changes, not the code.
# The project itself is uninstalled again: the image runs the source tree in /app (it finds queries/ there).
COPY pyproject.toml README.md ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/pip uninstall --yes auction-pipeline

# ---- runtime ---------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
# tini is PID 1: it forwards SIGTERM to the app (which drains, then stops) and reaps orphans.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# the source tree, read-only for the app user; .dockerignore lets in only what runs
COPY . .

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUCTION_LAKE_URL=/data/lake \
    AUCTION_STATE_DIR=/data/state \
    AUCTION_RUNTIME_DIR=/data/run \
    AUCTION_DASHBOARD_HOST=0.0.0.0 \
    AUCTION_DASHBOARD_PORT=8501

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8501
STOPSIGNAL SIGTERM
# exit 1 when no run is alive, the broker is unreachable, a topic is missing, a worker died or a job failed
HEALTHCHECK --interval=30s --timeout=15s --start-period=90s --retries=3 \
    CMD ["python", "-m", "app", "status"]
ENTRYPOINT ["tini", "--", "python", "-m", "app"]
CMD ["run"]
