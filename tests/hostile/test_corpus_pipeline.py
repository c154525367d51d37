"""Every hostile case through the real broker, the real bridges, an in-process worker and
ICAT, among valid messages: invalid ones dead-lettered with their reason and their original
bytes, rejected ones leaving ICAT as it was, valid ones stored exactly as sent.

How they are sent:

- the valid ones (stored, or refused by a step) in one burst, a plain valid message after
  every few, their outcomes awaited together;
- the invalid ones one by one, each awaiting its dead letter: a burst of invalid messages
  stalls today's bridge (a known bug, see the ``burst`` cases);
- a sample of a second corpus one by one, whatever its outcome;
- last, the cases known bugs still break, expected to fail (``xfail(strict=True)``, the bug
  as the reason). Those that stop a bridge (a crash, a stall, a message requeued forever)
  each get a bridge of their own, so that one bug's fix shows whatever the others do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kombu import Connection

from pacer_celery import topology
from pacer_celery.bridges import REGISTRY
from pacer_celery.bridges.runner import connect
from pacer_celery.settings import get_settings
from tests.hostile.corpus import MESSAGE_TYPES, Case, Corpus, build
from tests.hostile.delivery import Outcomes, publish, take_letters
from tests.support.pipeline import running_bridges

RUN = uuid.uuid4().hex[:8]
CORPUS = build(RUN)
#: A second corpus, of which a sample goes one message at a time.
SINGLES = build(f"{RUN}s")
ONE_BY_ONE_EVERY = 25
#: A valid message goes after every this many hostile ones.
VALID_EVERY = 20
#: Seconds the outcomes of the burst may take, in all; one message's; a known bug's group.
BURST_TIMEOUT = 150.0
SINGLE_TIMEOUT = 20.0
KNOWN_TIMEOUT = 5.0
#: How often one message's outcome is looked for.
SINGLE_POLL = 0.02


def _known(case: Case) -> str | None:
    return case.known_bridge_issue or case.known_envelope_issue


def _stops_a_bridge(case: Case) -> bool:
    return case.known_bridge_issue is not None and case.known_bridge_issue.startswith("bridge:")


BURST = [case for case in CORPUS.cases if not _known(case) and not case.invalid]
ONE_BY_ONE = [case for case in CORPUS.cases if not _known(case) and case.invalid]
SAMPLE = [case for case in SINGLES.cases[::ONE_BY_ONE_EVERY] if not _known(case)]
KNOWN = [case for case in CORPUS.cases if _known(case) and not _stops_a_bridge(case)]
#: Cases that stop a bridge, by the bug: each group gets a bridge of its own.
ISOLATED: dict[str, list[Case]] = {}
for _case in CORPUS.cases:
    if _stops_a_bridge(_case):
        ISOLATED.setdefault(_case.known_bridge_issue, []).append(_case)


@pytest.fixture(scope="module")
def broker(reference_data, worker) -> Iterator[Connection]:
    with connect(get_settings()) as connection:
        yield connection
        # This run's dead letters are judged: leave the queue to the other tests.
        take_letters(connection, RUN)


def _bridges():
    return running_bridges([REGISTRY[kind]() for kind in MESSAGE_TYPES], get_settings())


def _empty_input_queues(connection: Connection) -> None:
    """Messages a stopped bridge left (one a bug requeues forever) must not reach later tests."""
    settings, channel = get_settings(), connection.channel()
    for kind in MESSAGE_TYPES:
        queue = REGISTRY[kind].queue
        topology.input_queue(settings, queue, settings.routing_key_for(kind))(channel).purge()
    channel.close()


def _send(broker: Connection, corpus: Corpus, cases: list[Case]) -> None:
    for case in cases:
        publish(broker, get_settings(), corpus.run, case)


def _one_by_one(broker, checker, corpus: Corpus, cases: list[Case]) -> Outcomes:
    outcomes = Outcomes(corpus.run)
    for case in cases:
        _send(broker, corpus, [case])
        outcomes.wait(broker, checker, [case], SINGLE_TIMEOUT, poll=SINGLE_POLL)
    return outcomes


@dataclass
class Run:
    """The outcomes of the cases sent to one bridge, and the valid messages sent among them."""

    burst: Outcomes
    one_by_one: Outcomes
    sample: Outcomes
    known: Outcomes
    valid: list[Case]
    #: A valid message sent after everything else, and what became of it.
    last: Case
    after: Outcomes


@pytest.fixture(scope="module")
def run(broker, checker) -> Run:
    with _bridges():
        for corpus in (CORPUS, SINGLES):
            setup = _one_by_one(broker, checker, corpus, corpus.setup())
            assert [setup.problems(checker, case) for case in corpus.setup()] == [[], []], "no proposal, no dataset"
        burst, valid = Outcomes(RUN), []
        for start in range(0, len(BURST), VALID_EVERY):
            _send(broker, CORPUS, BURST[start : start + VALID_EVERY])
            valid.append(CORPUS.liveness())
            _send(broker, CORPUS, valid[-1:])
        burst.wait(broker, checker, [*BURST, *valid], BURST_TIMEOUT)
        one_by_one = _one_by_one(broker, checker, CORPUS, ONE_BY_ONE)
        sample = _one_by_one(broker, checker, SINGLES, SAMPLE)
        known = _one_by_one(broker, checker, CORPUS, KNOWN)
        last = CORPUS.liveness()
        after = _one_by_one(broker, checker, CORPUS, [last])
    _empty_input_queues(broker)
    return Run(burst, one_by_one, sample, known, valid, last, after)


@pytest.mark.parametrize("case", BURST, ids=lambda case: case.name)
def test_in_a_burst(run, checker, case: Case) -> None:
    assert run.burst.problems(checker, case) == []


@pytest.mark.parametrize("case", ONE_BY_ONE, ids=lambda case: case.name)
def test_one_by_one(run, checker, case: Case) -> None:
    assert run.one_by_one.problems(checker, case) == []


@pytest.mark.parametrize("case", SAMPLE, ids=lambda case: case.name)
def test_second_corpus_one_by_one(run, checker, case: Case) -> None:
    assert run.sample.problems(checker, case) == []


def test_valid_messages_among_hostile_ones_landed(run, checker) -> None:
    assert [case.name for case in run.valid if run.burst.problems(checker, case)] == []


def test_bridge_and_worker_alive_afterwards(run, checker) -> None:
    assert run.after.problems(checker, run.last) == []


def _expected_to_fail(cases: list[Case]) -> list:
    return [pytest.param(case, marks=pytest.mark.xfail(reason=_known(case), strict=True), id=case.name)
            for case in cases]


@pytest.mark.parametrize("case", _expected_to_fail(KNOWN))
def test_known_issue(run, checker, case: Case) -> None:
    assert run.known.problems(checker, case) == []


@pytest.fixture(scope="module")
def isolated(run, broker, checker) -> Outcomes:
    """The cases that stop a bridge, each bug's to a bridge of its own, after the rest."""
    outcomes = Outcomes(RUN)
    for cases in ISOLATED.values():
        with _bridges():
            _send(broker, CORPUS, cases)
            outcomes.wait(broker, checker, cases, KNOWN_TIMEOUT)
        _empty_input_queues(broker)
    return outcomes


@pytest.mark.parametrize(
    "issue",
    [pytest.param(issue, marks=pytest.mark.xfail(reason=issue, strict=True), id=cases[0].name)
     for issue, cases in ISOLATED.items()],
)
def test_known_issue_stopping_a_bridge(isolated, checker, issue: str) -> None:
    # One test per bug: a stalled bridge may still pass a few of its cases.
    problems = {case.name: isolated.problems(checker, case) for case in ISOLATED[issue]}
    assert {name: found for name, found in problems.items() if found} == {}
