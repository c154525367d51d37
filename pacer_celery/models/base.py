"""What every payload model shares: the common field rules of messages.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: An ISO 8601 timestamp that must carry a timezone; ICAT gets it in UTC.
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]

#: A required, stripped, non-empty string of ICAT's usual column size.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class PacerModel(BaseModel):
    """Base of the payload models.

    Unknown fields are accepted (producers evolve before consumers) but kept apart, so
    they can be recorded and never reach ICAT.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)

    #: Root element of the legacy XML form, for models that accept XML.
    xml_root: ClassVar[str | None] = None

    @property
    def ignored_fields(self) -> list[str]:
        return sorted(self.model_extra or {})

    @classmethod
    def from_xml(cls, document: dict[str, Any]) -> dict[str, Any]:
        """Turn the xmltodict form of the legacy XML into this model's JSON shape."""
        raise NotImplementedError(f"{cls.__name__} has no XML form")

    @classmethod
    def xml_lists(cls) -> tuple[str, ...]:
        """Elements that are always lists, even when a document has only one."""
        return ()
