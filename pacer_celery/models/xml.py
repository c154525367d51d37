"""XML → dict for legacy producers, parsed as untrusted input.

No DTD is accepted at all (so no entity expansion, internal or external: a "billion
laughs" document fails at its DOCTYPE, before any entity is read).
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

import xmltodict

from pacer_celery.errors import InvalidMessage


class _NoDoctypeExpat:
    """The expat module as xmltodict uses it, but refusing documents with a DOCTYPE."""

    ExpatError = expat.ExpatError

    @staticmethod
    def ParserCreate(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - expat's API name
        parser = expat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        return parser


def _refuse_doctype(*_: Any) -> None:
    raise InvalidMessage("XML with a DOCTYPE is not accepted (no DTDs or entities)")


def parse_xml(body: bytes, *, force_list: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse an XML document into a dict; elements named in ``force_list`` are always lists."""
    try:
        return xmltodict.parse(
            body,
            expat=_NoDoctypeExpat,
            disable_entities=True,
            force_list=force_list,
        )
    except InvalidMessage:
        raise
    except (expat.ExpatError, ValueError) as exc:
        raise InvalidMessage(f"malformed XML: {exc}") from None
