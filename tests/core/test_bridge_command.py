"""`pacer bridge`: runs registered bridges and stops gracefully on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.core.conftest import records, send, wait_for

ROOT = Path(__file__).resolve().parents[2]
#: Enough that SIGTERM arrives while the bridge is still dispatching.
COUNT = 200


def start_bridge(*args: str) -> subprocess.Popen:
    """``pacer bridge`` in a process of its own, once it consumes; its output so far is
    in ``.started``."""
    bridge = subprocess.Popen(
        [sys.executable, "-m", "pacer_celery.cli", "bridge", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PACER_BRIDGE_MODULES": "tests.support.probe"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in bridge.stdout:
        lines.append(line)
        if "bridges consuming from" in line:
            break
    bridge.started = "".join(lines)
    assert "bridges consuming from" in bridge.started, bridge.started
    # Frozen before it consumed (pacer_celery/heap.py), once.
    assert bridge.started.count("startup objects frozen") == 1, bridge.started
    return bridge


def test_sigterm_stops_the_bridge_without_losing_or_repeating_messages(worker, broker, run):
    bridge = start_bridge("--only", "probe")
    try:
        for i in range(COUNT):
            send(broker, {"run": run, "item": f"m{i}"})
        wait_for(lambda: records(run, "m0")["executions"], what="the first message")
    finally:
        bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(timeout=30) == 0
    output = bridge.stdout.read()
    assert "stopping after the current message" in output and "bridges stopped" in output

    # A new bridge takes over whatever the stopped one had not dispatched.
    successor = start_bridge("--only", "probe")
    try:
        for i in range(COUNT):
            wait_for(lambda: len(records(run, f"m{i}")["effects"]) == 3, what=f"m{i}")
        time.sleep(1)
        # Dispatched exactly once each: nothing lost, nothing sent twice.
        for i in range(COUNT):
            assert records(run, f"m{i}")["executions"] == ["first", "second", "third"]
    finally:
        successor.terminate()
        successor.wait(timeout=30)


def test_unknown_message_type_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "bridge", "--only", "no-such-type"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "unknown message type(s) ['no-such-type']" in result.stderr


def test_bad_configuration_names_the_variable():
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "config"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PACER_RMQ_PORT": "seventy", "PACER_MAX_RETRIES": "-1"},
    )
    assert result.returncode == 2
    assert "PACER_RMQ_PORT" in result.stderr and "PACER_MAX_RETRIES" in result.stderr


def test_config_masks_secrets():
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "config", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PACER_RMQ_PASSWORD": "hunter2-secret",
             "ICAT_AUTH_PASSWORD": "icat-secret", "PACER_RESULT_BACKEND": "redis://:pw-secret@h/0"},
    )
    assert result.returncode == 0, result.stderr
    assert "secret" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["settings"]["PACER_RMQ_PASSWORD"] == {"value": "**********", "from": "environment"}
    assert shown["settings"]["PACER_RMQ_EXCHANGE"] == {"value": "pacer", "from": "default"}
    assert shown["broker_url"].startswith("amqp://guest:***@")


def test_config_is_a_table_for_people_with_warnings_on_stderr():
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "config"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PACER_RMQ_PASSWORD": "hunter2-secret", "PACER_RMQ_POTR": "5673"},
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:] if line.startswith("PACER_")}
    assert rows["PACER_RMQ_PASSWORD"] == ["environment", '"**********"']
    assert rows["PACER_RMQ_EXCHANGE"] == ["default", '"pacer"']
    assert "secret" not in result.stdout
    assert "warning: PACER_RMQ_POTR: matches no setting (did you mean PACER_RMQ_PORT?)" in result.stderr


def test_config_warns_of_typos_and_missing_essentials():
    env = {k: v for k, v in os.environ.items() if k != "ICAT_SERVER_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "config", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**env, "PACER_RMQ_POTR": "5673"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == [
        "ICAT_SERVER_URL is not set: workers cannot reach ICAT",
        "PACER_RMQ_POTR: matches no setting (did you mean PACER_RMQ_PORT?)",
    ]
