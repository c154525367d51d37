"""Tokenizers for ICAT's two query syntaxes.

Both follow icat.server's hand-written tokenizers (``core/parser/Tokenizer`` and
``core/oldparser/OldTokenizer``): the only whitespace is the space character, names may
contain dots (so ``o.investigation.name`` is one token), ``LIKE`` is a comparison operator
and keywords are recognised case-insensitively. The concise ("old") syntax adds ``[``,
``]`` and ``<->`` and knows far fewer keywords.

One deliberate difference: a minus sign is always its own token. ICAT glues it to a
following number and relies on the JPQL layer to re-split ``o.x -1``; the parser here
handles unary minus itself, which gives the same results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from testbox.errors import IcatError

#: Queries longer than this are refused before any work is done.
MAX_QUERY_LENGTH = 1_000_000


class T(Enum):
    """Token types. Keywords are their own types so the parser can match on them."""

    STRING = "STRING"
    NAME = "NAME"
    INTEGER = "INTEGER"
    REAL = "REAL"
    PARAMETER = "PARAMETER"
    TIMESTAMP = "TIMESTAMP"
    OPENPAREN = "("
    CLOSEPAREN = ")"
    COMMA = ","
    COMPOP = ">, <, !=, =, <>, >=, <="
    PLUS = "PLUS"
    MINUS = "MINUS"
    MULT = "MULT"
    DIV = "DIV"
    # concise syntax only
    BRA = "BRA"
    KET = "KET"
    ENTSEP = "ENTSEP"
    KEYWORD = "KEYWORD"


#: Keywords of the JPQL-style syntax (icat.server's Tokenizer.keyWords).
KEYWORDS = frozenset(
    """ABS ALL AND ANY AS ASC AVG BETWEEN BOTH BY CONCAT COUNT CURRENT_DATE CURRENT_TIME
    CURRENT_TIMESTAMP DESC DISTINCT DIV EMPTY ESCAPE FALSE FETCH FROM GROUP HAVING IN INCLUDE
    INNER IS JOIN LEADING LEFT LENGTH LIMIT LOCATE LOWER MAX MEMBER MIN MINUS MOD MULT NOT NULL
    OBJECT OR ORDER OUTER PLUS REAL SELECT SIZE SQRT SUBSTRING SUM TIMESTAMP TRAILING TRIM TRUE
    UPPER WHERE""".split()
)

#: Keywords of the concise syntax (OldTokenizer: boolops, keyWords and functions).
CONCISE_KEYWORDS = frozenset(
    "AND OR NOT DISTINCT ORDER BY ASC DESC IN BETWEEN INCLUDE MIN MAX AVG COUNT SUM".split()
)


@dataclass(frozen=True)
class Token:
    type: T
    #: The keyword in upper case, the operator, the string's content (quotes removed),
    #: the number's text or the name as written.
    value: str
    pos: int

    def is_kw(self, *words: str) -> bool:
        return self.type is T.KEYWORD and self.value in words


_TIMESTAMP = re.compile(r"\{\s*ts\s+(\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2})\s*\}")
_NUMBER = re.compile(r"\d+(?:(\.\d*)?(?:[eE][+-]?\d+)?)")
_SINGLE = {"(": T.OPENPAREN, ")": T.CLOSEPAREN, ",": T.COMMA, "+": T.PLUS, "-": T.MINUS,
           "*": T.MULT, "/": T.DIV}


def _is_name_start(ch: str, concise: bool) -> bool:
    return ch.isalpha() or (not concise and ch in "$_")


def _is_name_part(ch: str, concise: bool) -> bool:
    return ch.isalnum() or ch in "_." or (not concise and ch == "$")


def tokenize(text: str, *, concise: bool = False) -> list[Token]:
    """Split a query into tokens; raise BAD_PARAMETER on anything ICAT would refuse."""
    if len(text) > MAX_QUERY_LENGTH:
        raise IcatError("BAD_PARAMETER", f"query longer than {MAX_QUERY_LENGTH} characters")
    keywords = CONCISE_KEYWORDS if concise else KEYWORDS
    singles = dict(_SINGLE)
    if concise:
        # The old syntax has no arithmetic; '-' only ever starts a (negative) integer.
        for ch in "+-*/":
            del singles[ch]
        singles.update({"[": T.BRA, "]": T.KET})
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        start = i
        if ch == " ":
            i += 1
        elif _is_name_start(ch, concise):
            while i < n and _is_name_part(text[i], concise):
                i += 1
            name = text[start:i]
            upper = name.upper()
            if upper == "LIKE":
                tokens.append(Token(T.COMPOP, "LIKE", start))
            elif upper in keywords:
                tokens.append(Token(T.KEYWORD, upper, start))
            else:
                tokens.append(Token(T.NAME, name, start))
        elif ch.isdigit() or (concise and ch == "-" and text[i + 1:i + 2].isdigit()):
            m = _NUMBER.match(text, i + (ch == "-"))
            assert m is not None  # a digit is always a number
            i = m.end()
            number = text[start:i]
            if i < n and (text[i].isalnum() or text[i] in "._"):
                _unexpected(text, i, "number")
            kind = T.REAL if any(c in number for c in ".eE") else T.INTEGER
            tokens.append(Token(kind, number, start))
        elif ch == "'":
            i += 1
            parts = []
            while True:
                end = text.find("'", i)
                if end < 0:
                    _unexpected(text, n, "INQUOTES")
                parts.append(text[i:end])
                if text[end + 1:end + 2] == "'":
                    parts.append("'")
                    i = end + 2
                else:
                    i = end + 1
                    break
            tokens.append(Token(T.STRING, "".join(parts), start))
        elif ch == ":":
            i += 1
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            tokens.append(Token(T.PARAMETER, text[start:i], start))
        elif ch == "{":
            end = text.find("}", i)
            m = _TIMESTAMP.fullmatch(text, i, end + 1) if end >= 0 else None
            if m is None:
                shown = text[i:end + 1 if 0 <= end < i + 60 else i + 60]
                raise IcatError("BAD_PARAMETER",
                                f"Timestamp {shown} is not of form {{ts yyyy-mm-dd hh:mm:ss}}.")
            tokens.append(Token(T.TIMESTAMP, f"{m.group(1)} {m.group(2)}", start))
            i = end + 1
        elif ch in "<>!=":
            two = text[i:i + 2]
            if concise and text[i:i + 3] == "<->":
                tokens.append(Token(T.ENTSEP, "<->", start))
                i += 3
            elif two in ("<>", "<=", ">=", "!="):
                tokens.append(Token(T.COMPOP, two, start))
                i += 2
            elif ch == "!":
                _unexpected(text, i + 1, "NOT")
            else:
                tokens.append(Token(T.COMPOP, ch, start))
                i += 1
        elif ch in singles:
            tokens.append(Token(singles[ch], ch, start))
            i += 1
        else:
            _unexpected(text, i, "NONE")
    return tokens


def _unexpected(text: str, i: int, state: str) -> None:
    # ICAT echoes the whole query; cap it so hostile input cannot bloat the fault.
    shown = text if len(text) <= 200 else text[:200] + "..."
    if i >= len(text):
        raise IcatError("BAD_PARAMETER", f"Unexpected end of string in state {state} for string: {shown}")
    near = text[max(0, i - 4):i + 5]
    raise IcatError("BAD_PARAMETER",
                    f"Unexpected character '{text[i]}' near \"{near}\" in state {state} for string: {shown}")
