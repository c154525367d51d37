"""The producer: confirmed, mandatory, the original's headers, one connection."""

from __future__ import annotations

import pytest
from kombu import Queue

from pacer_celery import topology
from pacer_celery.bridges.datasets import DatasetsBridge
from pacer_celery.bridges.users import UsersBridge
from pacer_celery.envelope import raw_body
from pacer_celery.errors import ConfigurationError
from pacer_celery.producer import PacerProducer, PublishError
from pacer_celery.settings import Settings, get_settings


@pytest.fixture
def users_queue(broker):
    """Bind pacer.users as the bridge would, and read what arrives."""
    settings = get_settings()
    queue = topology.input_queue(settings, "pacer.users", UsersBridge.routing_key_in(settings))
    bound = queue(broker.default_channel)
    bound.declare()
    bound.purge()
    yield bound
    bound.purge()


def test_published_message_arrives_with_headers_and_id(users_queue):
    with PacerProducer(source="uos") as producer:
        message_id = producer.publish("user-update", {"username": "jdoe"})
    message = users_queue.get(no_ack=True)
    assert message is not None
    assert message.properties["message_id"] == message_id
    assert message.headers["source"] == "uos"
    assert message.headers["content-type"] == "application/json"
    assert message.properties["delivery_mode"] == 2
    assert raw_body(message) == b'{"username": "jdoe"}'


def test_one_connection_is_reused_across_messages(users_queue):
    with PacerProducer() as producer:
        producer.publish("user-update", {"username": "a"})
        connection = producer._connection
        for name in "bcd":
            producer.publish("user-update", {"username": name})
        assert producer._connection is connection
    assert [raw_body(users_queue.get(no_ack=True)) for _ in range(4)] == [
        b'{"username": "%s"}' % n.encode() for n in "abcd"
    ]


def test_unroutable_message_raises(broker):
    settings = Settings(rmq_users_routing_key="nobody.listens.here")
    with PacerProducer(settings) as producer, pytest.raises(PublishError, match="unroutable"):
        producer.publish("user-update", {"username": "x"})


def test_unknown_message_type_is_a_configuration_error():
    with PacerProducer() as producer, pytest.raises(ConfigurationError, match="unknown message type"):
        producer.publish("no-such-type", {})


def test_disabled_producer_raises_instead_of_dropping():
    with PacerProducer(Settings(producer_disabled=True)) as producer, pytest.raises(PublishError):
        producer.publish("user-update", {"username": "x"})


def test_unreachable_broker_raises():
    settings = Settings(rmq_port=1)
    with PacerProducer(settings) as producer, pytest.raises(PublishError, match="not published"):
        producer.publish("user-update", {"username": "x"})


def test_xml_body_is_sent_as_given(broker):
    settings = get_settings()
    queue = Queue("pacer.datasets", exchange=topology.exchange(settings),
                  routing_key=DatasetsBridge.routing_key_in(settings))(broker.default_channel)
    queue.declare()
    queue.purge()
    with PacerProducer() as producer:
        producer.publish("dataset-ingestion", "<dataset/>", content_type="application/xml")
    message = queue.get(no_ack=True)
    assert raw_body(message) == b"<dataset/>"
    assert message.properties["content_type"] == "application/xml"
    assert message.headers["content-type"] == "application/xml"
    queue.delete()


def test_publish_command_sends_each_file(users_queue, tmp_path, capsys):
    from pacer_celery.cli import main

    files = []
    for name in ("jdoe", "asmith"):
        path = tmp_path / f"{name}.json"
        path.write_text(f'{{"username": "{name}"}}')
        files.append(str(path))
    assert main(["publish", "--type", "user-update", "--source", "uos", *files]) == 0
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "published as" in out
    first, second = users_queue.get(no_ack=True), users_queue.get(no_ack=True)
    assert raw_body(first) == b'{"username": "jdoe"}'
    assert raw_body(second) == b'{"username": "asmith"}'
    assert first.headers["source"] == "uos"


def test_publish_command_reports_a_missing_file_and_goes_on(users_queue, tmp_path, capsys):
    from pacer_celery.cli import main

    good = tmp_path / "good.json"
    good.write_text('{"username": "x"}')
    assert main(["publish", "--type", "user-update", str(tmp_path / "missing.json"), str(good)]) == 1
    captured = capsys.readouterr()
    assert "missing.json: NOT published" in captured.err
    assert raw_body(users_queue.get(no_ack=True)) == b'{"username": "x"}'
