"""ICAT's query language over the testbox's SQLite store.

``search(conn, query, user=..., max_entities=...)`` answers ICAT's ``search`` for both the
JPQL-style syntax and the older concise one; ``get(conn, query, id, user=...)`` answers
``get``. Modules: ``lexer`` (tokens), ``parser`` and ``concise`` (the two syntaxes to one
AST in ``ast``), ``compiler`` (AST to parameterised SQL), ``includes`` (batched loading of
INCLUDEd relations), ``values`` (literal and result conversions) and ``engine``.
"""

from testbox.query.engine import get, search

__all__ = ["get", "search"]
