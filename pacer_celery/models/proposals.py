"""The ``proposal-update`` message: an accepted or scheduled proposal and its team.

List limits (module constants): ``team`` at most MAX_TEAM members, ``instruments`` at most
MAX_INSTRUMENTS names. Beyond them a message is invalid rather than slow.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pacer_celery.models.base import PacerModel
from pacer_celery.models.fields import (
    ICAT_STRING,
    Identifier,
    LongText,
    OptionalText,
    Text,
    Timestamp,
    java_length,
)
from pacer_celery.models.users import Username

#: People on one proposal; the largest real teams are in the hundreds.
MAX_TEAM = 1000
#: Instruments one visit uses.
MAX_INSTRUMENTS = 100
#: The ICAT Grouping that gives a visit's team access: ``investigation_<proposal>_<visit>``.
GROUPING_NAME = "investigation_{proposal}_{visit}"


class Role(StrEnum):
    """Team roles; stored as the ``role`` of ICAT's InvestigationUser as they are."""

    PRINCIPAL_INVESTIGATOR = "principal_investigator"
    CO_INVESTIGATOR = "co_investigator"
    LOCAL_CONTACT = "local_contact"
    TEAM_MEMBER = "team_member"


class TeamMember(PacerModel):
    username: Username
    role: Role
    full_name: OptionalText = None


class ProposalMessage(PacerModel):
    proposal: Identifier
    visit: Identifier = "1"
    title: Text
    abstract: LongText = None
    type: Text
    instruments: Annotated[list[Text], Field(max_length=MAX_INSTRUMENTS)] = []
    start_date: Timestamp
    end_date: Timestamp
    release_date: Timestamp | None = None
    doi: OptionalText = None
    status: Literal["scheduled", "cancelled"] = "scheduled"
    team: Annotated[list[TeamMember], Field(max_length=MAX_TEAM)]

    @model_validator(mode="after")
    def _check(self) -> ProposalMessage:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        units = java_length(self.grouping_name)
        if units > ICAT_STRING:
            raise ValueError(
                f"proposal and visit make the ICAT Grouping name {self.grouping_name[:40]!r}... "
                f"{units} characters long as ICAT counts them (UTF-16 code units); "
                f"ICAT's Grouping name holds {ICAT_STRING}"
            )
        return self

    @property
    def grouping_name(self) -> str:
        """The ICAT Grouping that gives the team access to this visit."""
        return GROUPING_NAME.format(proposal=self.proposal, visit=self.visit)
