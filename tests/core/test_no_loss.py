"""The holes a message could fall through, each closed: bursts of invalid messages, tasks a
worker does not know, refused publishes from the worker, poison messages, and dead letters
that must be replayable (a broker that drops every connection: test_connections_dropped.py)."""

from __future__ import annotations

import subprocess

import pytest

from pacer_celery.bridges import steps
from pacer_celery.bridges.base import callback_order
from pacer_celery.cli import main
from pacer_celery.cli.dlq import validate
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.conftest import rabbitmqctl
from tests.core.conftest import dead_letters, letters_of_run, records, send, wait_for
from tests.core.test_broker_refuses import queued
from tests.support import probe
from tests.support.pipeline import running_bridges


def journaled(run: str) -> list[search.Row]:
    with journal().engine.connect() as connection:
        return search.search(connection, search.parse(f"run={run}"), limit=500)


def settled(run: str, count: int) -> bool:
    rows = journaled(run)
    return len(rows) == count and all(r.status in ("done", "dead-lettered", "invalid") for r in rows)


def test_a_burst_of_invalid_messages_among_valid_ones_never_stalls_the_bridge(bridges, broker, run):
    for i in range(50):
        send(broker, {"run": run, "item": f"ok{i}"})
        send(broker, b'{"run": "' + run.encode() + b'", "item": ' + str(i).encode())  # malformed
    # The malformed ones name no identifiers: they are found by their bodies.
    wait_for(lambda: settled(run, 50), timeout=90, what="the 50 valid messages done")
    wait_for(lambda: len(letters_of_run(broker, run)) == 50, timeout=30, what="the 50 dead letters")
    wait_for(lambda: queued("pacer.probe") == 0, what="every input acked")


class GhostBridge(probe.ProbeBridge):
    """A bridge newer than the workers: its second step is one no worker knows."""

    dashboard_message_type = "probe-ghost"
    queue = "pacer.probe-ghost"
    routing_key = "test.probe-ghost"

    @callback_order(2)
    def second(self, message):
        return steps("probe").not_deployed_yet


def test_a_task_no_worker_knows_ends_as_a_dead_letter(worker, broker, run):
    with running_bridges([GhostBridge()]):
        send(broker, {"run": run, "item": "ghost"}, routing_key="test.probe-ghost")
        (letter,) = wait_for(lambda: letters_of_run(broker, run), timeout=60, what="the ghost's dead letter")
    assert letter.failed_steps == ["probe.not_deployed_yet"]
    assert "does not know this step" in letter.reason
    assert records(run, "ghost")["executions"] == ["first"]
    (row,) = journaled(run)
    assert row.status == "dead-lettered" and row.dead_letter_id == letter.id


@pytest.fixture
def refuse_tasks():
    """A broker policy refusing every publish to pacer.tasks, until the test lifts it."""
    vhost = get_settings().rmq_virtual_host
    policy = ("set_policy", "-p", vhost, "--apply-to", "queues", "refuse-worker", r"^pacer\.tasks$",
              '{"max-length": 0, "overflow": "reject-publish"}')
    lift = ["rabbitmqctl", "clear_policy", "-p", vhost, "refuse-worker"]
    yield lambda: rabbitmqctl(*policy), lambda: subprocess.run(lift, check=True, capture_output=True)
    subprocess.run(lift, capture_output=True)  # lifted already, unless the test failed


def test_a_refused_retry_or_next_link_puts_the_task_back(bridges, broker, run, refuse_tasks, monkeypatch, caplog):
    refuse, lift = refuse_tasks
    # Every link published as a task message of its own: the next link is refused too.
    # (A worker running it in the same task publishes nothing to be refused.)
    monkeypatch.setattr(get_settings(), "inline_links", False)
    caplog.set_level("WARNING", logger="pacer_celery.worker")
    db = probe.store()
    send(broker, {"run": run, "item": "nl", "faults": {"first": "slow-flaky"}})
    # While the first step runs, the broker starts refusing the worker's publishes: its
    # retry (the first attempt fails), then its next link, are refused.
    wait_for(lambda: db.get(f"{run}:nl:running:first"), what="the first step to start")
    refuse()
    wait_for(lambda: "retry not published" in caplog.text, timeout=60, what="the retry to be refused")
    # Each put-back run may wait out the object's lease (PACER_STEP_LEASE_SECONDS, 30 s).
    wait_for(lambda: "next link not published" in caplog.text, timeout=150, what="the next link to be refused")
    assert records(run, "nl")["effects"] == {"first"}
    lift()
    wait_for(lambda: len(records(run, "nl")["effects"]) == 3, timeout=150, what="the chain to complete")
    # The step that ended well is not run again for its refused next link: only published.
    assert records(run, "nl")["executions"] == ["first", "first", "second", "third"]
    assert letters_of_run(broker, run) == []
    (row,) = journaled(run)
    assert row.status == "done"


def test_a_dead_letter_sent_with_the_content_type_in_a_header_only_replays(bridges, broker, run):
    # As the User Office System sends: no content_type property, {"content-type": ...} header.
    send(broker, {"run": run}, content_type=None, headers={"content-type": "application/json"})
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="the dead letter")
    assert letter.content_type == "application/json"
    assert "item: Field required" in validate(letter)  # the schema speaks, not the content type


def test_replay_and_purge_of_nothing_say_so(bridges, capsys):
    assert main(["dlq", "replay", "no-such-letter"]) == 1
    assert "no dead letter matches" in capsys.readouterr().err
    assert main(["dlq", "purge", "--yes", "no-such-letter"]) == 1
    assert main(["messages", "replay", "no-such-message"]) == 1
    assert "not found" in capsys.readouterr().out


def test_purge_names_what_it_deletes(bridges, broker, run, capsys):
    send(broker, b"{", headers={"note": run})
    (letter,) = wait_for(lambda: dead_letters(broker, lambda x: x.headers.get("note") == run), what="a dead letter")
    assert main(["dlq", "purge", "--yes", letter.id]) == 0
    out = capsys.readouterr().out
    assert letter.id in out and letter.message_id in out and "1 dead letter(s) purged" in out
    actions = search_actions(letter.message_id)
    assert [a.action for a in actions] == ["purge"]


def search_actions(message_id: str):
    with journal().engine.connect() as connection:
        return search.timeline(connection, message_id).actions

