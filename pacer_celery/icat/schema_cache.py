"""suds, as python-icat uses it, finding a schema element's child without a tree walk.

To write each element of a request (each attribute of each bean), suds asks the
element's type for its child of that name, and ``SchemaObject.get_child`` answers by
walking the type's whole content, its base types' included, every time. For a
createMany of ten datafiles that is some thousands of walks, and it was a third of the
CPU PACER's worker spent on a dataset message.

The schema is read once, when the client is made, and never changes after: the answer
for a (type, name) pair is always the same, so it is remembered on the type.
"""

from __future__ import annotations

from typing import Any

from suds.xsd.sxbase import SchemaObject

_walk = SchemaObject.get_child


def _get_child(self: SchemaObject, name: str) -> tuple[Any, Any]:
    try:
        known = self.__dict__["_pacer_children"]
    except KeyError:
        known = self.__dict__["_pacer_children"] = {}
    found = known.get(name)
    if found is None:
        found = known[name] = _walk(self, name)
    return found


def install() -> None:
    """Remember suds' child look-ups, in this process (idempotent)."""
    SchemaObject.get_child = _get_child
