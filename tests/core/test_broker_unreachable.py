"""A broker that cannot be reached, or refuses PACER: one line that says where and why,
growing pauses, and a stop request obeyed at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.support.commands import Command, pacer, wait_for


def lines_with(command: Command, text: str) -> list[str]:
    return [line for line in command.output().splitlines() if text in line]


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("PACER_RMQ_PORT", "1", "connection refused (is RabbitMQ running there?), talking to guest@127.0.0.1:1"),
        ("PACER_RMQ_PASSWORD", "not-the-password", "login refused (wrong user name or password?)"),
        ("PACER_RMQ_VIRTUAL_HOST", "no-such-vhost", "virtual host refused"),
    ],
)
def test_the_bridge_names_the_broker_and_the_trouble_and_stops_on_sigterm(tmp_path, setting, value, says):
    env = {**os.environ, setting: value, "PACER_BRIDGE_MODULES": "tests.support.probe"}
    bridge = Command(pacer("bridge", "--only", "probe"), env, tmp_path / "bridge.log")
    try:
        wait_for(lambda: len(lines_with(bridge, "trying again in")) >= 3, timeout=60, what="three attempts")
    finally:
        asked = time.monotonic()
        os.killpg(bridge.process.pid, signal.SIGTERM)
        code = bridge.stop()
    assert code == 0 and time.monotonic() - asked < 5
    attempts = lines_with(bridge, "trying again in")
    assert all(says in line for line in attempts), attempts
    # One line per attempt, with pauses that grow.
    pauses = [float(line.rsplit("trying again in ", 1)[1].rstrip("s")) for line in attempts]
    assert pauses == sorted(pauses) and pauses[-1] > pauses[0]
    assert "Traceback" not in bridge.output()
    assert "not-the-password" not in bridge.output()


def test_dead_letter_commands_say_what_failed_in_one_line():
    env = {**os.environ, "PACER_RMQ_PORT": "1"}
    result = subprocess.run(pacer("dlq", "list"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "pacer: the broker: connection refused (is RabbitMQ running there?), talking to "
        f"guest@127.0.0.1:1 (virtual host {os.environ['PACER_RMQ_VIRTUAL_HOST']!r})"
    ]
