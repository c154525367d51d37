"""The newest fact wins: a lock per object, and the version of it that writes last.

Each message type may name the object it updates (a user, a proposal's visit, a dataset:
see ``PacerBridge.get_ordering_key``). Before each step, the worker runtime claims that
object in the journal's ``objects`` table, in the same transaction as the step's start:

- the claim is a lock: one step at a time per object, held by a lease that the worker
  renews while its step runs, so a killed worker blocks the object for one lease at most;
- the row remembers the newest message that has begun writing the object. A message
  older than that one is *superseded*: it stops before its next step and writes nothing
  more. Newer means a later source time (``updated_at``) where both messages carry one,
  else a later place in the order PACER received them (the journal's ``seq``).

Different objects never wait for each other. Messages that only add to an object
(``datafile-ingestion``) take the lock but are never superseded and supersede nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, String, and_, bindparam, case, not_, null, or_, select, update
from sqlalchemy.dialects import postgresql

from pacer_celery.journal.schema import Moment, objects
from pacer_celery.journal.sql import aware, first, insert_for, once_per_dialect


@dataclass(frozen=True)
class Version:
    """One message's version of an object."""

    message_id: str
    seq: int
    at: datetime | None

    def is_newer_than(self, other: Version) -> bool:
        if self.at is not None and other.at is not None and self.at != other.at:
            return self.at > other.at
        return self.seq > other.seq


@dataclass(frozen=True)
class Claim:
    acquired: bool
    #: When not acquired: the task holding the lock.
    holder: str | None = None
    #: When acquired by an overtaken message: the newest message's id.
    superseded_by: str | None = None


_FREE = or_(
    objects.c.holder.is_(None), objects.c.lease_until < bindparam("now"), objects.c.holder == bindparam("taker")
)


@once_per_dialect
def _take(connection: Connection):
    taken = {"holder": bindparam("taker"), "lease_until": bindparam("until")}
    # A new object records the claimant's version as it is inserted (none for a message
    # that supersedes nothing): no other message has begun writing it.
    first = {"message_id": bindparam("newest"), "seq": bindparam("newest_seq"), "version_at": bindparam("newest_at")}
    return (
        insert_for(connection, objects)
        .values(object_key=bindparam("key"), **taken, **first)
        .on_conflict_do_update(index_elements=[objects.c.object_key], set_=taken, where=_FREE)
        # The row comes back only when the claim took the lock (inserted, or updated where free).
        .returning(objects.c.message_id, objects.c.seq, objects.c.version_at)
    )


#: Public: who holds an object (the journal's one-statement begin tells a busy step so).
HOLDER = select(objects.c.holder).where(objects.c.object_key == bindparam("key"))
_RECORD_VERSION = (
    update(objects)
    .where(objects.c.object_key == bindparam("key"))
    .values(message_id=bindparam("newest"), seq=bindparam("newest_seq"), version_at=bindparam("newest_at"))
)
_OF_HOLDER = and_(objects.c.object_key == bindparam("key"), objects.c.holder == bindparam("taker"))
_RENEW = update(objects).where(_OF_HOLDER).values(lease_until=bindparam("until"))
#: Public: the journal folds these into its one-statement writes on PostgreSQL.
RELEASE = update(objects).where(_OF_HOLDER).values(holder=None, lease_until=None)
PASS_ON = update(objects).where(_OF_HOLDER).values(holder=bindparam("heir"), lease_until=bindparam("until"))


def claimed_where(gate: Any):
    """``claim`` as one statement, for the journal's one-statement writes on PostgreSQL:
    an INSERT to use as a CTE, which claims only where ``gate`` holds.

    What ``claim`` decides in Python, it decides in the conflict's UPDATE, the row's one
    change: the lock taken, and this version recorded unless a newer one is; or, for an
    older message than the newest one to begin writing the object, the lock let go at
    once (the row comes back with no holder and the newest one's id). No row: busy.
    """
    mine = bindparam("newest", type_=String)
    mine_seq, mine_at = bindparam("newest_seq", type_=BigInteger), bindparam("newest_at", type_=Moment)
    # Version.is_newer_than, the recorded version against this one.
    by_time = and_(objects.c.version_at.is_not(None), mine_at.is_not(None), objects.c.version_at != mine_at)
    newer = case((by_time, objects.c.version_at > mine_at), else_=objects.c.seq > mine_seq)
    # ``newest`` is None for a message that supersedes nobody and is never superseded.
    overtaken = and_(mine.is_not(None), objects.c.message_id.is_not(None), objects.c.message_id != mine, newer)
    records = and_(mine.is_not(None), not_(overtaken))
    claimed = select(
        bindparam("key", type_=String), bindparam("taker", type_=String), bindparam("until", type_=Moment),
        mine, mine_seq, mine_at,
    ).where(gate)
    return (
        postgresql.insert(objects)
        .from_select(["object_key", "holder", "lease_until", "message_id", "seq", "version_at"], claimed)
        .on_conflict_do_update(
            index_elements=[objects.c.object_key],
            set_={
                "holder": case((overtaken, null()), else_=bindparam("taker")),
                "lease_until": case((overtaken, null()), else_=bindparam("until")),
                "message_id": case((records, mine), else_=objects.c.message_id),
                "seq": case((records, mine_seq), else_=objects.c.seq),
                "version_at": case((records, mine_at), else_=objects.c.version_at),
            },
            where=_FREE,
        )
        .returning(objects.c.holder, objects.c.message_id)
    )


def claim(
    connection: Connection,
    key: str,
    version: Version,
    holder: str,
    now: datetime,
    lease_until: datetime,
    *,
    supersedable: bool,
) -> Claim:
    """Take the object's lock for ``holder``, and check and record ``version``.

    A superseded claim has already let the lock go again.
    """
    taker = {"key": key, "taker": holder, "until": lease_until, "now": now, **recorded(version if supersedable else None)}
    row = first(connection, _take(connection), taker)
    if row is None:
        return Claim(False, holder=connection.execute(HOLDER, {"key": key}).scalar_one_or_none())
    if not supersedable or row.message_id == version.message_id:
        # (The object records this message: inserted just now, or an earlier step of it.)
        return Claim(True)
    if row.message_id is not None:
        newest = Version(row.message_id, row.seq, aware(row.version_at))
        if newest.is_newer_than(version):
            release(connection, key, holder)
            return Claim(True, superseded_by=newest.message_id)
    connection.execute(_RECORD_VERSION, {"key": key, **recorded(version)})
    return Claim(True)


def recorded(version: Version | None) -> dict[str, object]:
    """The ``newest*`` parameters of a claim: ``version``, or none for a message that
    supersedes nobody."""
    if version is None:
        return {"newest": None, "newest_seq": None, "newest_at": None}
    return {"newest": version.message_id, "newest_seq": version.seq, "newest_at": version.at}


def renew(connection: Connection, key: str, holder: str, lease_until: datetime) -> None:
    connection.execute(_RENEW, {"key": key, "taker": holder, "until": lease_until})


def release(connection: Connection, key: str, holder: str) -> None:
    connection.execute(RELEASE, {"key": key, "taker": holder})


def pass_on(connection: Connection, key: str, holder: str, heir: str, lease_until: datetime) -> bool:
    """Hand the lock from ``holder`` to ``heir``, the same message's next step; False
    when ``holder`` no longer has it."""
    return connection.execute(PASS_ON, {"key": key, "taker": holder, "heir": heir, "until": lease_until}).rowcount == 1
