"""A message whose step kills its worker every time: dead-lettered after a few tries, not
redelivered forever. Its own module: no in-process worker may ever run this step."""

from __future__ import annotations

import os

from tests.core.conftest import letters_of_run, records, send, wait_for
from tests.support import probe
from tests.support.commands import running, worker
from tests.support.pipeline import running_bridges


def test_a_message_that_kills_its_worker_is_dead_lettered_not_looped(broker, run, tmp_path):
    env = {**os.environ, "PACER_MAX_WORKER_LOSSES": "3"}
    with running(worker("poison", concurrency=1) + ["--include=tests.support.probe"], env,
                 tmp_path / "worker.log", "ready."), running_bridges([probe.ProbeBridge()]):
        send(broker, {"run": run, "item": "poison", "faults": {"second": "kill-worker"}})
        (letter,) = wait_for(lambda: letters_of_run(broker, run), timeout=120, what="the poison's dead letter")
    assert "killed its worker 3 times" in letter.reason and letter.failed_steps == ["probe.second"]
    assert records(run, "poison")["executions"] == ["first", "second", "second", "second"]
