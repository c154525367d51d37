"""The few places where PostgreSQL and SQLite need different SQL, and the journal's clock."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psycopg import RawCursor
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: Connection, table: Table):
    """An INSERT that knows ``ON CONFLICT`` in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def once_per_dialect(build: Callable[[Connection], Any]) -> Callable[[Connection], Any]:
    """``build(connection)``'s statement, built once per dialect and then reused.

    For the statements a worker runs at every step: building a statement and computing
    its cache key costs the worker more CPU than the database's work on it. Values are
    bind parameters, given at execution.
    """
    built: dict[str, Any] = {}

    def statement(connection: Connection) -> Any:
        name = connection.dialect.name
        if name not in built:
            built[name] = build(connection)
        return built[name]

    return statement


class _Driven:
    """A statement as psycopg runs it: SQL text with PostgreSQL's own ``$n`` placeholders,
    compiled once, and how to turn a statement's values into its parameters."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        numbered = _numbered.get(type(dialect))
        if numbered is None:
            numbered = _numbered[type(dialect)] = type(dialect)(paramstyle="numeric_dollar")
        self.compiled = statement.compile(dialect=numbered)
        self.sql = self.compiled.string
        self.names = self.compiled.positiontup
        self.converters = {
            name: convert
            for name, bind in self.compiled.binds.items()
            if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        # Its rows' shape, known from the statement: psycopg's own named rows would build
        # the result's description anew for every statement run.
        columns = list(statement.exported_columns.keys())
        self.row = namedtuple("Row", columns, rename=True)._make if columns else None

    def parameters(self, values: dict[str, Any]) -> list[Any]:
        parameters = self.compiled.construct_params(values)
        for name, convert in self.converters.items():
            if name in parameters:
                parameters[name] = convert(parameters[name])
        return [parameters[name] for name in self.names]


_numbered: dict[type, Any] = {}
_driven: dict[Any, _Driven] = {}


def fetch(connection: Connection, statement: Any, values: dict[str, Any]) -> list[Any]:
    """The rows ``statement`` returns for ``values`` (their columns as attributes); none
    for a statement that returns none.

    For the statements a worker runs at every step, each built once. On PostgreSQL they
    run on psycopg's own connection (in the SQLAlchemy connection's transaction, if it
    has one), compiled once, with PostgreSQL's placeholders (a ``RawCursor``): SQLAlchemy's
    way of running a statement (a cache key made from the whole statement at every
    execution, its parameters and its result rebuilt around the driver's) costs a worker
    more CPU than psycopg's whole part, and psycopg parses again at every execution a
    query in its own placeholders that is longer than 4 KiB, as a step's start is
    (bench/journal.py). Only bound parameters, no IN lists (which SQLAlchemy expands at
    execution). SQLite runs them as any other statement.
    """
    if connection.dialect.name != "postgresql":
        result = connection.execute(statement, values)
        return result.all() if result.returns_rows else []
    driven = _driven.get(statement)
    if driven is None:
        driven = _driven[statement] = _Driven(statement, connection.dialect)
    with RawCursor(connection.connection.driver_connection) as cursor:
        cursor.execute(driven.sql, driven.parameters(values))
        return list(map(driven.row, cursor.fetchall())) if driven.row else []


def first(connection: Connection, statement: Any, values: dict[str, Any]) -> Any | None:
    """The first row ``fetch`` finds, or None."""
    rows = fetch(connection, statement, values)
    return rows[0] if rows else None


def plan_for_these_values(connection: Connection) -> None:
    """Have PostgreSQL plan the rest of this transaction's statements for their own values.

    psycopg prepares a statement it has run five times, and PostgreSQL may then keep one
    generic plan for it. A bridge's batch looks its rows up by a list of fifty message ids:
    planned while ``messages`` was nearly empty (a new journal), that generic plan was a
    sequential scan, kept while the table grew until autovacuum's next ANALYZE, each
    batch slower than the one before (5 ms a batch at first, 20 ms after 12 000 messages).
    Lookups by one id keep their generic plans: those use the index from the start.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


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
