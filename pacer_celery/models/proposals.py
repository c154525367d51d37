"""The ``proposal-update`` message: an accepted or scheduled proposal and its team."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import model_validator

from pacer_celery.models.base import PacerModel, Text, Timestamp
from pacer_celery.models.fields import Identifier, LongText, OptionalText
from pacer_celery.models.users import Username


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
    instruments: list[Text] = []
    start_date: Timestamp
    end_date: Timestamp
    release_date: Timestamp | None = None
    doi: OptionalText = None
    status: Literal["scheduled", "cancelled"] = "scheduled"
    team: list[TeamMember]

    @model_validator(mode="after")
    def _end_after_start(self) -> ProposalMessage:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self

    @property
    def usernames(self) -> list[str]:
        """The team's users, each once, in message order."""
        return list(dict.fromkeys(member.username for member in self.team))

    @property
    def grouping_name(self) -> str:
        """The ICAT Grouping that gives the team access to this visit."""
        return f"investigation_{self.proposal}_{self.visit}"
