"""XML → dict for legacy producers, parsed as untrusted input.

The document is always read as UTF-8 (the bodies' encoding by contract), whatever its XML
declaration says, and each of these is refused with its own reason:

- an XML declaration naming another encoding: the producer believes it sent something
  else, and reading its bytes as it declares would store mis-decoded text;
- a DOCTYPE: no DTD, so no entity declarations, internal or external (a "billion laughs"
  document fails at its DOCTYPE, before any entity is read; an undeclared ``&name;`` is
  malformed XML);
- processing instructions (``<?xml-stylesheet ...?>``): instructions to some application,
  which PACER would otherwise drop without a word;
- XInclude: a document declaring the XInclude namespace is refused, so nothing is ever
  fetched on its behalf and the producer learns its document was not read as it meant.

XML's own escapes (``&amp;``, ``&#38;``) are decoded once, as XML requires.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any
from xml.parsers import expat

import xmltodict

from pacer_celery.errors import InvalidMessage

XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _check_declaration(version: str, encoding: str | None, standalone: int) -> None:
    if encoding is not None and not _is_utf8(encoding):
        raise InvalidMessage(
            f"XML declares encoding {encoding[:40]!r}: message bodies are UTF-8 "
            "(declare encoding=\"UTF-8\" or no encoding)"
        )


def _refuse_doctype(*_: Any) -> None:
    raise InvalidMessage("XML with a DOCTYPE is not accepted (no DTDs or entities)")


def _refuse_instruction(target: str, _data: str) -> None:
    raise InvalidMessage(f"XML processing instructions are not accepted (<?{target[:40]} ...?>)")


def _refusing_xinclude(start: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """xmltodict's element handler, behind a check of the element's namespace declarations."""

    def start_element(name: str, attributes: Any) -> None:
        # xmltodict asks for ordered attributes: [name, value, name, value, ...].
        pairs = zip(attributes[::2], attributes[1::2]) if isinstance(attributes, list) else attributes.items()
        for key, value in pairs:
            if (key == "xmlns" or key.startswith("xmlns:")) and value.strip() in XINCLUDE_NAMESPACES:
                raise InvalidMessage(f"XInclude is not accepted (<{name[:40]}> declares {value.strip()})")
        start(name, attributes)

    return start_element


class _UntrustedParser:
    """An expat parser with PACER's refusals, as xmltodict configures and drives it."""

    def __init__(self, namespace_separator: str | None) -> None:
        # The encoding given here overrides the document's declaration: always UTF-8.
        parser = expat.ParserCreate("UTF-8", namespace_separator)
        parser.XmlDeclHandler = _check_declaration
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.ProcessingInstructionHandler = _refuse_instruction
        object.__setattr__(self, "_parser", parser)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "StartElementHandler":
            value = _refusing_xinclude(value)
        setattr(self._parser, name, value)


class _UntrustedExpat:
    """The expat module as xmltodict uses it, making untrusted parsers."""

    ExpatError = expat.ExpatError

    @staticmethod
    def ParserCreate(_encoding: str | None = None, namespace_separator: str | None = None) -> Any:  # noqa: N802 - expat's API name
        return _UntrustedParser(namespace_separator)


def parse_xml(body: bytes, *, force_list: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse a UTF-8 XML document into a dict; elements named in ``force_list`` are always lists."""
    try:
        return xmltodict.parse(
            body,
            expat=_UntrustedExpat,
            disable_entities=True,
            force_list=force_list,
        )
    except InvalidMessage:
        raise
    except (expat.ExpatError, ValueError) as exc:
        raise InvalidMessage(f"malformed XML: {exc}") from None
