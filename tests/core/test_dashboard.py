"""Flower finds every task of a message by the message's id, type and identifiers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.core.conftest import records, send, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def flower():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pacer_celery", "flower",
         f"--port={port}", "--address=127.0.0.1"],
        env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{url}/healthcheck", timeout=1).ok
        except requests.ConnectionError:
            return False

    wait_for(up, timeout=60, what="Flower to answer")
    time.sleep(1)  # let Flower's event consumer attach before tasks run
    yield url
    process.terminate()
    process.wait(timeout=30)


def search(flower: str, query: str) -> dict:
    response = requests.get(f"{flower}/api/tasks", params={"search": query}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_tasks_are_found_by_identifiers_and_message_type(flower, bridges, broker, run):
    send(broker, {"run": run, "item": "dash1"})
    send(broker, {"run": run, "item": "dash2"})
    for item in ("dash1", "dash2"):
        wait_for(lambda: len(records(run, item)["effects"]) == 3, what=item)

    found = wait_for(
        lambda: (tasks := search(flower, "kwargs:probe=dash1")) and len(tasks) == 4 and tasks,
        what="the four tasks of dash1 in Flower",
    )
    names = sorted(task["name"] for task in found.values())
    assert names == ["pacer.finish_message", "pacer.probe.first", "pacer.probe.second", "pacer.probe.third"]
    message_ids = {task["kwargs"] for task in found.values()}
    assert len(message_ids) == 1  # same message, same dashboard kwargs on every step
    # task-sent events are on: Flower saw each task published, not only run.
    assert all(task["sent"] for task in found.values()), found

    both = wait_for(lambda: len(search(flower, f"kwargs:run={run}")) == 8, what="both messages")
    assert both
    typed = search(flower, f"kwargs:run={run} kwargs:message_type=probe")
    assert len(typed) == 8


def test_payload_is_not_on_the_dashboard(flower, bridges, broker, run):
    send(broker, {"run": run, "item": "quiet", "faults": {}, "secret_note": "do-not-show"})
    wait_for(lambda: len(records(run, "quiet")["effects"]) == 3, what="three steps")
    found = wait_for(lambda: (t := search(flower, "kwargs:probe=quiet")) and len(t) == 4 and t,
                     what="the tasks in Flower")
    for task in found.values():
        assert "do-not-show" not in str(task["kwargs"]) and "do-not-show" not in str(task["args"])
        assert "envelope" not in str(task["kwargs"])
