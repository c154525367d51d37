"""Every hostile case through the envelope and the payload model, as the bridge validates it.

Invalid cases must raise InvalidMessage with their reason fragment; the others (stored or
refused later by a step) must validate. ``wire_only`` cases have no form a bridge could hand
to the envelope (py-amqp cannot decode them) and are only in the pipeline test.
"""

from __future__ import annotations

import pytest

from pacer_celery.bridges import REGISTRY
from pacer_celery.envelope import Envelope, Raw
from pacer_celery.errors import InvalidMessage
from tests.hostile.corpus import CASE_HEADER, MAX_BYTES, Case, build

CORPUS = build("models")
CASES = [case for case in CORPUS.cases if not case.wire_only]


def validate(case: Case) -> None:
    """What a bridge does with the case: the transport rules, then its bridge's validation."""
    raw = Raw(
        body=case.body,
        content_type=case.content_type,
        headers={CASE_HEADER: case.name, **case.headers},
        message_id=case.message_id,
        routing_key="test",
    )
    REGISTRY[case.message_type]().validate(Envelope.receive(raw, case.message_type, MAX_BYTES))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case(case: Case) -> None:
    if case.invalid:
        with pytest.raises(InvalidMessage) as refused:
            validate(case)
        assert case.invalid in str(refused.value)
    else:
        validate(case)
