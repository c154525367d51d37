"""The journal's tables: one row per message, one per step run, one per object PACER
orders writes of, one per operator action.

SQLAlchemy Core, one schema for PostgreSQL and SQLite. Alembic's migrations
(``journal/migrations``) create and evolve it; this module is what the code reads.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

#: JSON on SQLite, JSONB on PostgreSQL (containment searches with a GIN index).
Document = JSON().with_variant(JSONB(), "postgresql")
#: SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid).
Serial = BigInteger().with_variant(Integer(), "sqlite")
Moment = DateTime(timezone=True)

messages = Table(
    "messages",
    metadata,
    #: The order PACER received messages in: "newest" for types without a source time,
    #: and the key of keyset paging.
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("message_type", String(64), nullable=False),
    Column("source", String(255)),
    Column("routing_key", String(255)),
    Column("content_type", String(255)),
    Column("headers", JSON),
    #: The claim check: chain links carry the message id, steps read the body here.
    Column("body", LargeBinary),
    Column("body_size", Integer, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("identifiers", Document, nullable=False),
    #: The object whose newest message wins (see pacer_celery.ordering), and the
    #: source's time of this version of it, when the message carries one.
    Column("object_key", String(1024)),
    Column("version_at", Moment),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("dead_letter_id", String(32)),
    Column("superseded_by", String(255)),
    Column("attempts", Integer, nullable=False, default=0),
    #: How often a bridge received it (redeliveries, dead letters replayed).
    Column("deliveries", Integer, nullable=False, default=1),
    #: The chain generation: a re-dispatch makes the links of earlier ones stale.
    Column("dispatch", Integer, nullable=False, default=1),
    Column("redispatches", Integer, nullable=False, default=0),
    Column("received_at", Moment, nullable=False),
    Column("dispatched_at", Moment),
    Column("finished_at", Moment),
    #: When something should next happen to it (a worker took it up, a step ended, a
    #: retry is due): the sweeper's clock for a message that stalled. Links one worker
    #: runs one after the other leave it as the first one set it (see store._RUNS_ON).
    Column("activity_at", Moment, nullable=False),
    #: Until when a worker running one of its steps holds it (renewed while it runs).
    Column("held_until", Moment),
)
# The indexes as of the newest migration (0002: why each is there).
_DEAD = text("status IN ('dead-lettered', 'invalid')")
Index("ix_messages_status_activity", messages.c.status, messages.c.activity_at)
Index("ix_messages_type_seq", messages.c.message_type, messages.c.seq)
Index("ix_messages_dead_letter", messages.c.dead_letter_id)
Index("ix_messages_status_seq", messages.c.status, messages.c.seq)
Index("ix_messages_dead_seq", messages.c.seq, postgresql_where=_DEAD, sqlite_where=_DEAD)
Index("ix_messages_received_type_status", messages.c.received_at, messages.c.message_type, messages.c.status)
Index("ix_messages_identifier_values", messages.c.identifiers, postgresql_using="gin").ddl_if(dialect="postgresql")

steps = Table(
    "steps",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        String(255),
        ForeignKey("messages.message_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("dispatch", Integer, nullable=False),
    Column("step", String(128), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("task_id", String(64)),
    #: running, ok, retrying, failed, superseded
    Column("status", String(16), nullable=False),
    #: How many times a worker died running this attempt (it was started again while running).
    Column("losses", Integer, nullable=False, default=0),
    Column("started_at", Moment, nullable=False),
    Column("finished_at", Moment),
    Column("result", JSON),
    Column("error", Text),
    UniqueConstraint("message_id", "dispatch", "step", "attempt", name="uq_steps_run"),
)
Index("ix_steps_message", steps.c.message_id, steps.c.id)

objects = Table(
    "objects",
    metadata,
    Column("object_key", String(1024), primary_key=True),
    #: The newest message that has started writing this object.
    Column("message_id", String(255)),
    Column("seq", BigInteger),
    Column("version_at", Moment),
    #: The task holding the object's lock, and until when (renewed while its step runs).
    Column("holder", String(64)),
    Column("lease_until", Moment),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("at", Moment, nullable=False),
    Column("actor", String(255), nullable=False),
    #: replay, purge, redispatch
    Column("action", String(32), nullable=False),
    Column("message_id", String(255)),
    Column("detail", Text),
)
Index("ix_audit_message", audit.c.message_id)
