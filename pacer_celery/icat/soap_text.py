"""suds, as python-icat uses it, sending every character of a value exactly.

suds escapes the text of a SOAP request with its pluggable ``suds.sax.encoder``, whose
default leaves ``&amp;``, ``&lt;``, ``&gt;``, ``&quot;`` and ``&apos;`` as they are, taking
them for escapes already made. A dataset described as ``R&amp;D`` goes out as
``<description>R&amp;D</description>``, and any XML parser (ICAT's JAXB as much as the
testbox's) reads ``R&D``: the producer's text, decoded once too often. suds also sends a
carriage return as it is, and XML parsers must turn every CR and CR LF into LF (XML 1.0,
section 2.11 "End-of-Line Handling"), so ICAT would store ``a\\nb`` for ``a\\r\\nb``.

This encoder escapes every ``&``, ``<`` and ``>`` (and quotes, which suds also writes into
attribute values) and writes a carriage return as the reference ``&#13;``, which parsers
keep as CR. Responses are unaffected: suds reads them with a standard parser.
"""

from __future__ import annotations

import re

import suds.sax
from suds.sax.enc import Encoder

_SPECIAL = re.compile("[&<>\"'\r]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "\r": "&#13;"})


class ExactEncoder(Encoder):
    """suds' encoder, escaping every special character whatever follows it."""

    def encode(self, s: object) -> object:
        if isinstance(s, str) and _SPECIAL.search(s):
            return s.translate(_ESCAPES)
        return s


def install() -> None:
    """Make suds send text exactly, in this process (idempotent)."""
    suds.sax.encoder = ExactEncoder()
