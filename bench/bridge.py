"""How fast one bridge validates and dispatches, beside a bare kombu loop on the same broker.

    python bench/bridge.py [--messages 3000]

Both drain the same number of identical messages from a queue of their own in a throwaway
RabbitMQ virtual host. The bare loop is the simplest reliable forwarder: consume, publish the
body with a publisher confirm, ack. The bridge decodes, validates with Pydantic, builds a
three-step Celery chain, publishes it and acks once the broker has confirmed it (confirms
awaited per small batch, as in production). It prints messages per second for each and their
ratio (the aim: the bridge at 0.5 or more of the bare loop). No worker runs: only dispatch
is measured.
"""


import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VHOST = f"pacer-bench-{uuid.uuid4().hex[:6]}"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    try:
        run(args.messages)
    finally:
        rabbitmqctl("delete_vhost", VHOST)


def run(count: int) -> None:
    # Imported after the vhost is set: settings are read once.
    from kombu import Connection, Consumer, Producer, Queue

    from pacer_celery.bridges import PacerBridge, callback_order
    from pacer_celery.bridges.runner import BridgeRunner, connect
    from pacer_celery.models import PacerModel, Text, Timestamp
    from pacer_celery.settings import get_settings
    from pacer_celery.steps import step

    class Reading(PacerModel):
        instrument: Text
        dataset: Text
        start_date: Timestamp
        values: list[float] = []

    @step("bench.store")
    def store(message: Reading) -> None: ...

    @step("bench.index")
    def index(message: Reading) -> None: ...

    class ReadingBridge(PacerBridge):
        dashboard_message_type = "bench-reading"
        queue = "bench.readings"
        routing_key = "bench.readings"
        model = Reading

        def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
            return {"instrument": message.instrument, "dataset": message.dataset}

        @callback_order(1)
        def first(self, message):
            return store

        @callback_order(2)
        def second(self, message):
            return index

    settings = get_settings()
    body = json.dumps({
        "instrument": "ID01", "dataset": "scan_0001",
        "start_date": "2026-12-01T10:00:00+01:00", "values": [1.5] * 20,
    }).encode()

    with connect(settings) as connection:
        bridge = ReadingBridge()
        runner = BridgeRunner(connection, [bridge], settings)
        source = runner.input_queue(bridge)
        bare_in = Queue("bench.bare-in", durable=True)
        bare_out = Queue("bench.bare-out", durable=True)
        for queue in (source, bare_in, bare_out):
            queue(connection.default_channel).declare()

        fill(connection, Producer, bare_in.name, body, count)
        bare = time_bare_loop(connection, Connection, Consumer, Producer, bare_in, bare_out, count, settings)

        producer = Producer(connection.default_channel, exchange=source.exchange)
        for _ in range(count):
            producer.publish(body, routing_key=source.routing_key, content_type="application/json")
        pacer = time_bridge(runner, count)

    print(f"bare kombu loop : {count / bare:8.0f} messages/s")
    print(f"PACER bridge    : {count / pacer:8.0f} messages/s")
    print(f"ratio           : {bare / pacer:8.2f}  (aim: >= 0.5)")


def fill(connection, producer_class, queue: str, body: bytes, count: int) -> None:
    producer = producer_class(connection.default_channel)
    for _ in range(count):
        producer.publish(body, routing_key=queue, content_type="application/json")


def time_bare_loop(connection, connection_class, consumer_class, producer_class, source, target, count, settings):
    done = 0
    with connection_class(settings.broker(), transport_options={"confirm_publish": True}) as out:
        producer = producer_class(out.default_channel)

        def forward(message):
            nonlocal done
            producer.publish(message.body, routing_key=target.name, content_type="application/json")
            message.ack()
            done += 1

        channel = connection.channel()
        started = time.perf_counter()
        with consumer_class(channel, queues=[source], on_message=forward, prefetch_count=settings.bridge_prefetch):
            while done < count:
                connection.drain_events(timeout=10)
        elapsed = time.perf_counter() - started
        channel.close()
    return elapsed


def time_bridge(runner, count: int) -> float:
    handled = 0
    on_message = runner.on_message

    def counting(bridge, message):
        nonlocal handled
        on_message(bridge, message)
        handled += 1
        if handled >= count:
            runner.should_stop = True

    runner.on_message = counting
    started = time.perf_counter()
    runner.run()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
