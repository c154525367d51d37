"""INCLUDE: which related objects to return with entity results, and loading them in batches.

The include items form a tree rooted at the selected entity, built and checked as
icat.server's IncludeClause does. Loading walks the tree one relation at a time with one
query per batch of parents (``WHERE id IN (...)`` for ONE relations, ``WHERE <back-ref>_id
IN (...)`` for MANY ones), never one query per object.

ICAT counts every returned object, included copies too, against maxEntities; loading stops
as soon as the rows fetched make that impossible to meet.

Objects the caller may not read are left out in the same queries (an ``IncludeFilter``
from ``testbox.authz``), as icat.server's ``pruned`` leaves them out: a ONE relation then
reads as null, a MANY one lacks them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from testbox.errors import IcatError
from testbox.model import ENTITIES, Bean, Entity, Many, One
from testbox.query import ast
from testbox.query.values import make_bean

#: Parents per batched query; well below SQLite's limit on bound variables.
BATCH = 500
#: Deeper include trees are refused (loading and counting recurse along them).
MAX_DEPTH = 40

#: (origin entity, relation, target entity) -> the SQL condition on the target's row (its
#: columns unqualified), with its parameters, that included objects must meet; None for none.
IncludeFilter = Callable[[Entity, str, Entity], "tuple[str, list[Any]] | None"]


def bad(message: str) -> IcatError:
    return IcatError("BAD_PARAMETER", message)


def too_many(max_entities: int) -> IcatError:
    return IcatError("VALIDATION", f"attempt to return more than {max_entities} entities")


@dataclass
class Node:
    """An entity in the include tree and the relations to follow from it."""

    entity: Entity
    depth: int = 0
    children: dict[str, tuple[One | Many, Node]] = field(default_factory=dict)

    def step(self, name: str) -> Node:
        rel = self.entity.one(name) or self.entity.many(name)
        if rel is None:
            raise bad(f"Problem with INCLUDE clause: {name} is not a field of {self.entity.name}")
        if name in self.children:
            raise bad(f"INCLUDE clause contains redundant path to {name}")
        if self.depth >= MAX_DEPTH:
            raise bad(f"INCLUDE clause nested more than {MAX_DEPTH} levels deep")
        child = Node(ENTITIES[rel.target], self.depth + 1)
        self.children[name] = (rel, child)
        return child


def include_tree(include: ast.Include, entity: Entity, root_var: str | None) -> Node:
    """The tree of relations to load for ``INCLUDE 1`` or a list of include paths."""
    root = Node(entity)
    if include.one:
        for rel in entity.ones:
            root.children[rel.name] = (rel, Node(ENTITIES[rel.target]))
        return root
    variables = {root_var: root} if root_var else {}
    for item in include.items:
        first = item.path.parts[0].upper()
        node = variables.get(first)
        if node is None:
            raise bad(f"variable {first} mentioned in INCLUDE clause is not defined")
        for name in item.path.parts[1:-1]:
            node = node.step(name)
        if item.var is not None and item.var.upper() in variables:
            raise bad(f"variable {item.var.upper()} mentioned in INCLUDE clause is already defined")
        node = node.step(item.path.parts[-1])
        if item.var is not None:
            variables[item.var.upper()] = node
    return root


@dataclass
class Loaded:
    """Beans of one entity at one tree node, with their stored rows (for foreign keys)."""

    beans: dict[int, Bean] = field(default_factory=dict)
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, bean: Bean, row: dict[str, Any]) -> None:
        self.beans[bean.id] = bean
        self.rows[bean.id] = row


class IncludeLoader:
    def __init__(self, conn: sqlite3.Connection, max_entities: int, already: int,
                 allowed: IncludeFilter | None = None) -> None:
        self.conn = conn
        self.max_entities = max_entities
        #: objects counted so far; every fetched row is returned at least once
        self.counted = already
        self.allowed = allowed

    def fill(self, parents: Loaded, node: Node) -> None:
        for name, (rel, child) in node.children.items():
            condition = self.allowed(node.entity, name, child.entity) if self.allowed else None
            if isinstance(rel, One):
                keys = {row[rel.column] for row in parents.rows.values()} - {None}
                found = self.fetch(child.entity, "id", keys, condition)
                for bean_id, bean in parents.beans.items():
                    fk = parents.rows[bean_id][rel.column]
                    bean.ones[name] = found.beans.get(fk) if fk is not None else None
            else:
                found = self.fetch(child.entity, f"{rel.mapped_by}_id", parents.beans.keys(), condition)
                for bean in parents.beans.values():
                    bean.manys[name] = []
                back_ref = f"{rel.mapped_by}_id"
                for bean_id, bean in found.beans.items():  # in id order
                    parents.beans[found.rows[bean_id][back_ref]].manys[name].append(bean)
            if found.beans:
                self.fill(found, child)

    def fetch(self, entity: Entity, column: str, keys: Iterable[int],
              condition: tuple[str, list[Any]] | None = None) -> Loaded:
        """Rows of ``entity`` whose ``column`` is one of ``keys`` (and that meet ``condition``),
        in id order per batch."""
        keys = sorted(keys)
        columns = entity.columns
        select = ", ".join(f'"{c}"' for c in columns)
        extra, extra_params = (f" AND {condition[0]}", condition[1]) if condition else ("", [])
        loaded = Loaded()
        for start in range(0, len(keys), BATCH):
            batch = keys[start:start + BATCH]
            budget = self.max_entities - self.counted + 1
            marks = ", ".join("?" * len(batch))
            cursor = self.conn.execute(
                f'SELECT {select} FROM "{entity.name}" WHERE "{column}" IN ({marks}){extra} '
                f"ORDER BY id LIMIT ?", [*batch, *extra_params, budget])
            rows = cursor.fetchall()
            self.counted += len(rows)
            if self.counted > self.max_entities:
                raise too_many(self.max_entities)
            for values in rows:
                row = dict(zip(columns, values))
                loaded.add(make_bean(entity, row), row)
        return loaded


def count(bean: Bean | None, node: Node, memo: dict[tuple[int, int], int]) -> int:
    """How many objects ICAT counts for ``bean`` and what was included under it."""
    if bean is None:
        return 1
    key = (id(node), bean.id)
    if key not in memo:
        total = 1
        for name, (rel, child) in node.children.items():
            if isinstance(rel, One):
                related = bean.ones.get(name)
                total += count(related, child, memo) if related is not None else 0
            else:
                total += sum(count(b, child, memo) for b in bean.manys.get(name, ()))
        memo[key] = total
    return memo[key]
