"""The journal in the pipeline: every message's life recorded, step by step, and nothing
of a message left in Redis."""

from __future__ import annotations

import redis

from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.core.conftest import records, send, wait_for


def timeline(message_id: str):
    with journal().engine.connect() as connection:
        return search.timeline(connection, message_id)


def journaled(run: str, item: str):
    """The journal's rows of the probe message ``item`` of ``run``."""
    with journal().engine.connect() as connection:
        return search.search(connection, search.parse(f"run={run} probe={item}"))


def test_the_journal_records_each_step_in_order_and_the_end(bridges, broker, run):
    send(broker, {"run": run, "item": "life"}, headers={"note": "kept"})
    wait_for(lambda: len(records(run, "life")["effects"]) == 3, what="three steps")
    (row,) = wait_for(lambda: [r for r in journaled(run, "life") if r.status == "done"], what="done in the journal")
    life = timeline(row.message_id)
    assert [(s.step, s.status, s.attempt) for s in life.steps] == [
        ("probe.first", "ok", 1), ("probe.second", "ok", 1), ("probe.third", "ok", 1),
    ]
    assert all(s.finished_at >= s.started_at for s in life.steps)
    assert life.steps[0].result == {"step": "first", "attempt": 1}
    message = life.message
    assert message["received_at"] <= message["dispatched_at"] <= message["finished_at"]
    assert message["headers"]["note"] == "kept" and message["source"] == "tests"


def test_a_failure_is_journaled_with_its_reason_and_dead_letter(bridges, broker, run):
    send(broker, {"run": run, "item": "bad", "faults": {"second": "permanent"}})
    (row,) = wait_for(lambda: [r for r in journaled(run, "bad") if r.status == "dead-lettered"], what="dead-lettered")
    assert row.reason == "probe.second: second refused bad" and row.dead_letter_id
    steps = timeline(row.message_id).steps
    assert [(s.step, s.status) for s in steps] == [("probe.first", "ok"), ("probe.second", "failed")]


def test_nothing_of_a_message_is_kept_in_redis(bridges, broker, run):
    backend = redis.Redis.from_url(get_settings().result_backend.get_secret_value())
    for i in range(10):
        send(broker, {"run": run, "item": f"r{i}", "note": "x" * 20000})
    for i in range(10):
        wait_for(lambda: len(records(run, f"r{i}")["effects"]) == 3, what=f"r{i}")
    tasks = []
    with journal().engine.connect() as connection:
        for row in search.search(connection, search.parse(f"run={run}")):
            tasks += [step.task_id for step in search.timeline(connection, row.message_id).steps]
    assert len(tasks) == 30
    # Steps store no results: Redis holds nothing per message, whatever its size.
    assert [t for t in tasks if backend.exists(f"celery-task-meta-{t}")] == []


