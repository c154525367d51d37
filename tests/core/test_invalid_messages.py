"""Invalid messages go to the dead letters with a clear reason, never crash the bridge,
and never hold up the good messages around them."""

from __future__ import annotations

import pytest

from tests.core.conftest import letters_of_run, records, send, wait_for

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<probe><run>{run}</run><item>&lol9;</item></probe>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE probe [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<probe><run>{run}</run><item>&secret;</item></probe>"""


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ('{{"run": "{run}", "item": ', "application/json", "malformed JSON"),
        ('{{"run": "{run}"}}', "application/json", "invalid message: item: Field required"),
        ('{{"run": "{run}", "item": "   "}}', "application/json", "invalid message: item:"),
        ('{{"run": "{run}", "item": "x"}}', "text/plain", "unsupported content type 'text/plain'"),
        (BILLION_LAUGHS, "application/xml", "XML with a DOCTYPE is not accepted"),
        (EXTERNAL_ENTITY, "text/xml", "XML with a DOCTYPE is not accepted"),
        ("<probe><run>{run}</run><item>x</probe>", "application/xml", "malformed XML"),
        ("<other><run>{run}</run></other>", "application/xml", "XML root element must be <probe>"),
    ],
    ids=[
        "truncated-json", "missing-field", "blank-field", "wrong-content-type",
        "billion-laughs", "external-entity", "malformed-xml", "wrong-xml-root",
    ],
)
def test_invalid_message_is_dead_lettered_with_reason(bridges, broker, run, body, content_type, reason):
    raw = body.format(run=run).encode("utf-8")
    send(broker, raw, content_type=content_type)
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert letter.reason.startswith(reason) or reason in letter.reason, letter.reason
    assert letter.body == raw
    assert letter.failed_steps == ["validate"]
    assert letter.message_type == "probe"


def test_oversized_body_is_dead_lettered(bridges, broker, run):
    # PACER_MAX_MESSAGE_BYTES is 64 KiB in the tests.
    raw = ('{"run": "%s", "item": "%s"}' % (run, "x" * 70_000)).encode()
    send(broker, raw)
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert "exceeds the 65536-byte limit" in letter.reason
    assert letter.body == raw


def test_body_that_is_not_utf8_is_dead_lettered(bridges, broker, run):
    raw = b'{"run": "' + run.encode() + b'", "item": "\xff\xfe"}'
    send(broker, raw)
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="dead letter")
    assert letter.reason.startswith("body is not UTF-8")


def test_content_type_from_header_when_property_is_absent(bridges, broker, run):
    # The User Office System sets only the header {"content-type": ...}.
    send(
        broker,
        f"<probe><run>{run}</run><item>h</item></probe>",
        content_type=None,
        headers={"content-type": "application/xml"},
    )
    wait_for(lambda: len(records(run, "h")["effects"]) == 3, what="three steps")


def test_xml_message_runs_the_same_chain(bridges, broker, run):
    send(broker, f"<probe><run>{run}</run><item> x1 </item></probe>", content_type="application/xml")
    # Surrounding whitespace is stripped, as for JSON.
    wait_for(lambda: len(records(run, "x1")["effects"]) == 3, what="three steps")
