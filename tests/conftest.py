"""Shared test set-up: real RabbitMQ (a virtual host of its own per run), real Redis.

The virtual host isolates this run's exchange and queues from any other run on the
same broker; it is created before PACER's settings are first read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

pytest_plugins = ["tests.icat_backend"]

VHOST = f"pacer-test-{uuid.uuid4().hex[:8]}"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def pytest_configure(config: pytest.Config) -> None:
    # Fast retries and a small size limit keep failure tests short.
    os.environ.setdefault("PACER_RETRY_BACKOFF_SECONDS", "0.2")
    os.environ.setdefault("PACER_RETRY_BACKOFF_MAX_SECONDS", "1")
    os.environ.setdefault("PACER_MAX_RETRIES", "2")
    os.environ.setdefault("PACER_MAX_MESSAGE_BYTES", "65536")
    if "PACER_RMQ_VIRTUAL_HOST" in os.environ or not shutil.which("rabbitmqctl"):
        return  # a broker chosen from outside: use it as configured
    _rabbitmqctl("add_vhost", VHOST)
    user = os.environ.get("PACER_RMQ_USERNAME", "guest")
    _rabbitmqctl("set_permissions", "-p", VHOST, user, ".*", ".*", ".*")
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    config._pacer_vhost = VHOST  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    vhost = getattr(config, "_pacer_vhost", None)
    if vhost:
        _rabbitmqctl("delete_vhost", vhost)


def rabbitmqctl(*args: str) -> None:
    """For tests that change the broker's behaviour (policies) in this run's vhost."""
    _rabbitmqctl(*args)
