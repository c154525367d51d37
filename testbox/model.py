"""ICAT 6.2's entity model: every entity with its attributes, relations and uniqueness.

Read off icat.server's entity classes. The store, the query engine and the SOAP layer all
work from this one description, so a fact about ICAT is stated exactly once.

Storage contract (shared by ``store`` and ``query``): one SQLite table per entity, named by
the entity and always double-quoted; columns ``id``, ``createId``, ``createTime``,
``modId``, ``modTime``, one per attribute (same name) and ``<relation>_id`` per ONE
relation. Dates are UTC text ``YYYY-MM-DD HH:MM:SS.mmm`` so they sort lexically; booleans
are 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

#: String columns without an explicit length are VARCHAR(255) in ICAT.
DEFAULT_STRING_LENGTH = 255

#: Enumerated attribute types and their values.
ENUMS: dict[str, tuple[str, ...]] = {
    "ParameterValueType": ("DATE_AND_TIME", "NUMERIC", "STRING"),
    "StudyStatus": ("NEW", "IN_PROGRESS", "COMPLETE", "CANCELLED"),
}

#: Attributes every entity has, set by the server.
BASE_ATTRIBUTES = ("id", "createId", "createTime", "modId", "modTime")


@dataclass(frozen=True)
class Attr:
    """A plain field. ``type`` is String, Integer, Long, Double, boolean, Date or an enum name."""

    name: str
    type: str
    not_null: bool = False
    length: int | None = None
    default: Any = None

    @property
    def max_length(self) -> int | None:
        if self.type != "String":
            return None
        return self.length or DEFAULT_STRING_LENGTH


@dataclass(frozen=True)
class One:
    """A ONE relation: a foreign key column ``<name>_id`` pointing at ``target``."""

    name: str
    target: str
    not_null: bool = False

    @property
    def column(self) -> str:
        return f"{self.name}_id"


@dataclass(frozen=True)
class Many:
    """A MANY relation: the ``target`` rows whose ``mapped_by`` ONE relation points here.

    Every MANY relation in ICAT cascades on delete.
    """

    name: str
    target: str
    mapped_by: str


@dataclass(frozen=True)
class Entity:
    name: str
    unique: tuple[str, ...]
    attributes: tuple[Attr, ...]
    ones: tuple[One, ...]
    manys: tuple[Many, ...]

    def attribute(self, name: str) -> Attr | None:
        return self._by_name[0].get(name)

    def one(self, name: str) -> One | None:
        return self._by_name[1].get(name)

    def many(self, name: str) -> Many | None:
        return self._by_name[2].get(name)

    @cached_property
    def _by_name(self) -> tuple[dict[str, Attr], dict[str, One], dict[str, Many]]:
        # Looked up for every field of every bean the server reads or writes.
        return (
            {a.name: a for a in self.attributes},
            {r.name: r for r in self.ones},
            {r.name: r for r in self.manys},
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The table's columns in storage order."""
        return (
            BASE_ATTRIBUTES
            + tuple(a.name for a in self.attributes)
            + tuple(r.column for r in self.ones)
        )


@dataclass
class Bean:
    """One entity instance as the server hands it around.

    ``values`` holds the attributes (including id, createId, createTime, modId, modTime) as
    Python values: str, int, float, bool, aware UTC datetime or None. ``ones`` and ``manys``
    hold only the relations that were loaded (INCLUDEd, or sent by a client); a ONE relation
    that was loaded and is null is present with value None.
    """

    entity: str
    values: dict[str, Any] = field(default_factory=dict)
    ones: dict[str, Bean | None] = field(default_factory=dict)
    manys: dict[str, list[Bean]] = field(default_factory=dict)

    @property
    def id(self) -> int | None:
        return self.values.get("id")


_ENTITIES = (
    Entity(
        'Affiliation',
        unique=('user', 'name'),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('fullReference', 'String', length=1023),
            Attr('pid', 'String'),
        ),
        ones=(
            One('user', 'DataPublicationUser', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Application',
        unique=('facility', 'name', 'version'),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('version', 'String', not_null=True),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('jobs', 'Job', 'application'),
        ),
    ),
    Entity(
        'DataCollection',
        unique=(),
        attributes=(
            Attr('doi', 'String'),
        ),
        ones=(),
        manys=(
            Many('dataCollectionDatafiles', 'DataCollectionDatafile', 'dataCollection'),
            Many('dataCollectionDatasets', 'DataCollectionDataset', 'dataCollection'),
            Many('dataCollectionInvestigations', 'DataCollectionInvestigation', 'dataCollection'),
            Many('parameters', 'DataCollectionParameter', 'dataCollection'),
            Many('jobsAsInput', 'Job', 'inputDataCollection'),
            Many('jobsAsOutput', 'Job', 'outputDataCollection'),
            Many('dataPublications', 'DataPublication', 'content'),
        ),
    ),
    Entity(
        'DataCollectionDatafile',
        unique=('dataCollection', 'datafile'),
        attributes=(),
        ones=(
            One('dataCollection', 'DataCollection', not_null=True),
            One('datafile', 'Datafile', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataCollectionDataset',
        unique=('dataCollection', 'dataset'),
        attributes=(),
        ones=(
            One('dataCollection', 'DataCollection', not_null=True),
            One('dataset', 'Dataset', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataCollectionInvestigation',
        unique=('dataCollection', 'investigation'),
        attributes=(),
        ones=(
            One('dataCollection', 'DataCollection', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataCollectionParameter',
        unique=('dataCollection', 'type'),
        attributes=(
            Attr('stringValue', 'String', length=4000),
            Attr('numericValue', 'Double'),
            Attr('dateTimeValue', 'Date'),
            Attr('rangeTop', 'Double'),
            Attr('rangeBottom', 'Double'),
            Attr('error', 'Double'),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
            One('dataCollection', 'DataCollection', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataPublication',
        unique=('facility', 'pid'),
        attributes=(
            Attr('pid', 'String', not_null=True),
            Attr('title', 'String', not_null=True),
            Attr('publicationDate', 'Date'),
            Attr('subject', 'String', length=1023),
            Attr('description', 'String', length=4000),
            Attr('internalId', 'String'),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
            One('content', 'DataCollection', not_null=True),
            One('type', 'DataPublicationType'),
        ),
        manys=(
            Many('users', 'DataPublicationUser', 'publication'),
            Many('dates', 'DataPublicationDate', 'publication'),
            Many('relatedItems', 'RelatedItem', 'publication'),
            Many('fundingReferences', 'DataPublicationFunding', 'dataPublication'),
            Many('subjects', 'Subject', 'dataPublication'),
        ),
    ),
    Entity(
        'DataPublicationDate',
        unique=('publication', 'dateType'),
        attributes=(
            Attr('dateType', 'String', not_null=True),
            Attr('date', 'String', not_null=True),
        ),
        ones=(
            One('publication', 'DataPublication', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataPublicationFunding',
        unique=('dataPublication', 'funding'),
        attributes=(),
        ones=(
            One('dataPublication', 'DataPublication', not_null=True),
            One('funding', 'FundingReference', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DataPublicationType',
        unique=('facility', 'name'),
        attributes=(
            Attr('description', 'String'),
            Attr('name', 'String', not_null=True),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('dataPublications', 'DataPublication', 'type'),
        ),
    ),
    Entity(
        'DataPublicationUser',
        unique=('publication', 'user', 'contributorType'),
        attributes=(
            Attr('contributorType', 'String', not_null=True),
            Attr('orderKey', 'String'),
            Attr('fullName', 'String'),
            Attr('givenName', 'String'),
            Attr('familyName', 'String'),
            Attr('email', 'String'),
        ),
        ones=(
            One('publication', 'DataPublication', not_null=True),
            One('user', 'User', not_null=True),
        ),
        manys=(
            Many('affiliations', 'Affiliation', 'user'),
        ),
    ),
    Entity(
        'Datafile',
        unique=('dataset', 'name'),
        attributes=(
            Attr('checksum', 'String'),
            Attr('datafileCreateTime', 'Date'),
            Attr('datafileModTime', 'Date'),
            Attr('description', 'String'),
            Attr('doi', 'String'),
            Attr('fileSize', 'Long', default=0),
            Attr('location', 'String', length=511),
            Attr('name', 'String', not_null=True),
        ),
        ones=(
            One('datafileFormat', 'DatafileFormat'),
            One('dataset', 'Dataset', not_null=True),
        ),
        manys=(
            Many('dataCollectionDatafiles', 'DataCollectionDatafile', 'datafile'),
            Many('destDatafiles', 'RelatedDatafile', 'destDatafile'),
            Many('parameters', 'DatafileParameter', 'datafile'),
            Many('sourceDatafiles', 'RelatedDatafile', 'sourceDatafile'),
        ),
    ),
    Entity(
        'DatafileFormat',
        unique=('facility', 'name', 'version'),
        attributes=(
            Attr('description', 'String'),
            Attr('type', 'String'),
            Attr('name', 'String', not_null=True),
            Attr('version', 'String', not_null=True),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('datafiles', 'Datafile', 'datafileFormat'),
        ),
    ),
    Entity(
        'DatafileParameter',
        unique=('datafile', 'type'),
        attributes=(
            Attr('stringValue', 'String', length=4000),
            Attr('numericValue', 'Double'),
            Attr('dateTimeValue', 'Date'),
            Attr('rangeTop', 'Double'),
            Attr('rangeBottom', 'Double'),
            Attr('error', 'Double'),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
            One('datafile', 'Datafile', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Dataset',
        unique=('investigation', 'name'),
        attributes=(
            Attr('complete', 'boolean', not_null=True),
            Attr('fileSize', 'Long', default=0),
            Attr('fileCount', 'Long', default=0),
            Attr('description', 'String'),
            Attr('doi', 'String'),
            Attr('endDate', 'Date'),
            Attr('location', 'String', length=511),
            Attr('name', 'String', not_null=True),
            Attr('startDate', 'Date'),
        ),
        ones=(
            One('investigation', 'Investigation', not_null=True),
            One('sample', 'Sample'),
            One('type', 'DatasetType', not_null=True),
        ),
        manys=(
            Many('datafiles', 'Datafile', 'dataset'),
            Many('dataCollectionDatasets', 'DataCollectionDataset', 'dataset'),
            Many('datasetInstruments', 'DatasetInstrument', 'dataset'),
            Many('datasetTechniques', 'DatasetTechnique', 'dataset'),
            Many('parameters', 'DatasetParameter', 'dataset'),
        ),
    ),
    Entity(
        'DatasetInstrument',
        unique=('dataset', 'instrument'),
        attributes=(),
        ones=(
            One('dataset', 'Dataset', not_null=True),
            One('instrument', 'Instrument', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DatasetParameter',
        unique=('dataset', 'type'),
        attributes=(
            Attr('stringValue', 'String', length=4000),
            Attr('numericValue', 'Double'),
            Attr('dateTimeValue', 'Date'),
            Attr('rangeTop', 'Double'),
            Attr('rangeBottom', 'Double'),
            Attr('error', 'Double'),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
            One('dataset', 'Dataset', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DatasetTechnique',
        unique=('dataset', 'technique'),
        attributes=(),
        ones=(
            One('dataset', 'Dataset', not_null=True),
            One('technique', 'Technique', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'DatasetType',
        unique=('facility', 'name'),
        attributes=(
            Attr('description', 'String'),
            Attr('name', 'String', not_null=True),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('datasets', 'Dataset', 'type'),
        ),
    ),
    Entity(
        'Facility',
        unique=('name',),
        attributes=(
            Attr('daysUntilRelease', 'Integer'),
            Attr('description', 'String', length=1023),
            Attr('fullName', 'String'),
            Attr('name', 'String', not_null=True),
            Attr('url', 'String'),
        ),
        ones=(),
        manys=(
            Many('applications', 'Application', 'facility'),
            Many('datafileFormats', 'DatafileFormat', 'facility'),
            Many('datasetTypes', 'DatasetType', 'facility'),
            Many('facilityCycles', 'FacilityCycle', 'facility'),
            Many('instruments', 'Instrument', 'facility'),
            Many('investigations', 'Investigation', 'facility'),
            Many('investigationTypes', 'InvestigationType', 'facility'),
            Many('parameterTypes', 'ParameterType', 'facility'),
            Many('sampleTypes', 'SampleType', 'facility'),
            Many('dataPublications', 'DataPublication', 'facility'),
            Many('dataPublicationTypes', 'DataPublicationType', 'facility'),
        ),
    ),
    Entity(
        'FacilityCycle',
        unique=('facility', 'name'),
        attributes=(
            Attr('description', 'String'),
            Attr('endDate', 'Date'),
            Attr('name', 'String', not_null=True),
            Attr('startDate', 'Date'),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('investigationFacilityCycles', 'InvestigationFacilityCycle', 'facilityCycle'),
        ),
    ),
    Entity(
        'FundingReference',
        unique=('funderName', 'awardNumber'),
        attributes=(
            Attr('funderName', 'String', not_null=True),
            Attr('funderIdentifier', 'String'),
            Attr('awardNumber', 'String', not_null=True),
            Attr('awardTitle', 'String'),
            Attr('acknowledgement', 'String', length=1023),
        ),
        ones=(),
        manys=(
            Many('investigations', 'InvestigationFunding', 'funding'),
            Many('publications', 'DataPublicationFunding', 'funding'),
        ),
    ),
    Entity(
        'Grouping',
        unique=('name',),
        attributes=(
            Attr('name', 'String', not_null=True),
        ),
        ones=(),
        manys=(
            Many('investigationGroups', 'InvestigationGroup', 'grouping'),
            Many('rules', 'Rule', 'grouping'),
            Many('userGroups', 'UserGroup', 'grouping'),
        ),
    ),
    Entity(
        'Instrument',
        unique=('facility', 'name'),
        attributes=(
            Attr('pid', 'String'),
            Attr('description', 'String', length=4000),
            Attr('fullName', 'String'),
            Attr('name', 'String', not_null=True),
            Attr('url', 'String'),
            Attr('startDate', 'Date'),
            Attr('endDate', 'Date'),
            Attr('type', 'String'),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('instrumentScientists', 'InstrumentScientist', 'instrument'),
            Many('investigationInstruments', 'InvestigationInstrument', 'instrument'),
            Many('datasetInstruments', 'DatasetInstrument', 'instrument'),
            Many('shifts', 'Shift', 'instrument'),
        ),
    ),
    Entity(
        'InstrumentScientist',
        unique=('user', 'instrument'),
        attributes=(),
        ones=(
            One('instrument', 'Instrument', not_null=True),
            One('user', 'User', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Investigation',
        unique=('facility', 'name', 'visitId'),
        attributes=(
            Attr('fileSize', 'Long', default=0),
            Attr('fileCount', 'Long', default=0),
            Attr('doi', 'String'),
            Attr('endDate', 'Date'),
            Attr('name', 'String', not_null=True),
            Attr('releaseDate', 'Date'),
            Attr('startDate', 'Date'),
            Attr('summary', 'String', length=4000),
            Attr('title', 'String', not_null=True),
            Attr('visitId', 'String', not_null=True),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
            One('type', 'InvestigationType', not_null=True),
        ),
        manys=(
            Many('datasets', 'Dataset', 'investigation'),
            Many('investigationGroups', 'InvestigationGroup', 'investigation'),
            Many('investigationInstruments', 'InvestigationInstrument', 'investigation'),
            Many('investigationUsers', 'InvestigationUser', 'investigation'),
            Many('keywords', 'Keyword', 'investigation'),
            Many('investigationFacilityCycles', 'InvestigationFacilityCycle', 'investigation'),
            Many('parameters', 'InvestigationParameter', 'investigation'),
            Many('publications', 'Publication', 'investigation'),
            Many('fundingReferences', 'InvestigationFunding', 'investigation'),
            Many('samples', 'Sample', 'investigation'),
            Many('shifts', 'Shift', 'investigation'),
            Many('studyInvestigations', 'StudyInvestigation', 'investigation'),
            Many('dataCollectionInvestigations', 'DataCollectionInvestigation', 'investigation'),
        ),
    ),
    Entity(
        'InvestigationFacilityCycle',
        unique=('facilityCycle', 'investigation'),
        attributes=(),
        ones=(
            One('facilityCycle', 'FacilityCycle', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'InvestigationFunding',
        unique=('investigation', 'funding'),
        attributes=(),
        ones=(
            One('investigation', 'Investigation', not_null=True),
            One('funding', 'FundingReference', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'InvestigationGroup',
        unique=('grouping', 'investigation', 'role'),
        attributes=(
            Attr('role', 'String', not_null=True),
        ),
        ones=(
            One('grouping', 'Grouping', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'InvestigationInstrument',
        unique=('investigation', 'instrument'),
        attributes=(),
        ones=(
            One('instrument', 'Instrument', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'InvestigationParameter',
        unique=('investigation', 'type'),
        attributes=(
            Attr('stringValue', 'String', length=4000),
            Attr('numericValue', 'Double'),
            Attr('dateTimeValue', 'Date'),
            Attr('rangeTop', 'Double'),
            Attr('rangeBottom', 'Double'),
            Attr('error', 'Double'),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'InvestigationType',
        unique=('name', 'facility'),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('description', 'String'),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('investigations', 'Investigation', 'type'),
        ),
    ),
    Entity(
        'InvestigationUser',
        unique=('user', 'investigation', 'role'),
        attributes=(
            Attr('role', 'String', not_null=True),
        ),
        ones=(
            One('user', 'User', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Job',
        unique=(),
        attributes=(
            Attr('arguments', 'String'),
        ),
        ones=(
            One('application', 'Application', not_null=True),
            One('inputDataCollection', 'DataCollection'),
            One('outputDataCollection', 'DataCollection'),
        ),
        manys=(),
    ),
    Entity(
        'Keyword',
        unique=('name', 'investigation'),
        attributes=(
            Attr('name', 'String', not_null=True),
        ),
        ones=(
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'ParameterType',
        unique=('facility', 'name', 'units'),
        attributes=(
            Attr('pid', 'String'),
            Attr('applicableToDataCollection', 'boolean'),
            Attr('applicableToDatafile', 'boolean'),
            Attr('applicableToDataset', 'boolean'),
            Attr('applicableToInvestigation', 'boolean'),
            Attr('applicableToSample', 'boolean'),
            Attr('description', 'String'),
            Attr('enforced', 'boolean'),
            Attr('maximumNumericValue', 'Double'),
            Attr('minimumNumericValue', 'Double'),
            Attr('name', 'String', not_null=True),
            Attr('units', 'String', not_null=True),
            Attr('unitsFullName', 'String'),
            Attr('valueType', 'ParameterValueType', not_null=True),
            Attr('verified', 'boolean'),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('dataCollectionParameters', 'DataCollectionParameter', 'type'),
            Many('datafileParameters', 'DatafileParameter', 'type'),
            Many('datasetParameters', 'DatasetParameter', 'type'),
            Many('investigationParameters', 'InvestigationParameter', 'type'),
            Many('permissibleStringValues', 'PermissibleStringValue', 'type'),
            Many('sampleParameters', 'SampleParameter', 'type'),
        ),
    ),
    Entity(
        'PermissibleStringValue',
        unique=('value', 'type'),
        attributes=(
            Attr('value', 'String', not_null=True),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'PublicStep',
        unique=('origin', 'field'),
        attributes=(
            Attr('origin', 'String', not_null=True, length=32),
            Attr('field', 'String', not_null=True, length=32),
        ),
        ones=(),
        manys=(),
    ),
    Entity(
        'Publication',
        unique=(),
        attributes=(
            Attr('fullReference', 'String', not_null=True, length=511),
            Attr('doi', 'String'),
            Attr('repository', 'String'),
            Attr('repositoryId', 'String'),
            Attr('url', 'String'),
        ),
        ones=(
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'RelatedDatafile',
        unique=('sourceDatafile', 'destDatafile'),
        attributes=(
            Attr('relation', 'String', not_null=True),
        ),
        ones=(
            One('sourceDatafile', 'Datafile', not_null=True),
            One('destDatafile', 'Datafile', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'RelatedItem',
        unique=('publication', 'identifier'),
        attributes=(
            Attr('identifier', 'String', not_null=True),
            Attr('relationType', 'String', not_null=True),
            Attr('fullReference', 'String', length=1023),
            Attr('relatedItemType', 'String'),
            Attr('title', 'String'),
        ),
        ones=(
            One('publication', 'DataPublication', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Rule',
        unique=(),
        attributes=(
            Attr('crudFlags', 'String', not_null=True, length=4),
            Attr('what', 'String', not_null=True, length=1024),
        ),
        ones=(
            One('grouping', 'Grouping'),
        ),
        manys=(),
    ),
    Entity(
        'Sample',
        unique=('investigation', 'name'),
        attributes=(
            Attr('pid', 'String'),
            Attr('name', 'String', not_null=True),
        ),
        ones=(
            One('investigation', 'Investigation', not_null=True),
            One('type', 'SampleType'),
        ),
        manys=(
            Many('datasets', 'Dataset', 'sample'),
            Many('parameters', 'SampleParameter', 'sample'),
        ),
    ),
    Entity(
        'SampleParameter',
        unique=('sample', 'type'),
        attributes=(
            Attr('stringValue', 'String', length=4000),
            Attr('numericValue', 'Double'),
            Attr('dateTimeValue', 'Date'),
            Attr('rangeTop', 'Double'),
            Attr('rangeBottom', 'Double'),
            Attr('error', 'Double'),
        ),
        ones=(
            One('type', 'ParameterType', not_null=True),
            One('sample', 'Sample', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'SampleType',
        unique=('facility', 'name', 'molecularFormula'),
        attributes=(
            Attr('molecularFormula', 'String', not_null=True),
            Attr('name', 'String', not_null=True),
            Attr('safetyInformation', 'String', length=4000),
        ),
        ones=(
            One('facility', 'Facility', not_null=True),
        ),
        manys=(
            Many('samples', 'Sample', 'type'),
        ),
    ),
    Entity(
        'Shift',
        unique=('investigation', 'startDate', 'endDate'),
        attributes=(
            Attr('startDate', 'Date', not_null=True),
            Attr('endDate', 'Date', not_null=True),
            Attr('comment', 'String'),
        ),
        ones=(
            One('investigation', 'Investigation', not_null=True),
            One('instrument', 'Instrument'),
        ),
        manys=(),
    ),
    Entity(
        'Study',
        unique=(),
        attributes=(
            Attr('startDate', 'Date'),
            Attr('endDate', 'Date'),
            Attr('name', 'String', not_null=True),
            Attr('description', 'String', length=4000),
            Attr('status', 'StudyStatus'),
            Attr('pid', 'String'),
        ),
        ones=(
            One('user', 'User'),
        ),
        manys=(
            Many('studyInvestigations', 'StudyInvestigation', 'study'),
        ),
    ),
    Entity(
        'StudyInvestigation',
        unique=('study', 'investigation'),
        attributes=(),
        ones=(
            One('study', 'Study', not_null=True),
            One('investigation', 'Investigation', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Subject',
        unique=('dataPublication', 'name'),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('pid', 'String'),
            Attr('subjectScheme', 'String'),
            Attr('schemeURI', 'String'),
            Attr('valueURI', 'String'),
            Attr('classificationCode', 'String'),
        ),
        ones=(
            One('dataPublication', 'DataPublication', not_null=True),
        ),
        manys=(),
    ),
    Entity(
        'Technique',
        unique=('name',),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('pid', 'String'),
            Attr('description', 'String'),
        ),
        ones=(),
        manys=(
            Many('datasetTechniques', 'DatasetTechnique', 'technique'),
        ),
    ),
    Entity(
        'User',
        unique=('name',),
        attributes=(
            Attr('name', 'String', not_null=True),
            Attr('fullName', 'String'),
            Attr('givenName', 'String'),
            Attr('familyName', 'String'),
            Attr('affiliation', 'String'),
            Attr('email', 'String'),
            Attr('orcidId', 'String'),
        ),
        ones=(),
        manys=(
            Many('userGroups', 'UserGroup', 'user'),
            Many('investigationUsers', 'InvestigationUser', 'user'),
            Many('instrumentScientists', 'InstrumentScientist', 'user'),
            Many('studies', 'Study', 'user'),
            Many('dataPublicationUsers', 'DataPublicationUser', 'user'),
        ),
    ),
    Entity(
        'UserGroup',
        unique=('user', 'grouping'),
        attributes=(),
        ones=(
            One('grouping', 'Grouping', not_null=True),
            One('user', 'User', not_null=True),
        ),
        manys=(),
    ),
)

ENTITIES: dict[str, Entity] = {e.name: e for e in _ENTITIES}

#: ``getEntityInfo`` also answers for this abstract base of the *Parameter entities.
PARAMETER_BASE = "Parameter"

#: The fields ICAT's abstract Parameter declares for all its concrete subclasses.
PARAMETER_FIELDS = ("dateTimeValue", "error", "numericValue", "rangeBottom", "rangeTop", "stringValue", "type")


def is_parameter(entity: Entity) -> bool:
    """Whether the entity is one of the concrete subclasses of ICAT's abstract Parameter."""
    return entity.name.endswith("Parameter") and entity.name != "ParameterType"
