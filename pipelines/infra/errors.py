"""Expected failures: one line for the user, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can act on (bad config, missing service, bad file).

    The CLI prints ``error: <message>`` on one line and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
