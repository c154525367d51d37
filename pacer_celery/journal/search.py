"""Reading the journal for people: search by the objects a message concerns, a message's
timeline, counts. ``pacer messages`` and ``pacer dashboard`` both read through here.

Search text is what an operator types::

    instrument=ID01 dataset=sample1_0001     identifiers, all of them (JSON containment)
    20261234                                 a bare word: any identifier with that value
    type:dataset-ingestion status:dead-lettered since:2026-11-01 until:2026-11-02

Results come newest first, a page at a time, by keyset (``before`` the last ``seq`` seen),
so that page 1 000 costs what page 1 costs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, exists, func, literal, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH

from pacer_celery.journal.schema import audit, messages, steps
from pacer_celery.journal.sql import aware, storable

STATUSES = (
    "received", "dispatched", "running", "done", "dead-lettered", "invalid", "replayed", "superseded",
)
#: Search text longer than this is refused: it is typed by people, and it is untrusted.
MAX_SEARCH_CHARS = 2000
MAX_TERMS = 20
MAX_PAGE = 500
_OPTION = re.compile(r"^(type|status|since|until):(.*)$")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class SearchError(ValueError):
    """Search text that cannot be understood; the message says what to change."""


@dataclass(frozen=True)
class Criteria:
    identifiers: dict[str, str] = field(default_factory=dict)
    words: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    #: The failure's text contains this (the dashboard's dead-letter filter).
    reason: str | None = None
    #: Only messages whose dead letter no operator purged since it was made.
    unpurged: bool = False
    #: Only messages received up to this one (a bulk action confirmed for what was there).
    upto_seq: int | None = None

    def merged(self, **changes: Any) -> Criteria:
        """These criteria with the non-empty ``changes`` added (command-line flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v})


def parse(text: str) -> Criteria:
    """Criteria from search text (see the module's doc); SearchError when it makes no sense."""
    if len(text) > MAX_SEARCH_CHARS:
        raise SearchError(f"search text is longer than {MAX_SEARCH_CHARS} characters")
    # As the journal stored the identifiers (see sql.storable).
    terms = storable(text).split()
    if len(terms) > MAX_TERMS:
        raise SearchError(f"at most {MAX_TERMS} search terms")
    identifiers: dict[str, str] = {}
    words: list[str] = []
    options: dict[str, list[str]] = {"type": [], "status": [], "since": [], "until": []}
    for term in terms:
        option = _OPTION.match(term)
        if option:
            options[option.group(1)].extend(v for v in option.group(2).split(",") if v)
        elif "=" in term:
            key, _, value = term.partition("=")
            if not key or not value:
                raise SearchError(f"{term!r}: write key=value")
            identifiers[key] = value
        else:
            words.append(term)
    for status in options["status"]:
        if status not in STATUSES:
            raise SearchError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
    return Criteria(
        identifiers=identifiers,
        words=tuple(words),
        types=tuple(options["type"]),
        statuses=tuple(options["status"]),
        since=moment(options["since"][-1]) if options["since"] else None,
        until=moment(options["until"][-1]) if options["until"] else None,
    )


def moment(text: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or an age like ``90d``, ``2h``."""
    age = _DURATION.match(text.strip())
    if age:
        return datetime.now(UTC) - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SearchError(f"{text!r} is neither a date (2026-11-01, 2026-11-01T10:00) nor an age (90d, 2h)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    seq: int
    message_id: str
    message_type: str
    source: str | None
    identifiers: dict[str, Any]
    status: str
    error: str | None
    received_at: datetime
    finished_at: datetime | None
    attempts: int
    dead_letter_id: str | None
    superseded_by: str | None

    @property
    def reason(self) -> str:
        """The error's first line: what a table has room for."""
        return (self.error or "").strip().splitlines()[0] if self.error else ""


_ROW_COLUMNS = (
    messages.c.seq, messages.c.message_id, messages.c.message_type, messages.c.source,
    messages.c.identifiers, messages.c.status, messages.c.error, messages.c.received_at,
    messages.c.finished_at, messages.c.attempts, messages.c.dead_letter_id, messages.c.superseded_by,
)


def search(connection: Connection, criteria: Criteria, *, limit: int = 50, before: int | None = None) -> list[Row]:
    """One page of matching messages, newest first; ``before``: the last ``seq`` of the
    previous page."""
    query = select(*_ROW_COLUMNS).where(_where(connection, criteria))
    if before is not None:
        query = query.where(messages.c.seq < before)
    query = query.order_by(messages.c.seq.desc()).limit(max(1, min(limit, MAX_PAGE)))
    return [_row(r) for r in connection.execute(query)]


def matching(connection: Connection, criteria: Criteria, *, batch: int = 500) -> Iterator[Row]:
    """Every matching message, newest first, read a page at a time."""
    before = None
    while True:
        page = search(connection, criteria, limit=batch, before=before)
        if not page:
            return
        yield from page
        before = page[-1].seq


def matching_ids(connection: Connection, criteria: Criteria, *, batch: int = 500) -> Iterator[str]:
    """Every matching message id, newest first, read a page at a time."""
    return (row.message_id for row in matching(connection, criteria, batch=batch))


def count(connection: Connection, criteria: Criteria) -> int:
    return connection.execute(
        select(func.count()).select_from(messages).where(_where(connection, criteria))
    ).scalar_one()


def _where(connection: Connection, criteria: Criteria) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [true()]
    postgres = connection.dialect.name == "postgresql"
    jsonb = type_coerce(messages.c.identifiers, JSONB)
    if criteria.identifiers:
        if postgres:
            # JSONB containment: answered by the GIN index.
            conditions.append(jsonb.contains(criteria.identifiers))
        else:
            conditions.extend(
                messages.c.identifiers[key].as_string() == value
                for key, value in criteria.identifiers.items()
            )
    for word in criteria.words:
        if postgres:
            # A JSON path with the word as a JSON string literal: never query text.
            path = f"$.* ? (@ == {json.dumps(word)})"
            conditions.append(jsonb.path_exists(literal(path, JSONPATH)))
        else:
            each = func.json_each(messages.c.identifiers).table_valued("value")
            conditions.append(exists(select(1).select_from(each).where(each.c.value == word)))
    if criteria.types:
        conditions.append(messages.c.message_type.in_(criteria.types))
    if criteria.statuses:
        conditions.append(messages.c.status.in_(criteria.statuses))
    if criteria.since:
        conditions.append(messages.c.received_at >= criteria.since)
    if criteria.until:
        conditions.append(messages.c.received_at < criteria.until)
    if criteria.reason:
        conditions.append(messages.c.error.contains(storable(criteria.reason[:MAX_SEARCH_CHARS]), autoescape=True))
    if criteria.unpurged:
        conditions.append(~exists(select(1).where(
            audit.c.message_id == messages.c.message_id, audit.c.action == "purge",
            audit.c.at >= messages.c.finished_at,
        )))
    if criteria.upto_seq is not None:
        conditions.append(messages.c.seq <= criteria.upto_seq)
    return and_(*conditions)


def _row(r: Any) -> Row:
    return Row(
        seq=r.seq, message_id=r.message_id, message_type=r.message_type, source=r.source,
        identifiers=r.identifiers or {}, status=r.status, error=r.error,
        received_at=aware(r.received_at), finished_at=aware(r.finished_at), attempts=r.attempts,
        dead_letter_id=r.dead_letter_id, superseded_by=r.superseded_by,
    )


def newest_seq(connection: Connection) -> int:
    """The ``seq`` of the newest message (0 for an empty journal)."""
    return connection.execute(select(func.coalesce(func.max(messages.c.seq), 0))).scalar_one()


# -- one message -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRun:
    step: str
    attempt: int
    dispatch: int
    status: str
    task_id: str | None
    losses: int
    started_at: datetime
    finished_at: datetime | None
    result: Any
    error: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Action:
    at: datetime
    actor: str
    action: str
    detail: str | None


@dataclass(frozen=True)
class Timeline:
    """Everything the journal knows of one message, in the order it happened."""

    message: dict[str, Any]
    steps: list[StepRun]
    actions: list[Action]


def timeline(connection: Connection, message_id: str) -> Timeline | None:
    row = connection.execute(
        select(messages).where(messages.c.message_id == message_id)
    ).one_or_none()
    if row is None:
        return None
    message = {k: (aware(v) if isinstance(v, datetime) else v) for k, v in row._mapping.items() if k != "body"}
    runs = [
        StepRun(
            step=s.step, attempt=s.attempt, dispatch=s.dispatch, status=s.status, task_id=s.task_id,
            losses=s.losses, started_at=aware(s.started_at), finished_at=aware(s.finished_at),
            result=s.result, error=s.error,
        )
        for s in connection.execute(
            select(steps).where(steps.c.message_id == message_id).order_by(steps.c.id)
        )
    ]
    actions = [
        Action(at=aware(a.at), actor=a.actor, action=a.action, detail=a.detail)
        for a in connection.execute(
            select(audit).where(audit.c.message_id == message_id).order_by(audit.c.id)
        )
    ]
    return Timeline(message, runs, actions)


def body(connection: Connection, message_id: str, limit: int) -> tuple[bytes, int] | None:
    """The first ``limit`` bytes of the message's body, and its whole size."""
    row = connection.execute(
        select(func.substr(messages.c.body, 1, limit), messages.c.body_size).where(
            messages.c.message_id == message_id
        )
    ).one_or_none()
    return None if row is None else (bytes(row[0] or b""), row[1])


def purges(connection: Connection, message_ids: list[str]) -> dict[str, Action]:
    """The latest purge of each of these messages' dead letters, if any."""
    found: dict[str, Action] = {}
    query = (
        select(audit)
        .where(audit.c.message_id.in_(message_ids), audit.c.action == "purge")
        .order_by(audit.c.id)
    )
    for a in connection.execute(query):
        found[a.message_id] = Action(at=aware(a.at), actor=a.actor, action=a.action, detail=a.detail)
    return found


# -- counts ------------------------------------------------------------------------------


def stats(connection: Connection, since: datetime | None = None) -> dict[str, dict[str, int]]:
    """Message type → status → how many, for messages received since ``since``."""
    query = select(messages.c.message_type, messages.c.status, func.count()).group_by(
        messages.c.message_type, messages.c.status
    )
    if since is not None:
        query = query.where(messages.c.received_at >= since)
    counts: dict[str, dict[str, int]] = {}
    for message_type, status, n in connection.execute(query):
        counts.setdefault(message_type, {})[status] = n
    return counts


def periods(connection: Connection, starts: dict[str, datetime]) -> dict[str, dict[str, dict[str, int]]]:
    """Period → message type → status → how many, for each period that starts at
    ``starts[period]`` and ends now: one pass over the longest period's messages."""
    earliest = min(starts.values())
    counted = [func.sum(case((messages.c.received_at >= start, 1), else_=0)) for start in starts.values()]
    query = (
        select(messages.c.message_type, messages.c.status, *counted)
        .where(messages.c.received_at >= earliest)
        .group_by(messages.c.message_type, messages.c.status)
    )
    result: dict[str, dict[str, dict[str, int]]] = {period: {} for period in starts}
    for message_type, status, *numbers in connection.execute(query):
        for period, n in zip(starts, numbers, strict=True):
            if n:
                result[period].setdefault(message_type, {})[status] = int(n)
    return result
