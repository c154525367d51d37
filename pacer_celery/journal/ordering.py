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

from sqlalchemy import Connection, and_, or_, select, update

from pacer_celery.journal.schema import objects
from pacer_celery.journal.sql import aware, insert_for


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
    free = or_(objects.c.holder.is_(None), objects.c.lease_until < now, objects.c.holder == holder)
    take = insert_for(connection, objects).values(object_key=key, holder=holder, lease_until=lease_until)
    # The row comes back only when the claim took the lock (inserted, or updated where free).
    row = connection.execute(
        take.on_conflict_do_update(
            index_elements=[objects.c.object_key],
            set_={"holder": holder, "lease_until": lease_until},
            where=free,
        ).returning(objects.c.message_id, objects.c.seq, objects.c.version_at)
    ).one_or_none()
    if row is None:
        current = connection.execute(select(objects.c.holder).where(objects.c.object_key == key))
        return Claim(False, holder=current.scalar_one_or_none())
    if not supersedable or row.message_id == version.message_id:
        # (The object already records this message: an earlier step of it.)
        return Claim(True)
    if row.message_id is not None:
        newest = Version(row.message_id, row.seq, aware(row.version_at))
        if newest.is_newer_than(version):
            release(connection, key, holder)
            return Claim(True, superseded_by=newest.message_id)
    connection.execute(
        update(objects)
        .where(objects.c.object_key == key)
        .values(message_id=version.message_id, seq=version.seq, version_at=version.at)
    )
    return Claim(True)


def renew(connection: Connection, key: str, holder: str, lease_until: datetime) -> None:
    connection.execute(
        update(objects)
        .where(and_(objects.c.object_key == key, objects.c.holder == holder))
        .values(lease_until=lease_until)
    )


def release(connection: Connection, key: str, holder: str) -> None:
    connection.execute(
        update(objects)
        .where(and_(objects.c.object_key == key, objects.c.holder == holder))
        .values(holder=None, lease_until=None)
    )

