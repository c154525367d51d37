"""Reference data the flows look up (the facility, its instruments, types and formats),
cached per process for ``PACER_ICAT_REFERENCE_TTL_SECONDS``.

A name not in the cache makes one reload before it counts as unknown: reference data
loaded a minute ago is found without waiting for the TTL. Unknown reference data is a
PermanentError: only ``pacer icat init-reference`` (or an ICAT admin) can fix it, and the
message can then be replayed from the dead letters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import icat

from pacer_celery.errors import PermanentError
from pacer_celery.icat.query import search, search_all
from pacer_celery.settings import get_settings

T = TypeVar("T")

#: The facility-owned reference entities, by what the flows call them.
KINDS = {
    "instrument": "Instrument",
    "investigation type": "InvestigationType",
    "dataset type": "DatasetType",
    "datafile format": "DatafileFormat",
    "parameter type": "ParameterType",
}


@dataclass(frozen=True)
class Snapshot:
    """The reference data of one facility as loaded at ``loaded_at``."""

    facility: Any
    by_kind: dict[str, list[Any]]
    loaded_at: float

    def named(self, kind: str, name: str) -> list[Any]:
        return [obj for obj in self.by_kind[kind] if obj.name == name]


_lock = threading.Lock()
#: (ICAT service URL, configured facility) → its snapshot.
_cache: dict[tuple[str, str | None], Snapshot] = {}


def clear() -> None:
    """Forget every snapshot (tests that change reference data behind PACER's back)."""
    with _lock:
        _cache.clear()


def facility(client: icat.Client) -> Any:
    return _snapshot(client).facility


def instrument(client: icat.Client, name: str) -> Any:
    return _one(client, "instrument", name)


def investigation_type(client: icat.Client, name: str) -> Any:
    return _one(client, "investigation type", name)


def dataset_type(client: icat.Client, name: str) -> Any:
    return _one(client, "dataset type", name)


def datafile_format(client: icat.Client, spec: str) -> Any:
    """The DatafileFormat ``name`` (when it has a single version) or ``name/version``."""

    def find(snapshot: Snapshot) -> Any | None:
        versions = snapshot.named("datafile format", spec)
        if len(versions) > 1:
            listed = ", ".join(sorted(f"{spec}/{v.version}" for v in versions))
            raise PermanentError(f"datafile format {spec!r} has several versions, name one of: {listed}")
        if versions:
            return versions[0]
        # Names may contain "/" themselves, so the version is only split off when the
        # whole text names no format.
        name, sep, version = spec.rpartition("/")
        if not sep:
            return None
        return next((f for f in snapshot.named("datafile format", name) if f.version == version), None)

    return _required(client, "datafile format", spec, find)


def parameter_type(client: icat.Client, name: str, units: str | None) -> Any | None:
    """The ParameterType (name, units), or by name alone when units are not given and
    the name is unique; None when ICAT has no such type (the caller decides if that is
    an error)."""

    def find(snapshot: Snapshot) -> Any | None:
        candidates = snapshot.named("parameter type", name)
        if units is not None:
            return next((t for t in candidates if t.units == units), None)
        if len(candidates) > 1:
            listed = ", ".join(sorted(repr(str(t.units)) for t in candidates))
            raise PermanentError(
                f"parameter {name!r} needs its units: ICAT has it in {listed}"
            )
        return candidates[0] if candidates else None

    return _found_or_reloaded(client, find)


def _one(client: icat.Client, kind: str, name: str) -> Any:
    def find(snapshot: Snapshot) -> Any | None:
        found = snapshot.named(kind, name)
        return found[0] if found else None

    return _required(client, kind, name, find)


def _required(client: icat.Client, kind: str, name: str, find: Callable[[Snapshot], T | None]) -> T:
    found = _found_or_reloaded(client, find)
    if found is None:
        snapshot = _snapshot(client)
        raise PermanentError(
            f"unknown {kind} {name!r} in facility {str(snapshot.facility.name)!r} "
            "(reference data: pacer icat init-reference)"
        )
    return found


def _found_or_reloaded(client: icat.Client, find: Callable[[Snapshot], T | None]) -> T | None:
    asked_at = time.monotonic()
    snapshot = _snapshot(client)
    found = find(snapshot)
    if found is None and snapshot.loaded_at < asked_at:
        # Maybe added since this snapshot was read: look again in one read after the
        # question was asked, so "unknown" is never a stale verdict. Reads stay at most
        # one a second, however many messages miss at once.
        time.sleep(max(0.0, snapshot.loaded_at + 1.0 - time.monotonic()))
        found = find(_snapshot(client, newer_than=asked_at))
    return found


def _snapshot(client: icat.Client, *, newer_than: float | None = None) -> Snapshot:
    configured = get_settings().icat_facility
    key = (client.url, configured)
    ttl = get_settings().icat_reference_ttl_seconds
    with _lock:
        cached = _cache.get(key)
        stale = newer_than is not None and cached is not None and cached.loaded_at < newer_than
        if stale or cached is None or time.monotonic() - cached.loaded_at > ttl:
            cached = _cache[key] = _load(client, configured)
        return cached


def _load(client: icat.Client, configured: str | None) -> Snapshot:
    if configured:
        facilities = search(client, "Facility", where={"name": configured})
        if not facilities:
            raise PermanentError(
                f"facility {configured!r} (PACER_ICAT_FACILITY) is not in ICAT "
                "(reference data: pacer icat init-reference)"
            )
    else:
        facilities = search(client, "Facility")
        if len(facilities) != 1:
            names = ", ".join(repr(str(f.name)) for f in facilities) or "none"
            raise PermanentError(
                f"PACER_ICAT_FACILITY is not set and ICAT has {len(facilities)} facilities ({names})"
            )
    (chosen,) = facilities
    by_kind = {
        kind: list(search_all(client, entity, where={"facility.id": chosen.id}))
        for kind, entity in KINDS.items()
    }
    return Snapshot(facility=chosen, by_kind=by_kind, loaded_at=time.monotonic())
