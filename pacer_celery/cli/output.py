"""Output for people and for scripts: tables that fit the terminal, JSON, progress."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns as wide as their widest cell, the last one cut to the terminal's width."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    room = shutil.get_terminal_size((160, 24)).columns
    widths[-1] = max(10, min(widths[-1], room - sum(w + 2 for w in widths[:-1])))
    for row in [list(headers), *cells]:
        print("  ".join(_fit(v, w) for v, w in zip(row, widths, strict=True)).rstrip())


def as_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=_plain, ensure_ascii=False))


def progress(done: int, total: int | None, what: str) -> None:
    """A progress line on stderr (overwritten in place on a terminal)."""
    of = f"/{total}" if total else ""
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"{what}: {done}{of}", end=end, file=sys.stderr, flush=True)


def progress_done() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: max(1, width - 1)] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return when(value)
    return "-" if value is None or value == "" else " ".join(str(value).split())


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
