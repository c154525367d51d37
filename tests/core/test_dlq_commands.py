"""`pacer dlq list / show / replay / purge` against the real dead-letter queue."""

from __future__ import annotations

import json

import pytest

from pacer_celery.cli import main
from tests.core.conftest import letters_of_run, records, send, wait_for
from tests.support import probe

# Replay re-validates with the registered bridge of the letter's message type: importing
# tests.support.probe registered the probe bridges.

@pytest.fixture
def dead_letter(bridges, broker, run):
    """A message dead-lettered because of a fault outside the message (then fixed)."""
    probe.store().set(f"{run}:broken", 1)
    send(broker, {"run": run, "item": "d", "faults": {"second": "until-fixed"}})
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    return letter


def test_list_shows_a_table_and_json(dead_letter, capsys):
    assert main(["dlq", "list"]) == 0
    table = capsys.readouterr().out
    assert dead_letter.id in table and "probe.second" in table and "second refused d" in table

    assert main(["dlq", "list", "--json"]) == 0
    # One JSON document per line: the queue streams, however long it is.
    listed = {d["id"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    entry = listed[dead_letter.id]
    assert entry["failed_steps"] == ["probe.second"]
    assert entry["identifiers"]["probe"] == "d"
    assert entry["attempts"] == 1
    assert entry["source"] == "tests"


def test_show_prints_the_letter_and_its_body(dead_letter, capsys):
    assert main(["dlq", "show", dead_letter.id]) == 0
    out = capsys.readouterr().out
    assert '"reason": "probe.second: second refused d"' in out
    assert dead_letter.body.decode() in out


def test_replay_dry_run_changes_nothing(dead_letter, broker, run, capsys):
    assert main(["dlq", "replay", "--dry-run", dead_letter.id]) == 0
    assert "would replay" in capsys.readouterr().out
    assert [letter.id for letter in letters_of_run(broker, run)] == [dead_letter.id]


def test_replay_after_the_cause_is_fixed_completes_the_message(dead_letter, broker, run, capsys):
    probe.store().delete(f"{run}:broken")
    assert main(["dlq", "replay", dead_letter.id]) == 0
    assert "replayed" in capsys.readouterr().out
    wait_for(lambda: len(records(run, "d")["effects"]) == 3, what="the replayed chain")
    assert letters_of_run(broker, run) == []


def test_replay_refuses_a_message_that_is_still_invalid(bridges, broker, run, capsys):
    send(broker, {"run": run})
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert main(["dlq", "replay", letter.id]) == 1
    assert "still invalid: invalid message: item: Field required" in capsys.readouterr().out
    assert [x.id for x in letters_of_run(broker, run)] == [letter.id]


def test_purge_removes_only_the_selected_letters(dead_letter, broker, run, capsys):
    assert main(["dlq", "purge", "--yes", dead_letter.id]) == 0
    assert "1 dead letter(s) purged" in capsys.readouterr().out
    assert letters_of_run(broker, run) == []
