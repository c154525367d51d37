"""A load of PACER messages of all four types, and the state ICAT must end in.

``plan(count, seed)`` builds, deterministically, the messages to publish (in order) and
the expected state: which users, investigations (instruments, team, access) and
datasets (datafiles with their sizes, parameters) must exist at the end, each with the
ids of the messages that can create it (an object whose every source message was
dead-lettered is not lost, it is dead-lettered).

Every message is about objects of its own, so the end state does not depend on the
order in which PACER applies them: ordering versions of one object is another test's
subject. What the load does mix in, as producers do:

- datasets published before their proposal (they wait for it), and datafile-ingestion
  messages before their dataset (they wait for it);
- legacy XML dataset-ingestion messages;
- re-sent messages: the same message again (same id: a producer retrying a publish it
  got no confirm for) and the same body under a new id (a producer sending twice).
  Neither may duplicate anything.
- a few invalid messages, which must end in ``pacer.dlq`` (not counted as valid).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from pacer_celery.producer import PacerProducer, PublishError
from pacer_celery.settings import Settings
from tests.flows.conftest import datafile, dataset_message, proposal_message, user_message

PREFIX = "uos"
#: Groups (a proposal with its datasets) being published at once: their messages interleave.
OPEN_GROUPS = 4


@dataclass(frozen=True)
class Outgoing:
    message_type: str
    #: A dict (sent as JSON) or the body of a legacy XML message.
    payload: dict[str, Any] | str
    message_id: str
    valid: bool = True
    #: Why this one is special, for the report ("resent", "before its proposal", ...).
    note: str = ""

    @property
    def content_type(self) -> str:
        return "application/xml" if isinstance(self.payload, str) else "application/json"


@dataclass
class Expected:
    """One object that must exist exactly once, with these attributes."""

    kind: str
    key: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    #: The messages any of which creates it.
    sources: set[str] = field(default_factory=set)


@dataclass
class Plan:
    messages: list[Outgoing] = field(default_factory=list)
    #: (kind, key) → the object; kinds: user, investigation, instrument, team, member,
    #: dataset, dataset-instrument, datafile, parameter.
    objects: dict[tuple[str, tuple[str, ...]], Expected] = field(default_factory=dict)

    def expect(self, kind: str, key: tuple[str, ...], source: str, **attributes: Any) -> None:
        found = self.objects.setdefault((kind, key), Expected(kind, key, attributes))
        found.attributes.update(attributes)
        found.sources.add(source)

    @property
    def valid_ids(self) -> set[str]:
        return {m.message_id for m in self.messages if m.valid}

    @property
    def invalid_ids(self) -> set[str]:
        return {m.message_id for m in self.messages if not m.valid}

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for message in self.messages:
            counted[message.message_type] = counted.get(message.message_type, 0) + 1
        return counted


def plan(count: int, seed: int = 7) -> Plan:
    """About ``count`` messages (a group is never cut short), in publishing order."""
    rng = random.Random(seed)
    result = Plan()
    pending: list[list[Outgoing]] = []
    group = 0
    while len(result.messages) < count or pending:
        while len(pending) < OPEN_GROUPS and sum(map(len, pending)) + len(result.messages) < count:
            pending.append(_group(result, rng, group))
            group += 1
        if not pending:
            break
        chosen = rng.choice(pending)
        result.messages.append(chosen.pop(0))
        if not chosen:
            pending.remove(chosen)
    _resend(result, rng)
    return result


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _group(result: Plan, rng: random.Random, number: int) -> list[Outgoing]:
    """A proposal, its PI's user-update, its datasets and datafile additions, in an order
    that is usually the natural one."""
    proposal = f"F{number:05d}"
    pi, co = f"pi.{proposal.lower()}", f"co.{proposal.lower()}"
    user = _user(result, rng, pi)
    visit = _proposal(result, rng, proposal, pi, co)
    datasets: list[Outgoing] = []
    additions: list[Outgoing] = []
    for index in range(rng.randint(2, 5)):
        name = f"{proposal}_{index:03d}"
        datasets.append(_dataset(result, rng, proposal, name))
        if rng.random() < 0.4:
            additions.append(_addition(result, rng, proposal, name))
    ordered = [user, visit, *datasets, *additions]
    if rng.random() < 0.25:
        # A dataset the DAQ sent before the User Office System sent its proposal.
        early = ordered.pop(ordered.index(datasets[0]))
        ordered.insert(0, _noted(early, "before its proposal"))
    if additions and rng.random() < 0.3:
        # Files announced before their dataset's own message.
        late = additions[0]
        ordered.remove(late)
        ordered.insert(ordered.index(visit) + 1, _noted(late, "before its dataset"))
    if rng.random() < 0.1:
        ordered.insert(rng.randrange(len(ordered) + 1), _invalid(rng, proposal))
    return ordered


def _noted(message: Outgoing, note: str) -> Outgoing:
    return Outgoing(message.message_type, message.payload, message.message_id, message.valid, note)


def _user(result: Plan, rng: random.Random, username: str) -> Outgoing:
    first, last = rng.choice(["Ada", "Grace", "Rosalind", "Lise"]), f"O'Test{rng.randint(1, 999)}"
    fields = {"first_name": first, "last_name": last, "email": f"{username}@example.org",
              "affiliation": f"Lab {rng.randint(1, 50)}"}
    message = Outgoing("user-update", user_message(username, **fields), _new_id(rng))
    result.expect("user", (f"{PREFIX}/{username}",), message.message_id, fullName=f"{first} {last}",
                  email=fields["email"], affiliation=fields["affiliation"])
    return message


def _proposal(result: Plan, rng: random.Random, proposal: str, pi: str, co: str) -> Outgoing:
    instruments = sorted(rng.sample(["ID01", "ID02"], rng.randint(1, 2)))
    team = [
        # The PI's own user-update sets the full name; the proposal's is only used
        # when it creates the user, so both agree and the order does not matter.
        {"username": pi, "role": "principal_investigator"},
        {"username": co, "role": "co_investigator", "full_name": f"Co {proposal}"},
    ]
    title = f"Fault load {proposal}"
    message = Outgoing(
        "proposal-update",
        proposal_message(proposal, title=title, instruments=instruments, team=team),
        _new_id(rng),
    )
    source = message.message_id
    result.expect("investigation", (proposal,), source, title=title)
    result.expect("user", (f"{PREFIX}/{co}",), source, fullName=f"Co {proposal}")
    for instrument in instruments:
        result.expect("instrument", (proposal, instrument), source)
    for member in team:
        name = f"{PREFIX}/{member['username']}"
        result.expect("team", (proposal, name, member["role"]), source)
        result.expect("member", (f"investigation_{proposal}_1", name), source)
    return message


def _files(rng: random.Random, location: str, names: list[str]) -> list[dict[str, Any]]:
    return [datafile(name, size=rng.randint(1, 10**9), location=f"{location}/{name}") for name in names]


def _dataset(result: Plan, rng: random.Random, proposal: str, name: str) -> Outgoing:
    location = f"/data/ID01/{proposal}/{name}"
    files = _files(rng, location, [f"scan_{i:04d}.h5" for i in range(rng.randint(1, 6))])
    parameters = [
        {"name": "energy", "units": "keV", "value": round(rng.uniform(5, 30), 3)},
        {"name": "scan_type", "units": "N/A", "value": rng.choice(["ascan", "mesh", "dscan"])},
    ]
    if rng.random() < 0.5:
        parameters.append({"name": "temperature", "units": "K", "value": rng.randint(4, 400)})
    payload = dataset_message(
        proposal, name, description=f"Fault load {name}", location=location,
        complete=rng.random() < 0.8, datafiles=files, parameters=parameters,
    )
    legacy = rng.random() < 0.25
    message = Outgoing("dataset-ingestion", _xml(payload) if legacy else payload, _new_id(rng))
    source = message.message_id
    result.expect("dataset", (proposal, name), source, complete=payload["complete"],
                  description=payload["description"], location=location)
    result.expect("dataset-instrument", (proposal, name, payload["instrument"]), source)
    for file in files:
        result.expect("datafile", (proposal, name, file["name"]), source, fileSize=file["size"])
    for parameter in parameters:
        result.expect("parameter", (proposal, name, parameter["name"], parameter["units"]), source,
                      value=parameter["value"])
    return message


def _addition(result: Plan, rng: random.Random, proposal: str, name: str) -> Outgoing:
    """A datafile-ingestion of new files into dataset ``name``."""
    location = f"/data/ID01/{proposal}/{name}"
    files = _files(rng, location, [f"stream_{i:04d}.h5" for i in range(rng.randint(1, 4))])
    payload = {"instrument": "ID01", "proposal": proposal, "visit": "1", "dataset": name, "datafiles": files}
    message = Outgoing("datafile-ingestion", payload, _new_id(rng))
    for file in files:
        result.expect("datafile", (proposal, name, file["name"]), message.message_id, fileSize=file["size"])
    return message


def _invalid(rng: random.Random, proposal: str) -> Outgoing:
    """One message that must be dead-lettered: at the bridge, or by its first step."""
    if rng.random() < 0.5:
        payload = user_message(f"naive.{proposal.lower()}", updated_at="2026-11-27T10:15:00")
        return Outgoing("user-update", payload, _new_id(rng), valid=False, note="naive timestamp")
    payload = dataset_message(proposal, f"{proposal}_bad", instrument="NO-SUCH-BEAMLINE")
    return Outgoing("dataset-ingestion", payload, _new_id(rng), valid=False, note="unknown instrument")


def _resend(result: Plan, rng: random.Random) -> None:
    """About 3 % of the valid messages are sent again a little later, half with their
    own id, half under a new one."""
    originals = [m for m in result.messages if m.valid]
    for original in rng.sample(originals, max(2, len(originals) * 3 // 100)):
        same_id = rng.random() < 0.5
        copy = Outgoing(
            original.message_type, original.payload,
            original.message_id if same_id else _new_id(rng),
            note="resent, same id" if same_id else "resent, new id",
        )
        place = min(len(result.messages), result.messages.index(original) + rng.randint(1, 40))
        result.messages.insert(place, copy)
        for expected in result.objects.values():
            if original.message_id in expected.sources:
                expected.sources.add(copy.message_id)


def _xml(payload: dict[str, Any]) -> str:
    """The legacy XML form of a dataset-ingestion payload (messages.md)."""

    def element(tag: str, value: Any) -> str:
        return f"<{tag}>{escape(str(value))}</{tag}>"

    def children(item: dict[str, Any], names: tuple[str, ...]) -> str:
        return "".join(element(n, item[n]) for n in names if item.get(n) is not None)

    parts = [
        element("instrument", payload["instrument"]),
        element("investigation", payload["proposal"]),
        element("visit", payload["visit"]),
        element("name", payload["dataset"]),
        element("type", payload["type"]),
        element("description", payload["description"]),
        element("location", payload["location"]),
        element("startDate", payload["start_date"]),
        element("endDate", payload["end_date"]),
        f"<sample>{element('name', payload['sample']['name'])}</sample>",
        *(f"<parameter>{children(p, ('name', 'value', 'units'))}</parameter>" for p in payload["parameters"]),
        *(
            f"<datafile>{children(f, ('name', 'location', 'size', 'checksum', 'format', 'created', 'modified'))}</datafile>"
            for f in payload["datafiles"]
        ),
    ]
    complete = "true" if payload["complete"] else "false"
    return f'<dataset complete="{complete}">{"".join(parts)}</dataset>'


@dataclass
class Published:
    count: int = 0
    #: Publishes the broker did not confirm (it was down): sent again, with the same id.
    retries: int = 0
    seconds: float = 0.0


def publish(messages: list[Outgoing], settings: Settings, rate: float, *, give_up_after: float = 300) -> Published:
    """Send ``messages`` through PacerProducer (confirmed) at ``rate`` per second.

    A publish the broker does not confirm is sent again, with the same message id, as a
    careful producer does (PACER's journal makes that harmless); one that cannot be
    sent for ``give_up_after`` seconds fails the run. Behind schedule after an outage,
    it catches up at full speed.
    """
    stats = Published()
    started = time.monotonic()
    producer = PacerProducer(settings, source="fault-load")
    try:
        for index, message in enumerate(messages):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            failing_since = time.monotonic()
            while True:
                try:
                    producer.publish(message.message_type, message.payload,
                                     content_type=message.content_type, message_id=message.message_id)
                    break
                except PublishError:
                    if time.monotonic() - failing_since > give_up_after:
                        raise
                    stats.retries += 1
                    time.sleep(0.5)
            stats.count += 1
    finally:
        producer.close()
        stats.seconds = time.monotonic() - started
    return stats
