"""Flower's events for the links a worker runs in the task of an earlier link.

A link run in its own task gets its events from Celery. A link the runtime runs straight
after the one before it (``PACER_INLINE_LINKS``) never was a task message, so the
runtime tells Flower about it itself, with the same events under the link's own task id:
received (name, kwargs as the dashboard's ids), started, then succeeded, failed or
retried. Flower shows and searches it like any other task.

Sent without publisher confirms, like the worker's own events (see worker/consumer.py):
an event the broker loses costs Flower a row, never a message. Failing to send one is
logged, never raised. A link's events wait in the process for the task's end (``flush``),
to go in one broker message (Celery's ``task.multi``, which Flower reads like the main
process's buffered events): one publish per task instead of three per link. A link that
runs long is not hidden from Flower meanwhile: a thread of the process sends events that
waited longer than ``MAX_WAIT_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from celery.utils.saferepr import saferepr

logger = logging.getLogger("pacer_celery.worker")

#: Celery's own limits for the reprs of a task's arguments in its events.
MAX_ARGS_REPR = 1024
MAX_KWARGS_REPR = 1024
#: Events held for one broker message at most (more are sent at once).
MAX_WAITING = 24
#: How long an event waits at most for the task's end, while a link runs long.
MAX_WAIT_SECONDS = 1.0


class LinkEvents:
    """One dispatcher per process, on a connection of its own."""

    def __init__(self) -> None:
        self._dispatcher: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        #: When the oldest event not yet sent was sent to the dispatcher (None: none waits).
        self._waiting_since: float | None = None
        #: The process whose thread sends events that waited too long (threads do not
        #: survive a fork: each pool process starts its own).
        self._sender_pid: int | None = None

    def received(
        self, app: Celery, hostname: str, task_id: str, *, name: str, args: tuple[Any, ...], kwargsrepr: str,
        root_id: str, parent_id: str,
    ) -> None:
        self._send(
            app, hostname, "task-received", check=True, uuid=task_id, name=name, args=saferepr(args, MAX_ARGS_REPR),
            kwargs=kwargsrepr[:MAX_KWARGS_REPR], root_id=root_id, parent_id=parent_id, retries=0, eta=None,
            expires=None,
        )
        self._send(app, hostname, "task-started", uuid=task_id)

    def succeeded(self, app: Celery, hostname: str, task_id: str, *, result: str, started: float) -> None:
        self._send(app, hostname, "task-succeeded", uuid=task_id, result=result, runtime=time.monotonic() - started)

    def failed(self, app: Celery, hostname: str, task_id: str, *, exception: str) -> None:
        self._send(app, hostname, "task-failed", uuid=task_id, exception=exception, traceback="", now=True)

    def retried(self, app: Celery, hostname: str, task_id: str, *, exception: str) -> None:
        self._send(app, hostname, "task-retried", uuid=task_id, exception=exception, traceback="", now=True)

    def flush(self) -> None:
        """Send the events still waiting (the task's last link's end): at every task's end."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._dispatcher is None or self._pid != os.getpid():
            return
        self._waiting_since = None
        try:
            self._dispatcher.flush()
        except Exception as exc:  # noqa: BLE001 - the dashboard's loss, not the message's
            logger.warning("link events not sent (%s)", exc)
            self._close()

    def _send(
        self, app: Celery, hostname: str, type_: str, *, check: bool = False, now: bool = False, **fields: Any
    ) -> None:
        """``check``: first make sure the broker still keeps the connection (once per link:
        its other events follow within the link's run). ``now``: send it, and any waiting."""
        if not app.conf.worker_send_task_events:
            return
        with self._lock:
            try:
                dispatcher = self._for(app, hostname, check)
                dispatcher.send(type_, **fields)
            except Exception as exc:  # noqa: BLE001 - the dashboard's loss, not the message's
                logger.warning("event %s of task %s not sent (%s)", type_, fields.get("uuid"), exc)
                self._close()
                return
            if now:
                self._flush()
            elif self._waiting_since is None:
                self._waiting_since = time.monotonic()
                self._start_sender()

    def _start_sender(self) -> None:
        if self._sender_pid != os.getpid():
            self._sender_pid = os.getpid()
            threading.Thread(target=self._send_late_forever, daemon=True, name="pacer-link-events").start()

    def _send_late_forever(self) -> None:
        """Every ``MAX_WAIT_SECONDS``, send the events that waited that long: a link that
        runs long shows in Flower while it runs. (A wake-up a second, not one per link.)"""
        while True:
            time.sleep(MAX_WAIT_SECONDS)
            with self._lock:
                since = self._waiting_since
                if since is not None and time.monotonic() - since >= MAX_WAIT_SECONDS:
                    self._flush()

    def _for(self, app: Celery, hostname: str, check: bool) -> Any:
        # A forked pool process must not write on its parent's socket.
        if self._dispatcher is not None and (
            self._pid != os.getpid() or (check and not _open(self._dispatcher.connection))
        ):
            self._close()
        if self._dispatcher is None:
            connection = app.connection_for_write(transport_options={"confirm_publish": False})
            self._dispatcher = app.events.Dispatcher(
                connection, hostname=hostname, buffer_while_offline=False, buffer_group={"task"},
                buffer_limit=MAX_WAITING,
            )
            self._pid = os.getpid()
        return self._dispatcher

    def _close(self) -> None:
        dispatcher, self._dispatcher = self._dispatcher, None
        self._waiting_since = None
        if dispatcher is not None:
            with contextlib.suppress(Exception):  # it is broken already
                dispatcher.connection.release()


def _open(connection: Any) -> bool:
    """Whether the broker still keeps ``connection``: nobody reads from it otherwise, so
    a connection the broker closed would swallow the next events without an error."""
    try:
        connection.drain_events(timeout=0)
    except TimeoutError:
        return True  # nothing to read: open
    except Exception:  # noqa: BLE001 - closed, one way or another
        return False
    return True


link_events = LinkEvents()
