"""The ``user-update`` message: a user profile as the User Office System publishes it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from pacer_celery.models.base import PacerModel, Timestamp
from pacer_celery.models.fields import OptionalText, blank_to_none

#: A User Office System login name; ICAT's user name is ``<prefix>/<username>``.
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"),
]

_ORCID_URL = re.compile(r"^https?://orcid\.org/", re.IGNORECASE)
_ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
# Deliberately simple: one @, no spaces, a dotted domain. Deliverability is not PACER's business.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _orcid_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    orcid = _ORCID_URL.sub("", value).upper()
    if not _ORCID.match(orcid):
        raise ValueError("not an ORCID iD (expected 0000-0000-0000-000X)")
    digits = orcid.replace("-", "")
    # ISO 7064 MOD 11-2 over the first 15 digits gives the last character.
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    if digits[-1] != ("X" if check == 10 else str(check)):
        raise ValueError(f"ORCID iD {orcid} has a wrong check digit")
    return orcid


def _email_or_none(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


Orcid = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True)] | None,
    BeforeValidator(blank_to_none),
    AfterValidator(_orcid_or_none),
]
Email = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None,
    BeforeValidator(blank_to_none),
    AfterValidator(_email_or_none),
]


class UserMessage(PacerModel):
    username: Username
    updated_at: Timestamp
    uos_id: int | None = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    email: Email = None
    orcid: Orcid = None
    affiliation: OptionalText = None
    is_active: bool = True
