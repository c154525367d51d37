"""What the journal costs one dataset message, on PostgreSQL and on SQLite.

    python bench/journal.py [--messages 1000]

Makes, for each of ``--messages`` dataset-ingestion messages (10 datafiles, 3 parameters),
exactly the journal calls PACER makes for it when nothing goes wrong:

- the bridge's: the arrival (body included: the claim check), in batches of
  ``dispatch.BATCH_SIZE``, then "dispatched" once the chain's publish is confirmed;
- the worker's, for the four links: the record read (once: the runtime caches it), the
  first step's start (the ordering lock and version check), then, as a worker running
  the next links in the same task does (``PACER_INLINE_LINKS``), each step's end and the
  next one's start in one hand-over, and the last step's end with the message's fate;
  and, as a worker publishing every link does, a start and an end per link.

Prints wall time and this process's CPU per message for each side, and on PostgreSQL the
write-ahead log the inline links write per message (the database's disk). Set beside the
worker's CPU per dataset message from bench/pipeline.py, it is the worker's cost with the
journal and (that minus the journal's share) without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import make_url  # noqa: E402 - after the path is set

from pacer_celery.bridges.dispatch import BATCH_SIZE  # noqa: E402
from pacer_celery.journal.store import Arrival, Journal, StepAttempt  # noqa: E402
from tests.conftest import POSTGRES_URL, postgres  # noqa: E402
from messages import dataset  # noqa: E402

STEPS = ("datasets.create_dataset", "datasets.register_datafiles", "datasets.upsert_parameters", "datasets.finalize")
LEASE = timedelta(minutes=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="dataset messages (default 1000)")
    args = parser.parse_args()
    name = f"pacer_bench_{uuid.uuid4().hex[:6]}"
    with postgres() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        measure("PostgreSQL", make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False),
                args.messages)
        with tempfile.TemporaryDirectory() as directory:
            measure("SQLite", f"sqlite:///{directory}/journal.sqlite", args.messages)
    finally:
        from pacer_celery.journal.database import dispose_all

        dispose_all()
        with postgres() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(label: str, url: str, count: int) -> None:
    journal = Journal(url)
    body = json.dumps(dataset("20261234", "scan")).encode()
    arrivals = [
        Arrival(message_id=str(uuid.uuid4()), message_type="dataset-ingestion", source="bench",
                routing_key="dataset.ingestion", content_type="application/json", headers={}, body=body,
                identifiers={"instrument": "ID01", "dataset": f"scan_{i:05d}", "proposal": "20261234"},
                object_key=f"dataset:ID01/scan_{i:05d}")
        for i in range(count)
    ]
    bridge = timed(lambda: bridge_side(journal, arrivals))
    wal_before = wal_position(journal)
    inline = timed(lambda: worker_side(journal, arrivals[: count // 2], inline=True))
    wal_after = wal_position(journal)
    published = timed(lambda: worker_side(journal, arrivals[count // 2:], inline=False))
    half = count // 2
    wal = "" if wal_before is None else f", {(wal_after - wal_before) / half / 1024:.1f} KiB of WAL"
    print(f"{label:10}: bridge {1000 * bridge[0] / count:5.2f} ms wall, {1000 * bridge[1] / count:5.2f} ms CPU; "
          f"worker (4 links) inline {1000 * inline[0] / half:5.2f} ms wall, {1000 * inline[1] / half:5.2f} ms CPU{wal}, "
          f"published {1000 * published[0] / half:5.2f} ms wall, {1000 * published[1] / half:5.2f} ms CPU "
          f"per dataset message; inline ÷ published CPU {inline[1] / published[1]:.2f}", flush=True)


def bridge_side(journal: Journal, arrivals: list[Arrival]) -> None:
    for start in range(0, len(arrivals), BATCH_SIZE):
        batch = arrivals[start:start + BATCH_SIZE]
        journal.record_arrivals(batch)
        journal.mark_dispatched([a.message_id for a in batch])


def worker_side(journal: Journal, arrivals: list[Arrival], *, inline: bool) -> None:
    for arrival in arrivals:
        record = journal.load(arrival.message_id)
        holder = str(uuid.uuid4())
        attempts = [StepAttempt(record, record.dispatch, step, 1, str(uuid.uuid4()), holder=holder if inline else None)
                    for step in STEPS]
        start = journal.begin_step(attempts[0], LEASE, supersedable=True)
        for position, attempt in enumerate(attempts):
            if start.verdict != "run":
                raise SystemExit(f"{arrival.message_id} {attempt.step}: the journal said {start.verdict}")
            result = {"step": attempt.step}
            if position == len(attempts) - 1:
                journal.end_step(attempt, status="ok", result=result, outcome="done")
            elif inline:
                start = journal.hand_over(attempt, result, attempts[position + 1], LEASE)
            else:
                journal.end_step(attempt, status="ok", result=result)
                start = journal.begin_step(attempts[position + 1], LEASE, supersedable=True)


def wal_position(journal: Journal) -> int | None:
    """PostgreSQL's write-ahead log position in bytes (None on SQLite): what the
    journal's writes cost the database's disk."""
    if journal.engine.dialect.name != "postgresql":
        return None
    with journal.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").scalar_one())


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
