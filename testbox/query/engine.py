"""ICAT's ``search`` and ``get`` over the SQLite store, restricted by an ``Authorizer``
(``testbox.authz.Policy``) to what the caller may read."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from testbox.errors import IcatError
from testbox.model import ENTITIES, Bean, Entity
from testbox.query import ast
from testbox.query.compiler import CompiledQuery, Compiler, ReadRules, SelectItem, select_paths
from testbox.query.concise import parse_concise, parse_concise_get
from testbox.query.includes import IncludeLoader, Loaded, Node, count, include_tree, too_many
from testbox.query.lexer import T, tokenize
from testbox.query.parser import TokenStream, bad, include_clause, parse
from testbox.query.values import decode, like_to_glob, make_bean

# SQLite errors that mean the store is broken rather than the query (which is built from the
# model only, so anything else SQLite refuses is the query's doing: its size, an aggregate in
# WHERE, ...).
_STORE_ERRORS = ("no such table", "no such column", "locked", "disk", "readonly", "corrupt")


class Authorizer(ReadRules, Protocol):
    """What a search or get asks the authorisation layer."""

    def begin(self, conn: sqlite3.Connection) -> None:
        """Read what the caller is allowed, once per request, before anything else."""

    def include_filter(self, origin: Entity, name: str, target: Entity) -> tuple[str, list[Any]] | None:
        """The condition (on the target's columns, unqualified) the objects INCLUDEd along
        ``origin.name`` must meet, with its parameters; None for none."""

    def check(self, conn: sqlite3.Connection, access: str, entity: str, ids: list[int]) -> None:
        """Raise INSUFFICIENT_PRIVILEGES unless the caller has ``access`` to all these objects."""


def search(conn: sqlite3.Connection, query: str, *, user: str, max_entities: int = 10000,
           authorizer: Authorizer | None = None) -> list:
    """Run an ICAT search for ``user`` and return ICAT's result list.

    Items are a :class:`~testbox.model.Bean` per entity (relations filled as INCLUDEd),
    a plain value (str, int, float, bool, aware UTC datetime or None) per row for a single
    selected value or aggregate, or a list of such values for several selected values.
    Raises IcatError: BAD_PARAMETER for a query ICAT would refuse, VALIDATION when more than
    ``max_entities`` objects (included ones counted) would be returned. Without an
    ``authorizer`` everything may be read.
    """
    if query is None:
        raise bad("query may not be null")
    with _depth_guard():
        return _search(conn, query, user, max_entities, authorizer)


def _search(conn: sqlite3.Connection, query: str, user: str, max_entities: int,
            authorizer: Authorizer | None) -> list:
    parsed = parse(query) if query.strip().upper().startswith("SELECT") else parse_concise(query)
    if parsed.include is not None and len(_selected_paths(parsed)) != 1:
        raise bad("INCLUDE is only valid for one quantity in the SELECT clause")

    limit = parsed.limit or ast.Limit(0, None)
    fetch = max_entities + 1 if limit.count is None or limit.count > max_entities else limit.count
    if authorizer is not None:
        authorizer.begin(conn)
    compiled = Compiler(user).compile(parsed, limit=fetch, offset=limit.offset, rules=authorizer)
    tree = None
    if parsed.include is not None and compiled.include_entity is not None:
        tree = include_tree(parsed.include, compiled.include_entity, compiled.include_var)
    if compiled.denied:
        return [0] if _single_count(parsed) else []

    rows = _execute(conn, compiled)
    if len(rows) > max_entities:
        raise IcatError("VALIDATION", f"attempt to process more than {max_entities} entities")
    return _results(conn, compiled, rows, tree, max_entities, authorizer)


def get(conn: sqlite3.Connection, query: str, primary_key: int, *, user: str,
        max_entities: int = 10000, authorizer: Authorizer | None = None) -> Bean:
    """ICAT's ``get``: the object of the query's entity with that id, with its INCLUDEs.

    ``query`` is ``Entity``, ``Entity INCLUDE 1``, ``Entity INCLUDE Other, ...`` (concise) or
    ``Entity e INCLUDE e.rel ...``. Raises NO_SUCH_OBJECT_FOUND when there is no such object,
    then INSUFFICIENT_PRIVILEGES when the ``authorizer`` does not let the caller read it.
    """
    del user  # no query parameters in a get; kept for symmetry with search
    if query is None:
        raise bad("query may not be null")
    with _depth_guard():
        return _get(conn, query, primary_key, max_entities, authorizer)


def _get(conn: sqlite3.Connection, query: str, primary_key: int, max_entities: int,
         authorizer: Authorizer | None) -> Bean:
    words = query.strip().split()
    if len(words) > 1 and words[1].upper() == "INCLUDE":
        entity_name, include = parse_concise_get(query)
        root_var = f"{entity_name}$".upper()
    else:
        entity_name, root_var, include = _parse_get(query)
    entity = ENTITIES[entity_name]
    tree = include_tree(include, entity, root_var) if include is not None else Node(entity)

    columns = entity.columns
    select = ", ".join(f'"{c}"' for c in columns)
    try:
        values = conn.execute(f'SELECT {select} FROM "{entity.name}" WHERE id = ?',
                              (primary_key,)).fetchone()
    except OverflowError:
        raise bad(f"id {primary_key} out of range") from None
    if values is None:
        raise IcatError("NO_SUCH_OBJECT_FOUND", f"{entity.name}[id:{primary_key}] not found.")
    if authorizer is not None:
        authorizer.begin(conn)
        authorizer.check(conn, "READ", entity.name, [primary_key])
    row = dict(zip(columns, values))
    loaded = Loaded()
    bean = make_bean(entity, row)
    loaded.add(bean, row)
    IncludeLoader(conn, max_entities, 1, authorizer.include_filter if authorizer else None).fill(loaded, tree)
    if count(bean, tree, {}) > max_entities:
        raise too_many(max_entities)
    return bean


@contextmanager
def _depth_guard() -> Iterator[None]:
    """Last line of defence: the parser bounds nesting, but a long chain of operators
    still makes a deep tree for the compiler to walk."""
    try:
        yield
    except RecursionError:
        raise bad("query nested too deeply") from None


def _parse_get(query: str) -> tuple[str, str | None, ast.Include | None]:
    """``Entity [[AS] var [INCLUDE ...]]`` (icat.server's GetQuery)."""
    ts = TokenStream(tokenize(query))
    name = ts.take(T.NAME).value
    if name not in ENTITIES:
        raise bad(f"{name} is not an ICAT entity")
    var = include = None
    ts.accept_kw("AS")
    if ts.at(T.NAME):
        var = ts.next().value.upper()
        if ts.at_kw("INCLUDE"):
            include = include_clause(ts)
    if ts.peek() is not None:
        raise bad(f"Trailing tokens at end of query {ts.peek().value}...")
    return name, var, include


def _selected_paths(query: ast.Query) -> set[str]:
    """The distinct paths in the SELECT clause (icat.server's "idPaths")."""
    return {str(path).upper() for path in select_paths(query.select)}


def _single_count(query: ast.Query) -> bool:
    """A COUNT of one thing, which icat.server answers [0] rather than [] when no rule allows it."""
    return len(_selected_paths(query)) == 1 and any(
        isinstance(e, ast.Aggregate) and e.name == "COUNT" for e in query.select)


def _execute(conn: sqlite3.Connection, compiled: CompiledQuery) -> list[tuple]:
    register_functions(conn)
    try:
        return conn.execute(compiled.sql, compiled.params).fetchall()
    except sqlite3.OperationalError as e:
        message = str(e)
        if any(m in message for m in _STORE_ERRORS):
            raise IcatError("INTERNAL", f"query failed in the store: {message}") from None
        raise bad(f"query refused by the database: {message}") from None
    except (sqlite3.DataError, OverflowError) as e:
        raise bad(f"query value out of range: {e}") from None


def _results(conn: sqlite3.Connection, compiled: CompiledQuery, rows: list[tuple],
             tree: Node | None, max_entities: int, authorizer: Authorizer | None) -> list:
    items = compiled.items
    decoders = []
    position = 0
    for item in items:
        decoders.append((position, item))
        position += len(item.columns)

    single_entity = len(items) == 1 and items[0].source is not None
    loaded = Loaded()
    results: list[Any] = []
    for values in rows:
        decoded = [_decode_item(item, values, start, loaded if single_entity else None)
                   for start, item in decoders]
        results.append(decoded[0] if len(decoded) == 1 else decoded)

    if single_entity and tree is not None and tree.children:
        allowed = authorizer.include_filter if authorizer is not None else None
        IncludeLoader(conn, max_entities, len(results), allowed).fill(loaded, tree)
        memo: dict[tuple[int, int], int] = {}
        if sum(count(bean, tree, memo) for bean in results) > max_entities:
            raise too_many(max_entities)
    return results


def _decode_item(item: SelectItem, values: tuple, start: int, loaded: Loaded | None) -> Any:
    if item.source is None:
        return decode(values[start], item.type)
    if values[start] is None:  # an entity from a LEFT JOIN that matched nothing
        return None
    entity: Entity = item.source.entity
    if loaded is not None and values[start] in loaded.beans:
        return loaded.beans[values[start]]
    row = dict(zip(entity.columns, values[start:start + len(item.columns)]))
    bean = make_bean(entity, row)
    if loaded is not None:
        loaded.add(bean, row)
    return bean


# --- SQL functions the compiled queries use ----------------------------------------------

def register_functions(conn: sqlite3.Connection) -> None:
    """Define the SQL functions compiled queries (and rules) call, on this connection."""
    # Python's case mapping is Unicode-aware like Java's; SQLite's lower() is ASCII only.
    conn.create_function("icat_lower", 1, _lower, deterministic=True)
    conn.create_function("icat_upper", 1, _upper, deterministic=True)
    conn.create_function("icat_sqrt", 1, _sqrt, deterministic=True)
    conn.create_function("icat_locate", -1, _locate, deterministic=True)
    conn.create_function("icat_like_glob", 2, _like_glob, deterministic=True)


def _lower(s: Any) -> Any:
    return s.lower() if isinstance(s, str) else s


def _upper(s: Any) -> Any:
    return s.upper() if isinstance(s, str) else s


def _sqrt(x: Any) -> float | None:
    if x is None or not isinstance(x, (int, float)) or x < 0:
        return None
    return math.sqrt(x)


def _locate(needle: Any, haystack: Any, start: Any = 1) -> int | None:
    """JPQL LOCATE: 1-based position of ``needle`` in ``haystack`` from ``start``, or 0."""
    if needle is None or haystack is None or start is None:
        return None
    start = max(int(start), 1)
    return str(haystack).find(str(needle), start - 1) + 1


def _like_glob(pattern: Any, escape: Any) -> str | None:
    if pattern is None:
        return None
    try:
        return like_to_glob(str(pattern), None if escape is None else str(escape))
    except IcatError:
        return None

