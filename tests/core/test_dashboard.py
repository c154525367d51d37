"""Flower finds every task of a message by the message's id, type and identifiers."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection, Exchange, Queue

from pacer_celery.app import app
from pacer_celery.bridges.runner import DashboardEvents
from pacer_celery.settings import get_settings
from pacer_celery.worker.events import LinkEvents
from tests.core.conftest import records, send, wait_for
from tests.support import probe
from tests.support.flower import running_flower, search
from tests.support.pipeline import running_bridges, running_prefork_worker


@pytest.fixture(scope="module")
def flower():
    with running_flower() as url:
        yield url


def test_tasks_are_found_by_identifiers_and_message_type(flower, bridges, broker, run):
    send(broker, {"run": run, "item": "dash1"})
    send(broker, {"run": run, "item": "dash2"})
    for item in ("dash1", "dash2"):
        wait_for(lambda: len(records(run, item)["effects"]) == 3, what=item)

    # (The worker's main process sends its events of a moment together, a tenth of a
    # second late: the first link may show after the links run in its task.)
    found = wait_for(
        lambda: (tasks := search(flower, "kwargs:probe=dash1")) and len(tasks) == 3
        and all(task["state"] == "SUCCESS" for task in tasks.values()) and tasks,
        what="the three tasks of dash1 succeeded in Flower",
    )
    names = sorted(task["name"] for task in found.values())
    assert names == ["pacer.probe.first", "pacer.probe.second", "pacer.probe.third"]
    message_ids = {task["kwargs"] for task in found.values()}
    assert len(message_ids) == 1  # same message, same dashboard kwargs on every step
    # task-sent events are on: Flower saw the chain's first link published. The links
    # after it ran in its task (PACER_INLINE_LINKS) and name the link before them.
    by_name = {task["name"]: task for task in found.values()}
    assert by_name["pacer.probe.first"]["sent"], found
    assert by_name["pacer.probe.second"]["parent_id"] == by_name["pacer.probe.first"]["uuid"]
    assert by_name["pacer.probe.third"]["parent_id"] == by_name["pacer.probe.second"]["uuid"]
    assert all(task["state"] == "SUCCESS" and task["succeeded"] for task in found.values()), found

    # Both ended in Flower too: the last link of the message run last included, whose end
    # no later link's events carry along (the task's end sends it).
    both = wait_for(
        lambda: (tasks := search(flower, f"kwargs:run={run}")) and len(tasks) == 6
        and all(task["state"] == "SUCCESS" for task in tasks.values()) and tasks,
        what="both messages' six tasks succeeded in Flower",
    )
    assert len(both) == 6
    typed = search(flower, f"kwargs:run={run} kwargs:message_type=probe")
    assert len(typed) == 6


def test_payload_is_not_on_the_dashboard(flower, bridges, broker, run):
    send(broker, {"run": run, "item": "quiet", "faults": {}, "secret_note": "do-not-show"})
    wait_for(lambda: len(records(run, "quiet")["effects"]) == 3, what="three steps")
    found = wait_for(lambda: (t := search(flower, "kwargs:probe=quiet")) and len(t) == 3 and t,
                     what="the tasks in Flower")
    for task in found.values():
        assert "do-not-show" not in str(task["kwargs"]) and "do-not-show" not in str(task["args"])
        assert "pacer" not in task["kwargs"]  # the runtime's own kwargs stay hidden


@contextlib.contextmanager
def publishes_of_events(routing_key: str = "task.#") -> Iterator[Callable[[], list[list[dict]]]]:
    """Listens to the broker's task events; yields ``seen()``: each publish so far, as its
    list of events (waiting half a second for more)."""
    with Connection(get_settings().broker()) as listener:
        queue = Queue(f"test.events-{uuid.uuid4().hex[:8]}", Exchange("celeryev", type="topic"),
                      routing_key=routing_key, exclusive=True, auto_delete=True)
        publishes: list[list[dict]] = []
        with listener.Consumer(queue, callbacks=[lambda body, message: publishes.append(
                body if isinstance(body, list) else [body])], accept=["json"]):

            def seen() -> list[list[dict]]:
                with contextlib.suppress(TimeoutError):
                    listener.drain_events(timeout=0.5)
                return publishes

            yield seen


@contextlib.contextmanager
def events_on_the_broker() -> Iterator[Callable[[str, str], bool]]:
    """Yields ``arrived(task_id, type)``: whether that event came (waiting half a second
    for more)."""
    with publishes_of_events() as seen:

        def arrived(task_id: str, type_: str = "task-sent") -> bool:
            return any(e.get("uuid") == task_id and e.get("type") == type_ for batch in seen() for e in batch)

        yield arrived


def test_the_bridges_task_sent_events_survive_a_broken_connection(caplog):
    """The bridge's events go out once per batch on a connection of their own; when the
    broker drops it, that batch's events are lost (logged), the next batch's arrive."""
    events = DashboardEvents(get_settings())
    with events_on_the_broker() as arrived:
        try:
            events.publish("task-sent", {"uuid": "before", "name": "pacer.probe.first"}, None)
            assert not arrived("before")  # held until the batch is settled
            events.flush()
            wait_for(lambda: arrived("before"), what="the first batch's event")

            events.connection.connection.sock.shutdown(socket.SHUT_RDWR)  # the broker's side goes away
            with caplog.at_level(logging.WARNING, logger="pacer_celery.bridges.runner"):
                events.publish("task-sent", {"uuid": "lost", "name": "pacer.probe.first"}, None)
                events.flush()
            assert "dashboard events not sent" in caplog.text

            events.publish("task-sent", {"uuid": "after", "name": "pacer.probe.first"}, None)
            events.flush()
            wait_for(lambda: arrived("after"), what="the next batch's event, on a fresh connection")
        finally:
            events.close()


def test_a_links_events_wait_for_the_tasks_end_unless_the_link_runs_long():
    """A link run in an earlier link's task: its events go out with the task's end, in
    one broker message; a link still running after a second or two is shown meanwhile."""
    events, hostname = LinkEvents(), f"test@{uuid.uuid4().hex[:8]}"

    def started(task_id: str) -> None:
        events.received(app, hostname, task_id, name="pacer.probe.second", args=(), kwargsrepr="{}",
                        root_id="root", parent_id="parent")

    with events_on_the_broker() as arrived:
        quick = f"quick-{uuid.uuid4().hex[:8]}"
        started(quick)
        events.succeeded(app, hostname, quick, result="ok", started=time.monotonic())
        events.flush()  # the task's end
        wait_for(lambda: arrived(quick, "task-succeeded"), what="the quick link's end")
        assert arrived(quick, "task-received") and arrived(quick, "task-started")

        slow = f"slow-{uuid.uuid4().hex[:8]}"
        started(slow)
        assert not arrived(slow, "task-started")  # waits for the task's end...
        wait_for(lambda: arrived(slow, "task-started"), timeout=10, what="the long link's start, while it runs")
        events.succeeded(app, hostname, slow, result="ok", started=time.monotonic())
        events.flush()
        wait_for(lambda: arrived(slow, "task-succeeded"), what="the long link's end")


def test_the_worker_main_process_sends_a_moments_task_events_together(broker, run):
    """The main process's events of a task (received, started, succeeded) go out in one
    publish when the task takes less than the batching moment (worker/consumer.py)."""
    with running_prefork_worker(), running_bridges([probe.ProbeBridge()]), publishes_of_events("task.multi") as seen:
        for i in range(5):
            send(broker, {"run": run, "item": f"e{i}"})
        for i in range(5):
            wait_for(lambda: len(records(run, f"e{i}")["effects"]) == 3, timeout=60, what=f"e{i}")

        def first_links_seen() -> list[list[str]]:
            # The main process's publishes: those with the first links' task-received.
            return [[e["type"] for e in batch] for batch in seen()
                    if any(e["type"] == "task-received" and e.get("name") == "pacer.probe.first" for e in batch)]

        batches = wait_for(lambda: (found := first_links_seen()) and sum(
            b.count("task-succeeded") for b in found) >= 5 and found, what="the first links' events")
    together = [b for b in batches if {"task-received", "task-started", "task-succeeded"} <= set(b)]
    assert together, batches
