"""Comparing what ICAT holds with what a message wants, so that steps write only what
differs: applying a message twice leaves ICAT (modTime included) as applying it once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import icat
from icat.entity import Entity
from icat.exception import ICATObjectExistsError

from pacer_celery.icat.beans import BeanMaker


def same(current: Any, wanted: Any) -> bool:
    """Whether ICAT's value equals the wanted one as ICAT would store it."""
    if isinstance(wanted, Entity):
        return current is not None and current.id == wanted.id
    if isinstance(wanted, datetime) and isinstance(current, datetime):
        # ICAT keeps milliseconds; a message may carry microseconds.
        return abs((current - wanted).total_seconds()) < 0.001
    if isinstance(wanted, bool):
        # ICAT may return an unset boolean as null: the same as false.
        return bool(current) == wanted
    if isinstance(wanted, float) and isinstance(current, (int, float)):
        return float(current) == wanted
    return current == wanted


def update_changed(obj: Entity, wanted: dict[str, Any]) -> list[str]:
    """Set the attributes that differ and update the object if any did; their names.

    ``obj`` must have been fetched with its ONE relations (``includes="1"``): ICAT's
    update sets every relation the bean does not carry to null.
    """
    changed = sorted(attr for attr, value in wanted.items() if not same(getattr(obj, attr), value))
    for attr in changed:
        setattr(obj, attr, wanted[attr])
    if changed:
        obj.update()
    return changed


def reference_to(client: icat.Client, obj: Entity) -> Entity:
    """An id-only bean standing for ``obj`` in a relation of a new or updated object.

    ICAT reads only the id of a related bean; sending the whole object (with what it
    includes) for each of thousands of datafiles would only cost marshalling time. For
    the same reason the bean has nothing but the id, not the empty attributes of a
    factory-built one (suds would still walk each, and write the required ones empty).
    """
    return BeanMaker(client, obj.BeanName)(id=obj.id)


def create_new(client: icat.Client, beans: list[Entity]) -> bool:
    """Create ``beans`` in one atomic call, expecting none to exist; False (and nothing
    created) when ICAT says some do: the caller then compares with what is there.

    For the objects of a parent this very message created: asking ICAT first which of
    them exist would cost a search that almost always finds nothing. A step run again
    (its worker died after the create) finds them all there.
    """
    if beans:
        try:
            client.createMany(beans)
        except ICATObjectExistsError:
            return False
    return True
