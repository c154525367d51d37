"""Worker throughput through the whole pipeline, with PACER's ordering on and off.

    python bench/pipeline.py [--proposals 150] [--datasets 300] [--rounds 3] [--concurrency 2]

Each run starts the fault suite's stack without its faults (tests/faults/stack.py: a
private RabbitMQ node, an ICAT testbox on a file, a PostgreSQL journal, one ``pacer
bridge`` and one ``celery -A pacer_celery worker -c CONCURRENCY``) and measures two mixes,
each of distinct objects:

- the proposal mix: proposal-updates of new proposals (investigation, visit, team of two);
- the dataset mix: dataset-ingestions into those proposals, each with 10 datafiles,
  3 parameters and a sample.

For each mix the worker is stopped while the bridge journals and dispatches every
message, then started: the time from its "ready" until every message is ``done`` in the
journal gives the worker's messages per second; its processes' CPU (and the testbox's,
apart) over that time gives CPU per message. Runs with ``PACER_ORDERING`` on and off
alternate, round after round; the bench prints each run and the ratios on ÷ off (the
aim: 0.9 or more, objects being distinct).

Needs ``rabbitmq-server`` (a private node is started), Redis and PostgreSQL, as the test
suite does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402 - after the path is set

from pacer_celery.journal import FINAL  # noqa: E402
from pacer_celery.journal.database import engine_for  # noqa: E402
from pacer_celery.journal.schema import messages  # noqa: E402
from pacer_celery.producer import PacerProducer  # noqa: E402
from tests.faults.harness import producer_settings  # noqa: E402
from tests.faults.stack import Stack, Tuning, running_stack  # noqa: E402
from messages import dataset  # noqa: E402
from tests.flows.conftest import proposal_message  # noqa: E402

#: Production-like patience: nothing here is broken, so nothing should be swept or leased away.
TUNING = Tuning(step_lease_seconds=120, stalled_after_seconds=600, sweep_interval_seconds=30)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_TIMEOUT = 1800.0


@dataclass
class Measure:
    messages: int
    seconds: float
    worker_cpu: float
    icat_cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def line(self) -> str:
        return (f"{self.rate:6.1f} msg/s, worker CPU {1000 * self.worker_cpu / self.messages:6.1f} ms/msg, "
                f"testbox CPU {1000 * self.icat_cpu / self.messages:6.1f} ms/msg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposals", type=int, default=150, help="proposal-updates per run (default 150)")
    parser.add_argument("--datasets", type=int, default=300, help="dataset-ingestions per run (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs, alternated (default 3)")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's -c (default 2)")
    args = parser.parse_args()
    results: dict[tuple[str, bool], list[Measure]] = {}
    for round_ in range(1, args.rounds + 1):
        for ordering in (True, False):
            for mix, measure in run(ordering, args.proposals, args.datasets, args.concurrency).items():
                results.setdefault((mix, ordering), []).append(measure)
                print(f"round {round_} ordering {'on ' if ordering else 'off'} {mix:9}: {measure.line()}",
                      flush=True)
    for mix in ("proposals", "datasets"):
        on = statistics.median(m.rate for m in results[(mix, True)])
        off = statistics.median(m.rate for m in results[(mix, False)])
        print(f"{mix:9}: ordering on {on:6.1f} msg/s, off {off:6.1f} msg/s, ratio on/off {on / off:.2f} (aim >= 0.9)")


def run(ordering: bool, proposals: int, datasets: int, concurrency: int) -> dict[str, Measure]:
    tag = f"{'on' if ordering else 'off'}{time.monotonic_ns() % 10**6:06d}"
    with tempfile.TemporaryDirectory(prefix="pacer-bench-") as directory, running_stack(
        Path(directory), TUNING, bridges=1, workers=1, concurrency=concurrency,
        PACER_ORDERING=str(ordering).lower(),
    ) as stack:
        worker = stack.workers[0]
        worker.stop()
        names = [f"B{tag}{i:04d}" for i in range(proposals)]
        found = {"proposals": measure(stack, [("proposal-update", proposal_message(name)) for name in names])}
        mix = [("dataset-ingestion", dataset(names[i % proposals], f"scan_{i:05d}")) for i in range(datasets)]
        found["datasets"] = measure(stack, mix)
        return found


def measure(stack: Stack, batch: list[tuple[str, dict]]) -> Measure:
    """Publish ``batch`` with the worker stopped, wait until the bridge dispatched it
    all, then time the worker through it."""
    ids = publish(stack, batch)
    wait(stack, ids, lambda statuses: statuses.get("received", 0) == 0 and sum(statuses.values()) == len(ids),
         "the bridge to dispatch every message")
    worker = stack.workers[0]
    worker.start()
    started, worker_cpu, icat_cpu = time.monotonic(), cpu_seconds(worker), cpu_seconds(stack.icat.service)
    wait(stack, ids, lambda statuses: sum(n for s, n in statuses.items() if s in FINAL) == len(ids),
         "every message to be final")
    measured = Measure(len(ids), time.monotonic() - started, cpu_seconds(worker) - worker_cpu,
                       cpu_seconds(stack.icat.service) - icat_cpu)
    worker.stop()
    statuses = count_statuses(stack, ids)
    if statuses != {"done": len(ids)}:
        raise SystemExit(f"not every message was done: {statuses}\n{stack.logs()}")
    return measured


def publish(stack: Stack, batch: list[tuple[str, dict]]) -> list[str]:
    producer = PacerProducer(producer_settings(stack), source="bench")
    try:
        return [producer.publish(message_type, payload) for message_type, payload in batch]
    finally:
        producer.close()


def count_statuses(stack: Stack, ids: list[str]) -> dict[str, int]:
    with engine_for(stack.journal_url).connect() as connection:
        rows = connection.execute(
            select(messages.c.status, func.count()).where(messages.c.message_id.in_(ids)).group_by(messages.c.status)
        ).all()
    return dict(rows)


def wait(stack: Stack, ids: list[str], ready, what: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not ready(count_statuses(stack, ids)):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}: {count_statuses(stack, ids)}\n{stack.logs()}")
        time.sleep(0.2)


def cpu_seconds(service) -> float:
    """User and system CPU of the service's process and all its descendants (Celery's pool)."""
    return sum(_own_cpu(pid) for pid in _tree(service.process.pid))


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            for child in children:
                found += _tree(int(child))
    except FileNotFoundError:
        pass
    return found


def _own_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # utime and stime: fields 14 and 15 of proc(5), counted after the command's ")".
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


if __name__ == "__main__":
    main()
