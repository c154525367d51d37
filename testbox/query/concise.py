"""ICAT's older, concise query syntax, translated to the JPQL-style AST.

    [offset, count] [DISTINCT] Entity[.path] [ORDER BY f [ASC|DESC], ...] [INCLUDE 1 | Entity, ...]
        [ "[" condition "]" ] ( <-> Entity [ "[" condition "]" ] )*
    COUNT|MIN|MAX|AVG|SUM "(" Entity[.path] ")" [ "[" condition "]" ] ( <-> ... )*

This follows icat.server's ``core/oldparser``: the entities named with ``<->`` must form a
tree of relations rooted at the first one (found by ``DagHandler``), conditions in brackets
are relative to the entity they follow, and an INCLUDE lists entity *types* that are
reached along relations (MANY relations only directly from the root or below another MANY).
Each entity ``E`` gets the variable ``E$``, as in ICAT's translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testbox.errors import IcatError
from testbox.model import BASE_ATTRIBUTES, ENTITIES, Entity
from testbox.query import ast
from testbox.query.lexer import T, Token, tokenize
from testbox.query.parser import MAX_NESTING, TokenStream, bad, timestamp

_VALUE_TYPES = (T.NAME, T.STRING, T.INTEGER, T.REAL, T.PARAMETER, T.TIMESTAMP)
_AGGREGATES = ("COUNT", "MIN", "MAX", "AVG", "SUM")


def parse_concise(text: str) -> ast.Query:
    """Parse a concise-syntax search query into the JPQL-style AST."""
    ts = TokenStream(tokenize(text, concise=True))
    offset = number = None
    aggregate = None
    distinct = False
    order: list[ast.OrderItem] = []
    include = None

    if ts.at_kw(*_AGGREGATES):
        aggregate = ts.next().value
        ts.take(T.OPENPAREN)
        result = ts.take(T.NAME)
        ts.take(T.CLOSEPAREN)
    else:
        # [offset] "," [count] before the result: "0, 200 Dataset", ",10 Dataset", "5, Dataset"
        t = ts.next() if ts.at_kw("DISTINCT") else ts.take(T.NAME, T.INTEGER, T.COMMA)
        if t.type in (T.INTEGER, T.COMMA):
            if t.type is T.INTEGER:
                offset = _count(t)
                ts.take(T.COMMA)
            t = ts.next() if ts.at_kw("DISTINCT") else ts.take(T.NAME, T.INTEGER)
            if t.type is T.INTEGER:
                number = _count(t)
                t = ts.next() if ts.at_kw("DISTINCT") else ts.take(T.NAME)
        if t.is_kw("DISTINCT"):
            distinct = True
            t = ts.take(T.NAME)
        result = t
        # ORDER BY and INCLUDE in either order; INCLUDE only when selecting whole objects
        var = _var(result.value.split(".")[0])
        simple = "." not in result.value
        if ts.at_kw("ORDER"):
            order = _order(ts, var)
        if simple and ts.at_kw("INCLUDE"):
            include = _include(ts)
        if not order and ts.at_kw("ORDER"):
            order = _order(ts, var)

    first, *rest = result.value.split(".")
    root = _entity(first)
    var = _var(root.name)
    if any(not p for p in rest):
        raise bad(f"Malformed path {result.value}")
    selected: ast.Expr = ast.Path((var, *rest))
    if aggregate:
        selected = ast.Aggregate(aggregate, False, selected)

    conditions: list[ast.Cond] = []
    if ts.at(T.BRA):
        conditions.append(_bracketed(ts, root))
    others: list[Entity] = []
    while ts.peek() is not None:
        ts.take(T.ENTSEP)
        entity = _entity(ts.take(T.NAME).value)
        others.append(entity)
        if ts.at(T.BRA):
            conditions.append(_bracketed(ts, entity))

    where: ast.Cond | None = None
    if len(conditions) == 1:
        where = conditions[0]
    elif conditions:
        where = ast.And(tuple(conditions))
    return ast.Query(
        distinct=distinct,
        select=(selected,),
        ranges=(ast.Range(root.name, var),),
        joins=tuple(_joins(root, others)),
        where=where,
        order_by=tuple(order),
        include=_resolve_include(root, include),
        limit=ast.Limit(offset or 0, number) if offset is not None or number is not None else None,
    )


def _var(entity: str) -> str:
    return f"{entity}$"


def _entity(name: str) -> Entity:
    entity = ENTITIES.get(name)
    if entity is None:
        raise bad(f"{name} is not an ICAT entity")
    return entity


def _count(t: Token) -> int:
    """An offset or count of the leading range."""
    if t.value.startswith("-") or int(t.value) > 2**31 - 1:
        raise bad(f"Bad number {t.value} in the range of a concise query")
    return int(t.value)


def _order(ts: TokenStream, var: str) -> list[ast.OrderItem]:
    """``ORDER BY field [ASC|DESC], ...`` with fields of the result's entity."""
    ts.take_kw("ORDER")
    ts.take_kw("BY")
    items = [_sort_spec(ts, var)]
    while ts.at(T.COMMA):
        ts.next()
        items.append(_sort_spec(ts, var))
    return items


def _sort_spec(ts: TokenStream, var: str) -> ast.OrderItem:
    name = ts.take(T.NAME).value
    descending = False
    if ts.at_kw("ASC", "DESC"):
        descending = ts.next().value == "DESC"
    return ast.OrderItem(ast.Path((var, *name.split("."))), descending)


def _include(ts: TokenStream) -> bool | list[str]:
    """``INCLUDE 1`` (True) or ``INCLUDE Entity, ...`` (the entity names)."""
    ts.take_kw("INCLUDE")
    t = ts.take(T.NAME, T.INTEGER)
    if t.type is T.INTEGER:
        if t.value != "1":
            raise bad("Only integer value allowed in the INCLUDE list is 1")
        return True
    names = [t.value]
    while ts.at(T.COMMA):
        ts.next()
        names.append(ts.take(T.NAME).value)
    return names


def _resolve_include(root: Entity, include: bool | list[str] | None) -> ast.Include | None:
    if include is True:
        return ast.Include(one=True)
    if not include:
        return None
    items = _include_items(root, [_entity(name) for name in include])
    return ast.Include(items=tuple(items)) if items else None


# --- conditions --------------------------------------------------------------------------

def _bracketed(ts: TokenStream, entity: Entity) -> ast.Cond:
    ts.take(T.BRA)
    cond = _search_condition(ts, entity)
    ts.take(T.KET)
    return cond


def _search_condition(ts: TokenStream, entity: Entity) -> ast.Cond:
    items = [_boolean_term(ts, entity)]
    while ts.at_kw("OR"):
        ts.next()
        items.append(_boolean_term(ts, entity))
    return items[0] if len(items) == 1 else ast.Or(tuple(items))


def _boolean_term(ts: TokenStream, entity: Entity) -> ast.Cond:
    items = [_boolean_factor(ts, entity)]
    while ts.at_kw("AND"):
        ts.next()
        items.append(_boolean_factor(ts, entity))
    return items[0] if len(items) == 1 else ast.And(tuple(items))


def _boolean_factor(ts: TokenStream, entity: Entity) -> ast.Cond:
    negate = ts.accept_kw("NOT")
    if ts.at(T.OPENPAREN):
        ts.next()
        with ts.nested():
            cond = _search_condition(ts, entity)
        ts.take(T.CLOSEPAREN)
    else:
        cond = _comparison(ts, entity)
    return ast.Not(cond) if negate else cond


def _comparison(ts: TokenStream, entity: Entity) -> ast.Cond:
    value1 = ts.take(*_VALUE_TYPES)
    op = ts.take(T.COMPOP) if not ts.at_kw("IN", "BETWEEN") else ts.next()
    if op.is_kw("IN"):
        name = _lhs_name(value1, entity, "IN")
        ts.take(T.OPENPAREN)
        items = [_value(ts.take(*_VALUE_TYPES[1:]))]
        while ts.take(T.COMMA, T.CLOSEPAREN).type is T.COMMA:
            items.append(_value(ts.take(*_VALUE_TYPES[1:])))
        return ast.In(name, tuple(items))
    if op.is_kw("BETWEEN"):
        name = _lhs_name(value1, entity, "BETWEEN")
        low = ts.take(*_VALUE_TYPES)
        ts.take_kw("AND")
        high = ts.take(*_VALUE_TYPES)
        return ast.Between(name, _value(low), _value(high))
    value2 = ts.take(*_VALUE_TYPES)
    # ICAT puts the attribute name first but keeps the operator: '5 < id' means id < 5.
    name_token, value_token = value1, value2
    if _field_path(value1, entity) is None:
        name_token, value_token = value2, value1
    name = _field_path(name_token, entity)
    if name is None:
        raise bad("Attribute comparisons require one attribute name and one value: "
                  f"{value1.value} {op.value} {value2.value}")
    if value_token.type is T.NAME and value_token.value.upper() not in ("TRUE", "FALSE"):
        value: ast.Expr = ast.EnumLiteral(_enum_type(entity, name_token.value), value_token.value)
    else:
        value = _value(value_token)
    if op.value == "LIKE":
        return ast.Like(name, value, None)
    return ast.Compare(op.value, name, value)


def _field_path(token: Token, entity: Entity) -> ast.Path | None:
    """The token as a path from ``entity``'s variable, if it names one of its fields."""
    if token.type is not T.NAME:
        return None
    parts = tuple(token.value.split("."))
    first = parts[0]
    if first not in BASE_ATTRIBUTES and not (entity.attribute(first) or entity.one(first)
                                             or entity.many(first)):
        return None
    if any(not p for p in parts):
        raise bad(f"Malformed path {token.value}")
    return ast.Path((_var(entity.name), *parts))


def _lhs_name(token: Token, entity: Entity, what: str) -> ast.Path:
    if token.type is not T.NAME:
        raise bad(f'"{what}" comparisons require a name on the LHS rather than {token.type.name}')
    path = _field_path(token, entity)
    if path is None:
        raise bad(f"Field {token.value} not found in class {entity.name}")
    return path


def _enum_type(entity: Entity, path: str) -> str:
    """The enum type of the attribute at the end of ``path``; ICAT resolves bare constants so."""
    current = entity
    parts = path.split(".")
    for i, part in enumerate(parts):
        rel = current.one(part) or current.many(part)
        if rel is not None and i < len(parts) - 1:
            current = ENTITIES[rel.target]
            continue
        attr = current.attribute(part)
        if attr is not None and i == len(parts) - 1 and attr.type not in (
                "String", "Integer", "Long", "Double", "boolean", "Date"):
            return attr.type
        break
    raise bad(f"Field {path} of {entity.name} is not an enumeration")


def _value(token: Token) -> ast.Expr:
    if token.type is T.STRING:
        return ast.Literal(token.value)
    if token.type is T.INTEGER:
        return ast.Literal(int(token.value))
    if token.type is T.REAL:
        try:
            return ast.Literal(float(token.value))
        except ValueError:
            raise bad(f"Bad number {token.value}") from None
    if token.type is T.PARAMETER:
        return ast.Parameter(token.value[1:])
    if token.type is T.TIMESTAMP:
        return ast.Literal(timestamp(token.value))
    if token.type is T.NAME and token.value.upper() in ("TRUE", "FALSE"):
        return ast.Literal(token.value.upper() == "TRUE")
    raise bad(f"Unexpected value {token.value}")


# --- the entity graph: joins and includes ------------------------------------------------

def _relations(entity: Entity) -> list[tuple[str, str, bool]]:
    """(relation name, target entity, is MANY) for every relation of ``entity``."""
    return ([(r.name, r.target, False) for r in entity.ones]
            + [(r.name, r.target, True) for r in entity.manys])


@dataclass
class _Step:
    entity: str
    relation: str | None = None
    children: list[_Step] = field(default_factory=list)


def _tree(root: Entity, wanted: set[str], *, includes: bool) -> _Step:
    """DagHandler: connect ``wanted`` entities to ``root`` along relations, as a tree.

    For includes, MANY relations are only followed from the root or below a MANY step.
    """
    suffix = " in list of INCLUDES." if includes else ""
    used = {root.name}

    def follow(predecessor: str | None, here: str, cascade: bool, depth: int) -> list[_Step]:
        if depth > MAX_NESTING:
            raise bad("too many entities in the query")
        steps = []
        for name, target, many in _relations(ENTITIES[here]):
            if (many and not cascade) or target not in wanted or target == predecessor:
                continue
            if target in used:
                raise bad(f"Can't have loop in graph of entities. '{target}' was encountered twice "
                          f"following {predecessor or ''} -> {here} -> {target}{suffix}")
            used.add(target)
            steps.append(_Step(target, name, follow(here, target, many or not includes, depth + 1)))
        return steps

    tree = _Step(root.name, None, follow(None, root.name, True, 0))
    unreached = sorted(wanted - used)
    if unreached:
        raise bad(f"Unable to reach {', '.join(unreached)}{suffix}")
    return tree


def _joins(root: Entity, others: list[Entity]) -> list[ast.Join]:
    tree = _tree(root, {e.name for e in others} | {root.name}, includes=False)
    joins: list[ast.Join] = []

    def walk(step: _Step) -> None:
        for child in step.children:
            joins.append(ast.Join(ast.Path((_var(step.entity), child.relation)), _var(child.entity)))
            walk(child)

    walk(tree)
    return joins


def _include_items(root: Entity, entities: list[Entity]) -> list[ast.IncludeItem]:
    tree = _tree(root, {e.name for e in entities} | {root.name}, includes=True)
    items: list[ast.IncludeItem] = []

    def walk(step: _Step, var: str) -> None:
        for child in step.children:
            child_var = f"{child.entity}_$"
            items.append(ast.IncludeItem(ast.Path((var, child.relation)), child_var))
            walk(child, child_var)

    walk(tree, _var(root.name))
    return items


def parse_concise_get(text: str) -> tuple[str, ast.Include | None]:
    """The ``get`` operation's concise form: ``Entity [INCLUDE 1 | INCLUDE Entity, ...]``."""
    ts = TokenStream(tokenize(text, concise=True))
    entity = _entity(ts.take(T.NAME).value)
    include = _resolve_include(entity, _include(ts)) if ts.at_kw("INCLUDE") else None
    if ts.peek() is not None:
        raise IcatError("BAD_PARAMETER", f"Trailing tokens at end of query {ts.peek().value}...")
    return entity.name, include
