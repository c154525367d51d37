"""``user-update``: a User Office System profile becomes (or updates) an ICAT User."""

from __future__ import annotations

from typing import Any

import icat

from pacer_celery.icat.beans import new
from pacer_celery.icat.changes import update_changed
from pacer_celery.icat.query import search, search_one
from pacer_celery.models.users import UserMessage
from pacer_celery.settings import get_settings
from pacer_celery.worker import step

#: Groupings PACER manages, one per visit (see tasks.proposals); others are left alone.
MANAGED_GROUPING_PREFIX = "investigation_"

#: Message field → ICAT User attribute, for the fields copied as they are.
_COPIED = {
    "first_name": "givenName",
    "last_name": "familyName",
    "email": "email",
    "orcid": "orcidId",
    "affiliation": "affiliation",
}


def icat_user_name(username: str) -> str:
    """The ICAT name of a User Office System user: ``<authenticator mnemonic>/<username>``."""
    return f"{get_settings().icat_user_prefix}/{username}"


@step("users.update_user")
def update_user(message: UserMessage, client: icat.Client) -> dict[str, Any]:
    """The User exists with the message's profile; an inactive user loses PACER's access."""
    name = icat_user_name(message.username)
    user = search_one(client, "User", where={"name": name})
    wanted = _profile(message, user)
    if user is None:
        new(client, "User", name=name, **wanted).create()
        changed = sorted(wanted)
    else:
        changed = update_changed(user, wanted)
    removed = 0 if message.is_active else revoke_access(client, name)
    return {
        "user": name,
        "created": user is None,
        "changed": changed,
        "memberships_removed": removed,
        "ignored_fields": message.ignored_fields,
    }


def revoke_access(client: icat.Client, user_name: str) -> int:
    """Remove the user from every grouping PACER manages; returns how many memberships went.

    The User and its InvestigationUser rows stay: they are the history of who took part.
    """
    memberships = search(
        client,
        "UserGroup",
        where={"user.name": user_name},
        includes=["grouping"],
    )
    managed = [m for m in memberships if m.grouping.name.startswith(MANAGED_GROUPING_PREFIX)]
    if managed:
        client.deleteMany(managed)
    return len(managed)


def _profile(message: UserMessage, existing: Any | None) -> dict[str, Any]:
    """The User attributes the message sets: those of the fields it carries (null included)."""
    given = message.model_fields_set
    wanted = {attr: getattr(message, field) for field, attr in _COPIED.items() if field in given}
    if {"first_name", "last_name"} & given:
        # The full name follows the parts, completed from ICAT when only one part is sent.
        first = wanted.get("givenName", existing.givenName if existing else None)
        last = wanted.get("familyName", existing.familyName if existing else None)
        wanted["fullName"] = " ".join(part for part in (first, last) if part) or None
    return wanted
