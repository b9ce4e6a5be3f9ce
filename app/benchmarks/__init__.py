"""Benchmarks: `python -m app bench <name>` prints JSON. One module per benchmark, each exposing `command`."""
