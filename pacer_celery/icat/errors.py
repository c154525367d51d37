"""python-icat's exceptions as PACER's: what a retry may fix (TransientError) and what it
cannot (PermanentError). The worker runtime classifies what steps that take the ICAT
client raise; commands classify what they meet."""

from __future__ import annotations

import icat.exception as icat_exc
from suds.transport import TransportError

from pacer_celery.errors import PermanentError, TransientError

#: HTTP statuses that say "later" rather than "never".
_RETRYABLE_HTTP = {408, 429}


def classify(exc: BaseException) -> BaseException:
    """The PACER error for a python-icat (or suds) exception; other exceptions unchanged."""
    if isinstance(exc, icat_exc.ICATSessionError):
        # Expired, or gone with an ICAT restart; the session module logs in again on the
        # next attempt (the runtime discards the session).
        return TransientError(f"ICAT session no longer valid: {exc.message}")
    if isinstance(exc, icat_exc.ICATInternalError):
        return TransientError(f"ICAT internal error: {exc.message}")
    if isinstance(exc, icat_exc.ICATObjectExistsError):
        # Another worker created the same object between our search and our create;
        # steps look before they create, so the next attempt finds it.
        return TransientError(f"concurrent change in ICAT: {exc.message}")
    if isinstance(exc, icat_exc.ICATError):
        kind = (exc.type or type(exc).__name__).upper()
        where = f" (item {exc.offset} of the batch)" if exc.offset is not None else ""
        return PermanentError(f"ICAT refused the change, {kind}{where}: {exc.message}")
    if isinstance(exc, TransportError):
        code = getattr(exc, "httpcode", None)
        if code is None or code >= 500 or code in _RETRYABLE_HTTP:
            return TransientError(f"ICAT unavailable (HTTP {code}): {exc}")
        return PermanentError(f"ICAT rejected the request (HTTP {code}): {exc}")
    if isinstance(exc, (OSError, TimeoutError)):
        return TransientError(f"cannot reach ICAT: {type(exc).__name__}: {exc}")
    return exc
