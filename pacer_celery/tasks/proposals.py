"""``proposal-update``: an Investigation (one visit of a proposal), its instruments, its
team and the team's access, as four idempotent steps run in this order.

An investigation the first step created has no instruments, team or access link yet:
the later steps create theirs without searching for rows that cannot exist
(``create_new``; a step run again after its worker died finds them and compares).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import icat

from pacer_celery.errors import TransientError
from pacer_celery.icat import reference
from pacer_celery.icat.beans import BeanMaker, new
from pacer_celery.icat.changes import create_new, reference_to, update_changed
from pacer_celery.icat.query import search, search_in, search_one
from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.tasks.users import icat_user_name
from pacer_celery.worker import step

#: The role of the InvestigationGroup that links a visit to its team's grouping.
PARTICIPANT = "participant"


@step("proposals.upsert_investigation")
def upsert_investigation(message: ProposalMessage, client: icat.Client) -> dict[str, Any]:
    """The Investigation (facility, proposal, visit) exists with the message's values.

    Every instrument the message names is checked first: a message that can never be
    ingested changes nothing in ICAT.
    """
    facility = reference.facility(client)
    _instruments(client, message)
    wanted = {
        "title": message.title,
        "summary": message.abstract,
        "type": reference_to(client, reference.investigation_type(client, message.type)),
        "startDate": message.start_date,
        "endDate": message.end_date,
        "releaseDate": message.release_date or _default_release(facility, message),
        "doi": message.doi,
    }
    investigation = find_investigation(client, message)
    if investigation is None:
        investigation = new(
            client, "Investigation", facility=reference_to(client, facility), name=message.proposal,
            visitId=message.visit, **wanted,
        )
        investigation.create()
        created, changed = True, sorted(wanted)
    else:
        created, changed = False, update_changed(investigation, wanted)
    return {
        "investigation": f"{message.proposal}/{message.visit}",
        "investigation_id": investigation.id,
        "created": created,
        "changed": changed,
        "ignored_fields": message.ignored_fields,
    }


@step("proposals.sync_instruments")
def sync_instruments(
    message: ProposalMessage, client: icat.Client, earlier: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """InvestigationInstrument rows are exactly the message's instruments."""
    wanted = _instruments(client, message)
    investigation = _investigation(client, message, earlier)

    def link(instrument: Any) -> Any:
        return new(client, "InvestigationInstrument", investigation=investigation, instrument=reference_to(client, instrument))

    if _created(earlier) and create_new(client, [link(instrument) for instrument in wanted.values()]):
        return {"added": sorted(wanted), "removed": []}
    rows = search(
        client, "InvestigationInstrument", where={"investigation.id": investigation.id}, includes=["instrument"]
    )
    present = {row.instrument.name for row in rows}
    extra = [row for row in rows if row.instrument.name not in wanted]
    _replace_rows(client, [link(instrument) for name, instrument in wanted.items() if name not in present], extra)
    return {"added": sorted(wanted.keys() - present), "removed": sorted(str(r.instrument.name) for r in extra)}


@step("proposals.sync_team")
def sync_team(
    message: ProposalMessage, client: icat.Client, earlier: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """InvestigationUser rows are exactly the team's (user, role) pairs."""
    investigation = _investigation(client, message, earlier)
    users = ensure_users(client, message)
    wanted = {(icat_user_name(m.username), m.role.value) for m in message.team}

    def member(name: str, role: str) -> Any:
        return new(client, "InvestigationUser", investigation=investigation, user=reference_to(client, users[name]), role=role)

    present: set[tuple[str, str]] = set()
    extra: list[Any] = []
    if not (_created(earlier) and create_new(client, [member(name, role) for name, role in sorted(wanted)])):
        rows = search(client, "InvestigationUser", where={"investigation.id": investigation.id}, includes=["user"])
        present = {(row.user.name, row.role) for row in rows}
        extra = [row for row in rows if (row.user.name, row.role) not in wanted]
        _replace_rows(client, [member(name, role) for name, role in sorted(wanted - present)], extra)
    return {
        "added": [f"{name} as {role}" for name, role in sorted(wanted - present)],
        "removed": sorted(f"{r.user.name} as {r.role}" for r in extra),
        # For sync_access: the team's users need not be looked up twice.
        "user_ids": {name: user.id for name, user in users.items()},
    }


@step("proposals.sync_access")
def sync_access(
    message: ProposalMessage, client: icat.Client, earlier: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The visit's Grouping, linked to it as participant, has exactly the team as members
    (nobody, once the proposal is cancelled)."""
    investigation = _investigation(client, message, earlier)
    users = _team_users(client, message, earlier) if message.status == "scheduled" else {}
    if _created(earlier):
        # A new visit's grouping, its link and its members: one create.
        grouping = new(client, "Grouping", name=message.grouping_name)
        grouping.investigationGroups = [new(client, "InvestigationGroup", investigation=investigation, role=PARTICIPANT)]
        grouping.userGroups = [new(client, "UserGroup", user=reference_to(client, user)) for user in users.values()]
        if create_new(client, [grouping]):
            return {"grouping": message.grouping_name, "added": sorted(users), "removed": []}
    grouping = _ensure(client, "Grouping", {"name": message.grouping_name})
    link = {"investigation": investigation, "grouping": reference_to(client, grouping), "role": PARTICIPANT}
    where = {"investigation.id": investigation.id, "grouping.id": grouping.id, "role": PARTICIPANT}
    _ensure(client, "InvestigationGroup", where, **link)
    rows = search(client, "UserGroup", where={"grouping.id": grouping.id}, includes=["user"])
    present = {row.user.name for row in rows}
    extra = [row for row in rows if row.user.name not in users]
    in_grouping = reference_to(client, grouping)
    missing = [
        new(client, "UserGroup", grouping=in_grouping, user=reference_to(client, user))
        for name, user in users.items()
        if name not in present
    ]
    _replace_rows(client, missing, extra)
    return {
        "grouping": message.grouping_name,
        "added": sorted(str(name) for name in users.keys() - present),
        "removed": sorted(str(r.user.name) for r in extra),
    }


def _instruments(client: icat.Client, message: ProposalMessage) -> dict[str, Any]:
    """The message's instruments by name; PermanentError for the first unknown one."""
    return {name: reference.instrument(client, name) for name in dict.fromkeys(message.instruments)}


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
    missing = [new(client, "User", name=name, fullName=full_names[name]) for name in full_names if name not in users]
    if missing:
        for user, user_id in zip(missing, client.createMany(missing), strict=True):
            user.id = user_id
            users[user.name] = user
    return users


def _team_users(client: icat.Client, message: ProposalMessage, earlier: Mapping[str, Any] | None) -> dict[str, Any]:
    """The team's Users by name: as sync_team found or made them, else ``ensure_users``."""
    known = ((earlier or {}).get("proposals.sync_team") or {}).get("user_ids")
    names = {icat_user_name(member.username) for member in message.team}
    if isinstance(known, Mapping) and names <= known.keys():
        make = BeanMaker(client, "User")
        return {name: make(id=known[name], name=name) for name in sorted(names)}
    return ensure_users(client, message)


def _created(earlier: Mapping[str, Any] | None) -> bool:
    """Whether the first step of this message created the investigation."""
    found = (earlier or {}).get("proposals.upsert_investigation") or {}
    return found.get("created") is True


def _investigation(client: icat.Client, message: ProposalMessage, earlier: Mapping[str, Any] | None) -> Any:
    """The visit's Investigation as an id-only bean (what relations to it need): by the id
    the first step found, else looked up."""
    found = (earlier or {}).get("proposals.upsert_investigation") or {}
    if isinstance(found.get("investigation_id"), int):
        return BeanMaker(client, "Investigation")(id=found["investigation_id"])
    investigation = find_investigation(client, message)
    if investigation is None:
        # Step 1 creates it; only a concurrent delete gets here. A retry settles it.
        raise TransientError(f"investigation {message.proposal}/{message.visit} not found")
    return reference_to(client, investigation)


def _ensure(client: icat.Client, entity: str, where: dict[str, Any], **attributes: Any) -> Any:
    """The object matching ``where``, created (from ``where`` or ``attributes``) if missing."""
    found = search_one(client, entity, where=where)
    if found is not None:
        return found
    obj = new(client, entity, **(attributes or where))
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

