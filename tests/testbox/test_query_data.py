"""A small ICAT database for the query engine tests, built straight into SQLite.

The tables come from the store's schema (the storage contract); rows are inserted directly
so these tests exercise only the query engine. Ids are given explicitly so tests can name
them. The data resembles python-icat's example dump: one facility with three
investigations, their datasets and datafiles, users, groupings and rules.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Any

from testbox.model import ENTITIES
from testbox.query import search
from testbox.store import encode_date, schema_statements

T0 = "2024-01-01 00:00:00.000"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def add(conn: sqlite3.Connection, entity: str, id: int, **values: Any) -> int:
    """Insert one row; relation arguments are given as ``<relation>_id``."""
    columns = set(ENTITIES[entity].columns)
    row = {"id": id, "createId": "db/root", "createTime": T0, "modId": "db/root", "modTime": T0}
    for name, value in values.items():
        assert name in columns, f"{entity} has no column {name}"
        if isinstance(value, datetime):
            value = encode_date(value)
        elif isinstance(value, bool):
            value = int(value)
        row[name] = value
    names = ", ".join(f'"{n}"' for n in row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f'INSERT INTO "{entity}" ({names}) VALUES ({marks})', list(row.values()))
    return id


def build(conn: sqlite3.Connection) -> None:
    for statement in schema_statements():
        conn.execute(statement)

    add(conn, "Facility", 1, name="ESNF", fullName="Example Neutron Facility", daysUntilRelease=1095)
    add(conn, "Facility", 2, name="Other")
    add(conn, "InvestigationType", 1, name="experiment", facility_id=1)
    add(conn, "DatasetType", 1, name="raw", facility_id=1)
    add(conn, "DatasetType", 2, name="analyzed", facility_id=1)
    add(conn, "DatafileFormat", 1, name="NeXus", version="4.3.0", facility_id=1)
    add(conn, "DatafileFormat", 2, name="other", version="NN", facility_id=1)
    add(conn, "Instrument", 1, name="E2", fullName="E2 - Flat-Cone Diffractometer", facility_id=1)
    add(conn, "Instrument", 2, name="EDDI", facility_id=1)

    add(conn, "Investigation", 1, name="08100122-EF", visitId="1.1-P", title="Durol single crystal",
        startDate=utc(2008, 3, 13, 10, 39, 42), endDate=utc(2008, 3, 13, 10, 41, 34),
        facility_id=1, type_id=1)
    add(conn, "Investigation", 2, name="10100601-ST", visitId="1.1-N", title="Ni-Mn-Ga flat cone",
        startDate=utc(2010, 9, 30, 10, 27, 24), facility_id=1, type_id=1)
    add(conn, "Investigation", 3, name="12100409-ST", visitId="1.1-P", title="NiO SC OF1 JUH HHL",
        startDate=utc(2012, 7, 26, 15, 44, 24), facility_id=1, type_id=1)
    add(conn, "Investigation", 4, name="12100409-ST", visitId="1.2-P", title="NiO again",
        startDate=utc(2012, 8, 1, 0, 0, 0), facility_id=1, type_id=1)

    add(conn, "SampleType", 1, name="durol", molecularFormula="C10H14", facility_id=1)
    add(conn, "Sample", 1, name="Durol SC", investigation_id=1, type_id=1)

    # datasets: id, name, investigation, complete, type, endDate, sample
    for id, name, inv, complete, type_, end, sample in [
        (1, "e201215", 1, False, 1, utc(2008, 3, 13, 10, 41, 34), 1),
        (2, "e201216", 1, True, 1, None, None),
        (3, "e208339", 2, True, 1, None, None),
        (4, "e208341", 2, True, 2, None, None),
        (5, "e208945", 3, False, 1, None, None),
        (6, "e208946", 4, True, 1, utc(2012, 8, 2, 0, 0, 0), None),
    ]:
        add(conn, "Dataset", id, name=name, investigation_id=inv, complete=complete, type_id=type_,
            endDate=end, sample_id=sample, fileCount=2 if id in (3, 4) else 1, fileSize=0)

    # datafiles: id, name, dataset, size, format
    for id, name, ds, size, fmt in [
        (1, "e201215.nxs", 1, 1000, 1),
        (2, "e201216.dat", 2, 200, 2),
        (3, "e208339.dat", 3, 300, 2),
        (4, "e208339.nxs", 3, 300, 1),
        (5, "e208341.dat", 4, 400, 2),
        (6, "e208341.nxs", 4, None, 1),
        (7, "e208945.dat", 5, 500, None),
        (8, "e208945-2.nxs", 5, 600, 1),
    ]:
        add(conn, "Datafile", id, name=name, dataset_id=ds, fileSize=size, datafileFormat_id=fmt,
            datafileCreateTime=utc(2012, 1, id, 12, 0, 0))

    for id, name, full in [(1, "db/acord", "Aelius Cordus"), (2, "db/ahau", "Arnold Hau"),
                           (3, "db/jbotu", "Jean-Baptiste Botul"), (4, "db/jdoe", "John Doe"),
                           (5, "db/nbour", "Nicolas Bourbaki"), (6, "simple/root", "Root")]:
        add(conn, "User", id, name=name, fullName=full)
    add(conn, "InvestigationUser", 1, user_id=4, investigation_id=1, role="Principal Investigator")
    add(conn, "InvestigationUser", 2, user_id=2, investigation_id=1, role="Investigator")
    add(conn, "InvestigationUser", 3, user_id=2, investigation_id=2, role="Investigator")
    add(conn, "InvestigationUser", 4, user_id=6, investigation_id=3, role="Principal Investigator")
    add(conn, "InstrumentScientist", 1, user_id=5, instrument_id=1)

    add(conn, "Grouping", 1, name="writer")
    add(conn, "Grouping", 2, name="reader")
    add(conn, "Grouping", 3, name="empty")
    for id, user, grouping in [(1, 4, 1), (2, 2, 2), (3, 4, 2), (4, 1, 2)]:
        add(conn, "UserGroup", id, user_id=user, grouping_id=grouping)

    # rules: id, what, crudFlags, grouping (None: everybody)
    for id, what, crud, grouping in [
        (1, "Facility", "R", None),
        (2, "Application", "R", None),
        (3, "Investigation", "CRUD", 1),
        (4, "Dataset", "R", 2),
        (5, "Datafile", "R", 2),
        (6, "Grouping <-> UserGroup <-> User [name=:user]", "R", None),
    ]:
        add(conn, "Rule", id, what=what, crudFlags=crud, grouping_id=grouping)

    add(conn, "ParameterType", 1, name="Sample temperature", units="C", valueType="NUMERIC",
        facility_id=1, applicableToDataset=True)
    add(conn, "ParameterType", 2, name="Comment", units="N/A", valueType="STRING", facility_id=1)
    add(conn, "PermissibleStringValue", 1, value="good", type_id=2)
    add(conn, "DatasetParameter", 1, numericValue=293.15, type_id=1, dataset_id=1)
    add(conn, "DatasetParameter", 2, stringValue="it's fine", type_id=2, dataset_id=1)
    add(conn, "Keyword", 1, name="Durol", investigation_id=1)
    add(conn, "Keyword", 2, name="durol", investigation_id=1)
    add(conn, "PublicStep", 1, origin="Investigation", field="datasets")
    add(conn, "PublicStep", 2, origin="Dataset", field="datafiles")
    add(conn, "Application", 1, name="reduce", version="1.0", facility_id=1)
    add(conn, "Job", 1, arguments="-v", application_id=1)
    conn.commit()


def connect() -> sqlite3.Connection:
    """A fresh in-memory database with the example rows."""
    conn = sqlite3.connect(":memory:")
    build(conn)
    return conn



USER = "db/jdoe"


def run(conn: sqlite3.Connection, query: str, **kw: Any) -> list:
    return search(conn, query, user=USER, **kw)
