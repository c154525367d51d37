"""How fast one bridge validates, journals and dispatches, beside a bare kombu loop that
forwards the same messages under the same rules.

    python bench/bridge.py [--messages 3000] [--rounds 3]

Both drain identical messages from a queue of their own in a throwaway RabbitMQ virtual
host, with the same prefetch and the same batching:

- the bare loop consumes, publishes each body on a confirm-mode channel of its own, and
  acks each input once its own publish is confirmed, awaiting confirms per batch
  (``dispatch.BATCH_SIZE`` inputs or ``BATCH_SECONDS``), as the bridge does;
- PACER's bridge (the real dataset-ingestion and user-update bridges) decodes, validates
  with Pydantic, journals every batch on PostgreSQL (the claim check: bodies in the
  journal), publishes the chains and acks after their confirms.

Two messages: a dataset-ingestion with 10 datafiles and 3 parameters, and a user-update.
No worker runs: only the bridge's side is measured. Prints messages per second for each,
round by round, the CPU this process spent per message, and the ratios bridge ÷ bare
loop (the speed issue's aim: 0.8 or more).

Needs RabbitMQ (``rabbitmqctl`` on this machine) and PostgreSQL (``PACER_TEST_POSTGRES_URL``,
default postgres@127.0.0.1); a journal database and a virtual host of its own are
created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUN = uuid.uuid4().hex[:6]
VHOST = f"pacer-bench-{RUN}"
DATABASE = f"pacer_bench_{RUN}"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per run (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="bare/bridge pairs, alternated (default 3)")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, postgres

    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, os.environ.get("PACER_RMQ_USERNAME", "guest"), ".*", ".*", ".*")
    with postgres() as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    os.environ["PACER_JOURNAL_URL"] = make_url(POSTGRES_URL).set(database=DATABASE).render_as_string(
        hide_password=False)
    try:
        from pacer_celery.journal import journal

        journal()  # its schema created before anything is timed
        for name, body in bodies().items():
            compare(name, body, args.messages, args.rounds)
    finally:
        from pacer_celery.journal.database import dispose_all

        dispose_all()
        with postgres() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        rabbitmqctl("delete_vhost", VHOST)


def bodies() -> dict[str, tuple[str, bytes]]:
    from messages import dataset
    from tests.flows.conftest import user_message

    return {
        "dataset (10 datafiles)": ("dataset-ingestion", json.dumps(dataset("20261234", "scan")).encode()),
        "user-update": ("user-update", json.dumps(user_message("bench.user")).encode()),
    }


def compare(name: str, message: tuple[str, bytes], count: int, rounds: int) -> None:
    kind, body = message
    from pacer_celery.bridges.dispatch import BATCH_SIZE

    batched, single, bridged = [], [], []
    cpu_bare, cpu_bridge = [], []
    print(f"{name}: {count} messages per run, {len(body)} bytes each", flush=True)
    for round_ in range(1, rounds + 1):
        elapsed, cpu = bare_loop(body, count, BATCH_SIZE)
        batched.append(count / elapsed)
        cpu_bare.append(1000 * cpu / count)
        single.append(count / bare_loop(body, count, 1)[0])
        elapsed, cpu = bridge(kind, body, count)
        bridged.append(count / elapsed)
        cpu_bridge.append(1000 * cpu / count)
        print(f"  round {round_}: bare loop {batched[-1]:6.0f} msg/s, {cpu_bare[-1]:.2f} ms CPU/msg "
              f"(confirm per message {single[-1]:6.0f} msg/s)   bridge {bridged[-1]:6.0f} msg/s, "
              f"{cpu_bridge[-1]:.2f} ms CPU/msg", flush=True)
    bare, one_by_one, pacer = (statistics.median(rates) for rates in (batched, single, bridged))
    print(f"  median: bridge ÷ bare loop with batched confirms {pacer / bare:.2f} (aim: >= 0.8); "
          f"÷ bare loop awaiting each confirm {pacer / one_by_one:.2f}; CPU per message bridge ÷ bare loop "
          f"{statistics.median(cpu_bridge) / statistics.median(cpu_bare):.2f}", flush=True)


def fill(exchange, routing_key: str, body: bytes, count: int) -> None:
    from kombu import Producer

    from pacer_celery.bridges.runner import connect
    from pacer_celery.settings import get_settings

    with connect(get_settings()) as connection:
        producer = Producer(connection.default_channel, exchange=exchange)
        for _ in range(count):
            producer.publish(body, routing_key=routing_key, content_type="application/json",
                             message_id=f"bench-{uuid.uuid4().hex}", delivery_mode=2)


def bare_loop(body: bytes, count: int, batch_size: int) -> tuple[float, float]:
    """Seconds (wall, this process's CPU) the bare loop takes to forward ``count``
    messages, awaiting confirms per ``batch_size`` publishes (1: a confirm awaited for
    every message)."""
    from kombu import Connection, Consumer, Producer, Queue

    from pacer_celery.bridges.dispatch import BATCH_SECONDS, BATCH_SIZE
    from pacer_celery.bridges.runner import connect
    from pacer_celery.settings import get_settings

    settings = get_settings()
    source, target = Queue("bench.bare-in", durable=True), Queue("bench.bare-out", durable=True)
    with connect(settings) as connection, Connection(settings.broker()) as out:
        for queue in (source, target):
            queue(connection.default_channel).declare()
            queue(connection.default_channel).purge()
        fill(source.exchange, source.name, body, count)
        channel = out.channel()
        channel.confirm_select()
        unconfirmed: dict[int, object] = {}
        confirmed: list = []
        next_tag = 1

        def on_ack(tag: int, multiple: bool) -> None:
            for t in [t for t in unconfirmed if t <= tag] if multiple else [tag]:
                confirmed.append(unconfirmed.pop(t))

        channel.events["basic_ack"].add(on_ack)
        producer = Producer(channel)
        batch_started = 0.0
        done = 0

        def settle() -> None:
            nonlocal done
            while unconfirmed:
                out.drain_events(timeout=30)
            for message in confirmed:
                message.ack()
            done += len(confirmed)
            confirmed.clear()

        def forward(message) -> None:
            nonlocal next_tag, batch_started
            if not unconfirmed:
                batch_started = time.monotonic()
            producer.publish(message.body, routing_key=target.name, content_type="application/json",
                             delivery_mode=2)
            unconfirmed[next_tag] = message
            next_tag += 1
            if len(unconfirmed) >= batch_size:
                settle()

        consuming = connection.channel()
        started, cpu = time.perf_counter(), time.process_time()
        with Consumer(consuming, queues=[source], on_message=forward, prefetch_count=settings.bridge_prefetch):
            while done < count:
                try:
                    connection.drain_events(timeout=BATCH_SECONDS)
                except TimeoutError:
                    pass
                if unconfirmed and time.monotonic() - batch_started >= BATCH_SECONDS:
                    settle()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        consuming.close()
        target(connection.default_channel).purge()
    return elapsed, cpu


def bridge(kind: str, body: bytes, count: int) -> tuple[float, float]:
    """Seconds (wall, this process's CPU) PACER's bridge for ``kind`` takes to dispatch
    ``count`` messages."""
    from pacer_celery import topology
    from pacer_celery.bridges import REGISTRY
    from pacer_celery.bridges.runner import BridgeRunner, connect
    from pacer_celery.journal import journal
    from pacer_celery.settings import get_settings

    settings = get_settings().model_copy(update={"max_message_bytes": 16 * 1024 * 1024})
    chosen = REGISTRY[kind]()
    with connect(settings) as connection:
        runner = BridgeRunner(connection, [chosen], settings, journal(), sweep=False)
        source = topology.input_queue(settings, chosen.queue, chosen.routing_key_in(settings))
        source(connection.default_channel).declare()
        source(connection.default_channel).purge()
        tasks = topology.task_queue()(connection.default_channel)
        tasks.declare()
        tasks.purge()
        fill(source.exchange, source.routing_key, body, count)
        acked = 0
        finished = threading.Event()
        ack = runner.ack

        def counting(messages) -> None:
            nonlocal acked
            ack(messages)
            acked += len(messages)
            if acked >= count:
                finished.set()
                runner.should_stop = True

        runner.ack = counting
        thread = threading.Thread(target=runner.run, daemon=True)
        started, cpu = time.perf_counter(), time.process_time()
        thread.start()
        if not finished.wait(600):
            raise SystemExit(f"the bridge acked {acked} of {count} messages in 10 minutes")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        thread.join(30)
        tasks.purge()
    return elapsed, cpu


if __name__ == "__main__":
    main()
