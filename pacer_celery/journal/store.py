"""Writing the journal: what bridges, workers, the sweeper and operators record.

Every method is one transaction. Bridges journal a whole batch of inputs in one; a worker
writes one when a step starts (with the object's claim, see ``ordering``) and one when it
ends, or both at once when the next step runs in the same task (on PostgreSQL each a
single statement: see ``_begin_in_one`` and ``_hand_over_in_one``). What the journal may
lose on a database crash: see ``Journal``. Reading for people (search, a message's
timeline, counts) is in ``journal.search``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from pacer_celery.journal import migrate, ordering
from pacer_celery.journal.database import engine_for
from pacer_celery.journal.schema import Moment, audit, messages, objects, steps
from pacer_celery.journal.sql import (
    aware,
    fetch,
    first,
    insert_for,
    now,
    once_per_dialect,
    plan_for_these_values,
    storable,
    storable_identifiers,
)

#: A message in one of these has met its fate.
FINAL = ("done", "dead-lettered", "invalid", "superseded")
#: A message in one of these should be moving: the sweeper's candidates.
MOVING = ("received", "dispatched", "running", "replayed")
#: Receiving one of these again (a producer's resend, a bridge that died before its ack)
#: needs no second run: it is done, or its chain is on its way.
NO_SECOND_RUN = ("done", "superseded", "dispatched", "running", "replayed")
#: Longest error text kept per step or message: enough to read the cause.
MAX_ERROR_CHARS = 8000


@dataclass(frozen=True)
class Arrival:
    """A message as a bridge received it: valid (to dispatch) or invalid (``error``)."""

    message_id: str
    message_type: str
    source: str
    routing_key: str
    content_type: str | None
    headers: dict[str, Any]
    body: bytes
    identifiers: dict[str, Any] = field(default_factory=dict)
    object_key: str | None = None
    version_at: datetime | None = None
    error: str | None = None
    dead_letter_id: str | None = None


@dataclass(frozen=True)
class Record:
    """A journaled message, as the worker runtime, the sweeper and replay read it."""

    seq: int
    message_id: str
    message_type: str
    source: str | None
    routing_key: str | None
    content_type: str | None
    headers: dict[str, Any]
    body: bytes
    identifiers: dict[str, Any]
    object_key: str | None
    version_at: datetime | None
    status: str
    dispatch: int
    redispatches: int
    received_at: datetime
    dead_letter_id: str | None = None

    @property
    def version(self) -> ordering.Version:
        return ordering.Version(self.message_id, self.seq, self.version_at)


@dataclass(frozen=True)
class StepAttempt:
    """One attempt at one step of one dispatch of a message, by one task.

    ``holder``: the task message whose delivery the step runs under, when it is not the
    step's own (a link run straight after the one before it, in that one's task). The
    object's lock is held in its name: that message, redelivered after its worker died,
    takes the lock back at once instead of waiting out the lease.
    """

    record: Record
    dispatch: int
    step: str
    attempt: int
    task_id: str
    holder: str | None = None

    @property
    def message_id(self) -> str:
        return self.record.message_id

    @property
    def lock_holder(self) -> str:
        return self.holder or self.task_id


@dataclass(frozen=True)
class StepStart:
    """What the runtime may do with a step it was handed.

    ``run``: go on. ``stale``: the link belongs to an earlier dispatch, or the message
    already met its fate: drop it. ``missing``: no such message in the journal.
    ``busy``: another task holds the object. ``superseded``: a newer message for the
    object exists; the message is now recorded so. ``done``: the step already ended well
    in this dispatch (its task message came back after its worker died later on), with
    its ``result``: it need not run again. ``losses``: how many times a worker died
    running this attempt.
    """

    verdict: str
    losses: int = 0
    superseded_by: str | None = None
    holder: str | None = None
    result: Any = None


# The statements every step runs, built once (see ``sql.once_per_dialect``).
_ENDED_WELL = and_(
    steps.c.message_id == messages.c.message_id,
    steps.c.dispatch == bindparam("of_dispatch"),
    steps.c.step == bindparam("of_step"),
    steps.c.status == "ok",
)
_CURRENT = (
    select(
        messages.c.status,
        messages.c.dispatch,
        exists().where(_ENDED_WELL).label("ended_well"),
        select(steps.c.result).where(_ENDED_WELL).limit(1).scalar_subquery().label("result"),
    )
    .where(messages.c.message_id == bindparam("message"))
    .with_for_update(of=messages)
)


_RECORD = select(messages).where(messages.c.message_id == bindparam("message"))
#: A step started again while still "running": the worker that ran it died.
_RESTARTED = {
    "losses": steps.c.losses + case((steps.c.status == "running", 1), else_=0),
    "status": "running",
    "task_id": bindparam("task"),
    "started_at": bindparam("moment"),
    "finished_at": None,
}
_STEP_KEY = [steps.c.message_id, steps.c.dispatch, steps.c.step, steps.c.attempt]


@once_per_dialect
def _start_step(connection):
    started = insert_for(connection, steps).values(
        message_id=bindparam("message"), dispatch=bindparam("of_dispatch"), step=bindparam("of_step"),
        attempt=bindparam("of_attempt"), task_id=bindparam("task"), status="running", losses=0,
        started_at=bindparam("moment"),
    )
    return started.on_conflict_do_update(index_elements=_STEP_KEY, set_=_RESTARTED).returning(steps.c.losses)


#: The message in a worker's hands: held for the lease, running (which a hand-over finds
#: it already is), with the attempts made so far.
_HELD_VALUES = {
    "status": "running",
    "held_until": bindparam("until"),
    "attempts": case(
        (messages.c.attempts < bindparam("of_attempt"), bindparam("of_attempt")), else_=messages.c.attempts
    ),
}
_RUNNING = (
    update(messages)
    .where(messages.c.message_id == bindparam("message"))
    .values(**_HELD_VALUES, activity_at=bindparam("moment"))
)
#: The step that ends (its own names: a hand-over starts another step in the same statement).
_ENDED = and_(
    steps.c.message_id == bindparam("message"),
    steps.c.dispatch == bindparam("ended_dispatch"),
    steps.c.step == bindparam("ended_step"),
    steps.c.attempt == bindparam("ended_attempt"),
)
_END_STEP = (
    update(steps)
    .where(_ENDED)
    .values(status=bindparam("outcome"), finished_at=bindparam("moment"),
            # None as SQL NULL, as a literal None in values() would write it.
            result=bindparam("outcome_result", type_=JSON(none_as_null=True)), error=bindparam("outcome_error"))
)
_OF_DISPATCH = and_(messages.c.message_id == bindparam("message"), messages.c.dispatch == bindparam("of_dispatch"))
_STEP_ENDED = update(messages).where(_OF_DISPATCH).values(held_until=None, activity_at=bindparam("active_at"))
#: The message runs on, if it is still this dispatch's and has not met its fate. (Not
#: ``status.not_in(FINAL)``: SQLAlchemy renders an IN list anew at every execution.)
#: It changes no indexed column (``activity_at`` stays the first link's start, as it
#: does while a lease is renewed: ``held_until`` tells the sweeper the message is in
#: hand), so PostgreSQL updates the row in place (a HOT update) instead of adding an
#: entry to each of the table's nine indexes: a quarter less of the WAL a dataset
#: message's links write (bench/journal.py).
_RUNS_ON = update(messages).where(_OF_DISPATCH, *(messages.c.status != fate for fate in FINAL)).values(
    **_HELD_VALUES
)
_MESSAGE_ENDED = (
    update(messages)
    .where(_OF_DISPATCH)
    .values(held_until=None, activity_at=bindparam("active_at"), status=bindparam("fate"),
            finished_at=bindparam("moment"), dead_letter_id=bindparam("letter"), error=bindparam("fate_error"))
)


# PostgreSQL runs a worker's hand-over and a step's end as one statement each, its parts
# joined in a WITH, and outside a transaction (one statement is atomic): one round trip
# to the database instead of six or five. At every link, the round trips cost the worker
# more than the writes cost the database. SQLite has no WITH of writes: there, the same
# statements run one after the other in a transaction.


def _started_where(gate):
    """``_start_step`` as a CTE of a one-statement write, run only where ``gate`` holds;
    returns the start's losses."""
    start = select(
        bindparam("message", type_=String), bindparam("of_dispatch", type_=Integer),
        bindparam("of_step", type_=String), bindparam("of_attempt", type_=Integer), bindparam("task", type_=String),
        literal("running"), literal(0), bindparam("moment", type_=Moment),
    ).where(gate)
    started = postgresql.insert(steps).from_select(
        ["message_id", "dispatch", "step", "attempt", "task_id", "status", "losses", "started_at"], start
    )
    return started.on_conflict_do_update(index_elements=_STEP_KEY, set_=_RESTARTED).returning(steps.c.losses).cte(
        "started"
    )


@functools.cache
def _hand_over_in_one(locked: bool):
    """``hand_over``'s statements as one: the lock passed on (``locked``), then, if it
    was, the step's end and the message running on, then, if it does, the next step's
    start. Returns held, runs on, losses."""
    held = true()
    if locked:
        passed = ordering.PASS_ON.returning(objects.c.object_key).cte("passed")
        held = exists(select(passed.c.object_key))
    ended = _END_STEP.where(held).returning(steps.c.id).cte("ended")
    runs_on = _RUNS_ON.where(held).returning(messages.c.message_id).cte("runs_on")
    running_on = exists(select(runs_on.c.message_id))
    started = _started_where(running_on)
    return select(
        held.label("held"),
        running_on.label("runs_on"),
        select(started.c.losses).scalar_subquery().label("losses"),
    ).add_cte(ended)


@functools.cache
def _begin_in_one(locked: bool):
    """``begin_step``'s statements as one, for a step that runs (a current link of a
    message not yet at its fate, whose step has not ended well): the object claimed
    (``locked``, see ``ordering.claimed_where``), then, if it was, the step's start and
    the message running. Returns what ``begin_step`` decides by: the message's state,
    the claim's outcome, the object's holder before it, the start's losses."""
    current = _CURRENT.cte("current")
    runs = exists(
        select(current.c.dispatch).where(
            current.c.dispatch == bindparam("of_dispatch"),
            *(current.c.status != fate for fate in FINAL),
            not_(current.c.ended_well),
        )
    )
    claimed = {}
    if locked:
        taken = ordering.claimed_where(runs).cte("taken")
        runs = exists(select(taken.c.holder).where(taken.c.holder == bindparam("taker")))
        claimed = {
            "newest": select(taken.c.message_id).where(taken.c.holder.is_(None)).scalar_subquery(),
            "holder": ordering.HOLDER.scalar_subquery(),
        }
    started = _started_where(runs)
    running = _RUNNING.where(runs).returning(messages.c.message_id).cte("running")
    return select(
        exists(select(current.c.dispatch)).label("found"),
        select(current.c.dispatch).scalar_subquery().label("dispatch"),
        select(current.c.status).scalar_subquery().label("status"),
        select(current.c.ended_well).scalar_subquery().label("ended_well"),
        select(current.c.result).scalar_subquery().label("result"),
        *(value.label(name) for name, value in claimed.items()),
        select(started.c.losses).scalar_subquery().label("losses"),
    ).add_cte(running)


@functools.cache
def _end_step_in_one(locked: bool, fate: bool):
    """``end_step``'s statements as one: the step's end, the lock let go (``locked``), the
    message's fate (``fate``) or its next wait."""
    ctes = [_END_STEP.returning(steps.c.id).cte("ended")]
    if locked:
        ctes.append(ordering.RELEASE.returning(objects.c.object_key).cte("released"))
    return (_MESSAGE_ENDED if fate else _STEP_ENDED).add_cte(*ctes)


# What the journal may lose. A message's arrival (the bridge acks its source message after
# that commit) and its fate (done, dead-lettered, superseded) wait for the disk. A worker's
# progress in between (a step started, handed over, ended short of the message's fate)
# does not: on PostgreSQL those commit with synchronous_commit off, which spares a
# dataset message four of its five waits for a disk flush. A database crash may lose the
# last fraction of a second of progress, whole transactions, never half of one, and the
# WAL is flushed in order, so the next durable commit makes every earlier one durable.
# Lost progress is progress not made: the message is back where it was, its task message
# still unacked (the worker's next journal call fails, the task goes back to the broker)
# or, acked, the sweeper re-dispatches it; its idempotent steps run again and converge.


class Journal:
    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.engine: Engine = engine_for(url)
        #: Connections that run each statement on its own (see _hand_over_in_one).
        self.autocommit: Engine = engine_for(url, autocommit=True)
        #: Those of them whose commits need not wait for the disk: a worker's progress.
        self.progress: Engine = engine_for(url, autocommit=True, durable=False)
        self.one_statement_writes = self.engine.dialect.name == "postgresql"
        if upgrade:
            migrate.ensure_current(self.engine)

    # -- bridges ---------------------------------------------------------------------

    def record_arrivals(self, arrivals: list[Arrival]) -> dict[str, int | None]:
        """Journal a bridge's batch: message id → the dispatch its chain carries, or
        None when the message was settled already (nothing to run again).

        One transaction for the whole batch; a concurrent bridge inserting the same id
        makes it start over once.
        """
        try:
            return self._record_arrivals(arrivals)
        except IntegrityError:
            return self._record_arrivals(arrivals)

    def _record_arrivals(self, arrivals: list[Arrival]) -> dict[str, int | None]:
        moment = now()
        decided: dict[str, int | None] = {}
        with self.engine.begin() as connection:
            plan_for_these_values(connection)
            ids = list({a.message_id for a in arrivals})
            known = {
                row.message_id: row
                for row in connection.execute(
                    select(messages.c.message_id, messages.c.status, messages.c.dispatch).where(
                        messages.c.message_id.in_(ids)
                    )
                )
            }
            fresh = []
            for arrival in arrivals:
                row = known.get(arrival.message_id)
                if arrival.message_id in decided:
                    continue  # the same id twice in one batch: the first one counts
                if row is None:
                    fresh.append(self._new_row(arrival, moment))
                    decided[arrival.message_id] = 1
                elif arrival.error is None and row.status in NO_SECOND_RUN:
                    decided[arrival.message_id] = None
                else:
                    decided[arrival.message_id] = row.dispatch + 1
                    connection.execute(
                        update(messages)
                        .where(messages.c.message_id == arrival.message_id)
                        .values(
                            **self._arrival_values(arrival, moment),
                            dispatch=row.dispatch + 1,
                            deliveries=messages.c.deliveries + 1,
                            superseded_by=None,
                            finished_at=moment if arrival.error else None,
                        )
                    )
            if fresh:
                connection.execute(messages.insert(), fresh)
        return decided

    def _new_row(self, arrival: Arrival, moment: datetime) -> dict[str, Any]:
        return {
            "message_id": arrival.message_id,
            "message_type": arrival.message_type,
            "source": storable(arrival.source[:255]),
            "routing_key": storable(arrival.routing_key[:255]),
            "content_type": storable((arrival.content_type or "")[:255]) or None,
            "headers": arrival.headers,
            "body": arrival.body,
            "body_size": len(arrival.body),
            "body_sha256": hashlib.sha256(arrival.body).hexdigest(),
            "identifiers": storable_identifiers(arrival.identifiers),
            "object_key": storable(arrival.object_key),
            "version_at": arrival.version_at,
            "received_at": moment,
            "finished_at": moment if arrival.error else None,
            "attempts": 0,
            "deliveries": 1,
            "dispatch": 1,
            "redispatches": 0,
            **self._arrival_values(arrival, moment),
        }

    @staticmethod
    def _arrival_values(arrival: Arrival, moment: datetime) -> dict[str, Any]:
        invalid = arrival.error is not None
        return {
            # "received" until the broker confirms its chain (mark_dispatched).
            "status": "invalid" if invalid else "received",
            "error": storable(arrival.error[:MAX_ERROR_CHARS]) if invalid else None,
            "dead_letter_id": arrival.dead_letter_id,
            "dispatched_at": None,
            "activity_at": moment,
        }

    def mark_dispatched(self, message_ids: list[str]) -> None:
        """The broker confirmed these messages' chains: a redelivery of one of them is not
        dispatched again."""
        if not message_ids:
            return
        moment = now()
        with self.engine.begin() as connection:
            plan_for_these_values(connection)
            connection.execute(
                update(messages)
                .where(messages.c.message_id.in_(message_ids))
                .values(
                    dispatched_at=func.coalesce(messages.c.dispatched_at, moment),
                    status=case((messages.c.status == "received", "dispatched"), else_=messages.c.status),
                )
            )

    # -- workers ---------------------------------------------------------------------

    def load(self, message_id: str) -> Record | None:
        with self.autocommit.connect() as connection:
            row = first(connection, _RECORD, {"message": message_id})
        if row is None:
            return None
        return Record(
            seq=row.seq,
            message_id=row.message_id,
            message_type=row.message_type,
            source=row.source,
            routing_key=row.routing_key,
            content_type=row.content_type,
            headers=row.headers or {},
            body=row.body or b"",
            identifiers=row.identifiers or {},
            object_key=row.object_key,
            version_at=aware(row.version_at),
            status=row.status,
            dispatch=row.dispatch,
            redispatches=row.redispatches,
            received_at=aware(row.received_at),
            dead_letter_id=row.dead_letter_id,
        )

    def begin_step(self, run: StepAttempt, lease: timedelta, *, supersedable: bool) -> StepStart:
        """A worker starts a step: check the message is still this dispatch's, claim its
        object, and record the start (counting restarts of the same attempt)."""
        record, dispatch, task_id = run.record, run.dispatch, run.task_id
        moment = now()
        if self.one_statement_writes:
            return self._begin_in_one(run, lease, supersedable, moment)
        with self.engine.begin() as connection:
            current = first(
                connection, _CURRENT, {"message": record.message_id, "of_dispatch": dispatch, "of_step": run.step}
            )
            if current is None:
                return StepStart("missing")
            if current.dispatch != dispatch or current.status in FINAL:
                return StepStart("stale")
            if current.ended_well:
                return StepStart("done", result=current.result)
            if record.object_key is not None:
                claim = ordering.claim(
                    connection, record.object_key, record.version, run.lock_holder, moment,
                    moment + lease, supersedable=supersedable,
                )
                if not claim.acquired:
                    return StepStart("busy", holder=claim.holder)
                if claim.superseded_by is not None:
                    self._supersede(connection, record.message_id, dispatch, claim.superseded_by, moment)
                    return StepStart("superseded", superseded_by=claim.superseded_by)
                # The claim may have waited for the previous holder's commit: the step
                # starts now, after that holder finished, and the journal says so.
                moment = now()
            step = {"message": record.message_id, "of_dispatch": dispatch, "of_step": run.step,
                    "of_attempt": run.attempt, "task": task_id, "moment": moment}
            step["until"] = moment + lease
            losses = connection.execute(_start_step(connection), step).scalar_one()
            connection.execute(_RUNNING, step)
        return StepStart("run", losses=losses)

    def _begin_in_one(self, run: StepAttempt, lease: timedelta, supersedable: bool, moment: datetime) -> StepStart:
        record = run.record
        locked = record.object_key is not None
        params = {
            "message": record.message_id, "of_dispatch": run.dispatch, "of_step": run.step,
            "of_attempt": run.attempt, "task": run.task_id, "moment": moment, "until": moment + lease,
            "key": record.object_key, "taker": run.lock_holder, "now": moment,
            **ordering.recorded(record.version if supersedable else None),
        }
        with self.progress.connect() as connection:
            row = first(connection, _begin_in_one(locked), params)
        if not row.found:
            return StepStart("missing")
        if row.dispatch != run.dispatch or row.status in FINAL:
            return StepStart("stale")
        if row.ended_well:
            return StepStart("done", result=row.result)
        if row.losses is not None:
            return StepStart("run", losses=row.losses)
        if row.newest is None:
            return StepStart("busy", holder=row.holder)
        # Overtaken: the claim let the object go again; the message's fate waits for the disk.
        with self.engine.begin() as connection:
            self._supersede(connection, record.message_id, run.dispatch, row.newest, moment)
        return StepStart("superseded", superseded_by=row.newest)

    def hand_over(self, ended: StepAttempt, result: Any, following: StepAttempt, lease: timedelta) -> StepStart | None:
        """Step ``ended`` ended well and the message's next step starts in the same
        worker: both recorded at once, the object's lock passing from the one
        to the other without being let go (no other message can write the object in
        between, so none can overtake this one there).

        None, with nothing recorded, when ``ended`` no longer holds the lock (its lease
        ran out): the caller ends the step and begins the next one as usual.
        """
        record, moment = ended.record, now()
        params = {
            "message": record.message_id, "ended_dispatch": ended.dispatch, "ended_step": ended.step,
            "ended_attempt": ended.attempt, "outcome": "ok", "moment": moment, "outcome_result": result,
            "outcome_error": None, "of_dispatch": following.dispatch, "of_step": following.step,
            "of_attempt": following.attempt, "task": following.task_id, "until": moment + lease,
            "key": record.object_key, "taker": ended.lock_holder, "heir": following.lock_holder,
        }
        # (The same step twice in a row would be two writes of one row in one statement.)
        if self.one_statement_writes and following.step != ended.step:
            with self.progress.connect() as connection:
                row = first(connection, _hand_over_in_one(record.object_key is not None), params)
                if row.held and not row.runs_on and record.object_key is not None:
                    ordering.release(connection, record.object_key, following.lock_holder)
            if not row.held:
                return None
            return StepStart("run", losses=row.losses) if row.runs_on else StepStart("stale")
        with self.engine.begin() as connection:
            if record.object_key is not None and not ordering.pass_on(
                connection, record.object_key, ended.lock_holder, following.lock_holder, moment + lease
            ):
                return None
            connection.execute(_END_STEP, params)
            if connection.execute(_RUNS_ON, params).rowcount == 0:
                # Replayed, or its fate met, while the step ran: it stops here.
                if record.object_key is not None:
                    ordering.release(connection, record.object_key, following.lock_holder)
                return StepStart("stale")
            losses = connection.execute(_start_step(connection), params).scalar_one()
        return StepStart("run", losses=losses)

    def renew(self, run: StepAttempt, lease: timedelta) -> None:
        """The step still runs: extend the message's hold and the object's lease."""
        until = now() + lease
        with self.engine.begin() as connection:
            connection.execute(
                update(messages).where(messages.c.message_id == run.message_id).values(held_until=until)
            )
            if run.record.object_key is not None:
                ordering.renew(connection, run.record.object_key, run.lock_holder, until)

    def release(self, run: StepAttempt) -> None:
        """Let the object go without recording an outcome (a step that will run again)."""
        if run.record.object_key is None:
            return
        with self.engine.begin() as connection:
            ordering.release(connection, run.record.object_key, run.lock_holder)

    def end_step(
        self,
        run: StepAttempt,
        *,
        status: str,
        result: Any = None,
        error: str | None = None,
        outcome: str | None = None,
        reason: str | None = None,
        dead_letter_id: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record how the step ended (``ok``, ``retrying``, ``failed``), let the object
        go, and, with ``outcome``, the message's fate (``done``, ``dead-lettered``, with
        the ``reason``)."""
        record, moment = run.record, now()
        params = {
            "message": record.message_id, "ended_dispatch": run.dispatch, "ended_step": run.step,
            "ended_attempt": run.attempt, "outcome": status, "moment": moment, "outcome_result": result,
            "outcome_error": storable(error[:MAX_ERROR_CHARS]) if error else None,
            "key": record.object_key, "taker": run.lock_holder,
            "of_dispatch": run.dispatch, "active_at": retry_at or moment,
            "fate": outcome, "letter": dead_letter_id,
            "fate_error": storable(reason[:MAX_ERROR_CHARS]) if reason else None,
        }
        if self.one_statement_writes:
            with (self.progress if outcome is None else self.autocommit).connect() as connection:
                fetch(connection, _end_step_in_one(record.object_key is not None, outcome is not None), params)
            return
        with self.engine.begin() as connection:
            connection.execute(_END_STEP, params)
            if record.object_key is not None:
                ordering.release(connection, record.object_key, run.lock_holder)
            connection.execute(_STEP_ENDED if outcome is None else _MESSAGE_ENDED, params)

    def _supersede(self, connection, message_id: str, dispatch: int, newer: str, moment: datetime) -> None:
        # Of this dispatch only: on PostgreSQL the fate is written after the claim's
        # statement, and an operator's replay in between starts a dispatch of its own.
        connection.execute(
            update(messages)
            .where(messages.c.message_id == message_id, messages.c.dispatch == dispatch)
            .values(status="superseded", superseded_by=newer, finished_at=moment,
                    activity_at=moment, held_until=None)
        )

    # -- dead letters that do not come from a step ----------------------------------

    def dead_lettered(self, message_id: str, dead_letter_id: str, error: str) -> None:
        moment = now()
        with self.engine.begin() as connection:
            connection.execute(
                update(messages)
                .where(messages.c.message_id == message_id)
                .values(status="dead-lettered", dead_letter_id=dead_letter_id,
                        error=storable(error[:MAX_ERROR_CHARS]), finished_at=moment, activity_at=moment,
                        held_until=None)
            )

    # -- the sweeper and replay ------------------------------------------------------

    def stalled(self, quiet_for: timedelta, limit: int = 100) -> list[Record]:
        """Messages that should be moving but have shown no sign of it for ``quiet_for``,
        and that no worker holds."""
        moment = now()
        with self.engine.connect() as connection:
            ids = connection.execute(
                select(messages.c.message_id)
                .where(
                    and_(
                        messages.c.status.in_(MOVING),
                        messages.c.activity_at < moment - quiet_for,
                        or_(messages.c.held_until.is_(None), messages.c.held_until < moment),
                    )
                )
                .order_by(messages.c.activity_at)
                .limit(limit)
            ).scalars().all()
        return [record for record in map(self.load, ids) if record is not None]

    def redispatch(self, record: Record, *, replay: bool) -> int | None:
        """Take ``record`` for a new dispatch; its number, or None if someone else did
        (or it moved) meanwhile. ``replay``: an operator's (recorded as ``replayed``);
        else the sweeper's (counted: the sweeper gives up after PACER_MAX_REDISPATCH)."""
        moment = now()
        values: dict[str, Any] = {
            "dispatch": record.dispatch + 1,
            "status": "replayed" if replay else "dispatched",
            "error": None,
            "superseded_by": None,
            "finished_at": None,
            "dispatched_at": moment,
            "activity_at": moment,
            "held_until": None,
        }
        if replay:
            values["dead_letter_id"] = None
        else:
            values["redispatches"] = messages.c.redispatches + 1
        taken_as = and_(messages.c.message_id == record.message_id, messages.c.dispatch == record.dispatch)
        if not replay:
            # A worker may have settled it meanwhile: the sweeper takes only what still should move.
            taken_as = and_(taken_as, messages.c.status.in_(MOVING))
        with self.engine.begin() as connection:
            taken = connection.execute(update(messages).where(taken_as).values(**values)).rowcount
        return record.dispatch + 1 if taken else None

    # -- operators -------------------------------------------------------------------

    def record_action(self, actor: str, action: str, message_id: str | None, detail: Any = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                audit.insert().values(
                    at=now(), actor=storable(actor[:255]), action=action, message_id=message_id,
                    detail=None if detail is None else json.dumps(detail, default=str),
                )
            )

    def prune(self, before: datetime, batch: int = 1000) -> int:
        """Delete messages received before ``before`` (and their steps), ``batch`` at a
        time so that no transaction grows with the journal; how many went this round."""
        with self.engine.begin() as connection:
            oldest = (
                select(messages.c.seq)
                .where(messages.c.received_at < before)
                .order_by(messages.c.seq)
                .limit(batch)
                .scalar_subquery()
            )
            ids = select(messages.c.message_id).where(messages.c.seq.in_(oldest))
            connection.execute(delete(steps).where(steps.c.message_id.in_(ids)))
            return connection.execute(delete(messages).where(messages.c.seq.in_(oldest))).rowcount

    def count_before(self, before: datetime) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(messages).where(messages.c.received_at < before)
            ).scalar_one()
