"""Recursive-descent parser for ICAT's JPQL-style queries.

icat.server only tokenizes and checks the FROM, SELECT, INCLUDE and LIMIT clauses itself and
hands the rest to the JPA provider, so what it accepts is JPQL as EclipseLink parses it plus
ICAT's INCLUDE and LIMIT. This parser covers that language except ALL/ANY/SOME, CASE and
functions ICAT's tokenizer does not know, and produces :mod:`testbox.query.ast` nodes.

Conditions and scalar expressions are parsed by one precedence climber, so parenthesised
conditions and parenthesised arithmetic need no backtracking; a node of the wrong kind in
the wrong place is rejected afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from testbox.errors import IcatError
from testbox.query import ast
from testbox.query.lexer import T, Token, tokenize

#: Nesting (parentheses, NOT, unary minus, subqueries) beyond this is refused: it keeps the
#: parser well inside Python's recursion limit and SQLite's expression depth.
MAX_NESTING = 40

ENUM_PREFIX = "org.icatproject."

_CONDITIONS = (ast.Compare, ast.Like, ast.In, ast.Between, ast.IsNull, ast.IsEmpty,
               ast.MemberOf, ast.Exists, ast.And, ast.Or, ast.Not)
_FUNCTIONS = {"ABS": 1, "SQRT": 1, "LENGTH": 1, "LOWER": 1, "UPPER": 1, "SIZE": 1, "MOD": 2}
_AGGREGATES = ("COUNT", "MIN", "MAX", "AVG", "SUM")
_CLAUSE_ENDS = ("WHERE", "GROUP", "HAVING", "ORDER", "INCLUDE", "LIMIT")


def bad(message: str) -> IcatError:
    return IcatError("BAD_PARAMETER", message)


class TokenStream:
    """Tokens with ICAT-style "Expected token from types [...]" errors."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> Token | None:
        n = self.pos + offset
        return self.tokens[n] if 0 <= n < len(self.tokens) else None

    def at_kw(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.is_kw(*words)

    def at(self, *types: T) -> bool:
        t = self.peek()
        return t is not None and t.type in types

    def next(self) -> Token:
        t = self.peek()
        if t is None:
            raise bad("Attempt to read beyond end")
        self.pos += 1
        return t

    def accept_kw(self, *words: str) -> bool:
        """Consume the next token if it is one of ``words``."""
        if self.at_kw(*words):
            self.pos += 1
            return True
        return False

    def take_kw(self, *words: str) -> Token:
        if not self.at_kw(*words):
            self.fail(*words)
        return self.next()

    def take(self, *types: T) -> Token:
        if not self.at(*types):
            self.fail(*(t.name for t in types))
        return self.next()

    def fail(self, *expected: str) -> None:
        t = self.peek()
        if t is None:
            raise bad("Attempt to read beyond end")
        context = " ".join(x.value for x in self.tokens[max(0, self.pos - 2):self.pos])
        after = " ".join(x.value for x in self.tokens[self.pos + 1:self.pos + 3])
        where = f"{context} < {t.value} > {after}".strip()
        if expected:
            raise bad(f"Expected token from types [{', '.join(expected)}] at token {t.value} in {where}")
        raise bad(f"No more input expected at token {t.value} in {where}")

    @contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise bad(f"query nested more than {MAX_NESTING} levels deep")
        try:
            yield
        finally:
            self.depth -= 1


def parse(text: str) -> ast.Query:
    """Parse a JPQL-style ICAT query (one starting with SELECT)."""
    ts = TokenStream(tokenize(text))
    query = _query(ts, subquery=False)
    if ts.peek() is not None:
        ts.fail()
    return query


def _query(ts: TokenStream, *, subquery: bool) -> ast.Query:
    ts.take_kw("SELECT")
    distinct = ts.accept_kw("DISTINCT")
    select = [_scalar(ts)]
    while ts.at(T.COMMA):
        ts.next()
        select.append(_scalar(ts))
    ts.take_kw("FROM")
    ranges, joins = _from(ts)
    query = ast.Query(distinct, tuple(select), tuple(ranges), tuple(joins))
    if ts.at_kw("WHERE"):
        ts.next()
        query.where = _condition(ts)
    if ts.at_kw("GROUP"):
        ts.next()
        ts.take_kw("BY")
        group = [_scalar(ts)]
        while ts.at(T.COMMA):
            ts.next()
            group.append(_scalar(ts))
        query.group_by = tuple(group)
    if ts.at_kw("HAVING"):
        ts.next()
        query.having = _condition(ts)
    if subquery:
        return query
    if ts.at_kw("ORDER"):
        ts.next()
        ts.take_kw("BY")
        order = [_order_item(ts)]
        while ts.at(T.COMMA):
            ts.next()
            order.append(_order_item(ts))
        query.order_by = tuple(order)
    # INCLUDE and LIMIT may come in either order.
    for _ in range(2):
        if ts.at_kw("INCLUDE") and query.include is None:
            query.include = include_clause(ts)
        elif ts.at_kw("LIMIT") and query.limit is None:
            query.limit = _limit(ts)
    return query


def _from(ts: TokenStream) -> tuple[list[ast.Range], list[ast.Join]]:
    ranges = [_range(ts)]
    joins: list[ast.Join] = []
    while True:
        if ts.at(T.COMMA):
            ts.next()
            ranges.append(_range(ts))
        elif ts.at_kw("JOIN", "LEFT", "INNER"):
            left = ts.accept_kw("LEFT")
            if left:
                ts.accept_kw("OUTER")
            else:
                ts.accept_kw("INNER")
            ts.take_kw("JOIN")
            if ts.at_kw("FETCH"):
                raise bad("The FETCH keyword is not permitted")
            path = _path(ts.take(T.NAME))
            joins.append(ast.Join(path, _variable(ts), left))
        else:
            if ts.peek() is not None and not ts.at_kw(*_CLAUSE_ENDS) and not ts.at(T.CLOSEPAREN):
                ts.fail()
            return ranges, joins


def _range(ts: TokenStream) -> ast.Range:
    entity = ts.take(T.NAME).value
    return ast.Range(entity, _variable(ts))


def _variable(ts: TokenStream) -> str:
    ts.accept_kw("AS")
    name = ts.take(T.NAME).value
    if "." in name:
        raise bad(f"Variable {name} must not contain a '.'")
    return name


def _order_item(ts: TokenStream) -> ast.OrderItem:
    expr = _scalar(ts)
    descending = False
    if ts.at_kw("ASC", "DESC"):
        descending = ts.next().value == "DESC"
    return ast.OrderItem(expr, descending)


def include_clause(ts: TokenStream) -> ast.Include:
    ts.take_kw("INCLUDE")
    if ts.at(T.INTEGER) and ts.peek().value == "1":
        ts.next()
        if ts.at(T.COMMA):
            raise bad('"INCLUDE 1" must not be followed by other things to include.')
        return ast.Include(one=True)
    items = [_include_item(ts)]
    while ts.at(T.COMMA):
        ts.next()
        items.append(_include_item(ts))
    return ast.Include(items=tuple(items))


def _include_item(ts: TokenStream) -> ast.IncludeItem:
    token = ts.take(T.NAME)
    var = None
    if ts.at_kw("AS") or ts.at(T.NAME):
        var = _variable(ts)
    path = _path(token)
    if len(path.parts) < 2:
        raise bad(f"Path {token.value} must contain a '.'")
    return ast.IncludeItem(path, var)


def _limit(ts: TokenStream) -> ast.Limit:
    ts.take_kw("LIMIT")
    offset = _small_int(ts.take(T.INTEGER))
    ts.take(T.COMMA)
    count = ts.take(T.INTEGER, T.MULT)
    return ast.Limit(offset, None if count.type is T.MULT else _small_int(count))


def _small_int(token: Token) -> int:
    # Java parses these as int: anything larger is an error there too.
    value = int(token.value)
    if value > 2**31 - 1:
        raise bad(f"For input string: \"{token.value}\"")
    return value


def _path(token: Token) -> ast.Path:
    parts = tuple(token.value.split("."))
    if any(not p for p in parts):
        raise bad(f"Malformed path {token.value}")
    return ast.Path(parts)


# --- conditions and expressions ----------------------------------------------------------

def _condition(ts: TokenStream) -> ast.Cond:
    return _as_cond(_or(ts), ts)


def _scalar(ts: TokenStream) -> ast.Expr:
    node = _or(ts)
    return _expect_expr(node, ts)


def _expect_expr(node: object, ts: TokenStream) -> ast.Expr:
    if isinstance(node, _CONDITIONS):
        raise bad(f"Expected an expression but found a condition near token {_here(ts)}")
    return node  # type: ignore[return-value]


def _here(ts: TokenStream) -> str:
    t = ts.peek()
    return t.value if t is not None else "end of query"


def _or(ts: TokenStream) -> ast.Cond | ast.Expr:
    items = [_and(ts)]
    while ts.at_kw("OR"):
        ts.next()
        items.append(_and(ts))
    return items[0] if len(items) == 1 else ast.Or(tuple(_as_cond(i, ts) for i in items))


def _and(ts: TokenStream) -> ast.Cond | ast.Expr:
    items = [_not(ts)]
    while ts.at_kw("AND"):
        ts.next()
        items.append(_not(ts))
    return items[0] if len(items) == 1 else ast.And(tuple(_as_cond(i, ts) for i in items))


def _as_cond(node: object, ts: TokenStream) -> ast.Cond:
    if not isinstance(node, _CONDITIONS):
        raise bad(f"Expected a condition but found an expression near token {_here(ts)}")
    return node  # type: ignore[return-value]


def _not(ts: TokenStream) -> ast.Cond | ast.Expr:
    if ts.at_kw("NOT"):
        ts.next()
        with ts.nested():
            return ast.Not(_as_cond(_not(ts), ts))
    return _predicate(ts)


def _predicate(ts: TokenStream) -> ast.Cond | ast.Expr:
    t = ts.peek()
    if t is not None and t.type is T.NAME and t.value.upper() == "EXISTS" and _subquery_follows(ts, 1):
        ts.next()
        return ast.Exists(_subquery(ts))
    left = _additive(ts)
    negated = False
    if ts.at_kw("NOT") and (ts.peek(1) is not None and (ts.peek(1).is_kw("IN", "BETWEEN", "MEMBER")
                                                        or ts.peek(1).value == "LIKE")):
        ts.next()
        negated = True
    t = ts.peek()
    if t is None:
        return left
    if t.type is T.COMPOP and t.value == "LIKE":
        ts.next()
        pattern = _operand(ts)
        escape = None
        if ts.at_kw("ESCAPE"):
            ts.next()
            escape = _operand(ts)
        return ast.Like(_expect_expr(left, ts), pattern, escape, negated)
    if t.type is T.COMPOP and not negated:
        ts.next()
        return ast.Compare(t.value, _expect_expr(left, ts), _operand(ts))
    if t.is_kw("IN"):
        ts.next()
        if _subquery_follows(ts, 0):
            return ast.In(_expect_expr(left, ts), _subquery(ts), negated)
        ts.take(T.OPENPAREN)
        items = [_operand(ts)]
        while ts.at(T.COMMA):
            ts.next()
            items.append(_operand(ts))
        ts.take(T.CLOSEPAREN)
        return ast.In(_expect_expr(left, ts), tuple(items), negated)
    if t.is_kw("BETWEEN"):
        ts.next()
        low = _operand(ts)
        ts.take_kw("AND")
        return ast.Between(_expect_expr(left, ts), low, _operand(ts), negated)
    if t.is_kw("MEMBER"):
        ts.next()
        of = ts.peek()
        if of is not None and of.type is T.NAME and of.value.upper() == "OF":
            ts.next()
        return ast.MemberOf(_expect_expr(left, ts), _path(ts.take(T.NAME)), negated)
    if t.is_kw("IS") and not negated:
        ts.next()
        is_not = ts.accept_kw("NOT")
        if ts.at_kw("EMPTY"):
            ts.next()
            if not isinstance(left, ast.Path):
                raise bad("IS EMPTY needs a collection path")
            return ast.IsEmpty(left, is_not)
        ts.take_kw("NULL", "EMPTY")
        return ast.IsNull(_expect_expr(left, ts), is_not)
    if negated:
        ts.fail("IN", "BETWEEN", "LIKE", "MEMBER")
    return left


def _operand(ts: TokenStream) -> ast.Expr:
    return _expect_expr(_additive(ts), ts)


def _additive(ts: TokenStream) -> ast.Cond | ast.Expr:
    node = _multiplicative(ts)
    while ts.at(T.PLUS, T.MINUS):
        op = ts.next().value
        node = ast.Arithmetic(op, _expect_expr(node, ts), _expect_expr(_multiplicative(ts), ts))
    return node


def _multiplicative(ts: TokenStream) -> ast.Cond | ast.Expr:
    node = _unary(ts)
    while ts.at(T.MULT, T.DIV):
        op = ts.next().value
        node = ast.Arithmetic(op, _expect_expr(node, ts), _expect_expr(_unary(ts), ts))
    return node


def _unary(ts: TokenStream) -> ast.Cond | ast.Expr:
    if ts.at(T.MINUS, T.PLUS):
        op = ts.next().value
        with ts.nested():
            operand = _expect_expr(_unary(ts), ts)
        if op == "+":
            return operand
        if isinstance(operand, ast.Literal) and type(operand.value) in (int, float):
            return ast.Literal(-operand.value)
        return ast.Negate(operand)
    return _primary(ts)


def _subquery_follows(ts: TokenStream, offset: int) -> bool:
    a, b = ts.peek(offset), ts.peek(offset + 1)
    return a is not None and a.type is T.OPENPAREN and b is not None and b.is_kw("SELECT")


def _subquery(ts: TokenStream) -> ast.Subquery:
    ts.take(T.OPENPAREN)
    with ts.nested():
        query = _query(ts, subquery=True)
    ts.take(T.CLOSEPAREN)
    return ast.Subquery(query)


def _primary(ts: TokenStream) -> ast.Cond | ast.Expr:
    t = ts.peek()
    if t is None:
        raise bad("Attempt to read beyond end")
    if t.type is T.OPENPAREN:
        if _subquery_follows(ts, 0):
            return _subquery(ts)
        ts.next()
        with ts.nested():
            node = _or(ts)
        ts.take(T.CLOSEPAREN)
        return node
    ts.next()
    if t.type is T.NAME:
        if t.value.startswith(ENUM_PREFIX):
            parts = t.value[len(ENUM_PREFIX):].split(".")
            if len(parts) != 2 or not all(parts):
                raise bad(f"Enum literal {t.value} must contain exactly 4 parts")
            return ast.EnumLiteral(parts[0], parts[1])
        if ts.at(T.OPENPAREN):
            raise bad(f"Unknown function {t.value}")
        return _path(t)
    if t.type is T.STRING:
        return ast.Literal(t.value)
    if t.type is T.INTEGER:
        return ast.Literal(int(t.value))
    if t.type is T.REAL:
        try:
            return ast.Literal(float(t.value))
        except ValueError:
            raise bad(f"Bad number {t.value}") from None
    if t.type is T.TIMESTAMP:
        return ast.Literal(timestamp(t.value))
    if t.type is T.PARAMETER:
        return ast.Parameter(t.value[1:])
    if t.type is T.KEYWORD:
        if t.value in ("TRUE", "FALSE"):
            return ast.Literal(t.value == "TRUE")
        if t.value == "NULL":
            return ast.Literal(None)
        if t.value in ("CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"):
            return ast.Current(t.value)
        if t.value in _AGGREGATES:
            return _aggregate(ts, t.value)
        if t.value == "OBJECT":
            ts.take(T.OPENPAREN)
            path = _path(ts.take(T.NAME))
            ts.take(T.CLOSEPAREN)
            return path
        if t.value in _FUNCTIONS or t.value in ("CONCAT", "SUBSTRING", "LOCATE", "TRIM"):
            return _function(ts, t.value)
    ts.pos -= 1
    ts.fail("NAME", "STRING", "INTEGER", "REAL", "PARAMETER", "TIMESTAMP", "(")
    raise AssertionError("unreachable")


def timestamp(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise bad(f"Timestamp {{ts {text}}} is not a valid date") from None


def _aggregate(ts: TokenStream, name: str) -> ast.Aggregate:
    ts.take(T.OPENPAREN)
    with ts.nested():
        distinct = ts.accept_kw("DISTINCT")
        arg = _scalar(ts)
    ts.take(T.CLOSEPAREN)
    return ast.Aggregate(name, distinct, arg)


def _function(ts: TokenStream, name: str) -> ast.Function:
    ts.take(T.OPENPAREN)
    trim_spec = None
    with ts.nested():
        if name == "TRIM":
            args = _trim_args(ts)
            trim_spec = args[0]
            args = args[1:]
        else:
            args = [_scalar(ts)]
            while ts.at(T.COMMA):
                ts.next()
                args.append(_scalar(ts))
    ts.take(T.CLOSEPAREN)
    expected = _FUNCTIONS.get(name)
    if expected is not None and len(args) != expected:
        raise bad(f"{name} takes {expected} argument{'s' if expected > 1 else ''}")
    if name == "CONCAT" and len(args) < 2:
        raise bad("CONCAT takes at least 2 arguments")
    if name in ("SUBSTRING", "LOCATE") and len(args) not in (2, 3):
        raise bad(f"{name} takes 2 or 3 arguments")
    return ast.Function(name, tuple(args), trim_spec)  # type: ignore[arg-type]


def _trim_args(ts: TokenStream) -> list:
    """``TRIM([[LEADING|TRAILING|BOTH] [char] FROM] s)`` → [spec, (char,) s]."""
    spec = None
    if ts.at_kw("LEADING", "TRAILING", "BOTH"):
        spec = ts.next().value
    char = None
    if not ts.at_kw("FROM"):
        char = _scalar(ts)
    if spec is None and char is not None and not ts.at_kw("FROM"):
        return ["BOTH", char]  # plain TRIM(s)
    ts.take_kw("FROM")
    value = _scalar(ts)
    return [spec or "BOTH"] + ([char] if char is not None else []) + [value]
