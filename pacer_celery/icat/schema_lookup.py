"""suds, as python-icat uses it, with its schema lookups remembered.

To write or read each XML element of a SOAP message, suds looks up the element's schema
type with ``SchemaObject.get_child(name)``, which lists every child of the parent type
(through its base types) and scans them; to write each object it also lists its type's
children again for their order (``Typed.ordering``). That is for every element of every
bean: for a ``createMany`` of 500 datafiles, most of suds' time (about 1 ms a bean), and a
good part of parsing a search's result.

The answers depend only on the schema, which does not change once the WSDL is loaded:
both are called only while marshalling and unmarshalling messages, never while the schema
is built. So each schema object remembers its answers. The messages are the same, only
made faster (about 3 times for a ``createMany``).
"""

from __future__ import annotations

from typing import Any

from suds.mx.literal import Typed
from suds.xsd.sxbase import SchemaObject

_looked_up = SchemaObject.get_child
_listed = Typed.ordering


def _remembered_child(self: SchemaObject, name: str) -> tuple[Any, list[Any]]:
    # Kept in the schema object itself: it lives and dies with its client's schema.
    known = self.__dict__.setdefault("_pacer_children", {})
    if name not in known:
        known[name] = _looked_up(self, name)
    return known[name]


def _remembered_ordering(self: Typed, type: SchemaObject) -> list[str]:
    # suds only reads the list it gets (to sort an object's elements): one can be shared.
    if "_pacer_ordering" not in type.__dict__:
        type.__dict__["_pacer_ordering"] = _listed(self, type)
    return type.__dict__["_pacer_ordering"]


def install() -> None:
    """Make suds remember its schema lookups, in this process (idempotent)."""
    SchemaObject.get_child = _remembered_child
    Typed.ordering = _remembered_ordering
