"""Delivering hostile cases to the broker as a producer would, and finding what became of
them: their dead letters (told apart by the ``hostile-case`` header) and the objects ICAT
holds for them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import icat
from icat.query import Query
from kombu import Connection

from pacer_celery import deadletters, topology
from pacer_celery.bridges import REGISTRY
from pacer_celery.bridges.runner import connect
from pacer_celery.settings import Settings, get_settings
from tests.hostile.corpus import CASE_HEADER, Case, Read, build

#: py-amqp encodes headers recursively: nested deeper than this, they are published from
#: a process of their own with a higher recursion limit (the limit is per process, and
#: raising it here would let the bridge's threads overflow their C stacks instead).
SHALLOW = 200
DEEP_RECURSION = 20_000
#: Stored cases looked up per round that ICAT does not have yet: cases are processed
#: roughly in the order they were sent, so later ones need not be asked about yet.
LOOKAHEAD = 12


def case_tag(run: str, case: Case) -> str:
    return f"{run}:{case.name}"


def _nesting(value: Any) -> int:
    """How deep dicts and lists nest in ``value`` (without recursing)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def publish(connection: Connection, settings: Settings, run: str, case: Case) -> None:
    """Publish ``case`` as its producer would: persistent, mandatory, confirmed.

    The raw channel, so that properties are exactly the case's (no content type when it
    has none, a message id only when it has one, bytes where it has bytes).
    """
    if _nesting(case.headers) > SHALLOW:
        # The case is rebuilt there from its run (pickling it would recurse as deep).
        subprocess.run([sys.executable, "-m", "tests.hostile.delivery", run, case.name], check=True, timeout=60)
    else:
        _publish_here(connection, settings, run, case)


def _publish_here(connection: Connection, settings: Settings, run: str, case: Case) -> None:
    channel = connection.default_channel
    topology.exchange(settings)(channel).declare()
    properties: dict[str, Any] = {"delivery_mode": 2}
    if case.message_id is not None:
        properties["message_id"] = case.message_id
    headers = {"source": "hostile", CASE_HEADER: case_tag(run, case), **case.headers}
    message = channel.prepare_message(case.body, 0, case.content_type, case.content_encoding, headers, properties)
    channel.basic_publish(
        message, exchange=settings.rmq_exchange, routing_key=REGISTRY[case.message_type].routing_key_in(settings), mandatory=True
    )


def find(checker: icat.Client, read: Read) -> list[Any]:
    """The objects matching ``read.where`` (values as JPQL string literals)."""
    conditions = {path: "= '" + value.replace("'", "''") + "'" for path, value in read.where.items()}
    return checker.search(Query(checker, read.entity, conditions=conditions))


def differences(found: list[Any], read: Read) -> list[str]:
    """What is wrong with ``found`` for ``read``: empty when it is exactly one object as expected."""
    if len(found) != 1:
        return [f"{len(found)} {read.entity} objects match {read.where}, expected 1"]
    (obj,) = found
    return [
        f"{read.entity}.{name} is {getattr(obj, name)!r}, expected {value!r}"
        for name, value in read.expect.items()
        if getattr(obj, name) != value
    ]


def take_letters(
    connection: Connection, prefix: str, untagged: dict[bytes, str] | None = None
) -> list[tuple[str, deadletters.DeadLetter | str]]:
    """Take the dead letters whose case tag starts with ``prefix`` off the queue (others stay):
    (tag, letter), or (tag, why the letter cannot be read back). A letter whose headers could
    not be read at all (so it has no tag) is known by its body, in ``untagged``."""
    taken: list[tuple[str, deadletters.DeadLetter | str]] = []
    channel = connection.channel()
    try:
        queue = topology.dead_letter_queue()(channel)
        queue.declare()
        # Not acked, others' letters go back to the queue when the channel closes.
        while (message := queue.get(no_ack=False)) is not None:
            tag = str((message.headers or {}).get(CASE_HEADER, ""))
            if not tag and untagged:
                tag = untagged.get(bytes(message.body), "")
            if not tag.startswith(prefix):
                continue
            try:
                letter: deadletters.DeadLetter | str = deadletters.DeadLetter.from_amqp(message)
            except Exception as exc:  # noqa: BLE001 - a letter PACER cannot read back is an outcome too
                letter = f"{type(exc).__name__}: {exc}"
            taken.append((tag, letter))
            message.ack()
    finally:
        channel.close()
    return taken


@dataclass
class Outcomes:
    """What became of the cases of one run."""

    run: str
    #: Dead letters by case name; a string stands for a letter that cannot be read back.
    letters: dict[str, list[deadletters.DeadLetter | str]] = field(default_factory=dict)
    #: Stored cases whose objects were all found as expected.
    landed: set[str] = field(default_factory=set)

    def collect_letters(self, connection: Connection, cases: Iterable[Case] = ()) -> None:
        """Take this run's new dead letters off the queue."""
        prefix = f"{self.run}:"
        untagged = {case.body: case_tag(self.run, case) for case in cases if case.wire_only}
        for tag, letter in take_letters(connection, prefix, untagged):
            self.letters.setdefault(tag[len(prefix):], []).append(letter)

    def settled(self, case: Case) -> bool:
        return case.name in self.landed or bool(self.letters.get(case.name))

    def wait(
        self, connection: Connection, checker: icat.Client, cases: Iterable[Case], timeout: float, poll: float = 0.3
    ) -> None:
        """Wait until every case has its dead letter or its objects in ICAT, or ``timeout``."""
        pending = list(cases)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            self.collect_letters(connection, pending)
            misses = 0
            for case in pending:
                if misses >= LOOKAHEAD:
                    break
                if case.stored and not self.settled(case):
                    if all(not differences(find(checker, read), read) for read in case.stored):
                        self.landed.add(case.name)
                    else:
                        misses += 1
            pending = [case for case in pending if not self.settled(case)]
            if pending:
                time.sleep(poll)

    def problems(self, checker: icat.Client, case: Case) -> list[str]:
        """What differs from the outcome ``case`` is owed (empty: as it should be)."""
        letters = self.letters.get(case.name, [])
        unreadable = [f"its dead letter cannot be read back: {letter}" for letter in letters if isinstance(letter, str)]
        if unreadable:
            return unreadable
        if case.stored:
            if letters:
                return [f"dead-lettered: {letter.reason}" for letter in letters]
            return [problem for read in case.stored for problem in differences(find(checker, read), read)]
        if len(letters) != 1:
            return [f"{len(letters)} dead letters, expected 1"]
        (letter,) = letters
        problems = []
        if case.reason not in letter.reason:
            problems.append(f"reason {letter.reason!r} lacks {case.reason!r}")
        if "spoofed" in letter.reason:
            problems.append(f"reason {letter.reason!r} is the producer's, not PACER's")
        if letter.body != case.body:
            problems.append("the dead letter's body is not the original bytes")
        if (letter.failed_steps == ["validate"]) != bool(case.invalid):
            problems.append(f"failed at {letter.failed_steps}, expected {'validation' if case.invalid else 'a step'}")
        for read in case.absent:
            if find(checker, read):
                problems.append(f"ICAT holds {read.entity} {read.where} for a rejected message")
        return problems



if __name__ == "__main__":
    # One deeply nested case, from ``publish``: its run and name as arguments.
    sys.setrecursionlimit(DEEP_RECURSION)
    deep_run, deep_name = sys.argv[1:]
    (deep_case,) = [case for case in build(deep_run).cases if case.name == deep_name]
    with connect(get_settings()) as deep_connection:
        _publish_here(deep_connection, get_settings(), deep_run, deep_case)
