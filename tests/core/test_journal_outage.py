"""The journal unreachable: a bridge stops acking (its inputs stay queued) and carries on
by itself when the database is back; a worker that cannot journal does not ack its task."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

from pacer_celery.journal import Journal
from pacer_celery.journal.database import engine_for
from pacer_celery.journal import search
from pacer_celery.bridges.runner import BridgeRunner, connect
from pacer_celery.settings import get_settings
from tests.conftest import POSTGRES_URL, postgres
from tests.core.conftest import records, send, wait_for
from tests.core.test_broker_refuses import queued
from tests.support import probe
from tests.support.commands import running, worker

import threading


@pytest.fixture
def outage_journal():
    """A journal of its own, on a database the test can make unreachable; yields the
    journal and a switch: ``down(True)`` refuses every connection, ``down(False)`` lets
    them in again."""
    database = f"pacer_outage_{uuid.uuid4().hex[:8]}"
    with postgres() as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)

    def down(refused: bool) -> None:
        with postgres() as connection:
            connection.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(not refused).lower()}')
            if refused:
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
                )

    yield Journal(url), down, url
    down(False)
    engine_for(url).dispose()
    with postgres() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def bridge_on(journal: Journal):
    settings = get_settings()
    with connect(settings) as connection:
        runner = BridgeRunner(connection, [probe.ProbeBridge()], settings, journal, sweep=False)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        assert runner.ready.wait(30)
        try:
            yield runner
        finally:
            runner.should_stop = True
            thread.join(timeout=15)


def fate(journal: Journal, run: str, item: str) -> str | None:
    with journal.engine.connect() as connection:
        rows = search.search(connection, search.parse(f"run={run} probe={item}"))
    return rows[0].status if rows else None


def test_a_bridge_acks_nothing_while_the_journal_is_down(outage_journal, broker, run, caplog, tmp_path):
    journal, down, url = outage_journal
    env = {**os.environ, "PACER_JOURNAL_URL": url}
    with bridge_on(journal):
        down(True)
        for i in range(5):
            send(broker, {"run": run, "item": f"j{i}"})
        wait_for(lambda: "journal unreachable" in caplog.text, timeout=30, what="the bridge to say so")
        assert queued("pacer.probe") == 5  # nothing acked, nothing lost
        assert queued("pacer.tasks") == 0  # nothing dispatched without its journal row
        down(False)
        with running(worker("outage") + ["--include=tests.support.probe"], env, tmp_path / "w.log", "ready."):
            for i in range(5):
                wait_for(lambda: len(records(run, f"j{i}")["effects"]) == 3, timeout=60, what=f"j{i}")
            wait_for(lambda: fate(journal, run, "j4") == "done", what="the journal to record it")
    assert caplog.text.count("journal unreachable") < 10  # said every few seconds, not per message


def test_a_worker_that_cannot_journal_does_not_ack(outage_journal, broker, run, tmp_path):
    journal, down, url = outage_journal
    env = {**os.environ, "PACER_JOURNAL_URL": url}
    # The suite's tests share the task queue: an earlier one may have left a task message
    # there (a retry due later, say). While the journal is down no worker acks any.
    before = queued("pacer.tasks")
    with bridge_on(journal):
        send(broker, {"run": run, "item": "w"})
        wait_for(lambda: fate(journal, run, "w") == "dispatched", what="the message dispatched")
        down(True)
        with running(worker("outage") + ["--include=tests.support.probe"], env, tmp_path / "w.log", "ready.") as w:
            wait_for(lambda: "journal unreachable" in w.output(), timeout=60, what="the worker to say so")
            assert records(run, "w")["executions"] == []
            assert queued("pacer.tasks") == before + 1  # the task, not acked
            down(False)
            wait_for(lambda: len(records(run, "w")["effects"]) == 3, timeout=90, what="the chain, once it is back")
            wait_for(lambda: fate(journal, run, "w") == "done", what="done in the journal")
