"""The ``user-update`` message: a user profile as the User Office System publishes it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, model_validator

from pacer_celery.models.base import PacerModel
from pacer_celery.models.fields import (
    ICAT_STRING,
    Flag,
    OptionalText,
    Timestamp,
    WholeNumber,
    java_length,
)

#: A User Office System login name; ICAT's user name is ``<prefix>/<username>``.
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"),
]

_ORCID_URL = re.compile(r"^https?://orcid\.org/", re.IGNORECASE)
# ASCII digits only: \d would take other scripts' digits (int() reads them too).
_ORCID = re.compile(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]")
# Deliberately simple: one @, no spaces, a dotted domain. Deliverability is not PACER's business.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _orcid_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    orcid = _ORCID_URL.sub("", value).upper()
    if not _ORCID.fullmatch(orcid):
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


Orcid = Annotated[OptionalText, AfterValidator(_orcid_or_none)]
Email = Annotated[OptionalText, AfterValidator(_email_or_none)]


class UserMessage(PacerModel):
    username: Username
    updated_at: Timestamp
    #: The User Office System's own id: recorded, not stored in ICAT.
    uos_id: WholeNumber | None = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    email: Email = None
    orcid: Orcid = None
    affiliation: OptionalText = None
    is_active: Flag = True

    @model_validator(mode="after")
    def _full_name_fits(self) -> UserMessage:
        # ICAT's fullName is "first last"; when only one part comes, the other is ICAT's
        # and can only be checked when the User is written.
        if self.first_name and self.last_name:
            units = java_length(f"{self.first_name} {self.last_name}")
            if units > ICAT_STRING:
                raise ValueError(
                    f"first_name and last_name make a full name of {units} characters as ICAT "
                    f"counts them (UTF-16 code units); ICAT's fullName holds {ICAT_STRING}"
                )
        return self
