"""The parsed form of a query; both syntaxes parse to these nodes.

Identification variables are kept as written; the compiler resolves them
case-insensitively, as JPQL does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Union


# --- expressions -------------------------------------------------------------------------

@dataclass(frozen=True)
class Path:
    """``o`` or ``o.investigation.name``: an identification variable and field names."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A constant: str, int, float, bool, datetime (from ``{ts ...}``) or None (NULL)."""

    value: str | int | float | bool | datetime | None


@dataclass(frozen=True)
class EnumLiteral:
    """``org.icatproject.ParameterValueType.NUMERIC``, or a bare constant in the concise syntax."""

    enum: str | None
    value: str


@dataclass(frozen=True)
class Parameter:
    """``:user``, the only named parameter ICAT binds."""

    name: str


@dataclass(frozen=True)
class Current:
    """CURRENT_DATE, CURRENT_TIME or CURRENT_TIMESTAMP."""

    kind: str


@dataclass(frozen=True)
class Negate:
    operand: Expr


@dataclass(frozen=True)
class Arithmetic:
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Function:
    """A JPQL function. For TRIM, ``trim_spec`` is LEADING/TRAILING/BOTH and args may hold
    the trim character first."""

    name: str
    args: tuple[Expr, ...]
    trim_spec: str | None = None


@dataclass(frozen=True)
class Aggregate:
    name: str  # COUNT MIN MAX AVG SUM
    distinct: bool
    arg: Expr


@dataclass(frozen=True)
class Subquery:
    query: Query


Expr = Union[Path, Literal, EnumLiteral, Parameter, Current, Negate, Arithmetic, Function,
             Aggregate, Subquery]


# --- conditions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    op: str  # = <> != < > <= >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Like:
    value: Expr
    pattern: Expr
    escape: Expr | None
    negated: bool = False


@dataclass(frozen=True)
class In:
    value: Expr
    items: tuple[Expr, ...] | Subquery
    negated: bool = False


@dataclass(frozen=True)
class Between:
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    value: Expr
    negated: bool = False


@dataclass(frozen=True)
class IsEmpty:
    collection: Path
    negated: bool = False


@dataclass(frozen=True)
class MemberOf:
    value: Expr
    collection: Path
    negated: bool = False


@dataclass(frozen=True)
class Exists:
    query: Subquery
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    item: Cond


Cond = Union[Compare, Like, In, Between, IsNull, IsEmpty, MemberOf, Exists, And, Or, Not]


# --- clauses -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """``FROM Entity [AS] var``."""

    entity: str
    var: str


@dataclass(frozen=True)
class Join:
    path: Path
    var: str
    left: bool = False


@dataclass(frozen=True)
class OrderItem:
    expr: Expr
    descending: bool = False


@dataclass(frozen=True)
class IncludeItem:
    """``o.datasets AS ds``: a path from the selected variable or an earlier include
    variable, optionally naming the object it reaches."""

    path: Path
    var: str | None = None


@dataclass(frozen=True)
class Include:
    one: bool = False
    items: tuple[IncludeItem, ...] = ()


@dataclass(frozen=True)
class Limit:
    offset: int
    count: int | None  # None for ``LIMIT n, *``


@dataclass
class Query:
    distinct: bool
    select: tuple[Expr, ...]
    ranges: tuple[Range, ...]
    joins: tuple[Join, ...] = ()
    where: Cond | None = None
    group_by: tuple[Expr, ...] = ()
    having: Cond | None = None
    order_by: tuple[OrderItem, ...] = ()
    include: Include | None = None
    limit: Limit | None = None
