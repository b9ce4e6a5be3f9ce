"""Plumbing: settings, CLI, broker, lake, runtime."""

import warnings

try:  # quixstreams -> confluent_kafka's schema registry -> authlib, which warns on import that httpx is deprecated
    import authlib.deprecate  # (and sets its own "always" filter first: ours has to come after it)
except ImportError:  # pragma: no cover - authlib is optional for confluent_kafka
    pass
else:
    warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning)
