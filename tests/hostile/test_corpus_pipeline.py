"""Every hostile case through the real broker, the real bridges, an in-process worker and
ICAT, among valid messages: invalid ones dead-lettered with their reason and their original
bytes, rejected ones leaving ICAT as it was, valid ones stored exactly as sent.

How they are sent:

- every case in one burst, valid and invalid mixed, a plain valid message after every few,
  their outcomes awaited together;
- a sample of a second corpus one by one, each awaiting its outcome;
- last, one more valid message: the bridge and the worker are still alive.
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
#: How often one message's outcome is looked for.
SINGLE_POLL = 0.02


BURST = CORPUS.cases
SAMPLE = SINGLES.cases[::ONE_BY_ONE_EVERY]


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
        topology.input_queue(settings, queue, REGISTRY[kind].routing_key_in(settings))(channel).purge()
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
    sample: Outcomes
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
        sample = _one_by_one(broker, checker, SINGLES, SAMPLE)
        last = CORPUS.liveness()
        after = _one_by_one(broker, checker, CORPUS, [last])
    _empty_input_queues(broker)
    return Run(burst, sample, valid, last, after)


@pytest.mark.parametrize("case", BURST, ids=lambda case: case.name)
def test_in_a_burst(run, checker, case: Case) -> None:
    assert run.burst.problems(checker, case) == []


@pytest.mark.parametrize("case", SAMPLE, ids=lambda case: case.name)
def test_second_corpus_one_by_one(run, checker, case: Case) -> None:
    assert run.sample.problems(checker, case) == []


def test_valid_messages_among_hostile_ones_landed(run, checker) -> None:
    assert [case.name for case in run.valid if run.burst.problems(checker, case)] == []


def test_bridge_and_worker_alive_afterwards(run, checker) -> None:
    assert run.after.problems(checker, run.last) == []
