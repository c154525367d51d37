"""Journal facts made readable: a message's timeline as events in order, errors as one
line, bodies as text that cannot pass for something else.

Escaping is the templates' (Jinja2 autoescape); this module makes hostile text harmless
to read: control and bidirectional-override characters, which could hide or reorder
what an operator sees, are shown as visible codes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pacer_celery.journal.search import Action, StepRun, Timeline

#: What a one-line reason has room for.
LINE_CHARS = 240
_INVISIBLE = re.compile(r"[^\S\n\t ]|[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def first_line(text: str | None) -> str:
    """The first non-empty line of ``text``, cut to fit a table cell."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    line = readable(lines[0]) if lines else ""
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def readable(text: str) -> str:
    """``text`` with control and direction-changing characters shown as ``<U+202E>``."""
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def visible(value: Any) -> str:
    """An identifier value, a step result's value: as text, one line."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return readable(" ".join(text.split()))


@dataclass(frozen=True)
class Body:
    text: str
    size: int
    shown_bytes: int
    pretty: bool

    @property
    def cut(self) -> bool:
        return self.shown_bytes < self.size


def body(data: bytes, size: int, content_type: str | None) -> Body:
    """A body as text: JSON indented when it is whole and parses, anything else as it is
    (bytes that are not UTF-8 replaced)."""
    text = data.decode("utf-8", "replace")
    pretty = False
    if len(data) == size and "json" in (content_type or "json"):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            pretty = True
        except (ValueError, RecursionError):
            pass
    return Body(readable(text), size, len(data), pretty)


@dataclass(frozen=True)
class Event:
    """One line of a message's timeline."""

    at: datetime | None
    what: str
    #: "step", "action" or "milestone": how the page shows it.
    kind: str
    step: StepRun | None = None
    action: Action | None = None


def events(found: Timeline) -> list[Event]:
    """Received, dispatched, each step run, each operator action and the end, in the
    order they happened (a replay's dispatch comes after the earlier runs' steps)."""
    m = found.message
    items = [Event(m["received_at"], "received", "milestone")]
    if m["dispatched_at"]:
        items.append(Event(m["dispatched_at"], f"dispatched (dispatch {m['dispatch']})", "milestone"))
    items += [Event(run.started_at, run.step, "step", step=run) for run in found.steps]
    items += [Event(a.at, a.action, "action", action=a) for a in found.actions]
    items.sort(key=lambda e: e.at)
    if m["finished_at"]:
        items.append(Event(m["finished_at"], ending(m), "milestone"))
    return items


def ending(message: dict[str, Any]) -> str:
    status = message["status"]
    if status == "superseded":
        return "superseded by a newer message about the same object"
    if status in ("dead-lettered", "invalid"):
        return f"{status} (dead letter {message['dead_letter_id'] or '-'})"
    return status


def seconds(value: float | None) -> str:
    if value is None:
        return "…"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
