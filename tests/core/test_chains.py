"""Bridges dispatch ordered chains; both failure modes; retries; no message lost."""

from __future__ import annotations

import json

from tests.core.conftest import letters_of_run, records, send, wait_for


def probe(run: str, item: str, **faults: str) -> dict:
    return {"run": run, "item": item, "faults": faults}


def test_chain_runs_callbacks_in_order(bridges, broker, run):
    send(broker, probe(run, "a"))
    wait_for(lambda: len(records(run, "a")["effects"]) == 3, what="three steps")
    # callback_order 1, 2, then the unordered callback.
    assert records(run, "a")["executions"] == ["first", "second", "third"]


def test_reject_at_first_error_stops_chain_and_dead_letters(bridges, broker, run):
    body = probe(run, "b", second="permanent")
    send(broker, body, headers={"trace": "t-1"})
    letters = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert len(letters) == 1
    letter = letters[0]
    assert records(run, "b")["executions"] == ["first", "second"]
    assert letter.failed_steps == ["probe.second"]
    assert letter.errors[0].error == "second refused b"
    assert letter.attempts == 1
    assert letter.message_type == "probe"
    assert letter.routing_key == "test.probe"
    assert letter.identifiers == {"probe": "b", "run": run}
    assert json.loads(letter.body) == body
    assert letter.headers["trace"] == "t-1" and letter.headers["source"] == "tests"


def test_collecting_mode_runs_every_step_then_dead_letters_all_errors(bridges, broker, run):
    send(
        broker,
        probe(run, "c", first="permanent", third="permanent"),
        routing_key="test.probe-collecting",
    )
    letters = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert records(run, "c")["executions"] == ["first", "second", "third"]
    assert records(run, "c")["effects"] == {"second"}
    (letter,) = letters
    assert letter.failed_steps == ["probe.first", "probe.third"]
    assert letter.message_type == "probe-collecting"
    assert "first refused c" in letter.reason and "third refused c" in letter.reason


def test_collecting_mode_without_errors_leaves_no_dead_letter(bridges, broker, run):
    send(broker, probe(run, "d"), routing_key="test.probe-collecting")
    wait_for(lambda: len(records(run, "d")["effects"]) == 3, what="three steps")
    assert letters_of_run(broker, run) == []


def test_transient_fault_is_retried_and_the_chain_completes(bridges, broker, run):
    send(broker, probe(run, "e", first="flaky"))
    wait_for(lambda: len(records(run, "e")["effects"]) == 3, what="three steps")
    assert records(run, "e")["executions"] == ["first", "first", "second", "third"]
    assert letters_of_run(broker, run) == []


def test_transient_fault_that_never_passes_is_dead_lettered_after_the_retry_limit(
    bridges, broker, run
):
    send(broker, probe(run, "f", second="transient"))
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    # PACER_MAX_RETRIES=2 in tests: the first attempt and two retries.
    assert letter.attempts == 3
    assert letter.errors[0].error == "gave up after 3 attempts: second: service unavailable"
    assert records(run, "f")["executions"] == ["first", "second", "second", "second"]


def test_bad_message_among_good_ones_loses_nothing(bridges, broker, run):
    for i in range(5):
        send(broker, probe(run, f"good{i}"))
    send(broker, f'{{"run": "{run}", "item": ')  # truncated JSON
    for i in range(5, 10):
        send(broker, probe(run, f"good{i}"))
    for i in range(10):
        wait_for(lambda: len(records(run, f"good{i}")["effects"]) == 3, what=f"good{i}")
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert letter.reason.startswith("malformed JSON")
    assert letter.failed_steps == ["validate"]
