"""A hand-written direct consumer, RabbitMQ straight to ICAT: the yardstick of issue #14.

    python bench/direct.py [--processes 2] [--prefetch 4]

What a facility engineer would write in an afternoon instead of PACER, for the two
message types of the speed mix, ``proposal-update`` and ``dataset-ingestion``: a kombu
consumer per process that validates each message with PACER's own Pydantic models and
makes the ICAT writes of PACER's steps (tasks/proposals.py, tasks/datasets.py) with
python-icat, written straight:

- reference data (facility, instruments, types, formats, parameter types) is read once
  per process, at start;
- one search for the investigation, and no object is looked up twice;
- a proposal of a new visit creates the investigation and then every row hanging off it
  (instruments, team, access) in one ``createMany``;
- a new dataset (the usual case) is created with its ``fileCount``/``fileSize`` already
  right, and its datafiles and parameters are created without searching for existing
  ones. A dataset that exists already (a redelivery, a replay) takes the slow path:
  every row compared and only what differs written, then the counts taken from ICAT.

It reuses what makes PACER's ICAT code fast or exact, so that the comparison measures
the pipeline, not the ICAT code: BeanMaker (new beans without suds' schema walk), the
query helpers (quoted values), the parameter value rules, the change comparison, the
two suds patches and the kept-alive HTTP transport of PACER's ICAT client.

Broker: one durable queue, ``bench.direct``, bound to PACER's exchange with the routing
keys PACER's producer uses for the two types. A message is acked once its ICAT writes
succeeded. A dataset whose investigation is not in ICAT yet (its proposal-update is
being written by another process) goes to ``bench.direct.wait``, whose messages return
to ``bench.direct`` after RETRY_DELAY_SECONDS; the republish is confirmed before the
original is acked, so it is never lost. After ``PACER_MISSING_INVESTIGATION_TIMEOUT``
it gives up. A message that can never be written is rejected into ``bench.direct.dead``.

Output, one line per event on stdout: READY once every process consumes, ``done
<message_id> <unix time>`` for each message written, ``retry <message_id> <unix time>
<reason>`` for each try put off, ``dead <message_id> <unix time> <reason>`` for each
given up.

Configuration: PACER's variables (ICAT_SERVER_URL, ICAT_AUTH_*, PACER_RMQ_*,
PACER_ICAT_FACILITY, PACER_ICAT_CHUNK_SIZE, PACER_STRICT_PARAMETERS, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from threading import BrokenBarrierError
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import icat  # noqa: E402 - after the path is set
import icat.exception as icat_exc  # noqa: E402
from icat.entity import Entity  # noqa: E402
from kombu import Connection, Consumer, Queue, binding  # noqa: E402
from kombu.message import Message  # noqa: E402
from kombu.mixins import ConsumerMixin  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from suds.transport import TransportError  # noqa: E402

from pacer_celery import bridges, topology  # noqa: E402
from pacer_celery.errors import PermanentError  # noqa: E402
from pacer_celery.icat import schema_lookup, soap_text  # noqa: E402
from pacer_celery.icat.beans import BeanMaker  # noqa: E402
from pacer_celery.icat.changes import update_changed  # noqa: E402
from pacer_celery.icat.parameters import value_columns  # noqa: E402
from pacer_celery.icat.query import query, search, search_in, search_one  # noqa: E402
from pacer_celery.icat.session import service_url  # noqa: E402
from pacer_celery.icat.transport import KeepAliveTransport  # noqa: E402
from pacer_celery.models.base import PacerModel  # noqa: E402
from pacer_celery.models.datasets import Datafile, DatasetMessage, Parameter  # noqa: E402
from pacer_celery.models.proposals import ProposalMessage  # noqa: E402
from pacer_celery.settings import Settings, get_settings  # noqa: E402

logger = logging.getLogger("bench.direct")

QUEUE = "bench.direct"
WAIT_QUEUE = "bench.direct.wait"
DEAD_QUEUE = "bench.direct.dead"
#: How long a message waits in WAIT_QUEUE before it is tried again.
RETRY_DELAY_SECONDS = 0.5
#: Headers of a message sent back for a later try: its first routing key (the way back
#: from WAIT_QUEUE replaces it) and when it was first tried.
ROUTING_KEY_HEADER = "x-direct-routing-key"
FIRST_TRY_HEADER = "x-direct-first-try"
MODELS: dict[str, type[PacerModel]] = {"proposal-update": ProposalMessage, "dataset-ingestion": DatasetMessage}
PARTICIPANT = "participant"
#: What the consumer prints once every process is about to consume.
READY = "direct consumers ready"
#: How long a starting process waits for the others before it gives up.
START_TIMEOUT_SECONDS = 120


class NotYet(Exception):
    """The message may be written later (its investigation is not there yet)."""


class Unwritable(Exception):
    """The message can never be written as it is."""


# ====================================================================== broker


def queues(settings: Settings) -> list[Queue]:
    """The work queue (bound to PACER's exchange), the wait queue and the dead queue."""
    exchange = topology.exchange(settings)
    work = Queue(
        QUEUE,
        bindings=[binding(exchange, routing_key=key) for key in routing_keys(settings)],
        durable=True,
        queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD_QUEUE},
    )
    wait = Queue(
        WAIT_QUEUE,
        durable=True,
        queue_arguments={
            "x-message-ttl": int(RETRY_DELAY_SECONDS * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": QUEUE,
        },
    )
    return [work, wait, Queue(DEAD_QUEUE, durable=True)]


def routing_keys(settings: Settings) -> dict[str, str]:
    """Routing key → message type, as PACER's producer publishes them."""
    return {bridges.bridge_for(kind).routing_key_in(settings): kind for kind in MODELS}


def declare(settings: Settings) -> None:
    """Declare the queues and bindings (idempotent). A publisher calls it before it
    publishes, so that nothing is unroutable while no consumer runs yet."""
    with Connection(settings.broker()) as connection:
        for queue in queues(settings):
            queue.bind(connection.default_channel).declare()


class DirectConsumer(ConsumerMixin):
    """Consumes ``bench.direct`` and writes each message to ICAT before acking it."""

    def __init__(self, settings: Settings, writer: IcatWriter, prefetch: int) -> None:
        self.connection = Connection(settings.broker())
        self.settings = settings
        self.writer = writer
        self.prefetch = prefetch
        self.types = routing_keys(settings)
        # Its own connection: a confirmed publish waits for the broker's ack, and waiting
        # on the consuming connection would deliver the next messages into this callback.
        self._retry_connection = Connection(settings.broker(), transport_options={"confirm_publish": True})
        self._retry_producer = self._retry_connection.Producer()

    def get_consumers(self, consumer: Callable[..., Consumer], channel: Any) -> list[Consumer]:
        work = queues(self.settings)[0]
        return [consumer(queues=[work], on_message=self.on_message, prefetch_count=self.prefetch)]

    def on_message(self, message: Message) -> None:
        message_id = message.properties.get("message_id") or "-"
        headers = message.headers or {}
        message_type = self.types.get(headers.get(ROUTING_KEY_HEADER) or message.delivery_info["routing_key"])
        try:
            if message_type is None:
                raise Unwritable(f"no message type for routing key {message.delivery_info['routing_key']!r}")
            self.writer.write(MODELS[message_type].model_validate(decode(message)))
        except (NotYet, icat_exc.ICATObjectExistsError, icat_exc.ICATInternalError, TransportError, OSError) as exc:
            # ObjectExists: another process created the same object between our search
            # and our create; the next try finds it.
            self._later(message, message_id, exc)
        except icat_exc.ICATSessionError as exc:
            # The message is safe in the wait queue before the login is tried: should ICAT
            # refuse it, this process ends and nothing is lost.
            self._later(message, message_id, exc)
            self.writer.login()
        except (Unwritable, PermanentError, ValidationError, icat_exc.ICATError) as exc:
            self._dead(message, message_id, exc)
        except Exception as exc:  # a bug: keep the message, do not retry it forever
            logger.exception("message %s", message_id)
            self._dead(message, message_id, exc)
        else:
            message.ack()
            emit(f"done {message_id} {time.time():.6f}")

    def _later(self, message: Message, message_id: str, reason: Exception) -> None:
        headers = dict(message.headers or {})
        first = float(headers.setdefault(FIRST_TRY_HEADER, time.time()))
        if time.time() - first > self.settings.missing_investigation_timeout:
            self._dead(message, message_id, reason)
            return
        headers.setdefault(ROUTING_KEY_HEADER, message.delivery_info["routing_key"])
        publish = self._retry_connection.ensure(self._retry_producer, self._retry_producer.publish, max_retries=3)
        publish(
            message.body,
            exchange="",
            routing_key=WAIT_QUEUE,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            headers=headers,
            message_id=message.properties.get("message_id"),
            delivery_mode="persistent",
        )
        message.ack()
        emit(_event("retry", message_id, reason))

    def _dead(self, message: Message, message_id: str, reason: Exception) -> None:
        logger.error("message %s dead-lettered: %s: %s", message_id, type(reason).__name__, reason)
        message.reject(requeue=False)
        emit(_event("dead", message_id, reason))


def emit(line: str) -> None:
    """Write one output line in one write: the processes share stdout, and print()'s
    separate write of the newline lets another process's line in between."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _event(event: str, message_id: str, reason: Exception) -> str:
    """One output line: the event, the message, the time and the reason's first line."""
    return f"{event} {message_id} {time.time():.6f} {type(reason).__name__}: {reason}".splitlines()[0]


def decode(message: Message) -> Any:
    """The JSON payload (the only content type of the speed mix)."""
    content_type = message.content_type or (message.headers or {}).get("content-type") or "application/json"
    if content_type != "application/json":
        raise Unwritable(f"content type {content_type!r}: this consumer reads JSON only")
    try:
        return json.loads(message.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unwritable(f"not JSON: {exc}") from None


# ====================================================================== ICAT


@dataclass(frozen=True)
class Reference:
    """The facility's reference data, read once."""

    facility: Any
    instruments: dict[str, Any]
    investigation_types: dict[str, Any]
    dataset_types: dict[str, Any]
    formats: list[Any]
    parameter_types: list[Any]

    @classmethod
    def load(cls, client: icat.Client, facility_name: str | None) -> Reference:
        facilities = search(client, "Facility", where={"name": facility_name} if facility_name else None)
        if len(facilities) != 1:
            raise SystemExit(f"expected one facility {facility_name or '(any)'} in ICAT, found {len(facilities)}")
        (facility,) = facilities

        def of_facility(entity: str) -> list[Any]:
            return search(client, entity, where={"facility.id": facility.id})

        return cls(
            facility=facility,
            instruments={i.name: i for i in of_facility("Instrument")},
            investigation_types={t.name: t for t in of_facility("InvestigationType")},
            dataset_types={t.name: t for t in of_facility("DatasetType")},
            formats=of_facility("DatafileFormat"),
            parameter_types=of_facility("ParameterType"),
        )

    def instrument(self, name: str) -> Any:
        return _named("instrument", self.instruments, name)

    def investigation_type(self, name: str) -> Any:
        return _named("investigation type", self.investigation_types, name)

    def dataset_type(self, name: str) -> Any:
        return _named("dataset type", self.dataset_types, name)

    def datafile_format(self, spec: str) -> Any:
        """By name when it has one version, else by ``name/version`` (PACER's rule)."""
        versions = [f for f in self.formats if f.name == spec]
        if len(versions) > 1:
            raise Unwritable(f"datafile format {spec!r} has several versions")
        if versions:
            return versions[0]
        name, _, version = spec.rpartition("/")
        for found in self.formats:
            if found.name == name and found.version == version:
                return found
        raise Unwritable(f"unknown datafile format {spec!r}")

    def parameter_type(self, name: str, units: str | None) -> Any | None:
        """By (name, units), or by name alone when units are omitted and the name is unique."""
        candidates = [t for t in self.parameter_types if t.name == name]
        if units is not None:
            return next((t for t in candidates if t.units == units), None)
        if len(candidates) > 1:
            raise Unwritable(f"parameter {name!r} needs its units")
        return candidates[0] if candidates else None


def _named(kind: str, table: Mapping[str, Any], name: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise Unwritable(f"unknown {kind} {name!r}") from None


@dataclass
class VisitRows:
    """The rows of an investigation that a proposal-update keeps exact (none for a new one)."""

    #: instrument name → InvestigationInstrument
    instruments: dict[str, Any] = field(default_factory=dict)
    #: (user name, role) → InvestigationUser
    team: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: whether the visit's grouping is linked to it as participant
    linked: bool = False


class IcatWriter:
    """One process's ICAT session and the writes of both message types."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.icat_server_url and settings.icat_auth_username and settings.icat_auth_password):
            raise SystemExit("ICAT_SERVER_URL, ICAT_AUTH_USERNAME and ICAT_AUTH_PASSWORD must be set")
        self.settings = settings
        # PACER's ICAT client sends text exactly, remembers suds' schema lookups and keeps
        # its HTTP connection open; so does this one (pacer_celery/icat/session.py).
        soap_text.install()
        schema_lookup.install()
        self.client = icat.Client(service_url(settings.icat_server_url), checkCert=settings.icat_check_cert)
        self.client.set_options(transport=KeepAliveTransport(self.client.sslContext))
        self.login()
        self.reference = Reference.load(self.client, settings.icat_facility)
        self._makers: dict[str, BeanMaker] = {}

    def login(self) -> None:
        credentials = {
            "username": self.settings.icat_auth_username,
            "password": self.settings.icat_auth_password.get_secret_value(),
        }
        self.client.login(self.settings.icat_auth_plugin, credentials)

    def write(self, message: PacerModel) -> None:
        # Cheap unless the session nears its end: then it is refreshed.
        self.client.autoRefresh()
        if isinstance(message, ProposalMessage):
            self.write_proposal(message)
        else:
            self.write_dataset(message)

    def new(self, entity: str, **attributes: Any) -> Entity:
        if entity not in self._makers:
            self._makers[entity] = BeanMaker(self.client, entity)
        return self._makers[entity](**attributes)

    def ref(self, obj: Any) -> Entity:
        """An id-only bean standing for ``obj`` in a relation (ICAT reads only the id)."""
        return self.new(obj.BeanName, id=obj.id)

    # ------------------------------------------------------------- proposal-update

    def write_proposal(self, message: ProposalMessage) -> None:
        """tasks/proposals.py's four steps: the investigation, its instruments, its team,
        and the team's access through the visit's grouping."""
        reference = self.reference
        instruments = {name: self.ref(reference.instrument(name)) for name in dict.fromkeys(message.instruments)}
        wanted = {
            "title": message.title,
            "summary": message.abstract,
            "type": self.ref(reference.investigation_type(message.type)),
            "startDate": message.start_date,
            "endDate": message.end_date,
            "releaseDate": message.release_date or self._default_release(message),
            "doi": message.doi,
        }
        users = self._ensure_users(message)
        team = {(self.user_name(m.username), m.role.value) for m in message.team}
        members = users if message.status == "scheduled" else {}
        grouping, memberships = self._grouping(message.grouping_name)
        investigation = search_one(
            self.client,
            "Investigation",
            where={"facility.id": reference.facility.id, "name": message.proposal, "visitId": message.visit},
            includes="1",
        )
        if investigation is None:
            investigation = self.new(
                "Investigation", facility=self.ref(reference.facility), name=message.proposal,
                visitId=message.visit, **wanted,
            )
            investigation.create()
            rows = VisitRows()
        else:
            update_changed(investigation, wanted)
            rows = self._visit_rows(investigation, grouping)
        in_investigation, in_grouping = self.ref(investigation), self.ref(grouping)
        new = [
            self.new("InvestigationInstrument", investigation=in_investigation, instrument=instrument)
            for name, instrument in instruments.items()
            if name not in rows.instruments
        ]
        new += [
            self.new("InvestigationUser", investigation=in_investigation, user=users[name], role=role)
            for name, role in sorted(team - rows.team.keys())
        ]
        if not rows.linked:
            new.append(
                self.new("InvestigationGroup", investigation=in_investigation, grouping=in_grouping, role=PARTICIPANT)
            )
        new += [
            self.new("UserGroup", grouping=in_grouping, user=user)
            for name, user in members.items()
            if name not in memberships
        ]
        extra = [row for name, row in rows.instruments.items() if name not in instruments]
        extra += [row for key, row in rows.team.items() if key not in team]
        extra += [row for name, row in memberships.items() if name not in members]
        if extra:
            self.client.deleteMany(extra)
        if new:
            self.client.createMany(new)

    def user_name(self, username: str) -> str:
        return f"{self.settings.icat_user_prefix}/{username}"

    def _default_release(self, message: ProposalMessage) -> Any:
        days = self.reference.facility.daysUntilRelease
        return None if days is None else message.end_date + timedelta(days=days)

    def _ensure_users(self, message: ProposalMessage) -> dict[str, Entity]:
        """The team's Users by name (id-only beans), the missing ones created with their
        full name; existing ones are left as they are (user-update owns the profile)."""
        full_names: dict[str, str | None] = {}
        for member in message.team:
            full_names.setdefault(self.user_name(member.username), member.full_name)
        users = {user.name: self.ref(user) for user in search_in(self.client, "User", "name", full_names)}
        missing = [self.new("User", name=name, fullName=full_names[name]) for name in full_names if name not in users]
        if missing:
            for user, user_id in zip(missing, self.client.createMany(missing), strict=True):
                users[user.name] = self.new("User", id=user_id)
        return users

    def _grouping(self, name: str) -> tuple[Any, dict[str, Any]]:
        """The grouping (created if missing) and its UserGroups by user name."""
        grouping = search_one(self.client, "Grouping", where={"name": name}, includes=["userGroups.user"])
        if grouping is None:
            grouping = self.new("Grouping", name=name)
            grouping.create()
            return grouping, {}
        return grouping, {row.user.name: row for row in grouping.userGroups}

    def _visit_rows(self, investigation: Any, grouping: Any) -> VisitRows:
        where = {"investigation.id": investigation.id}
        return VisitRows(
            instruments={
                row.instrument.name: row
                for row in search(self.client, "InvestigationInstrument", where=where, includes=["instrument"])
            },
            team={
                (row.user.name, row.role): row
                for row in search(self.client, "InvestigationUser", where=where, includes=["user"])
            },
            linked=search_one(
                self.client, "InvestigationGroup", where={**where, "grouping.id": grouping.id, "role": PARTICIPANT}
            ) is not None,
        )

    # ----------------------------------------------------------- dataset-ingestion

    def write_dataset(self, message: DatasetMessage) -> None:
        """tasks/datasets.py's four steps: the dataset with its sample and instrument, its
        datafiles, its parameters, and its file counts."""
        reference = self.reference
        instrument = self.ref(reference.instrument(message.instrument))
        dataset_type = self.ref(reference.dataset_type(message.type))
        formats = {
            spec: self.ref(reference.datafile_format(spec))
            for spec in dict.fromkeys(d.format for d in message.datafiles if d.format)
        }
        parameters = self._parameters(message.parameters)
        in_investigation = self.ref(self._investigation(message))
        wanted = {
            "type": dataset_type,
            "description": message.description,
            "location": message.location,
            "startDate": message.start_date,
            "endDate": message.end_date,
            "complete": message.complete,
            "sample": self._sample(in_investigation, message.sample.name) if message.sample else None,
        }
        dataset = search_one(
            self.client, "Dataset", where={"investigation.id": in_investigation.id, "name": message.dataset},
            includes="1",
        )
        datafiles = [(d, _datafile_attributes(d, formats)) for d in message.datafiles]
        if dataset is None:
            self._create_dataset(message, in_investigation, wanted, instrument, datafiles, parameters)
        else:
            self._update_dataset(dataset, wanted, instrument, datafiles, parameters)

    def _investigation(self, message: DatasetMessage) -> Any:
        """The dataset's visit, by the rules of messages.md."""
        where: dict[str, Any] = {"facility.id": self.reference.facility.id, "name": message.proposal}
        if message.visit is not None:
            where["visitId"] = message.visit
        candidates = search(self.client, "Investigation", where=where)
        if not candidates:
            raise NotYet(f"investigation {message.proposal}/{message.visit or '(any visit)'} is not in ICAT yet")
        if len(candidates) == 1:
            return candidates[0]
        containing = [c for c in candidates if c.startDate <= message.start_date <= c.endDate]
        if len(containing) == 1:
            return containing[0]
        raise Unwritable(f"proposal {message.proposal} has several visits and the message names none")

    def _sample(self, in_investigation: Entity, name: str) -> Entity:
        where = {"investigation.id": in_investigation.id, "name": name}
        found = search_one(self.client, "Sample", where=where)
        if found is not None:
            return self.ref(found)
        sample = self.new("Sample", investigation=in_investigation, name=name)
        try:
            sample.create()
        except icat_exc.ICATObjectExistsError:
            # The datasets of one sample arrive together: another process made it just now.
            return self.ref(search_one(self.client, "Sample", where=where))
        return self.ref(sample)

    def _parameters(self, parameters: Iterable[Parameter]) -> list[tuple[Entity, dict[str, Any]]]:
        """(type, value columns) of each parameter; unknown types as PACER_STRICT_PARAMETERS says."""
        resolved = []
        for parameter in parameters:
            ptype = self.reference.parameter_type(parameter.name, parameter.units)
            if ptype is None:
                if self.settings.strict_parameters:
                    raise Unwritable(f"unknown parameter type {parameter.name!r} [{parameter.units}]")
                continue
            resolved.append((self.ref(ptype), value_columns(ptype.valueType, parameter.value, parameter.name)))
        return resolved

    def _create_dataset(
        self,
        message: DatasetMessage,
        in_investigation: Entity,
        wanted: dict[str, Any],
        instrument: Entity,
        datafiles: list[tuple[Datafile, dict[str, Any]]],
        parameters: list[tuple[Entity, dict[str, Any]]],
    ) -> None:
        """The new-dataset fast path: nothing of it can exist yet, so nothing is searched.
        Should a later write fail, the redelivered message finds the dataset and takes
        the slow path, which recounts."""
        dataset = self.new(
            "Dataset", investigation=in_investigation, name=message.dataset, **wanted,
            fileCount=len(message.datafiles), fileSize=sum(d.size or 0 for d in message.datafiles),
        )
        dataset.create()
        in_dataset = self.ref(dataset)
        self.new("DatasetInstrument", dataset=in_dataset, instrument=instrument).create()
        self._create_chunked([self.new("Datafile", dataset=in_dataset, name=d.name, **attributes)
                              for d, attributes in datafiles])
        if parameters:
            self.client.createMany([self.new("DatasetParameter", dataset=in_dataset, type=ptype, **values)
                                    for ptype, values in parameters])

    def _update_dataset(
        self,
        dataset: Any,
        wanted: dict[str, Any],
        instrument: Entity,
        datafiles: list[tuple[Datafile, dict[str, Any]]],
        parameters: list[tuple[Entity, dict[str, Any]]],
    ) -> None:
        """The slow path, for a dataset already in ICAT: what differs is written, new rows
        are created, none deleted; then the counts are ICAT's."""
        client = self.client
        update_changed(dataset, wanted)
        in_dataset = self.ref(dataset)
        where = {"dataset.id": dataset.id}
        if search_one(client, "DatasetInstrument", where={**where, "instrument.id": instrument.id}) is None:
            self.new("DatasetInstrument", dataset=in_dataset, instrument=instrument).create()
        new = []
        size = self.settings.icat_chunk_size
        for start in range(0, len(datafiles), size):
            chunk = datafiles[start : start + size]
            existing = {
                d.name: d
                for d in search_in(client, "Datafile", "name", [d.name for d, _ in chunk], where=where,
                                   includes=["datafileFormat"])
            }
            for datafile, attributes in chunk:
                current = existing.get(datafile.name)
                if current is None:
                    new.append(self.new("Datafile", dataset=in_dataset, name=datafile.name, **attributes))
                else:
                    current.dataset = in_dataset  # an update nulls the ONE relations it lacks
                    update_changed(current, attributes)
        self._create_chunked(new)
        rows = {row.type.id: row for row in search(client, "DatasetParameter", where=where, includes=["type"])}
        new_parameters = []
        for ptype, values in parameters:
            row = rows.get(ptype.id)
            if row is None:
                new_parameters.append(self.new("DatasetParameter", dataset=in_dataset, type=ptype, **values))
            else:
                row.dataset = in_dataset
                update_changed(row, values)
        if new_parameters:
            client.createMany(new_parameters)
        (count,) = client.search(query(client, "Datafile", aggregate="COUNT", where=where))
        (total,) = client.search(query(client, "Datafile", attribute="fileSize", aggregate="SUM", where=where))
        update_changed(dataset, {"fileCount": int(count), "fileSize": int(total or 0)})

    def _create_chunked(self, beans: list[Entity]) -> None:
        size = self.settings.icat_chunk_size
        for start in range(0, len(beans), size):
            self.client.createMany(beans[start : start + size])


def _datafile_attributes(datafile: Datafile, formats: Mapping[str, Entity]) -> dict[str, Any]:
    """The attributes the message gives (PACER's mapping); those it omits stay as ICAT has them."""
    attributes = {
        "location": datafile.location,
        "fileSize": datafile.size,
        "checksum": datafile.checksum,
        "datafileCreateTime": datafile.created,
        "datafileModTime": datafile.modified,
        "datafileFormat": formats[datafile.format] if datafile.format else None,
    }
    return {name: value for name, value in attributes.items() if value is not None}


# ====================================================================== processes


def consume(prefetch: int, ready: Barrier) -> None:
    """One process: log in, read the reference data, wait for the others, consume until SIGTERM."""
    settings = get_settings()
    consumer = DirectConsumer(settings, IcatWriter(settings), prefetch)
    # The dead queue must exist before a rejected message is dead-lettered into it.
    declare(settings)

    def stop(signum: int, frame: object) -> None:
        consumer.should_stop = True

    signal.signal(signal.SIGTERM, stop)
    # All processes start consuming together: the first would otherwise work alone for
    # as long as the others take to start.
    try:
        if ready.wait(timeout=START_TIMEOUT_SECONDS) == 0:
            emit(READY)
    except BrokenBarrierError:
        raise SystemExit("another consumer process did not start") from None
    consumer.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="consumer processes, one per core (default 2)")
    parser.add_argument("--prefetch", type=int, default=4, help="unacked messages per process (default 4)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    # Forked, not spawned: the children start with the modules imported once here.
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(args.processes)
    children = [context.Process(target=consume, args=(args.prefetch, ready), name=f"direct{i}")
                for i in range(args.processes)]
    for child in children:
        child.start()

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.pid is not None:
                child.terminate()

    signal.signal(signal.SIGTERM, forward)
    for child in children:
        child.join()
    sys.exit(max(child.exitcode or 0 for child in children))


if __name__ == "__main__":
    main()
