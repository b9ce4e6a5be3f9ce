"""Plumbing: settings, CLI, broker, lake, runtime."""
