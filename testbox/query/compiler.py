"""Compile a parsed query to one SQLite SELECT over the storage contract.

Only identifiers taken from :mod:`testbox.model` and aliases generated here (``t0``,
``t1``, ...) are written into the SQL text; every value from the query is a named
parameter. Paths follow EclipseLink's JPQL semantics: navigating through a relation in
SELECT, WHERE or ORDER BY is an inner join (shared by all uses of the same path), while a
path that ends at a ONE relation in a comparison or ``IS NULL`` uses the foreign key column
itself, so ``o.grouping IS NULL`` works.

Authorisation (``testbox.authz``) plugs in through ``ReadRules``: the compiler restricts what
the SELECT clause names to the objects the rules allow, with one ``IN (rule subquery)`` per
rule, OR-ed, in the same SQL statement, as icat.server's SearchQuery does in JPQL.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Protocol

from testbox.errors import IcatError
from testbox.model import ENTITIES, ENUMS, Entity, Many, One
from testbox.query import ast
from testbox.query.values import BASE_TYPES, NUMERIC, date_literal, like_to_glob
from testbox.store import encode_date

ENTITY = "entity:"
_PLACEHOLDER = re.compile(r"\?(\d+)")


def bad(message: str) -> IcatError:
    return IcatError("BAD_PARAMETER", message)


@dataclass
class Typed:
    """A compiled expression: SQL text and its ICAT type.

    ``type`` is an attribute type (String, Long, Date, an enum name, ...), ``entity:Name``
    for an entity (the SQL is then its id), or ``null``. ``literal`` keeps a string
    literal's text so it can be re-bound as a date when compared with a date.
    """

    sql: str
    type: str
    literal: str | None = None

    @property
    def entity(self) -> str | None:
        return self.type[len(ENTITY):] if self.type.startswith(ENTITY) else None


@dataclass
class Source:
    """A table in a FROM clause: its generated alias and entity."""

    alias: str
    entity: Entity


@dataclass
class Scope:
    """The FROM clause of one (sub)query and the variables it defines."""

    parent: Scope | None
    variables: dict[str, Source] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    from_sql: list[str] = field(default_factory=list)
    implicit: dict[tuple[str, str], Source] = field(default_factory=dict)

    def lookup(self, var: str) -> Source | None:
        scope: Scope | None = self
        while scope is not None:
            source = scope.variables.get(var.upper())
            if source is not None:
                return source
            scope = scope.parent
        return None


@dataclass
class SelectItem:
    """A compiled SELECT item: an entity (all its columns) or a single value."""

    type: str
    columns: list[str]
    source: Source | None = None


class RuleQuery(Protocol):
    """An authorisation rule as the compiler needs it: ``query``'s FROM and WHERE select
    the allowed objects as its identification variable ``var``."""

    query: ast.Query
    var: str


class ReadRules(Protocol):
    """Which objects of an entity the caller may read."""

    def read_rules(self, entity: str) -> Sequence[RuleQuery] | None:
        """None: all of them; otherwise those any of the rules selects (none for no rules)."""


@dataclass
class CompiledQuery:
    sql: str
    params: list[Any]
    items: list[SelectItem]
    #: the entity INCLUDE applies to, when the query selects exactly one entity
    include_entity: Entity | None
    #: the variable INCLUDE paths start from (upper case)
    include_var: str | None
    #: no rule lets the caller read something the SELECT clause names: nothing to run
    denied: bool = False


class Compiler:
    def __init__(self, user: str) -> None:
        self.user = user
        self.params: list[Any] = []
        self._aliases = 0

    # --- helpers -------------------------------------------------------------------------

    def param(self, value: Any) -> str:
        """A placeholder for ``value``; :meth:`finish` turns them into positional ``?``."""
        self.params.append(value)
        return f"?{len(self.params)}"

    def finish(self, sql: str) -> tuple[str, list[Any]]:
        """Positional parameters in text order, repeating those the text repeats (as the
        GROUP BY written for DISTINCT does). SQLite's own ``?NNN`` is slow for long IN
        lists; the text holds no other ``?`` as no value from the query is ever in it."""
        ordered: list[Any] = []

        def positional(match: re.Match) -> str:
            ordered.append(self.params[int(match.group(1)) - 1])
            return "?"

        return _PLACEHOLDER.sub(positional, sql), ordered

    def new_source(self, scope: Scope, entity: Entity) -> Source:
        source = Source(f"t{self._aliases}", entity)
        self._aliases += 1
        scope.sources.append(source)
        return source

    def join(self, scope: Scope, owner: Source, name: str, *, left: bool) -> Source:
        """Add a join from ``owner`` along relation ``name`` and return the joined table."""
        entity = owner.entity
        rel: One | Many | None = entity.one(name) or entity.many(name)
        if rel is None:
            raise bad(f"{entity.name} has no relationship field {name}")
        target = self.new_source(scope, ENTITIES[rel.target])
        if isinstance(rel, One):
            on = f'{target.alias}.id = {owner.alias}."{rel.column}"'
        else:
            on = f'{target.alias}."{rel.mapped_by}_id" = {owner.alias}.id'
        kind = "LEFT JOIN" if left else "JOIN"
        scope.from_sql.append(f'{kind} "{target.entity.name}" AS {target.alias} ON {on}')
        return target

    def implicit_join(self, scope: Scope, owner: Source, name: str) -> Source:
        key = (owner.alias, name)
        source = scope.implicit.get(key)
        if source is None:
            source = scope.implicit[key] = self.join(scope, owner, name, left=False)
        return source

    # --- queries -------------------------------------------------------------------------

    def compile(self, query: ast.Query, *, limit: int, offset: int,
                rules: ReadRules | None = None) -> CompiledQuery:
        """The top-level query, fetching at most ``limit`` rows after ``offset``, restricted
        to what ``rules`` let the caller read (no restriction without them)."""
        scope = self.from_clause(query, None)
        items = [self.select_item(scope, e) for e in query.select]
        include_entity = include_var = None
        entity_items = [i for i in items if i.source is not None]
        if len(items) == 1 and entity_items:
            include_entity = entity_items[0].source.entity
            include_var = str(query.select[0]).upper() if isinstance(query.select[0], ast.Path) else None
        allowed = self.read_restriction(scope, query, rules) if rules is not None else []
        if allowed is None:
            # icat.server gives up before the JPQL is built, so WHERE is not even checked.
            return CompiledQuery("", [], items, include_entity, include_var, denied=True)
        where = self.condition(scope, query.where) if query.where is not None else None
        if allowed:
            where = _balanced(" AND ", [c for c in (where, *allowed) if c])
        group = [self.value(scope, e).sql for e in query.group_by]
        having = self.condition(scope, query.having) if query.having is not None else None
        order = [self.value(scope, o.expr).sql + (" DESC" if o.descending else "")
                 for o in query.order_by]

        aggregated = bool(group) or any(_has_aggregate(e) for e in query.select)
        distinct = query.distinct
        root_ids = [f"{s.alias}.id" for s in scope.sources]
        if not aggregated:
            if distinct and not order:
                # First-appearance order for DISTINCT: group instead, keep the lowest row.
                group = [c for item in items for c in item.columns]
                order = [f"MIN({root_ids[0]})"]
                distinct = False
            elif not distinct:
                # Without ORDER BY results come in id order; with it, ties are broken so.
                order += root_ids
        elif group and not order:
            order = [f"MIN({root_ids[0]})"]

        sql = ["SELECT", "DISTINCT" if distinct else "",
               ", ".join(c for item in items for c in item.columns),
               "FROM", " ".join(scope.from_sql)]
        if where:
            sql += ["WHERE", where]
        if group:
            sql += ["GROUP BY", ", ".join(group)]
        if having:
            sql += ["HAVING", having]
        if order:
            sql += ["ORDER BY", ", ".join(order)]
        sql += ["LIMIT", self.param(limit), "OFFSET", self.param(offset)]
        text, params = self.finish(" ".join(s for s in sql if s))
        return CompiledQuery(text, params, items, include_entity, include_var)

    def read_restriction(self, scope: Scope, query: ast.Query, rules: ReadRules) -> list[str] | None:
        """One condition per object the SELECT clause names (icat.server's authzMap), or
        None when the rules allow none of one of them.

        A path is checked on the object it ends at, or, ending at an attribute, on the object
        owning it: ``o.investigation.name`` is checked with Investigation's rules.
        """
        checked: dict[str, Entity] = {}
        for path in select_paths(query.select):
            source = scope.lookup(path.parts[0])
            for name in path.parts[1:]:
                if source.entity.one(name) is None and source.entity.many(name) is None:
                    break
                source = self.implicit_join(scope, source, name)
            checked[f"{source.alias}."] = source.entity
        conditions = []
        for prefix, entity in checked.items():
            allowed = rules.read_rules(entity.name)
            if allowed is None:
                continue
            if not allowed:
                return None
            conditions.append(self.id_filter(prefix, entity, allowed))
        return conditions

    def id_filter(self, prefix: str, entity: Entity, rules: Sequence[RuleQuery]) -> str:
        """The ``entity`` row whose columns are ``prefix"column"`` (``t0.`` or, for a lone
        table, nothing) is one that one of ``rules`` selects."""
        return _balanced(" OR ", [self.rule_condition(prefix, entity, r) for r in rules])

    def rule_condition(self, prefix: str, entity: Entity, rule: RuleQuery) -> str:
        """``prefix id IN (the rule's SELECT var.id ...)``, or, when the rule uses its
        variable only to join along a ONE relation first (``SELECT o FROM Datafile o JOIN
        o.dataset ds ...``: ICAT's usual rule), the same condition on the foreign key,
        ``prefix dataset_id IN (SELECT ds.id ...)``, whose list is far shorter to build."""
        shortcut = _through_first_relation(rule, entity.name)
        if shortcut is not None:
            column, query, var = shortcut
            return f'{prefix}"{column}" IN ({self.id_subquery(query, var)[0]})'
        return f"{prefix}id IN ({self.id_subquery(rule.query, rule.var)[0]})"

    def id_subquery(self, query: ast.Query, var: str) -> tuple[str, Entity]:
        """``SELECT var.id FROM ... WHERE ...`` of a rule, and the entity of ``var``.

        The rule has a scope of its own: it never sees the variables of the query it restricts.
        """
        scope = self.from_clause(query, None)
        source = scope.lookup(var)
        if source is None:
            raise bad(f"idVar '{var.upper()}' referenced in the SELECT clause is not defined in the "
                      "FROM clause.")
        sql = f"SELECT {source.alias}.id FROM {' '.join(scope.from_sql)}"
        if query.where is not None:
            sql += " WHERE " + self.condition(scope, query.where)
        return sql, source.entity

    def subquery(self, scope: Scope, query: ast.Query) -> Typed:
        sub = self.from_clause(query, scope)
        if len(query.select) != 1:
            raise bad("A subquery must select exactly one value")
        selected = self.value(sub, query.select[0])
        sql = ["SELECT", "DISTINCT" if query.distinct else "", selected.sql, "FROM",
               " ".join(sub.from_sql)]
        if query.where is not None:
            sql += ["WHERE", self.condition(sub, query.where)]
        if query.group_by:
            sql += ["GROUP BY", ", ".join(self.value(sub, e).sql for e in query.group_by)]
        if query.having is not None:
            sql += ["HAVING", self.condition(sub, query.having)]
        return Typed("(" + " ".join(s for s in sql if s) + ")", selected.type)

    def from_clause(self, query: ast.Query, parent: Scope | None) -> Scope:
        scope = Scope(parent)
        for i, rng in enumerate(query.ranges):
            entity = ENTITIES.get(rng.entity)
            if entity is None:
                raise bad(f"No information to determine type of {rng.entity} in the FROM clause")
            source = self.new_source(scope, entity)
            self.define(scope, rng.var, source)
            table = f'"{entity.name}" AS {source.alias}'
            scope.from_sql.append(table if i == 0 else f"CROSS JOIN {table}")
        for join in query.joins:
            owner = scope.lookup(join.path.parts[0])
            if owner is None or len(join.path.parts) < 2:
                raise bad(f"idVar '{join.path.parts[0].upper()}' referenced in the FROM clause "
                          "is not defined.")
            for name in join.path.parts[1:]:
                owner = self.join(scope, owner, name, left=join.left)
            self.define(scope, join.var, owner)
        return scope

    @staticmethod
    def define(scope: Scope, var: str, source: Source) -> None:
        if var.upper() in scope.variables:
            raise bad(f"JPQL indentification variable {var} has already been defined in the "
                      "FROM clause")
        scope.variables[var.upper()] = source

    def select_item(self, scope: Scope, expr: ast.Expr) -> SelectItem:
        if isinstance(expr, ast.Path):
            source = self.navigate(scope, expr, entity_wanted=True)
            if isinstance(source, Source):
                columns = [f'{source.alias}."{c}"' for c in source.entity.columns]
                return SelectItem(ENTITY + source.entity.name, columns, source)
            return SelectItem(source.type, [source.sql])
        typed = self.value(scope, expr)
        return SelectItem(typed.type, [typed.sql])

    # --- paths ---------------------------------------------------------------------------

    def navigate(self, scope: Scope, path: ast.Path, *, entity_wanted: bool) -> Source | Typed:
        """Resolve a path to a table (an entity) or a typed column.

        With ``entity_wanted`` a path ending at a relation joins its target; otherwise a
        final ONE relation is its foreign key and a final MANY relation is joined.
        """
        source = scope.lookup(path.parts[0])
        if source is None:
            raise bad(f"idVar '{path.parts[0].upper()}' is not defined in the FROM clause.")
        names = path.parts[1:]
        for i, name in enumerate(names):
            last = i == len(names) - 1
            entity = source.entity
            attr_type = BASE_TYPES.get(name) or next(
                (a.type for a in entity.attributes if a.name == name), None)
            if attr_type is not None:
                if not last:
                    raise bad(f"{entity.name}.{name} is not a relationship in {path}")
                return Typed(f'{source.alias}."{name}"', attr_type)
            one = entity.one(name)
            if one is not None and not entity_wanted:
                if last:
                    return Typed(f'{source.alias}."{one.column}"', ENTITY + one.target)
                if names[i + 1:] == ("id",):
                    return Typed(f'{source.alias}."{one.column}"', "Long")
            if one is None and entity.many(name) is None:
                raise bad(f"{entity.name} has no field {name}")
            source = self.implicit_join(scope, source, name)
        return source

    def collection(self, scope: Scope, path: ast.Path) -> tuple[Source, Many]:
        """The owner table and MANY relation a collection-valued path ends with."""
        if len(path.parts) < 2:
            raise bad(f"{path} is not a collection")
        owner = self.navigate(scope, ast.Path(path.parts[:-1]), entity_wanted=True)
        many = owner.entity.many(path.parts[-1]) if isinstance(owner, Source) else None
        if many is None:
            raise bad(f"{path} is not a collection")
        return owner, many

    # --- expressions ---------------------------------------------------------------------

    def value(self, scope: Scope, expr: ast.Expr) -> Typed:
        if isinstance(expr, ast.Path):
            resolved = self.navigate(scope, expr, entity_wanted=False)
            if isinstance(resolved, Source):
                return Typed(f"{resolved.alias}.id", ENTITY + resolved.entity.name)
            return resolved
        if isinstance(expr, ast.Literal):
            return self.literal(expr.value)
        if isinstance(expr, ast.EnumLiteral):
            if expr.enum is not None and expr.value not in ENUMS.get(expr.enum, ()):
                raise bad(f"{expr.value} is not a value of enumeration {expr.enum}")
            return Typed(self.param(expr.value), expr.enum or "String")
        if isinstance(expr, ast.Parameter):
            if expr.name != "user":
                raise bad(f"Unknown query parameter :{expr.name}; only :user is defined")
            return Typed(self.param(self.user), "String")
        if isinstance(expr, ast.Current):
            now = datetime.now(timezone.utc)
            if expr.kind == "CURRENT_TIME":
                return Typed(self.param(now.strftime("%H:%M:%S")), "String")
            if expr.kind == "CURRENT_DATE":
                now = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return Typed(self.param(encode_date(now)), "Date")
        if isinstance(expr, ast.Negate):
            operand = self.numeric(scope, expr.operand)
            return Typed(f"(-{operand.sql})", operand.type)
        if isinstance(expr, ast.Arithmetic):
            left, right = self.numeric(scope, expr.left), self.numeric(scope, expr.right)
            type_ = "Double" if "Double" in (left.type, right.type) else "Long"
            return Typed(f"({left.sql} {expr.op} {right.sql})", type_)
        if isinstance(expr, ast.Function):
            return self.function(scope, expr)
        if isinstance(expr, ast.Aggregate):
            return self.aggregate(scope, expr)
        if isinstance(expr, ast.Subquery):
            return self.subquery(scope, expr.query)
        raise bad("Expected an expression")

    def literal(self, value: Any) -> Typed:
        if value is None:
            return Typed("NULL", "null")
        if isinstance(value, bool):
            return Typed("1" if value else "0", "boolean")
        if isinstance(value, int):
            return Typed(self.param(value), "Long")
        if isinstance(value, float):
            return Typed(self.param(value), "Double")
        if isinstance(value, datetime):
            return Typed(self.param(encode_date(value)), "Date")
        return Typed(self.param(value), "String", literal=value)

    def numeric(self, scope: Scope, expr: ast.Expr) -> Typed:
        typed = self.value(scope, expr)
        if typed.type not in NUMERIC and typed.type != "null":
            raise bad(f"Arithmetic needs numbers, not {typed.type}")
        return typed

    def string(self, scope: Scope, expr: ast.Expr) -> Typed:
        typed = self.value(scope, expr)
        if typed.entity is not None:
            raise bad("A string function cannot be applied to an entity")
        return typed

    def function(self, scope: Scope, f: ast.Function) -> Typed:
        name = f.name
        if name == "SIZE":
            if not isinstance(f.args[0], ast.Path):
                raise bad("SIZE needs a collection path")
            owner, many = self.collection(scope, f.args[0])
            return Typed(f'(SELECT COUNT(*) FROM "{many.target}" WHERE "{many.mapped_by}_id" = '
                         f"{owner.alias}.id)", "Integer")
        if name in ("ABS", "SQRT"):
            arg = self.numeric(scope, f.args[0])
            if name == "ABS":
                return Typed(f"abs({arg.sql})", arg.type)
            return Typed(f"icat_sqrt({arg.sql})", "Double")
        if name == "MOD":
            a, b = (self.numeric(scope, x) for x in f.args)
            return Typed(f"({a.sql} % {b.sql})", "Integer")
        args = [self.string(scope, a) for a in f.args]
        sqls = [a.sql for a in args]
        if name == "LENGTH":
            return Typed(f"length({sqls[0]})", "Integer")
        if name in ("LOWER", "UPPER"):
            return Typed(f"icat_{name.lower()}({sqls[0]})", "String")
        if name == "CONCAT":
            return Typed("(" + " || ".join(sqls) + ")", "String")
        if name == "SUBSTRING":
            return Typed(f"substr({', '.join(sqls)})", "String")
        if name == "LOCATE":
            return Typed(f"icat_locate({', '.join(sqls)})", "Integer")
        if name == "TRIM":
            fn = {"LEADING": "ltrim", "TRAILING": "rtrim", "BOTH": "trim"}[f.trim_spec or "BOTH"]
            if len(args) == 2:
                if args[0].literal is not None and len(args[0].literal) != 1:
                    raise bad("The TRIM character must be a single character")
                return Typed(f"{fn}({sqls[1]}, {sqls[0]})", "String")
            return Typed(f"{fn}({sqls[0]}, ' ')", "String")
        raise bad(f"Unknown function {name}")

    def aggregate(self, scope: Scope, agg: ast.Aggregate) -> Typed:
        arg = self.value(scope, agg.arg)
        inner = ("DISTINCT " if agg.distinct else "") + arg.sql
        if agg.name == "COUNT":
            return Typed(f"COUNT({inner})", "Long")
        if agg.name in ("SUM", "AVG") and arg.type not in NUMERIC and arg.type != "null":
            raise bad(f"{agg.name} needs a numeric argument, not {arg.type}")
        if agg.name == "SUM":
            return Typed(f"SUM({inner})", "Double" if arg.type == "Double" else "Long")
        if agg.name == "AVG":
            return Typed(f"AVG({inner})", "Double")
        return Typed(f"{agg.name}({inner})", arg.type)

    def compared(self, scope: Scope, expr: ast.Expr, other: Typed) -> Typed:
        """Compile ``expr`` as compared with ``other``: a string meets a date as a date."""
        typed = self.value(scope, expr)
        return self.coerce(typed, other.type)

    def coerce(self, typed: Typed, other_type: str) -> Typed:
        if typed.literal is not None and other_type == "Date":
            return Typed(self.param(date_literal(typed.literal)), "Date")
        return typed

    # --- conditions ----------------------------------------------------------------------

    def condition(self, scope: Scope, cond: ast.Cond) -> str:
        if isinstance(cond, (ast.And, ast.Or)):
            op = " AND " if isinstance(cond, ast.And) else " OR "
            return _balanced(op, [self.condition(scope, c) for c in cond.items])
        if isinstance(cond, ast.Not):
            return f"(NOT {self.condition(scope, cond.item)})"
        if isinstance(cond, ast.Compare):
            left = self.value(scope, cond.left)
            right = self.compared(scope, cond.right, left)
            left = self.coerce(left, right.type)
            op = "<>" if cond.op == "!=" else cond.op
            return f"({left.sql} {op} {right.sql})"
        if isinstance(cond, ast.Like):
            return self.like(scope, cond)
        if isinstance(cond, ast.In):
            value = self.value(scope, cond.value)
            if isinstance(cond.items, ast.Subquery):
                items = self.subquery(scope, cond.items.query).sql
            else:
                items = "(" + ", ".join(self.compared(scope, i, value).sql for i in cond.items) + ")"
            return f"({value.sql} {'NOT IN' if cond.negated else 'IN'} {items})"
        if isinstance(cond, ast.Between):
            value = self.value(scope, cond.value)
            low = self.compared(scope, cond.low, value)
            high = self.compared(scope, cond.high, value)
            op = "NOT BETWEEN" if cond.negated else "BETWEEN"
            return f"({value.sql} {op} {low.sql} AND {high.sql})"
        if isinstance(cond, ast.IsNull):
            value = self.value(scope, cond.value)
            return f"({value.sql} IS {'NOT ' if cond.negated else ''}NULL)"
        if isinstance(cond, ast.IsEmpty):
            owner, many = self.collection(scope, cond.collection)
            exists = (f'EXISTS (SELECT 1 FROM "{many.target}" WHERE "{many.mapped_by}_id" = '
                      f"{owner.alias}.id)")
            return f"({exists})" if cond.negated else f"(NOT {exists})"
        if isinstance(cond, ast.MemberOf):
            value = self.value(scope, cond.value)
            owner, many = self.collection(scope, cond.collection)
            if value.entity is not None and value.entity != many.target:
                raise bad(f"{cond.collection} holds {many.target}, not {value.entity}")
            members = (f'(SELECT id FROM "{many.target}" WHERE "{many.mapped_by}_id" = '
                       f"{owner.alias}.id)")
            return f"({value.sql} {'NOT IN' if cond.negated else 'IN'} {members})"
        if isinstance(cond, ast.Exists):
            sub = self.subquery(scope, cond.query.query)
            return f"({'NOT ' if cond.negated else ''}EXISTS {sub.sql})"
        raise bad("Expected a condition")

    def like(self, scope: Scope, cond: ast.Like) -> str:
        value = self.string(scope, cond.value)
        pattern = self.string(scope, cond.pattern)
        escape = self.string(scope, cond.escape) if cond.escape is not None else None
        if pattern.literal is not None and (escape is None or escape.literal is not None):
            glob = self.param(like_to_glob(pattern.literal, escape.literal if escape else None))
        else:
            glob = f"icat_like_glob({pattern.sql}, {escape.sql if escape else 'NULL'})"
        test = f"({value.sql} GLOB {glob})"
        return f"(NOT {test})" if cond.negated else test


def _balanced(op: str, terms: list[str]) -> str:
    """``(a op b op c ...)`` nested as a balanced tree: SQLite limits expression depth to
    1000 and would parse a long flat chain as one that deep."""
    if len(terms) <= 8:
        return "(" + op.join(terms) + ")"
    middle = len(terms) // 2
    return f"({_balanced(op, terms[:middle])}{op}{_balanced(op, terms[middle:])})"


@lru_cache(maxsize=4096)
def _through_first_relation(rule: RuleQuery, entity_name: str) -> tuple[str, ast.Query, str] | None:
    """(foreign key column, rule query without its variable, new first variable) when the
    rule's only use of its variable is one inner join along a ONE relation of the entity.

    Cached: a rule (hashed by identity; authz caches its parsed rules) is analysed once."""
    entity = ENTITIES[entity_name]
    query, var = rule.query, rule.var.upper()
    if len(query.ranges) != 1 or query.ranges[0].var.upper() != var or query.ranges[0].entity != entity.name:
        return None
    first = [j for j in query.joins if j.path.parts[0].upper() == var]
    if len(first) != 1 or len(first[0].path.parts) != 2 or first[0].left:
        return None
    join = first[0]
    one = entity.one(join.path.parts[1])
    others = tuple(j for j in query.joins if j is not join)
    if one is None or _mentions((others, query.where), var):
        return None
    target = ast.Range(one.target, join.var)
    return one.column, dataclasses.replace(query, ranges=(target,), joins=others), join.var


def _mentions(node: object, var: str) -> bool:
    """Whether any path in the AST ``node`` starts at ``var`` (upper case), subqueries
    included (a variable there that shadows it counts too: the caller only loses a shortcut)."""
    if isinstance(node, ast.Path):
        return node.parts[0].upper() == var
    if isinstance(node, tuple):
        return any(_mentions(item, var) for item in node)
    if dataclasses.is_dataclass(node):
        return any(_mentions(getattr(node, f.name), var) for f in dataclasses.fields(node))
    return False


def select_paths(exprs: Sequence[ast.Expr]) -> list[ast.Path]:
    """The paths in SELECT expressions (in aggregates, functions, arithmetic), in order."""
    found: list[ast.Path] = []
    for expr in exprs:
        if isinstance(expr, ast.Path):
            found.append(expr)
        elif isinstance(expr, ast.Aggregate):
            found += select_paths([expr.arg])
        elif isinstance(expr, ast.Function):
            found += select_paths(expr.args)
        elif isinstance(expr, ast.Arithmetic):
            found += select_paths([expr.left, expr.right])
        elif isinstance(expr, ast.Negate):
            found += select_paths([expr.operand])
    return found


def _has_aggregate(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.Aggregate):
        return True
    if isinstance(expr, ast.Negate):
        return _has_aggregate(expr.operand)
    if isinstance(expr, ast.Arithmetic):
        return _has_aggregate(expr.left) or _has_aggregate(expr.right)
    if isinstance(expr, ast.Function):
        return any(_has_aggregate(a) for a in expr.args)
    return False
