"""SQLite storage for the testbox: ICAT's create/update/delete semantics on one database.

Storage contract (shared with ``testbox.query``): one table per entity, named by the entity
and always double-quoted; columns ``id INTEGER PRIMARY KEY``, ``createId``, ``createTime``,
``modId``, ``modTime``, one column per attribute with the attribute's name and one column
``<relation>_id`` per ONE relation. Dates are UTC text ``YYYY-MM-DD HH:MM:SS.mmm`` (sorts
lexically), booleans 0/1, Double REAL, Integer/Long INTEGER, enums TEXT.

Error types and wording follow icat.server's ``EntityBeanManager``: on create the uniqueness
constraint is checked before not-null and string-length (``isUnique`` then ``isValid``);
problems ICAT only notices as a failing database flush (inline children, dangling
references, duplicates on update) come back as INTERNAL "Unexpected DB response ...".

Authorisation is not the store's: a write given a ``Guard`` (``testbox.authz.Policy``) asks
it at the points where icat.server's EntityBeanManager asks its GateKeeper (CREATE after the
new object is written, so rules see it; UPDATE before; DELETE on everything a delete
cascades to), and lets it prepare beans first (a Rule's ``what`` is checked, as
``preparePersist`` does).

Concurrency: every write runs under one process-wide lock in a ``BEGIN IMMEDIATE``
transaction, so writers never race each other and SQLite never reports "database is
locked" to a client. A file database runs in WAL mode so readers proceed alongside the
writer, each on a pooled connection; an in-memory database has a single connection, so
reads take the lock too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Protocol

from testbox.errors import IcatError
from testbox.model import ENTITIES, Attr, Bean, Entity, is_parameter

_SQL_TYPES = {
    "String": "TEXT",
    "Integer": "INTEGER",
    "Long": "INTEGER",
    "Double": "REAL",
    "boolean": "INTEGER",
    "Date": "TEXT",
}

_SEQUENCE_TABLE = "testbox_sequence"


def q(name: str) -> str:
    """Quote an SQL identifier (entity and column names come from the model only)."""
    return '"' + name.replace('"', '""') + '"'


def encode_date(value: datetime) -> str:
    """An aware (or naive = UTC) datetime as the stored UTC text with milliseconds."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    # isoformat pads years to four digits, so that year 1 stores (and sorts) as 0001.
    return value.isoformat(" ", "milliseconds")


def decode_date(text: str) -> datetime:
    """The stored UTC text back to an aware UTC datetime."""
    # fromisoformat reads this fixed format several times faster than strptime.
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def encode_value(attr: Attr, value: Any) -> Any:
    """A Python attribute value as stored in its column."""
    if value is None:
        return None
    if attr.type == "Date":
        return encode_date(value)
    if attr.type == "boolean":
        return 1 if value else 0
    return value


def decode_value(attr: Attr, value: Any) -> Any:
    """A column value back to the Python value of the attribute."""
    if value is None:
        return None
    if attr.type == "Date":
        return decode_date(value)
    if attr.type == "boolean":
        return bool(value)
    if attr.type == "Double":
        return float(value)
    return value


def attribute_default(attr: Attr) -> Any:
    """What ICAT stores when a client leaves an attribute unset.

    ICAT's entity classes initialise fileSize/fileCount to 0, and a primitive boolean that
    suds sends empty unmarshals to false.
    """
    if attr.default is not None:
        return attr.default
    if attr.type == "boolean":
        return False
    return None


def java_length(text: str) -> int:
    """A string's length as Java counts it (UTF-16 code units), as ICAT's checks do."""
    return len(text.encode("utf-16-le")) // 2


def java_string(value: Any) -> str:
    """A value the way Java's ``toString`` renders it in ICAT's messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")
    return str(value)


def schema_statements() -> list[str]:
    """The DDL for every entity table, its indexes and the id sequence."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {q(_SEQUENCE_TABLE)} (next INTEGER NOT NULL)",
    ]
    for entity in ENTITIES.values():
        columns = [
            "id INTEGER PRIMARY KEY",
            "createId TEXT",
            "createTime TEXT",
            "modId TEXT",
            "modTime TEXT",
        ]
        columns += [f"{q(a.name)} {_SQL_TYPES.get(a.type, 'TEXT')}" for a in entity.attributes]
        columns += [f"{q(r.column)} INTEGER" for r in entity.ones]
        statements.append(f"CREATE TABLE IF NOT EXISTS {q(entity.name)} ({', '.join(columns)})")
        # Foreign keys are looked up on every cascade delete and most joins.
        for r in entity.ones:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {q(entity.name + '_' + r.column)} "
                f"ON {q(entity.name)} ({q(r.column)})"
            )
        if entity.unique:
            cols = ", ".join(q(_column(entity, f)) for f in entity.unique)
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {q(entity.name + '_unique')} "
                f"ON {q(entity.name)} ({cols})"
            )
    return statements


def _column(entity: Entity, field: str) -> str:
    one = entity.one(field)
    return one.column if one is not None else field


def _entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise IcatError("BAD_PARAMETER", f"{name} is not an ICAT entity") from None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Guard(Protocol):
    """The authorisation a write goes through; it raises IcatError to refuse."""

    def begin(self, conn: sqlite3.Connection) -> None:
        """Called first in the write's transaction."""

    def prepare(self, bean: Bean) -> None:
        """Check and normalise a bean (and its inline children) before it is written."""

    def check(self, conn: sqlite3.Connection, access: str, entity: str, ids: list[int]) -> None:
        """Raise INSUFFICIENT_PRIVILEGES unless the caller has ``access`` to these objects."""


class _DryRun(Exception):
    """Rolls back a transaction that only checked whether a create would succeed."""


class _ChildFailure(Exception):
    """A problem in an inline child, which ICAT only sees when the flush fails."""


class Store:
    """One ICAT database. Thread-safe; see the module docstring for the locking scheme."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._memory = path == ":memory:"
        self._write_lock = threading.RLock()
        #: Counts committed writes; what was derived from the data (testbox.authz's grants)
        #: stays valid while it does not change.
        self.generation = 0
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._writer = self._connect()
        if not self._memory:
            self._writer.execute("PRAGMA journal_mode=WAL")
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            for statement in schema_statements():
                self._writer.execute(statement)
            if self._writer.execute(f"SELECT COUNT(*) FROM {q(_SEQUENCE_TABLE)}").fetchone()[0] == 0:
                self._writer.execute(f"INSERT INTO {q(_SEQUENCE_TABLE)} (next) VALUES (1)")
            self._writer.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def close(self) -> None:
        with self._write_lock, self._pool_lock:
            for conn in self._pool:
                conn.close()
            self._pool.clear()
            self._writer.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection holding a consistent read snapshot for the duration of the block."""
        if self._memory:
            with self._write_lock:
                yield self._writer
            return
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")
            with self._pool_lock:
                self._pool.append(conn)

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The write connection inside a transaction that commits, or rolls back on error."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self.generation += 1  # under the write lock

    # ------------------------------------------------------------------ reads

    def load(self, conn: sqlite3.Connection, entity_name: str, id: int) -> Bean | None:
        """The row as a Bean: attributes and meta fields, ONE relations as id-only beans."""
        entity = _entity(entity_name)
        columns = ", ".join(q(c) for c in entity.columns)
        row = conn.execute(f"SELECT {columns} FROM {q(entity.name)} WHERE id = ?", (id,)).fetchone()
        if row is None:
            return None
        return self._row_to_bean(entity, row)

    @staticmethod
    def _row_to_bean(entity: Entity, row: tuple) -> Bean:
        values = dict(zip(entity.columns, row))
        bean = Bean(entity.name)
        bean.values["id"] = values["id"]
        bean.values["createId"] = values["createId"]
        bean.values["modId"] = values["modId"]
        for meta in ("createTime", "modTime"):
            bean.values[meta] = decode_date(values[meta]) if values[meta] else None
        for attr in entity.attributes:
            bean.values[attr.name] = decode_value(attr, values[attr.name])
        for rel in entity.ones:
            ref = values[rel.column]
            bean.ones[rel.name] = None if ref is None else Bean(rel.target, {"id": ref})
        return bean

    def exists(self, conn: sqlite3.Connection, entity_name: str, id: int) -> bool:
        entity = _entity(entity_name)
        return conn.execute(f"SELECT 1 FROM {q(entity.name)} WHERE id = ?", (id,)).fetchone() is not None

    def count(self, entity_name: str) -> int:
        entity = _entity(entity_name)
        with self.reading() as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {q(entity.name)}").fetchone()[0]

    # ------------------------------------------------------------------ create

    def create(self, bean: Bean, user: str, guard: Guard | None = None) -> int:
        """Persist ``bean`` and its inline MANY children; return the new id."""
        return self.create_many([bean], user, guard, offsets=False)[0]

    def create_many(self, beans: list[Bean], user: str, guard: Guard | None = None, *,
                    offsets: bool = True) -> list[int]:
        """Persist all beans atomically; a fault's offset is the index of the failing bean.

        The ``guard`` checks CREATE on each top-level bean, not on its inline children.
        """
        now = _now()
        ids: list[int] = []
        earlier: set[int] = set()  # ids of the beans this call created so far
        with self.writing() as conn:
            if guard is not None:
                guard.begin(conn)
            for index, bean in enumerate(beans):
                try:
                    new_id = self._insert_top(conn, bean, user, now, earlier, guard)
                except IcatError as e:
                    if offsets:
                        e.offset = index
                    raise
                earlier.add(new_id)
                ids.append(new_id)
        return ids

    def check_create(self, bean: Bean, user: str, guard: Guard | None = None) -> bool:
        """Whether ``create`` would be allowed (ICAT's createAllowed): it runs, then rolls
        back. Invalid beans raise their error; only a refusal by the guard is False."""
        try:
            with self.writing() as conn:
                if guard is not None:
                    guard.begin(conn)
                self._insert_top(conn, bean, user, _now(), set(), guard)
                raise _DryRun
        except _DryRun:
            return True
        except IcatError as e:
            if e.type == "INSUFFICIENT_PRIVILEGES":
                return False
            raise

    def _insert_top(
        self, conn: sqlite3.Connection, bean: Bean, user: str, now: datetime, earlier: set[int],
        guard: Guard | None = None,
    ) -> int:
        entity = _entity(bean.entity)
        if guard is not None:
            guard.prepare(bean)
        row = self._new_row(entity, bean)
        self._check_parameter(conn, entity, row)
        self._check_unique(conn, entity, row, earlier)
        self._check_valid(entity, row)
        try:
            new_id = self._insert_row(conn, entity, row, user, now)
            self._insert_children(conn, entity, bean, new_id, user, now)
        except _ChildFailure as e:
            raise IcatError("INTERNAL", f"Unexpected DB response {e}") from None
        if guard is not None:
            guard.check(conn, "CREATE", entity.name, [new_id])
        return new_id

    def _insert_child(self, conn: sqlite3.Connection, bean: Bean, user: str, now: datetime) -> int:
        entity = _entity(bean.entity)
        row = self._new_row(entity, bean)
        try:
            self._check_parameter(conn, entity, row)
            self._check_unique(conn, entity, row, set())
            self._check_valid(entity, row)
        except IcatError as e:
            raise _ChildFailure(f"for inline {entity.name}: {e.message}") from None
        new_id = self._insert_row(conn, entity, row, user, now)
        self._insert_children(conn, entity, bean, new_id, user, now)
        return new_id

    def _insert_children(
        self, conn: sqlite3.Connection, entity: Entity, bean: Bean, parent_id: int, user: str, now: datetime
    ) -> None:
        # ICAT's preparePersist walks every MANY collection and sets the back reference.
        for many in entity.manys:
            for child in bean.manys.get(many.name) or []:
                child.ones[many.mapped_by] = Bean(entity.name, {"id": parent_id})
                self._insert_child(conn, child, user, now)

    def _new_row(self, entity: Entity, bean: Bean) -> dict[str, Any]:
        """The column values a new row gets from ``bean`` (defaults applied, refs as ids)."""
        row: dict[str, Any] = {}
        for attr in entity.attributes:
            value = bean.values.get(attr.name)
            row[attr.name] = attribute_default(attr) if value is None else value
        for rel in entity.ones:
            ref = bean.ones.get(rel.name)
            row[rel.column] = None if ref is None else ref
        return row

    def _check_unique(
        self,
        conn: sqlite3.Connection,
        entity: Entity,
        row: dict[str, Any],
        earlier: set[int],
    ) -> None:
        if not entity.unique:
            return
        params = []
        for field in entity.unique:
            value = row[_column(entity, field)]
            if isinstance(value, Bean):
                value = value.id
            elif entity.attribute(field) is not None:
                value = encode_value(entity.attribute(field), value)
            if value is None:
                return  # SQL equality never matches NULL, as in ICAT's lookup query
            params.append(value)
        where = " AND ".join(f"{q(_column(entity, f))} = ?" for f in entity.unique)
        hit = conn.execute(f"SELECT id FROM {q(entity.name)} WHERE {where} LIMIT 1", params).fetchone()
        if hit is None:
            return
        # ICAT reports a clash with an earlier bean of the same createMany from the beans
        # themselves (relations as "id:N"); a clash with a stored row via toString ("E:N").
        same_call = hit[0] in earlier
        parts = []
        for field in entity.unique:
            value = row[_column(entity, field)]
            if isinstance(value, Bean):
                value = f"id:{value.id}" if same_call else f"{value.entity}:{value.id}"
            parts.append(f"{field} = '{java_string(value)}'")
        raise IcatError("OBJECT_ALREADY_EXISTS", f"{entity.name} exists with " + ", ".join(parts))

    @staticmethod
    def _check_valid(entity: Entity, row: dict[str, Any]) -> None:
        # ICAT walks the fields sorted by name, attributes and relations alike.
        not_null = [a.name for a in entity.attributes if a.not_null]
        not_null += [r.name for r in entity.ones if r.not_null]
        for name in sorted(not_null):
            if row[_column(entity, name)] is None:
                raise IcatError("VALIDATION", f"{entity.name}: {name} cannot be null.")
        for attr in sorted(entity.attributes, key=lambda a: a.name):
            limit = attr.max_length
            value = row[attr.name]
            if limit is not None and value is not None and java_length(value) > limit:
                raise IcatError("VALIDATION", f"{entity.name}: {attr.name} cannot have length > {limit}")

    @staticmethod
    def _check_parameter(conn: sqlite3.Connection, entity: Entity, row: dict[str, Any]) -> None:
        """ICAT's Parameter.check: the type must be set and, if enforced, its limits hold."""
        if not is_parameter(entity):
            return
        ref = row["type_id"]
        if ref is None:
            raise IcatError("VALIDATION", "Type of parameter is not set")
        ptype = conn.execute(
            'SELECT name, enforced, valueType, minimumNumericValue, maximumNumericValue '
            'FROM "ParameterType" WHERE id = ?',
            (ref.id,),
        ).fetchone()
        if ptype is None or not ptype[1]:
            return
        name, _, value_type, minimum, maximum = ptype
        if value_type == "NUMERIC" and row["numericValue"] is not None:
            value = float(row["numericValue"])
            if minimum is not None and value < minimum:
                raise IcatError(
                    "VALIDATION", f"Parameter of type {name} has value {value} < {float(minimum)}"
                )
            if maximum is not None and value > maximum:
                raise IcatError(
                    "VALIDATION", f"Parameter of type {name} has value {value} > {float(maximum)}"
                )
        elif value_type == "STRING":
            allowed = [
                r[0]
                for r in conn.execute(
                    'SELECT value FROM "PermissibleStringValue" WHERE type_id = ? ORDER BY id', (ref.id,)
                )
            ]
            if allowed and row["stringValue"] not in allowed:
                raise IcatError(
                    "VALIDATION",
                    f"Parameter of type {name} has value {row['stringValue']} "
                    f"not in allowed set [{', '.join(allowed)}]",
                )

    def _insert_row(
        self, conn: sqlite3.Connection, entity: Entity, row: dict[str, Any], user: str, now: datetime
    ) -> int:
        values = self._column_values(conn, entity, row)
        new_id = conn.execute(f"SELECT next FROM {q(_SEQUENCE_TABLE)}").fetchone()[0]
        conn.execute(f"UPDATE {q(_SEQUENCE_TABLE)} SET next = ?", (new_id + 1,))
        stamp = encode_date(now)
        columns = ["id", "createId", "createTime", "modId", "modTime", *values]
        params = [new_id, user, stamp, user, stamp, *values.values()]
        conn.execute(
            f"INSERT INTO {q(entity.name)} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            params,
        )
        return new_id

    def _column_values(self, conn: sqlite3.Connection, entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
        """Encode attributes and resolve references; a dangling reference fails the flush."""
        values: dict[str, Any] = {}
        for attr in entity.attributes:
            values[attr.name] = encode_value(attr, row[attr.name])
        for rel in entity.ones:
            ref = row[rel.column]
            if ref is None:
                values[rel.column] = None
                continue
            if ref.id is None or not self.exists(conn, rel.target, ref.id):
                what = "without id" if ref.id is None else f"{rel.target}[id:{ref.id}] not found"
                raise _ChildFailure(f"{entity.name}.{rel.name} refers to an object {what}")
            values[rel.column] = ref.id
        return values

    # ------------------------------------------------------------------ update

    def update(self, bean: Bean, user: str, guard: Guard | None = None) -> None:
        """Replace the attributes and ONE relations of the stored row with those of ``bean``.

        The ``guard`` checks UPDATE on the stored object; when a relation of its uniqueness
        key changes (it becomes another object), also DELETE before and CREATE after.
        """
        entity = _entity(bean.entity)
        with self.writing() as conn:
            if guard is not None:
                guard.begin(conn)
            old = self._find(conn, entity, bean)
            if guard is not None:
                guard.check(conn, "UPDATE", entity.name, [old.id])
            self._check_identity_change(entity, old, bean)
            moved = self._identity_moved(entity, old, bean)
            if guard is not None:
                if moved:
                    guard.check(conn, "DELETE", entity.name, [old.id])
                guard.prepare(bean)
            row = self._new_row(entity, bean)
            # ICAT's merge looks each reference up and sets null when it is not found.
            for rel in entity.ones:
                ref = row[rel.column]
                if ref is not None and (ref.id is None or not self.exists(conn, rel.target, ref.id)):
                    row[rel.column] = None
            self._check_parameter(conn, entity, row)
            self._check_valid(entity, row)
            values = self._column_values(conn, entity, row)
            if entity.unique:
                self._check_unique_on_update(conn, entity, values, old.id)
            values["modId"] = user
            values["modTime"] = encode_date(_now())
            assignments = ", ".join(f"{q(c)} = ?" for c in values)
            conn.execute(
                f"UPDATE {q(entity.name)} SET {assignments} WHERE id = ?", [*values.values(), old.id]
            )
            if guard is not None and moved:
                guard.check(conn, "CREATE", entity.name, [old.id])

    @staticmethod
    def _check_identity_change(entity: Entity, old: Bean, bean: Bean) -> None:
        for field in entity.unique:
            if entity.one(field) is not None and bean.ones.get(field) is None:
                raise IcatError(
                    "INTERNAL", f"Attempt to set field {field} of {entity.name}:{old.id} to null"
                )

    @staticmethod
    def _identity_moved(entity: Entity, old: Bean, bean: Bean) -> bool:
        """Whether a relation of the uniqueness key points elsewhere (icat.server's
        checkIdentityChange)."""
        for field in entity.unique:
            if entity.one(field) is not None:
                new, stored = bean.ones.get(field), old.ones.get(field)
                if new is not None and stored is not None and new.id != stored.id:
                    return True
        return False

    @staticmethod
    def _check_unique_on_update(
        conn: sqlite3.Connection, entity: Entity, values: dict[str, Any], own_id: int
    ) -> None:
        # ICAT's update does not run isUnique: the failing flush surfaces as INTERNAL.
        params = [values[_column(entity, f)] for f in entity.unique]
        if any(p is None for p in params):
            return
        where = " AND ".join(f"{q(_column(entity, f))} = ?" for f in entity.unique)
        hit = conn.execute(
            f"SELECT id FROM {q(entity.name)} WHERE {where} AND id != ? LIMIT 1", [*params, own_id]
        ).fetchone()
        if hit is not None:
            raise IcatError(
                "INTERNAL",
                f"Unexpected DB response: unique constraint ({', '.join(entity.unique)}) "
                f"of {entity.name} violated",
            )

    # ------------------------------------------------------------------ delete

    def delete(self, bean: Bean, guard: Guard | None = None) -> None:
        self.delete_many([bean], guard)

    def delete_many(self, beans: list[Bean], guard: Guard | None = None) -> None:
        """Delete all beans and, recursively, everything along their MANY relations.

        Atomic; a fault's offset is the index of the failing bean (ICAT sets it for a
        single delete too, which goes through the same code). The ``guard`` checks DELETE
        on the bean first, then on everything the delete cascades to.
        """
        with self.writing() as conn:
            if guard is not None:
                guard.begin(conn)
            for index, bean in enumerate(beans):
                try:
                    entity = _entity(bean.entity)
                    self._find(conn, entity, bean)
                    tree = self._cascade(conn, entity, [bean.id])
                    if guard is not None:
                        for part, ids in tree:
                            guard.check(conn, "DELETE", part.name, ids)
                except IcatError as e:
                    e.offset = index
                    raise
                for part, ids in tree:
                    for chunk in _chunks(ids):
                        conn.execute(
                            f"DELETE FROM {q(part.name)} WHERE id IN ({', '.join('?' for _ in chunk)})", chunk
                        )

    def _cascade(self, conn: sqlite3.Connection, entity: Entity, ids: list[int]) -> list[tuple[Entity, list[int]]]:
        """``ids`` and, depth first, every row that depends on them along MANY relations."""
        if not ids:
            return []
        tree = [(entity, ids)]
        for many in entity.manys:
            target = ENTITIES[many.target]
            column = target.one(many.mapped_by).column
            tree += self._cascade(conn, target, self._ids_where_in(conn, target, column, ids))
        return tree

    @staticmethod
    def _ids_where_in(conn: sqlite3.Connection, entity: Entity, column: str, ids: list[int]) -> list[int]:
        found: list[int] = []
        for chunk in _chunks(ids):
            found += [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM {q(entity.name)} WHERE {q(column)} IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
            ]
        return found

    # ------------------------------------------------------------------ helpers

    def _find(self, conn: sqlite3.Connection, entity: Entity, bean: Bean) -> Bean:
        """The stored row for ``bean``'s id, or ICAT's NO_SUCH_OBJECT_FOUND."""
        if bean.id is None:
            raise IcatError("NO_SUCH_OBJECT_FOUND", f"{entity.name} has null primary key.")
        found = self.load(conn, entity.name, bean.id)
        if found is None:
            raise IcatError("NO_SUCH_OBJECT_FOUND", f"{entity.name}[id:{bean.id}] not found.")
        return found


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    # Stay well below SQLite's limit on bound parameters.
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
