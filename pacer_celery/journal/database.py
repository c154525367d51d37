"""The journal's database connection: one engine per process and URL, PostgreSQL or SQLite.

SQLite is the embedded default (``pacer demo``, a laptop); PostgreSQL is production.
The URL names the driver in SQLAlchemy's form; ``postgresql://`` means psycopg 3.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from pacer_celery.errors import ConfigurationError

#: How long a SQLite writer waits for another before giving up (workers share the file).
SQLITE_BUSY_MS = 30_000
#: A pooled PostgreSQL connection idle longer than this is checked before it is used.
PING_AFTER_IDLE_SECONDS = 1.0

_lock = threading.Lock()
_engines: dict[tuple[str, int, bool, bool], Engine] = {}


def engine_for(url: str, *, autocommit: bool = False, durable: bool = True) -> Engine:
    """The process's engine for ``url`` (a forked worker child gets its own).

    ``autocommit``: its connections run each statement on its own, for the journal's
    reads and one-statement writes. A pool of their own: switching a pooled connection
    in and out of autocommit at every checkout costs more CPU than the statement.

    ``durable=False``: on PostgreSQL, its commits return before the database has flushed
    them to disk (``synchronous_commit = off``): a database crash may lose the last
    fraction of a second of them, whole, never half. For what the journal can afford to
    lose (see ``Journal.progress``). SQLite has one kind of commit.
    """
    key = (url, os.getpid(), autocommit, durable)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create(url, {"isolation_level": "AUTOCOMMIT"} if autocommit else {}, durable)
        return engine


def dispose_all() -> None:
    """Close every pooled connection of this process (tests, a process that stops)."""
    with _lock:
        for (_, pid, _, _), engine in list(_engines.items()):
            if pid == os.getpid():
                engine.dispose()
        _engines.clear()


def _create(url: str, options: dict[str, Any], durable: bool) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several kinds for a bad URL
        raise ConfigurationError(f"PACER_JOURNAL_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not durable:
            options = {**options, "connect_args": {"options": "-c synchronous_commit=off"}}
        engine = create_engine(parsed, pool_size=5, max_overflow=5, **options)
        event.listen(engine, "checkin", _idle_from_now)
        event.listen(engine, "checkout", _ping_if_idle(engine))
        return engine
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    raise ConfigurationError(
        f"PACER_JOURNAL_URL: unsupported database {backend!r} (use postgresql:// or sqlite:///)"
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the dashboard) go on while a worker writes; foreign keys make
    # pruning a message take its step rows with it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# A restarted database must not cost the first message after it, so a pooled connection
# is checked before use (SQLAlchemy's pre-ping). Not every time, as pool_pre_ping does: a
# worker checks a connection out two or three times per step, and a connection in use a
# moment ago is as good as the answer to a ping would be.


def _idle_from_now(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(engine: Engine):
    def check(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - whatever broke it, the pool makes a new one
            # The pool's documented answer: throw this connection away and connect anew.
            raise DisconnectionError(f"pooled journal connection is gone: {exc}") from exc

    return check
