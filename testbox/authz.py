"""ICAT's authorisation: rules, public tables and public steps, as icat.server 6.2 applies them.

Read off icat.server's ``GateKeeper``, ``entity/Rule``, ``entity/PublicStep``,
``parser/RuleWhat``, ``parser/SearchQuery`` and ``EntityBaseBean.pruned``:

- A ``Rule`` grants the accesses of its ``crudFlags`` (C, R, U, D) on the objects its ``what``
  selects, to the members of its ``grouping`` (UserGroup → User.name) or, without one, to
  everybody. ``what`` is JPQL (``SELECT o FROM Dataset o JOIN ... WHERE ...``) or the concise
  form (``Dataset <-> Investigation [name='x']``); ``:user`` is the caller and the query
  language's functions (CURRENT_TIMESTAMP, ...) work. ``SELECT o.name ...`` (an attribute) is
  for U only; icat.server uses such rules for its JSON API's updates only, so through SOAP
  they grant nothing.
- A rule without WHERE and without grouping makes its entity a *public table*: everybody may
  read all of it, whatever the rule's flags (icat.server's ``Rule.PublicQuery``).
- A ``PublicStep`` (origin, field) lets INCLUDE follow that relation without checking.
- Root users (``rootUserNames``) may do anything.

Rules and memberships are read at the start of a request (icat.server reads them outside
the request's transaction), so a change applies from the next request on. Reads reuse what
was read for the same user until the next write commits (``GrantsCache``); parsed ``what``
texts are cached. Every check is SQL on the store: ``IN (rule's subquery)`` per applicable
rule, OR-ed, never a loop over objects in Python.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from testbox.errors import IcatError
from testbox.model import BASE_ATTRIBUTES, ENTITIES, Bean, Entity
from testbox.query import ast
from testbox.query.compiler import Compiler
from testbox.query.concise import parse_concise
from testbox.query.engine import register_functions
from testbox.query.parser import parse

log = logging.getLogger(__name__)

#: ICAT's AccessType values and the crudFlags letter of each.
ACCESS_FLAGS = {"CREATE": "C", "READ": "R", "UPDATE": "U", "DELETE": "D"}

_ID_VARIABLE = re.compile(r"^[a-zA-Z_$][\w$]*$")
_CHUNK = 500  # ids per query, well below SQLite's limit on bound parameters

# Every rule that applies to one user (the rows of icat.server's Rule.*Query named queries).
_RULES_OF_USER = (
    'SELECT r."crudFlags", r."what", r."grouping_id" IS NULL FROM "Rule" r '
    'WHERE r."grouping_id" IS NULL OR r."grouping_id" IN ('
    'SELECT ug."grouping_id" FROM "UserGroup" ug JOIN "User" u ON u.id = ug."user_id" '
    'WHERE u."name" = ?) ORDER BY r.id'
)
_PUBLIC_STEPS = 'SELECT "origin", "field" FROM "PublicStep"'


def _bad(message: str) -> IcatError:
    return IcatError("BAD_PARAMETER", message)


def denied(access: str, entity: str) -> IcatError:
    """icat.server's refusal."""
    return IcatError("INSUFFICIENT_PRIVILEGES", f"{access} access to this {entity} is not allowed.")


# --- rules' "what" ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RuleWhat:
    """A rule's ``what``, parsed: ``query``'s FROM and WHERE select the objects, of entity
    ``bean``, that its identification variable ``var`` stands for."""

    bean: str
    var: str
    query: ast.Query
    text: str
    attribute: str | None = None

    @property
    def restricted(self) -> bool:
        """Whether the rule has a WHERE (icat.server's ``restricted``; joins alone do not count)."""
        return self.query.where is not None


@lru_cache(maxsize=2048)
def parse_what(what: str) -> RuleWhat:
    """Parse and check a rule's ``what`` as icat.server's Rule.fixup and RuleWhat do.

    Raises BAD_PARAMETER for anything that is not ``SELECT var[.attribute] FROM ... [WHERE
    ...]`` in either syntax, or that does not compile against the model.
    """
    text = what.strip()
    try:
        query = parse(text) if text.upper().startswith("SELECT") else parse_concise(text)
        return _checked(query, text)
    except RecursionError:
        raise _bad("rule nested too deeply") from None


def _checked(query: ast.Query, text: str) -> RuleWhat:
    """The parsed ``what`` if it is a rule: one variable (and maybe an attribute) selected
    from a FROM and WHERE that compile."""
    selected = query.select[0] if len(query.select) == 1 else None
    if (query.distinct or not isinstance(selected, ast.Path) or len(selected.parts) > 2
            or not _ID_VARIABLE.match(selected.parts[0])):
        shown = ", ".join(str(e) for e in query.select) if query.select else "nothing"
        raise _bad("Rule must have an entity reference possibly followed by an attribute in the "
                   f"SELECT clause rather than {shown}")
    if query.group_by or query.having is not None or query.order_by or query.include or query.limit:
        raise _bad("A rule has only SELECT, FROM and WHERE clauses")
    var = selected.parts[0]
    _, entity = Compiler("").id_subquery(query, var)  # every name checked against the model
    attribute = selected.parts[1] if len(selected.parts) == 2 else None
    if attribute is not None and not _is_field(entity, attribute):
        raise _bad(f"{entity.name} does not have attribute {attribute}")
    return RuleWhat(entity.name, var, query, text, attribute)


def _is_field(entity: Entity, name: str) -> bool:
    return (name in BASE_ATTRIBUTES or entity.attribute(name) is not None or entity.one(name) is not None
            or entity.many(name) is not None)


def _java_trim(text: str) -> str:
    # Java's String.trim removes every character up to U+0020, not only whitespace.
    return text.strip("".join(chr(c) for c in range(0x21)))


# --- preparing beans before they are written ---------------------------------------------

def prepare(bean: Bean) -> None:
    """icat.server's ``preparePersist`` fixups, for ``bean`` and its inline children.

    A Rule's crudFlags become upper case and its ``what`` must parse; a PublicStep's field
    must be a relation of its origin. A missing value is left to the store's not-null
    check (VALIDATION).
    """
    if bean.entity == "Rule":
        _prepare_rule(bean)
    elif bean.entity == "PublicStep":
        _prepare_public_step(bean)
    for children in bean.manys.values():
        for child in children or ():
            prepare(child)


def _prepare_rule(bean: Bean) -> None:
    flags = bean.values.get("crudFlags")
    if flags is None:
        return
    flags = _java_trim(flags.upper())
    create = False
    for letter in flags:
        if letter not in "CRUD":
            # icat.server prints its C flag here instead of the letter; so do we.
            raise _bad(f"CRUD value {flags} contains {'true' if create else 'false'}")
        create = create or letter == "C"
    bean.values["crudFlags"] = flags
    what = bean.values.get("what")
    if what is None:
        raise _bad("'what' must not be null")
    rule = parse_what(what)
    if rule.attribute is not None and set(flags) & set("CRD"):
        raise _bad("Attribute selection in rules is only allowed for Update")


def _prepare_public_step(bean: Bean) -> None:
    origin, name = bean.values.get("origin"), bean.values.get("field")
    if origin is None or name is None:
        return
    entity = ENTITIES.get(origin)
    if entity is None:
        raise _bad(f"{origin} is not an ICAT entity")
    if entity.one(name) is None and entity.many(name) is None:
        raise _bad(f"Field value {name} does not implement a relationship from {origin}")


# --- what one user is granted ------------------------------------------------------------

@dataclass
class Grants:
    """The rules that apply to one user by (flag, entity), the public tables and steps."""

    rules: dict[tuple[str, str], list[RuleWhat]] = field(default_factory=dict)
    public_tables: set[str] = field(default_factory=set)
    public_steps: set[tuple[str, str]] = field(default_factory=set)


def load_grants(conn: sqlite3.Connection, user: str) -> Grants:
    """Read the rules (own groupings' and everybody's) and the public steps for ``user``."""
    grants = Grants()
    seen: set[tuple[str, str, str]] = set()
    for flags, what, everybody in conn.execute(_RULES_OF_USER, (user,)):
        try:
            rule = parse_what(what)
        except IcatError as e:
            # Rules are checked when written; one that is not (a database of an older
            # testbox, say) grants nothing rather than failing every request.
            log.warning("ignoring the rule %r: %s", what, e.message)
            continue
        if everybody and not rule.restricted:
            grants.public_tables.add(rule.bean)
        for flag in sorted(set(flags) & set("CRUD")):
            if flag == "U" and rule.attribute is not None:
                continue
            key = (flag, rule.bean, rule.text)
            if key not in seen:  # icat.server selects DISTINCT rule queries
                seen.add(key)
                grants.rules.setdefault((flag, rule.bean), []).append(rule)
    grants.public_steps = {(origin, name) for origin, name in conn.execute(_PUBLIC_STEPS)}
    return grants


class GrantsCache:
    """Each user's grants, valid as long as the store's write generation is the one they
    were read at (any committed write may have changed rules or memberships)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[int, Grants]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: sqlite3.Connection, user: str, generation: int) -> Grants:
        """The grants of ``user`` at ``generation``. The caller reads ``generation`` before
        its transaction's first read, so what ``conn`` sees is at least that recent."""
        with self._lock:
            entry = self._entries.get(user)
            if entry is not None and entry[0] == generation:
                self._entries.move_to_end(user)
                return entry[1]
        grants = load_grants(conn, user)
        with self._lock:
            self._entries[user] = (generation, grants)
            self._entries.move_to_end(user)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return grants


class Policy:
    """What one request's caller may do: the ``Authorizer`` of searches and gets and the
    ``Guard`` of writes. Root users are allowed everything without a look at the rules.

    A read may pass a ``cache`` and the store ``generation`` read before its transaction
    began; a write reads the rules afresh inside its own transaction.
    """

    def __init__(self, user: str, root: bool, cache: GrantsCache | None = None,
                 generation: int | None = None) -> None:
        self.user = user
        self.root = root
        self._cache = cache
        self._generation = generation
        self._grants: Grants | None = None
        self._conditions: dict[tuple[str, str, str], tuple[str, list[Any]] | None] = {}

    def begin(self, conn: sqlite3.Connection) -> None:
        """Read the rules, once per request, before the request changes anything."""
        register_functions(conn)  # rules may use the query language's functions
        if self.root or self._grants is not None:
            return
        if self._cache is not None and self._generation is not None:
            self._grants = self._cache.get(conn, self.user, self._generation)
        else:
            self._grants = load_grants(conn, self.user)

    @property
    def grants(self) -> Grants:
        if self._grants is None:
            raise RuntimeError("Policy.begin() was not called")
        return self._grants

    @staticmethod
    def prepare(bean: Bean) -> None:
        prepare(bean)

    # --- reading ---------------------------------------------------------------------

    def read_rules(self, entity: str) -> list[RuleWhat] | None:
        """For a search: None if the caller may read every ``entity``, else the READ rules
        (an empty list: none of them)."""
        if self.root or entity in self.grants.public_tables:
            return None
        rules = self.grants.rules.get(("R", entity), [])
        return None if any(not r.restricted for r in rules) else rules

    def include_filter(self, origin: Entity, name: str, target: Entity) -> tuple[str, list[Any]] | None:
        """The condition (on the target's columns, unqualified) that objects INCLUDEd along
        ``origin.name`` must meet."""
        if self.root:
            return None
        grants = self.grants
        if target.name in grants.public_tables or (origin.name, name) in grants.public_steps:
            return None
        return self._condition("READ", target, "")

    # --- checking objects --------------------------------------------------------------

    def allowed_ids(self, conn: sqlite3.Connection, access: str, entity: str, ids: Iterable[int]) -> set[int]:
        """The ids among ``ids`` of stored ``entity`` objects the caller has ``access`` to.

        As in icat.server, a rule is evaluated on the stored object, so an object that does
        not exist is never allowed (except a READ of a public table, which needs no look).
        """
        ids = list(ids)
        if self.root or (access == "READ" and entity in self.grants.public_tables):
            return set(ids)
        condition = self._condition(access, ENTITIES[entity], "")
        extra, params = (f" AND {condition[0]}", condition[1]) if condition else ("", [])
        allowed: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            try:
                rows = conn.execute(f'SELECT id FROM "{entity}" WHERE id IN ({marks}){extra}',
                                    [*chunk, *params]).fetchall()
            except (sqlite3.Error, OverflowError) as e:
                raise IcatError("INTERNAL", f"evaluating the rules for {entity} failed: {e}") from None
            allowed.update(r[0] for r in rows)
        return allowed

    def check(self, conn: sqlite3.Connection, access: str, entity: str, ids: list[int]) -> None:
        """Raise INSUFFICIENT_PRIVILEGES unless the caller has ``access`` to all ``ids``."""
        if self.root:
            return
        allowed = self.allowed_ids(conn, access, entity, ids)
        if any(i not in allowed for i in ids):
            raise denied(access, entity)

    def allows(self, conn: sqlite3.Connection, access: str, bean: Bean) -> bool:
        """``isAccessAllowed`` for READ, UPDATE and DELETE (CREATE is tried by the store)."""
        if self.root:
            return True
        if access == "READ" and bean.entity in self.grants.public_tables:
            return True
        return bean.id is not None and bean.id in self.allowed_ids(conn, access, bean.entity, [bean.id])

    def _condition(self, access: str, entity: Entity, prefix: str) -> tuple[str, list[Any]] | None:
        """SQL on an ``entity`` row (its columns ``prefix"name"``) that the objects the rules
        for ``access`` allow meet (None: all that exist), with its parameters; compiled
        once per request."""
        key = (access, entity.name, prefix)
        if key not in self._conditions:
            rules = self.grants.rules.get((ACCESS_FLAGS[access], entity.name), [])
            if not rules:
                self._conditions[key] = ("0", [])
            elif any(not r.restricted for r in rules):
                self._conditions[key] = None
            else:
                compiler = Compiler(self.user)
                self._conditions[key] = compiler.finish(compiler.id_filter(prefix, entity, rules))
        return self._conditions[key]
