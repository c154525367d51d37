"""The few places where PostgreSQL and SQLite need different SQL, and the journal's clock."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: Connection, table: Table):
    """An INSERT that knows ``ON CONFLICT`` in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def storable(text: str | None) -> str | None:
    """Text as both databases can store it: PostgreSQL refuses NUL characters (in text and
    in JSONB alike), and no database stores a lone surrogate, which a hostile JSON body
    can carry (``"\\ud800"``). A message must never fail to be journaled for its text."""
    if text is None:
        return None
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def storable_identifiers(identifiers: dict[str, str]) -> dict[str, str]:
    return {storable(str(k)): storable(str(v)) for k, v in identifiers.items()}


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; the journal writes UTC only."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
