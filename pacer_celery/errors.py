"""The kinds of failure PACER distinguishes; they decide between retry and dead letter."""

from __future__ import annotations


class ConfigurationError(Exception):
    """A setting is missing or invalid; raised at start, before any message is touched."""


class InvalidMessage(Exception):
    """A message that can never be processed as it is: dead-lettered at once, never retried."""


class PermanentError(Exception):
    """A step failed in a way retrying cannot fix (unknown reference data, bad values)."""


class TransientError(Exception):
    """A step failed in a way that may pass (ICAT down, timeouts): retried with backoff.

    ``give_up_after`` (seconds since the message was received) lets a fault wait longer or
    shorter than the retry count allows, e.g. a dataset waiting for its proposal.
    """

    def __init__(self, message: str, *, give_up_after: float | None = None) -> None:
        super().__init__(message)
        self.give_up_after = give_up_after


class LoginRefused(Exception):
    """ICAT refuses PACER's own login (wrong credentials, unknown authenticator).

    Not the message's fault: no message may be burnt on it. Workers put their task back,
    without counting an attempt, until ICAT accepts the login again.
    """


class DeadLettered(Exception):
    """Raised by a task after it has put its message in the dead-letter queue.

    It ends the chain and marks the task failed on the dashboard; the message is safe.
    """


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help. Unknown exceptions are bugs: retrying will not fix them,
    so they are dead-lettered (and replayed once the bug is fixed)."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, (PermanentError, InvalidMessage)):
        return False
    # Network faults: refused or reset connections, timeouts, DNS hiccups.
    return isinstance(exc, OSError)


def describe(exc: BaseException) -> str:
    """A one-line reason for people: our own errors speak for themselves, others get their type."""
    if isinstance(exc, (PermanentError, TransientError, InvalidMessage)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
