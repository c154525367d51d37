"""One hostile message must not take a bridge down: py-amqp's property decoding, guarded.

py-amqp decodes a message's properties (headers, message id, ...) while it reads the
frames off the socket, before kombu or PACER see the message. Headers nested thousands
deep exhaust the recursion limit there, and a ``message_id`` that is not UTF-8 raises
``UnicodeDecodeError``; either escapes from ``drain_events`` and ends the bridge, and as
the message stays in its queue, every restart ends the same way.

``install()`` wraps that decoding: when it fails, the message still arrives, with no
headers and the failure in the ``x-pacer-unreadable-properties`` property, and the
bridge dead-letters it with that reason (its body intact). The frame bookkeeping stays
right because the body size is read before the properties.
"""

from __future__ import annotations

import struct

from amqp.serialization import GenericContent

from pacer_celery.envelope import UNREADABLE_PROPERTIES

_load_properties = GenericContent._load_properties


def _guarded(self: GenericContent, class_id: int, buf: bytes, offset: int) -> int:
    try:
        return _load_properties(self, class_id, buf, offset)
    except (RecursionError, UnicodeDecodeError, ValueError, struct.error) as exc:
        self.properties = {"application_headers": {}, UNREADABLE_PROPERTIES: f"{type(exc).__name__}: {exc}"[:500]}
        return offset


def install() -> None:
    """Guard py-amqp's property decoding in this process (idempotent)."""
    GenericContent._load_properties = _guarded
