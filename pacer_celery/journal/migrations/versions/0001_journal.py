"""The journal: messages, step runs, ordered objects, operator actions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A snapshot of the types as this revision created them, not imports from schema.py:
# a migration must keep meaning what it meant when it was written.
document = sa.JSON().with_variant(JSONB(), "postgresql")
serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("seq", serial, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255)),
        sa.Column("routing_key", sa.String(255)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("headers", sa.JSON),
        sa.Column("body", sa.LargeBinary),
        sa.Column("body_size", sa.Integer, nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("identifiers", document, nullable=False),
        sa.Column("object_key", sa.String(1024)),
        sa.Column("version_at", moment),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("dead_letter_id", sa.String(32)),
        sa.Column("superseded_by", sa.String(255)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deliveries", sa.Integer, nullable=False, server_default="1"),
        sa.Column("dispatch", sa.Integer, nullable=False, server_default="1"),
        sa.Column("redispatches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("received_at", moment, nullable=False),
        sa.Column("dispatched_at", moment),
        sa.Column("finished_at", moment),
        sa.Column("activity_at", moment, nullable=False),
        sa.Column("held_until", moment),
    )
    op.create_index("ix_messages_status_activity", "messages", ["status", "activity_at"])
    op.create_index("ix_messages_type_seq", "messages", ["message_type", "seq"])
    op.create_index("ix_messages_received_at", "messages", ["received_at"])
    op.create_index("ix_messages_dead_letter", "messages", ["dead_letter_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_messages_identifiers",
            "messages",
            ["identifiers"],
            postgresql_using="gin",
            postgresql_ops={"identifiers": "jsonb_path_ops"},
        )
    op.create_table(
        "steps",
        sa.Column("id", serial, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.String(255),
            sa.ForeignKey("messages.message_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dispatch", sa.Integer, nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("task_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("losses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", moment, nullable=False),
        sa.Column("finished_at", moment),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("message_id", "dispatch", "step", "attempt", name="uq_steps_run"),
    )
    op.create_index("ix_steps_message", "steps", ["message_id", "id"])
    op.create_table(
        "objects",
        sa.Column("object_key", sa.String(1024), primary_key=True),
        sa.Column("message_id", sa.String(255)),
        sa.Column("seq", sa.BigInteger),
        sa.Column("version_at", moment),
        sa.Column("holder", sa.String(64)),
        sa.Column("lease_until", moment),
    )
    op.create_table(
        "audit",
        sa.Column("id", serial, primary_key=True, autoincrement=True),
        sa.Column("at", moment, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(255)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_message", "audit", ["message_id"])


def downgrade() -> None:
    for table in ("audit", "objects", "steps", "messages"):
        op.drop_table(table)
