"""Every hostile case through the envelope and the payload model, as the bridge validates it.

Invalid cases must raise InvalidMessage with their reason fragment; the others (stored or
refused later by a step) must validate. ``wire_only`` cases have no form a bridge could hand
to the envelope (py-amqp cannot decode them) and are only in the pipeline test.
"""

from __future__ import annotations

import pytest

from pacer_celery.bridges import REGISTRY
from pacer_celery.envelope import Envelope
from pacer_celery.errors import InvalidMessage
from tests.hostile.corpus import CASE_HEADER, MAX_BYTES, Case, build

CORPUS = build("models")
CASES = [case for case in CORPUS.cases if not case.wire_only]


def _marked(case: Case):
    if case.known_envelope_issue is None:
        return case
    return pytest.param(case, marks=pytest.mark.xfail(reason=case.known_envelope_issue, strict=True))


def receive(case: Case) -> Envelope:
    return Envelope.receive(
        message_type=case.message_type,
        routing_key="test",
        body=case.body,
        content_type=case.content_type,
        headers={CASE_HEADER: case.name, **case.headers},
        message_id=case.message_id,
        max_bytes=MAX_BYTES,
    )


@pytest.mark.parametrize("case", [_marked(case) for case in CASES], ids=lambda case: case.name)
def test_case(case: Case) -> None:
    model = REGISTRY[case.message_type].model
    if case.invalid:
        with pytest.raises(InvalidMessage) as refused:
            receive(case).parse(model)
        assert case.invalid in str(refused.value)
    else:
        receive(case).parse(model)
