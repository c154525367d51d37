"""``proposal-update``: an Investigation (one visit of a proposal), its instruments, its
team and the team's access, as four idempotent steps run in this order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import icat

from pacer_celery.errors import TransientError
from pacer_celery.icat import reference
from pacer_celery.icat.changes import update_changed
from pacer_celery.icat.errors import icat_errors
from pacer_celery.icat.query import search, search_in, search_one
from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.steps import step
from pacer_celery.tasks.users import icat_user_name

#: The role of the InvestigationGroup that links a visit to its team's grouping.
PARTICIPANT = "participant"


@step("proposals.upsert_investigation")
@icat_errors
def upsert_investigation(message: ProposalMessage, icat: icat.Client) -> dict[str, Any]:
    """The Investigation (facility, proposal, visit) exists with the message's values."""
    facility = reference.facility(icat)
    wanted = {
        "title": message.title,
        "summary": message.abstract,
        "type": reference.investigation_type(icat, message.type),
        "startDate": message.start_date,
        "endDate": message.end_date,
        "releaseDate": message.release_date or _default_release(facility, message),
        "doi": message.doi,
    }
    investigation = find_investigation(icat, message)
    if investigation is None:
        icat.new(
            "Investigation", facility=facility, name=message.proposal, visitId=message.visit, **wanted
        ).create()
        created, changed = True, sorted(wanted)
    else:
        created, changed = False, update_changed(investigation, wanted)
    return {
        "investigation": f"{message.proposal}/{message.visit}",
        "created": created,
        "changed": changed,
        "ignored_fields": message.ignored_fields,
    }


@step("proposals.sync_instruments")
@icat_errors
def sync_instruments(message: ProposalMessage, icat: icat.Client) -> dict[str, Any]:
    """InvestigationInstrument rows are exactly the message's instruments."""
    # Every name is checked before anything changes: an unknown one changes nothing.
    wanted = {name: reference.instrument(icat, name) for name in dict.fromkeys(message.instruments)}
    investigation = _required_investigation(icat, message)
    rows = search(
        icat, "InvestigationInstrument", where={"investigation.id": investigation.id}, includes=["instrument"]
    )
    present = {row.instrument.name for row in rows}
    extra = [row for row in rows if row.instrument.name not in wanted]
    missing = [
        icat.new("InvestigationInstrument", investigation=investigation, instrument=instrument)
        for name, instrument in wanted.items()
        if name not in present
    ]
    _replace_rows(icat, missing, extra)
    return {"added": sorted(wanted.keys() - present), "removed": sorted(str(r.instrument.name) for r in extra)}


@step("proposals.sync_team")
@icat_errors
def sync_team(message: ProposalMessage, icat: icat.Client) -> dict[str, Any]:
    """InvestigationUser rows are exactly the team's (user, role) pairs."""
    investigation = _required_investigation(icat, message)
    users = ensure_users(icat, message)
    wanted = {(icat_user_name(m.username), m.role.value) for m in message.team}
    rows = search(icat, "InvestigationUser", where={"investigation.id": investigation.id}, includes=["user"])
    present = {(row.user.name, row.role) for row in rows}
    extra = [row for row in rows if (row.user.name, row.role) not in wanted]
    missing = [
        icat.new("InvestigationUser", investigation=investigation, user=users[name], role=role)
        for name, role in sorted(wanted - present)
    ]
    _replace_rows(icat, missing, extra)
    return {
        "added": [f"{name} as {role}" for name, role in sorted(wanted - present)],
        "removed": sorted(f"{r.user.name} as {r.role}" for r in extra),
    }


@step("proposals.sync_access")
@icat_errors
def sync_access(message: ProposalMessage, icat: icat.Client) -> dict[str, Any]:
    """The visit's Grouping, linked to it as participant, has exactly the team as members
    (nobody, once the proposal is cancelled)."""
    investigation = _required_investigation(icat, message)
    grouping = _ensure(icat, "Grouping", {"name": message.grouping_name})
    _ensure(
        icat,
        "InvestigationGroup",
        {"investigation.id": investigation.id, "grouping.id": grouping.id, "role": PARTICIPANT},
        investigation=investigation,
        grouping=grouping,
        role=PARTICIPANT,
    )
    users = ensure_users(icat, message) if message.status == "scheduled" else {}
    rows = search(icat, "UserGroup", where={"grouping.id": grouping.id}, includes=["user"])
    present = {row.user.name for row in rows}
    extra = [row for row in rows if row.user.name not in users]
    missing = [icat.new("UserGroup", grouping=grouping, user=user) for name, user in users.items() if name not in present]
    _replace_rows(icat, missing, extra)
    return {
        "grouping": message.grouping_name,
        "added": sorted(str(name) for name in users.keys() - present),
        "removed": sorted(str(r.user.name) for r in extra),
    }


def find_investigation(client: icat.Client, message: ProposalMessage) -> Any | None:
    facility = reference.facility(client)
    return search_one(
        client,
        "Investigation",
        where={"facility.id": facility.id, "name": message.proposal, "visitId": message.visit},
        includes="1",
    )


def ensure_users(client: icat.Client, message: ProposalMessage) -> dict[str, Any]:
    """The team's ICAT Users by name, creating the missing ones (a user-update completes them).

    An existing User is left as it is: the User Office System's profile is authoritative.
    """
    full_names = {}
    for member in message.team:
        full_names.setdefault(icat_user_name(member.username), member.full_name)
    users = {user.name: user for user in search_in(client, "User", "name", full_names)}
    missing = [client.new("User", name=name, fullName=full_names[name]) for name in full_names if name not in users]
    if missing:
        for user, user_id in zip(missing, client.createMany(missing), strict=True):
            user.id = user_id
            users[user.name] = user
    return users


def _required_investigation(client: icat.Client, message: ProposalMessage) -> Any:
    investigation = find_investigation(client, message)
    if investigation is None:
        # Step 1 creates it; only a concurrent delete gets here. A retry settles it.
        raise TransientError(f"investigation {message.proposal}/{message.visit} not found")
    return investigation


def _ensure(client: icat.Client, entity: str, where: dict[str, Any], **attributes: Any) -> Any:
    """The object matching ``where``, created (from ``where`` or ``attributes``) if missing."""
    found = search_one(client, entity, where=where)
    if found is not None:
        return found
    obj = client.new(entity, **(attributes or where))
    obj.create()
    return obj


def _replace_rows(client: icat.Client, create: list[Any], delete: Iterable[Any]) -> None:
    delete = list(delete)
    if delete:
        client.deleteMany(delete)
    if create:
        client.createMany(create)


def _default_release(facility: Any, message: ProposalMessage) -> Any:
    if facility.daysUntilRelease is None:
        return None
    return message.end_date + timedelta(days=facility.daysUntilRelease)

