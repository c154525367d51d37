"""Flower as the README sets it up: history kept across restarts, steps that read well."""

from __future__ import annotations

from tests.core.conftest import letters_of_run, records, send, wait_for
from tests.support.flower import running_flower, search


def test_flower_keeps_its_tasks_across_a_restart_and_shows_outcomes_in_a_line(
    bridges, broker, run, tmp_path, monkeypatch
):
    # The README's --persistent=True --db=... --state_save_interval=... --max_tasks=...,
    # as Flower's FLOWER_* variables (what the support's Flower process passes on).
    monkeypatch.setenv("FLOWER_PERSISTENT", "true")
    monkeypatch.setenv("FLOWER_DB", str(tmp_path / "flower.db"))
    monkeypatch.setenv("FLOWER_STATE_SAVE_INTERVAL", "5000")
    monkeypatch.setenv("FLOWER_MAX_TASKS", "50000")
    with running_flower() as flower:
        send(broker, {"run": run, "item": "kept"})
        send(broker, {"run": run, "item": "bad", "faults": {"second": "permanent"}})
        wait_for(lambda: len(records(run, "kept")["effects"]) == 3, what="three steps")
        wait_for(lambda: letters_of_run(broker, run), what="the dead letter")
        wait_for(lambda: (tasks := search(flower, f"kwargs:run={run}")) and len(tasks) == 5
                 and all(t["state"] in ("SUCCESS", "FAILURE") for t in tasks.values()),
                 what="five tasks in Flower, each ended")

    with running_flower() as flower:  # nothing new ran: what it finds, it kept
        tasks = search(flower, f"kwargs:run={run}")
    assert len(tasks) == 5
    by_step = {(t["kwargs"].count("'probe': 'bad'") > 0, t["name"]): t for t in tasks.values()}
    ok = by_step[(False, "pacer.probe.first")]
    assert ok["state"] == "SUCCESS" and "\n" not in ok["result"], ok
    failed = by_step[(True, "pacer.probe.second")]
    assert failed["state"] == "FAILURE", failed
    assert failed["exception"] == "DeadLettered('probe.second: second refused bad')", failed
