"""The query engine on ICAT's older concise syntax, and ``get``."""

from __future__ import annotations


import pytest
from test_query_data import USER, run

from testbox.errors import IcatError
from testbox.query import get

def ids(results: list) -> list[int]:
    return [b.id for b in results]


def error(conn, query: str) -> IcatError:
    with pytest.raises(IcatError) as info:
        run(conn, query)
    return info.value


def test_entity_with_condition(db):
    [user] = run(db, "User [name='db/jdoe']")
    assert user.entity == "User" and user.values["fullName"] == "John Doe" and user.ones == {}
    assert ids(run(db, "User[name='db/jdoe']")) == [4]
    assert ids(run(db, "Dataset")) == [1, 2, 3, 4, 5, 6]


def test_entities_linked_with_arrows(db):
    assert ids(run(db, "User <-> UserGroup <-> Grouping [id=2]")) == [1, 2, 4]
    assert run(db, "User.name <-> UserGroup <-> Grouping [id=2]") == ["db/acord", "db/ahau", "db/jdoe"]
    assert ids(run(db, "Grouping <-> UserGroup <-> User [name=:user]")) == [1, 2]
    assert run(db, "User.name <-> InvestigationUser <-> Investigation [name = '08100122-EF']") == [
        "db/ahau", "db/jdoe"]
    assert run(db, "User.name <-> InstrumentScientist <-> Instrument [id=1]") == ["db/nbour"]
    assert ids(run(db, "Dataset [complete = TRUE] <-> Investigation [name = '10100601-ST']")) == [3, 4]


def test_range_distinct_order_and_aggregates(db):
    assert ids(run(db, "0, 2 Dataset")) == [1, 2]
    assert ids(run(db, "2, 3 Dataset")) == [3, 4, 5]
    assert ids(run(db, "4, Dataset")) == [5, 6]
    assert ids(run(db, ",1 Dataset")) == [1]
    assert run(db, "Dataset.id order by id") == [1, 2, 3, 4, 5, 6]
    assert run(db, "Investigation.name ORDER BY name DESC, visitId") == [
        "12100409-ST", "12100409-ST", "10100601-ST", "08100122-EF"]
    assert run(db, "DISTINCT Investigation.name ORDER BY name") == [
        "08100122-EF", "10100601-ST", "12100409-ST"]
    assert run(db, "COUNT(Datafile) <-> Dataset [name='e208339']") == [2]
    assert run(db, "COUNT(Dataset.name) [complete = FALSE]") == [2]
    assert run(db, "MAX(Datafile.fileSize)") == [1000]
    assert ids(run(db, "Investigation ORDER BY name <-> InvestigationUser <-> User[name=:user]")) == [1]


def test_conditions(db):
    assert ids(run(db, "Investigation [startDate > {ts 2012-01-01 00:00:00}]")) == [3, 4]
    assert ids(run(db, "Datafile [fileSize BETWEEN 300 AND 500]")) == [3, 4, 5, 7]
    assert ids(run(db, "Datafile [fileSize IN (200, 600)]")) == [2, 8]
    assert ids(run(db, "Dataset [name LIKE 'e2083%']")) == [3, 4]
    assert ids(run(db, "Dataset [NOT (complete = TRUE) OR name = 'e208339']")) == [1, 3, 5]
    assert ids(run(db, "Dataset [complete = TRUE AND NOT name = 'e208339']")) == [2, 4, 6]
    assert ids(run(db, "Dataset [investigation.id = 2]")) == [3, 4]
    assert ids(run(db, "Dataset ['e208339' = name]")) == [3]
    assert ids(run(db, "Rule [what='Facility']")) == [1]
    assert ids(run(db, "ParameterType [valueType = NUMERIC]")) == [1]
    assert ids(run(db, "DatasetParameter [numericValue > 293.1]")) == [1]
    assert ids(run(db, "Dataset [fileCount = -1]")) == []
    # ICAT writes the attribute first but keeps the operator
    assert ids(run(db, "Dataset [3 > id]")) == [4, 5, 6]


def test_include(db):
    [ds] = run(db, "Dataset INCLUDE Datafile [id = 3]")
    assert [f.values["name"] for f in ds.manys["datafiles"]] == ["e208339.dat", "e208339.nxs"]
    assert ds.ones == {}
    [ds] = run(db, "Dataset INCLUDE 1 [id = 2]")
    assert set(ds.ones) == {"investigation", "sample", "type"} and ds.manys == {}
    [ds] = run(db, "Dataset INCLUDE Datafile, DatafileFormat, Investigation [id = 3]")
    assert [f.ones["datafileFormat"].values["name"] for f in ds.manys["datafiles"]] == ["other", "NeXus"]
    assert ds.ones["investigation"].id == 2
    [ds] = run(db, "Dataset INCLUDE DatasetParameter, ParameterType [id = 1]")
    assert [p.ones["type"].values["name"] for p in ds.manys["parameters"]] == [
        "Sample temperature", "Comment"]
    [inv] = run(db, "Investigation INCLUDE InvestigationUser, User [name='08100122-EF']")
    assert [iu.ones["user"].values["name"] for iu in inv.manys["investigationUsers"]] == [
        "db/jdoe", "db/ahau"]
    [inv] = run(db, "Investigation ORDER BY name INCLUDE Facility [id = 1]")
    assert inv.ones["facility"].values["name"] == "ESNF"


def test_include_follows_many_relations_only_below_many(db):
    # Datafile -> Dataset is ONE, so Dataset's MANY datasetParameters are not reachable
    err = error(db, "Datafile INCLUDE Dataset, DatasetParameter")
    assert (err.type, err.message) == ("BAD_PARAMETER", "Unable to reach DatasetParameter in list of INCLUDES.")


def test_errors(db):
    err = error(db, "Dataset INCLUDE 1, Datafile [name = 'Wibble']")
    assert err.type == "BAD_PARAMETER" and "ENTSEP" in err.message
    err = error(db, "Dataset INCLUDE Datafile, 1 [name = 'Wibble']")
    assert err.type == "BAD_PARAMETER" and "NAME" in err.message
    assert error(db, "Dataset INCLUDE User").message == "Unable to reach User in list of INCLUDES."
    assert error(db, "Dataset INCLUDE Investigator").message == "Investigator is not an ICAT entity"
    assert "loop" in error(db, "Job INCLUDE DataCollection").message
    assert "loop" in error(db, "Investigation <-> Dataset <-> Sample").message
    assert error(db, "Dataset <-> User").message == "Unable to reach User"
    assert error(db, "Nope [id=1]").message == "Nope is not an ICAT entity"
    assert error(db, "Dataset [id=5] INCLUDE Datafile").type == "BAD_PARAMETER"
    assert error(db, "Dataset [nosuch = 1]").type == "BAD_PARAMETER"
    assert error(db, "Dataset [name = description]").type == "BAD_PARAMETER"
    assert error(db, "Dataset [name = 'x'").type == "BAD_PARAMETER"
    assert error(db, "-1, 5 Dataset").type == "BAD_PARAMETER"
    assert error(db, "Dataset.name INCLUDE 1").type == "BAD_PARAMETER"


# --- get ---------------------------------------------------------------------------------

def test_get(db):
    ds = get(db, "Dataset", 3, user=USER)
    assert ds.values["name"] == "e208339" and ds.ones == {} and ds.manys == {}
    ds = get(db, "Dataset INCLUDE Datafile, DatafileFormat", 3, user=USER)
    assert [f.ones["datafileFormat"].values["name"] for f in ds.manys["datafiles"]] == ["other", "NeXus"]
    ds = get(db, "Dataset ds INCLUDE ds.datafiles df, df.datafileFormat", 3, user=USER)
    assert [f.ones["datafileFormat"].id for f in ds.manys["datafiles"]] == [2, 1]
    ds = get(db, "Dataset INCLUDE 1", 1, user=USER)
    assert ds.ones["sample"].values["name"] == "Durol SC"
    assert get(db, "Dataset AS d", 1, user=USER).id == 1


def test_get_errors(db):
    with pytest.raises(IcatError) as info:
        get(db, "Dataset", 999, user=USER)
    assert (info.value.type, info.value.message) == ("NO_SUCH_OBJECT_FOUND", "Dataset[id:999] not found.")
    for query, message in [("Dataset INCLUDE Investigator", "Investigator is not an ICAT entity"),
                           ("Dataset INCLUDE User", "Unable to reach User in list of INCLUDES."),
                           ("Nope", "Nope is not an ICAT entity")]:
        with pytest.raises(IcatError) as info:
            get(db, query, 1, user=USER)
        assert (info.value.type, info.value.message) == ("BAD_PARAMETER", message)
    with pytest.raises(IcatError) as info:
        get(db, "Investigation INCLUDE Dataset, Datafile", 2, user=USER, max_entities=6)
    assert info.value.type == "VALIDATION"
    assert len(get(db, "Investigation INCLUDE Dataset, Datafile", 2, user=USER,
                   max_entities=7).manys["datasets"]) == 2
