"""The one way PACER builds ICAT queries from message values.

Conditions are given as Python values, never as query text: ``where={"name": "O'Brien"}``
becomes ``o.name = 'O''Brien'``. Strings are quoted as JPQL string literals (single quotes
doubled); python-icat's Query escapes ``%`` for its own formatting. Nothing else in the
flows writes a WHERE clause.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import icat
from icat.query import Query

Value = str | int | bool | None

#: Oracle, one of ICAT's databases, refuses IN lists of more than 1000 items.
MAX_IN_LIST = 500
#: Rows a paged search asks for at a time; ICAT's maxEntities counts included objects too.
PAGE_SIZE = 1000


def literal(value: str | int | bool) -> str:
    """A JPQL literal for a value taken from a message."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no JPQL literal for {type(value).__name__}")


def condition(value: Value | Collection[str | int]) -> str:
    """The right-hand side of a condition: equality, IS NULL, or IN for a collection."""
    if value is None:
        return "IS NULL"
    if isinstance(value, (str, int, bool)):
        return "= " + literal(value)
    values = list(value)
    if not values:
        raise ValueError("an IN condition needs at least one value")
    return "IN (" + ", ".join(literal(v) for v in values) + ")"


def query(
    client: icat.Client,
    entity: str,
    *,
    where: Mapping[str, Value | Collection[str | int]] | None = None,
    includes: Iterable[str] | Literal["1"] | None = None,
    attribute: str | Sequence[str] | None = None,
    aggregate: str | None = None,
    order: Sequence[str] | bool = False,
    limit: tuple[int, int] | None = None,
) -> Query:
    """A python-icat Query whose conditions are ``attribute path → value`` pairs.

    ``attribute`` selects one attribute (results are its values) or several (results
    are tuples) instead of whole objects.
    """
    conditions = {path: condition(value) for path, value in (where or {}).items()}
    return Query(
        client,
        entity,
        attributes=attribute,
        aggregate=aggregate,
        conditions=conditions,
        # "1": every ONE relation (ICAT's INCLUDE 1), as an object to be updated needs.
        includes="1" if includes == "1" else list(includes or ()),
        order=list(order) if isinstance(order, Sequence) else order,
        limit=limit,
    )


def search(client: icat.Client, entity: str, **kwargs: Any) -> list[Any]:
    """The result of ``query(...)``, in one call (for results well under maxEntities)."""
    return client.search(query(client, entity, **kwargs))


def search_one(client: icat.Client, entity: str, **kwargs: Any) -> Any | None:
    """The object matching a unique key, or None."""
    found = search(client, entity, **kwargs)
    if len(found) > 1:
        raise LookupError(f"{len(found)} {entity} objects match {kwargs.get('where')}, expected one")
    return found[0] if found else None


def search_all(client: icat.Client, entity: str, **kwargs: Any) -> Iterator[Any]:
    """Every object matching, fetched page by page (ordered by id, so pages do not overlap)."""
    return client.searchChunked(query(client, entity, order=["id"], **kwargs), chunksize=PAGE_SIZE)


def search_in(
    client: icat.Client,
    entity: str,
    key: str,
    values: Iterable[str | int],
    /,
    *,
    where: Mapping[str, Value] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Results whose ``key`` attribute is one of ``values``, asking in IN lists ICAT accepts.

    ``kwargs`` are ``query``'s (``attribute`` among them, to select attributes).
    """
    found: list[Any] = []
    pending = list(dict.fromkeys(values))
    for start in range(0, len(pending), MAX_IN_LIST):
        batch = pending[start : start + MAX_IN_LIST]
        found.extend(search(client, entity, where={**(where or {}), key: batch}, **kwargs))
    return found
