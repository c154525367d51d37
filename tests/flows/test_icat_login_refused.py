"""ICAT refusing PACER's own login burns no message: loud at the worker's start, tasks go
back to the queue uncounted, and a worker that can log in completes them."""

from __future__ import annotations

import os

import pytest

from pacer_celery.bridges import REGISTRY
from pacer_celery.bridges.runner import connect
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.core.conftest import send
from tests.core.test_broker_refuses import queued
from tests.flows.conftest import user_message
from tests.support.commands import running, worker
from tests.support.pipeline import running_bridges
from tests.support.waiting import wait_for


@pytest.fixture
def broker_connection():
    """The broker, without the flows' in-process worker (it would log in fine)."""
    with connect(get_settings()) as connection:
        yield connection


def test_a_refused_login_waits_instead_of_dead_lettering(reference_data, broker_connection, uid, tmp_path):
    wrong = {**os.environ, "ICAT_AUTH_PASSWORD": "not-the-password"}
    with running_bridges([REGISTRY["user-update"]()]):
        with running(worker("wrong-password"), wrong, tmp_path / "wrong.log", "ready.") as refused:
            assert "ICAT LOGIN REFUSED" in refused.output()
            assert "not-the-password" not in refused.output()
            send(broker_connection, user_message(f"lr{uid}"), routing_key="uos.users")
            wait_for(lambda: refused.output().count("not counted as an attempt") >= 2, timeout=60,
                     what="the task to go back twice")
            (row,) = messages(uid)
            assert row.status == "dispatched" and row.attempts == 0
            with journal().engine.connect() as connection:
                assert search.timeline(connection, row.message_id).steps == []
        assert queued("pacer.tasks") == 1
        with running(worker("right-password"), dict(os.environ), tmp_path / "right.log", "ready."):
            wait_for(lambda: messages(uid)[0].status == "done", timeout=60, what="the message done")


def messages(uid: str):
    with journal().engine.connect() as connection:
        return search.search(connection, search.parse(f"user=lr{uid}"))
