"""The query engine on the JPQL-style syntax: python-icat's queries and each construct."""

from __future__ import annotations

import sqlite3

import pytest
from test_query_data import USER, run, utc

from testbox.errors import IcatError
from testbox.model import Bean
from testbox.query import search
from testbox.query.values import date_literal

def ids(results: list) -> list[int]:
    return [b.id for b in results]


def names(results: list) -> list[str]:
    return [b.values["name"] for b in results]


def bad(conn: sqlite3.Connection, query: str) -> str:
    with pytest.raises(IcatError) as info:
        run(conn, query)
    assert info.value.type == "BAD_PARAMETER", info.value
    return info.value.message


# --- the queries python-icat generates ---------------------------------------------------

def test_all_entities_in_id_order_without_relations(db):
    result = run(db, "SELECT o FROM Investigation o")
    assert ids(result) == [1, 2, 3, 4]
    inv = result[0]
    assert isinstance(inv, Bean) and inv.entity == "Investigation"
    assert inv.values["name"] == "08100122-EF"
    assert inv.values["startDate"] == utc(2008, 3, 13, 10, 39, 42)
    assert inv.values["createTime"] == utc(2024, 1, 1)
    assert inv.values["summary"] is None  # every attribute is present
    assert set(inv.values) >= {"id", "createId", "modId", "fileSize", "doi", "releaseDate"}
    assert inv.ones == {} and inv.manys == {}


def test_include_one_relations(db):
    [inv] = run(db, "SELECT o FROM Investigation o WHERE o.name = '08100122-EF' "
                    "INCLUDE o.facility, o.type")
    assert inv.ones["facility"].values["name"] == "ESNF"
    assert inv.ones["type"].values["name"] == "experiment"
    assert inv.manys == {}
    assert inv.ones["facility"].ones == {}


def test_join_like_order_include(db):
    result = run(db, "SELECT o FROM Dataset o JOIN o.investigation AS i WHERE i.name = '08100122-EF' "
                     "AND o.name LIKE 'e2%' ORDER BY o.name INCLUDE o.investigation, o.type")
    assert names(result) == ["e201215", "e201216"]
    assert [d.ones["investigation"].id for d in result] == [1, 1]
    assert [d.ones["type"].values["name"] for d in result] == ["raw", "raw"]


def test_select_attribute_ordered_by_joined_paths_with_limit(db):
    query = ("SELECT o.name FROM Datafile o JOIN o.dataset AS ds JOIN ds.investigation AS i "
             "JOIN i.facility AS s1 WHERE s1.name = 'ESNF' ORDER BY s1.name, i.name, i.visitId, "
             "ds.name, o.name LIMIT 0, 10")
    assert run(db, query) == ["e201215.nxs", "e201216.dat", "e208339.dat", "e208339.nxs",
                              "e208341.dat", "e208341.nxs", "e208945-2.nxs", "e208945.dat"]
    assert run(db, query.replace("LIMIT 0, 10", "LIMIT 2, 3")) == [
        "e208339.dat", "e208339.nxs", "e208341.dat"]


def test_distinct_several_attributes_gives_field_sets(db):
    result = run(db, "SELECT DISTINCT o.name, o.visitId, o.title FROM Investigation o")
    assert result == [["08100122-EF", "1.1-P", "Durol single crystal"],
                      ["10100601-ST", "1.1-N", "Ni-Mn-Ga flat cone"],
                      ["12100409-ST", "1.1-P", "NiO SC OF1 JUH HHL"],
                      ["12100409-ST", "1.2-P", "NiO again"]]
    assert run(db, "SELECT DISTINCT o.name FROM Investigation o") == [
        "08100122-EF", "10100601-ST", "12100409-ST"]
    assert run(db, "SELECT DISTINCT(o.visitId) FROM Investigation o") == ["1.1-P", "1.1-N", "1.2-P"]


def test_aggregates(db):
    assert run(db, "SELECT COUNT(o) FROM Datafile o") == [8]
    assert run(db, "SELECT SUM(o.fileSize) FROM Datafile o") == [3300]
    assert run(db, "SELECT AVG(DISTINCT(o.fileCount)) FROM Dataset o") == [1.5]
    assert run(db, "SELECT AVG(o.fileCount) FROM Dataset o") == [pytest.approx(8 / 6)]
    assert run(db, "SELECT COUNT(o.fileSize) FROM Datafile o") == [7]  # NULL not counted
    assert run(db, "SELECT COUNT(DISTINCT o.fileSize) FROM Datafile o") == [6]
    assert run(db, "SELECT SUM(DISTINCT o.fileSize) FROM Datafile o") == [3000]
    assert run(db, "SELECT MIN(o.fileSize) FROM Datafile o") == [200]
    assert run(db, "SELECT MAX(o.name) FROM Datafile o") == ["e208945.dat"]
    assert run(db, "SELECT MAX(o.startDate) FROM Investigation o") == [utc(2012, 8, 1)]
    assert run(db, "SELECT COUNT(DISTINCT i) FROM Dataset o JOIN o.investigation i") == [4]
    assert run(db, "SELECT COUNT(i) FROM Dataset o JOIN o.investigation i") == [6]
    assert type(run(db, "SELECT COUNT(o) FROM Datafile o")[0]) is int


def test_aggregates_over_nothing(db):
    assert run(db, "SELECT COUNT(o) FROM Technique o") == [0]
    assert run(db, "SELECT SUM(o.fileSize) FROM Datafile o WHERE o.id < 0") == [None]
    assert run(db, "SELECT AVG(o.fileSize) FROM Datafile o WHERE o.id < 0") == [None]
    assert run(db, "SELECT MAX(o.name) FROM Technique o") == [None]


def test_in_and_date_comparisons_with_strings(db):
    query = ("SELECT o FROM Investigation o WHERE o.id in (1,2,3) AND o.startDate > '2012-01-01' "
             "AND o.startDate < '2013-01-01' ORDER BY o.startDate DESC")
    assert ids(run(db, query)) == [3]
    assert ids(run(db, query.replace("o.id in (1,2,3) AND ", ""))) == [4, 3]


def test_left_join_orders_null_first_and_include_keeps_null(db):
    result = run(db, "SELECT o FROM Rule o LEFT JOIN o.grouping AS g ORDER BY g.name, o.what, o.id "
                     "INCLUDE o.grouping")
    assert ids(result) == [2, 1, 6, 5, 4, 3]
    assert [r.ones["grouping"] and r.ones["grouping"].values["name"] for r in result] == [
        None, None, None, "reader", "reader", "writer"]
    # an inner join drops the rules without grouping
    assert ids(run(db, "SELECT o FROM Rule o JOIN o.grouping AS g ORDER BY g.name, o.what")) == [5, 4, 3]


def test_boolean_null_function_like_and_order_by_function(db):
    result = run(db, "SELECT o FROM Dataset o WHERE o.complete = True AND o.endDate IS NULL AND "
                     "LOWER(o.name) LIKE '%e2%' ORDER BY LENGTH(o.name)")
    assert ids(result) == [2, 3, 4]
    assert result[0].values["complete"] is True


def test_nested_include_with_aliases(db):
    result = run(db, "SELECT o FROM Investigation o JOIN o.investigationUsers AS iu JOIN iu.user AS s1 "
                     "WHERE s1.name = 'db/ahau' INCLUDE o.datasets AS s1, s1.datafiles, "
                     "o.investigationUsers AS iu, iu.user")
    assert ids(result) == [1, 2]
    inv = result[0]
    assert ids(inv.manys["datasets"]) == [1, 2]
    assert [ids(d.manys["datafiles"]) for d in inv.manys["datasets"]] == [[1], [2]]
    assert [iu.ones["user"].values["name"] for iu in inv.manys["investigationUsers"]] == [
        "db/jdoe", "db/ahau"]
    assert inv.ones == {}
    assert "investigation" not in inv.manys["datasets"][0].ones


def test_two_attributes_of_joined_entities(db):
    assert run(db, "SELECT i.name, o.name FROM Dataset o JOIN o.investigation AS i ORDER BY i.name") == [
        ["08100122-EF", "e201215"], ["08100122-EF", "e201216"], ["10100601-ST", "e208339"],
        ["10100601-ST", "e208341"], ["12100409-ST", "e208945"], ["12100409-ST", "e208946"]]


def test_dump_queries(db):
    groupings = run(db, "SELECT o FROM Grouping o ORDER BY o.name INCLUDE o.userGroups AS ug, ug.user")
    assert names(groupings) == ["empty", "reader", "writer"]
    assert groupings[0].manys["userGroups"] == []
    assert [ug.ones["user"].values["name"] for ug in groupings[1].manys["userGroups"]] == [
        "db/ahau", "db/jdoe", "db/acord"]

    [e2, eddi] = run(db, "SELECT o FROM Instrument o JOIN o.facility AS f ORDER BY f.name, o.name "
                         "INCLUDE o.facility, o.instrumentScientists AS isc, isc.user")
    assert e2.values["name"] == "E2" and e2.ones["facility"].values["name"] == "ESNF"
    assert [s.ones["user"].values["name"] for s in e2.manys["instrumentScientists"]] == ["db/nbour"]
    assert eddi.manys["instrumentScientists"] == []

    types = run(db, "SELECT o FROM ParameterType o JOIN o.facility AS f ORDER BY f.name, o.name, o.units "
                    "INCLUDE o.facility, o.permissibleStringValues")
    assert names(types) == ["Comment", "Sample temperature"]
    assert [v.values["value"] for v in types[0].manys["permissibleStringValues"]] == ["good"]
    assert types[1].values["valueType"] == "NUMERIC"
    assert types[1].values["applicableToDataset"] is True

    [job] = run(db, "SELECT o FROM Job o JOIN o.application AS s1 JOIN s1.facility AS s2 ORDER BY "
                    "s2.name, s1.name, s1.version, o.arguments, o.id INCLUDE o.application AS s1, "
                    "s1.facility, o.inputDataCollection, o.outputDataCollection")
    assert job.ones["application"].ones["facility"].values["name"] == "ESNF"
    assert job.ones["inputDataCollection"] is None and job.ones["outputDataCollection"] is None

    assert run(db, "SELECT o.id FROM Investigation o JOIN o.facility AS f ORDER BY f.name, o.name, "
                   "o.visitId") == [1, 2, 3, 4]
    assert [p.values["origin"] for p in run(db, "SELECT o FROM PublicStep o ORDER BY o.origin, o.field")] == [
        "Dataset", "Investigation"]


def test_every_reference_query_runs(db):
    with open("/work/shared/reference/python-icat-queries.txt") as f:
        queries = [line.strip() for line in f if line.startswith("SELECT")]
    assert len(queries) > 40
    for query in queries:
        assert isinstance(run(db, query), list), query


def test_dump_investigation_query_includes_everything(db):
    [inv] = run(db, "SELECT o FROM Investigation o WHERE o.id = 1 INCLUDE o.facility, "
                    "o.investigationUsers AS iu, iu.user, o.keywords, o.type AS t, t.facility, "
                    "o.shifts AS s5, s5.instrument AS s6, s6.facility")
    assert inv.ones["type"].ones["facility"].values["name"] == "ESNF"
    assert [k.values["name"] for k in inv.manys["keywords"]] == ["Durol", "durol"]
    assert inv.manys["shifts"] == []


# --- DISTINCT, joins, paths, ordering ----------------------------------------------------

def test_join_on_many_duplicates_unless_distinct(db):
    assert ids(run(db, "SELECT o FROM Investigation o JOIN o.datasets d")) == [1, 1, 2, 2, 3, 4]
    assert ids(run(db, "SELECT DISTINCT o FROM Investigation o JOIN o.datasets d")) == [1, 2, 3, 4]
    assert ids(run(db, "SELECT DISTINCT o FROM Investigation o JOIN o.datasets d "
                       "ORDER BY o.name DESC")) in ([3, 4, 2, 1], [4, 3, 2, 1])
    dup = run(db, "SELECT o FROM Investigation o JOIN o.datasets d WHERE o.id = 1 INCLUDE o.facility")
    assert ids(dup) == [1, 1] and dup[1].ones["facility"].id == 1


def test_left_outer_and_inner_join_keywords(db):
    assert len(run(db, "SELECT o FROM Rule o LEFT OUTER JOIN o.grouping g")) == 6
    assert len(run(db, "SELECT o FROM Rule o INNER JOIN o.grouping g")) == 3
    assert ids(run(db, "SELECT o FROM Rule o LEFT JOIN o.grouping g WHERE g.name IS NULL")) == [1, 2, 6]
    assert run(db, "SELECT g FROM Rule o LEFT JOIN o.grouping g WHERE o.id IN (1, 3)")[0] is None


def test_implicit_paths_are_inner_joins(db):
    assert run(db, "SELECT o.name FROM Dataset o WHERE o.investigation.name = '10100601-ST'") == [
        "e208339", "e208341"]
    assert run(db, "SELECT o.name FROM Dataset o ORDER BY o.investigation.name DESC, o.name") == [
        "e208945", "e208946", "e208339", "e208341", "e201215", "e201216"]
    assert run(db, "SELECT o.investigation.name FROM Dataset o WHERE o.id = 3") == ["10100601-ST"]
    assert run(db, "SELECT o.name FROM Datafile o WHERE o.dataset.investigation.facility.name = 'ESNF' "
                   "AND o.dataset.name = 'e201215'") == ["e201215.nxs"]
    # ordering by a nullable relation's attribute drops the rows without it (JPQL semantics)
    assert ids(run(db, "SELECT o FROM Rule o ORDER BY o.grouping.name")) == [4, 5, 3]
    # a path ending at a ONE relation compares its id
    assert ids(run(db, "SELECT o FROM Rule o WHERE o.grouping IS NULL")) == [1, 2, 6]
    assert ids(run(db, "SELECT o FROM Rule o WHERE o.grouping IS NOT NULL")) == [3, 4, 5]
    assert ids(run(db, "SELECT o FROM Dataset o WHERE o.investigation.id = 2")) == [3, 4]


def test_select_related_entity(db):
    [ds] = run(db, "SELECT o.dataset FROM Datafile o WHERE o.id = 1")
    assert ds.entity == "Dataset" and ds.id == 1 and ds.ones == {}
    assert ids(run(db, "SELECT o.grouping FROM Rule o")) == [1, 2, 2]
    assert ids(run(db, "SELECT d FROM Investigation o JOIN o.datasets d WHERE o.id = 2")) == [3, 4]


def test_several_ranges(db):
    assert run(db, "SELECT d.name FROM Dataset d, Investigation i WHERE d.investigation = i "
                   "AND i.name = '08100122-EF'") == ["e201215", "e201216"]


def test_identification_variables_and_keywords_ignore_case(db):
    assert ids(run(db, "select O from Dataset o where O.id = 1 or o.id = 2")) == [1, 2]
    assert "has no field ID" in bad(db, "SELECT o FROM Dataset o WHERE o.ID = 2")  # fields do not
    assert ids(run(db, "SeLeCt o FrOm Dataset AS o WhErE o.name like 'e2013%' order by o.id desc")) == []
    assert ids(run(db, "SELECT o FROM Dataset o WHERE o.name LIKE 'e2012%' ORDER BY o.id DESC")) == [2, 1]


def test_group_by_and_having(db):
    assert run(db, "SELECT i.name, COUNT(d) FROM Dataset d JOIN d.investigation i GROUP BY i.name "
                   "ORDER BY i.name") == [["08100122-EF", 2], ["10100601-ST", 2], ["12100409-ST", 2]]
    assert run(db, "SELECT d.name, COUNT(f) FROM Datafile f JOIN f.dataset d GROUP BY d.name "
                   "HAVING COUNT(f) > 1 ORDER BY d.name") == [
        ["e208339", 2], ["e208341", 2], ["e208945", 2]]


# --- INCLUDE and LIMIT -------------------------------------------------------------------

def test_include_1_gives_all_one_relations_one_level(db):
    [ds] = run(db, "SELECT o FROM Dataset o WHERE o.id = 1 INCLUDE 1")
    assert set(ds.ones) == {"investigation", "sample", "type"}
    assert ds.ones["sample"].values["name"] == "Durol SC"
    assert ds.manys == {} and ds.ones["investigation"].ones == {}
    [ds2] = run(db, "SELECT o FROM Dataset o WHERE o.id = 2 INCLUDE 1")
    assert ds2.ones["sample"] is None


def test_include_path_through_several_relations(db):
    [inv] = run(db, "SELECT o FROM Investigation o WHERE o.id = 2 INCLUDE o.datasets.datafiles")
    assert [names(d.manys["datafiles"]) for d in inv.manys["datasets"]] == [
        ["e208339.dat", "e208339.nxs"], ["e208341.dat", "e208341.nxs"]]
    [df] = run(db, "SELECT o FROM Datafile o WHERE o.id = 3 INCLUDE o.dataset.investigation.facility, "
                   "o.datafileFormat")
    assert df.ones["dataset"].ones["investigation"].ones["facility"].values["name"] == "ESNF"
    assert df.ones["datafileFormat"].values["name"] == "other"


def test_include_never_filters(db):
    result = run(db, "SELECT o FROM Datafile o INCLUDE o.datafileFormat")
    assert len(result) == 8
    assert result[6].ones["datafileFormat"] is None


def test_include_and_limit_in_either_order(db):
    a = run(db, "SELECT o FROM Dataset o ORDER BY o.name LIMIT 1, 2 INCLUDE o.investigation")
    b = run(db, "SELECT o FROM Dataset o ORDER BY o.name INCLUDE o.investigation LIMIT 1, 2")
    assert ids(a) == ids(b) == [2, 3]
    assert [d.ones["investigation"].id for d in a] == [1, 2]
    assert ids(run(db, "SELECT o FROM Dataset o LIMIT 4, *")) == [5, 6]
    assert run(db, "SELECT o FROM Dataset o LIMIT 0, 0") == []
    assert run(db, "SELECT o FROM Dataset o LIMIT 10, 5") == []


def test_include_errors_as_icat(db):
    assert "INCLUDE 1" in bad(db, "SELECT inv FROM Investigation inv INCLUDE 1, inv.investigationInstruments")
    assert "investigationInstruments" in bad(
        db, "SELECT inv FROM Investigation inv INCLUDE inv.investigationInstruments, "
            "inv.investigationInstruments.instrument")
    assert "II" in bad(db, "SELECT DISTINCT i FROM Investigation i JOIN i.investigationInstruments ii "
                           "ORDER BY i.id ASC INCLUDE ii.instruments, i.parameters LIMIT 100, 100")
    assert bad(db, "SELECT o FROM Dataset o INCLUDE o.nosuch") == (
        "Problem with INCLUDE clause: nosuch is not a field of Dataset")
    assert "one quantity" in bad(db, "SELECT o.name, o.id FROM Dataset o INCLUDE o.investigation")
    assert "must contain a '.'" in bad(db, "SELECT o FROM Dataset o INCLUDE o")
    assert "already defined" in bad(db, "SELECT o FROM Dataset o INCLUDE o.investigation AS x, o.type x")


def test_include_is_ignored_for_values(db):
    assert run(db, "SELECT COUNT(o) FROM Dataset o INCLUDE 1") == [6]


def test_max_entities_counts_rows_and_included_objects(db):
    with pytest.raises(IcatError) as info:
        run(db, "SELECT o FROM Dataset o", max_entities=5)
    assert (info.value.type, info.value.message) == (
        "VALIDATION", "attempt to process more than 5 entities")
    assert len(run(db, "SELECT o FROM Dataset o", max_entities=6)) == 6
    assert len(run(db, "SELECT o FROM Dataset o LIMIT 0, 5", max_entities=5)) == 5
    assert len(run(db, "SELECT o.name FROM Dataset o LIMIT 0, 100", max_entities=6)) == 6
    query = "SELECT o FROM Investigation o WHERE o.id = 2 INCLUDE o.datasets.datafiles"
    assert len(run(db, query, max_entities=7)) == 1  # 1 + 2 datasets + 4 datafiles
    with pytest.raises(IcatError) as info:
        run(db, query, max_entities=6)
    assert (info.value.type, info.value.message) == (
        "VALIDATION", "attempt to return more than 6 entities")
    # an included ONE object is counted once per object that includes it
    with pytest.raises(IcatError):
        run(db, "SELECT o FROM Dataset o INCLUDE o.investigation", max_entities=11)
    assert len(run(db, "SELECT o FROM Dataset o INCLUDE o.investigation", max_entities=12)) == 6


# --- WHERE constructs --------------------------------------------------------------------

@pytest.mark.parametrize("condition, expected", [
    ("o.name IN ('e201215', 'e208339', 'nope')", [1, 3]),
    ("o.name NOT IN ('e201215', 'e208339')", [2, 4, 5, 6]),
    ("o.id BETWEEN 2 AND 4", [2, 3, 4]),
    ("o.id NOT BETWEEN 2 AND 4", [1, 5, 6]),
    ("o.name LIKE 'e2083__'", [3, 4]),
    ("o.name NOT LIKE 'e20%'", []),
    ("o.name LIKE 'E2%'", []),  # LIKE is case-sensitive
    ("UPPER(o.name) LIKE 'E2%'", [1, 2, 3, 4, 5, 6]),
    ("o.endDate IS NOT NULL", [1, 6]),
    ("o.sample IS NOT NULL", [1]),
    ("NOT (o.complete = TRUE)", [1, 5]),
    ("o.complete = false", [1, 5]),
    ("o.complete <> true AND o.name = 'e201215' OR o.id = 6", [1, 6]),
    ("o.complete = true AND (o.name = 'e201215' OR o.id = 6)", [6]),
    ("(((o.id = 1)))", [1]),
    ("o.id != 1 AND o.id <> 2 AND o.id >= 3 AND o.id <= 4 AND o.id > 2 AND o.id < 5", [3, 4]),
    ("o.id + 1 = 3", [2]),
    ("o.id * 2 - 1 = 5", [3]),
    ("o.id / 2 = 2", [4, 5]),
    ("-o.id = -2", [2]),
    ("MOD(o.id, 3) = 0", [3, 6]),
    ("ABS(0 - o.id) = 6", [6]),
    ("SQRT(o.id) = 2.0", [4]),
    ("LENGTH(CONCAT(o.name, '-x')) = 9", [1, 2, 3, 4, 5, 6]),
    ("CONCAT(o.name, '.nxs', '') = 'e201215.nxs'", [1]),
    ("SUBSTRING(o.name, 2, 3) = '201'", [1, 2]),
    ("LOCATE('833', o.name) = 4", [3]),
    ("LOCATE('2', o.name, 3) = 5", [1, 2]),
    ("LOCATE('x', o.name) = 0", [1, 2, 3, 4, 5, 6]),
    ("TRIM(CONCAT('  ', o.name)) = 'e201215'", [1]),
    ("TRIM(LEADING 'e' FROM o.name) = '201215'", [1]),
    ("TRIM(TRAILING '5' FROM o.name) = 'e20121'", [1]),
    ("TRIM(BOTH FROM CONCAT(o.name, '  ')) = 'e201215'", [1]),
    ("SIZE(o.datafiles) = 2", [3, 4, 5]),
    ("o.datafiles IS EMPTY", [6]),
    ("o.parameters IS NOT EMPTY", [1]),
    ("EXISTS (SELECT f FROM Datafile f WHERE f.dataset = o AND f.fileSize > 550)", [1, 5]),
    ("NOT EXISTS (SELECT f FROM Datafile f WHERE f.dataset = o)", [6]),
    ("o.id IN (SELECT f.dataset.id FROM Datafile f WHERE f.name LIKE '%.nxs')", [1, 3, 4, 5]),
    ("o.investigation.id = (SELECT MAX(i.id) FROM Investigation i)", [6]),
    ("o.endDate = {ts 2008-03-13 10:41:34}", [1]),
    ("o.endDate > '2008-03-13 10:41:33' AND o.endDate < '2008-03-13T10:41:35Z'", [1]),
    ("o.endDate BETWEEN '2012-01-01' AND '2013-01-01'", [6]),
    ("o.endDate IN ('2012-08-02', '2008-01-01')", [6]),
    ("o.endDate < CURRENT_TIMESTAMP", [1, 6]),
    ("o.endDate LIKE '2012-%'", [6]),
    ("o.investigation.startDate >= {ts 2012-01-01 00:00:00}", [5, 6]),
])
def test_where(db, condition, expected):
    assert ids(run(db, f"SELECT o FROM Dataset o WHERE {condition}")) == expected


def test_member_of(db):
    assert ids(run(db, "SELECT o FROM Investigation o, Dataset d WHERE d MEMBER OF o.datasets "
                       "AND d.name = 'e208341'")) == [2]
    assert ids(run(db, "SELECT u FROM UserGroup u, Grouping g WHERE g.name = 'reader' AND "
                       "u NOT MEMBER OF g.userGroups")) == [1]
    assert "holds UserGroup" in bad(db, "SELECT u FROM User u, Grouping g WHERE u MEMBER OF g.userGroups")
    assert ids(run(db, "SELECT g FROM Grouping g, UserGroup ug WHERE ug MEMBER g.userGroups AND "
                       "ug.user.name = 'db/acord'")) == [2]


def test_user_parameter(db):
    assert names(run(db, "SELECT o FROM User o WHERE o.name = :user")) == [USER]
    assert names(search(db, "SELECT o FROM User o WHERE o.name = :user", user="db/ahau")) == ["db/ahau"]
    assert ids(run(db, "SELECT g FROM Grouping g JOIN g.userGroups ug JOIN ug.user u "
                       "WHERE u.name = :user")) == [1, 2]
    assert "Unknown query parameter" in bad(db, "SELECT o FROM User o WHERE o.name = :other")


def test_literals(db):
    assert run(db, "SELECT o.stringValue FROM DatasetParameter o WHERE o.stringValue = 'it''s fine'") == [
        "it's fine"]
    assert run(db, "SELECT o.numericValue FROM DatasetParameter o WHERE o.numericValue > 2.9e2") == [293.15]
    assert run(db, "SELECT o.numericValue FROM DatasetParameter o WHERE o.numericValue = 293.15") == [293.15]
    assert run(db, "SELECT o.name FROM ParameterType o WHERE "
                   "o.valueType = org.icatproject.ParameterValueType.NUMERIC") == ["Sample temperature"]
    assert run(db, "SELECT o.name FROM ParameterType o WHERE o.valueType = 'STRING'") == ["Comment"]
    assert "not a value" in bad(db, "SELECT o FROM ParameterType o WHERE "
                                    "o.valueType = org.icatproject.ParameterValueType.NOPE")


def test_value_types(db):
    assert run(db, "SELECT o.startDate FROM Investigation o WHERE o.id = 1") == [utc(2008, 3, 13, 10, 39, 42)]
    assert run(db, "SELECT o.complete FROM Dataset o WHERE o.id IN (1, 2)") == [False, True]
    assert run(db, "SELECT o.daysUntilRelease, o.fullName FROM Facility o") == [
        [1095, "Example Neutron Facility"], [None, None]]
    assert run(db, "SELECT o.endDate FROM Investigation o WHERE o.id = 2") == [None]
    assert run(db, "SELECT LENGTH(o.name), UPPER(o.name) FROM Facility o") == [[4, "ESNF"], [5, "OTHER"]]
    assert run(db, "SELECT o.id * 1.5 FROM Facility o") == [1.5, 3.0]


def test_like_escape(db):
    assert run(db, "SELECT o.name FROM Datafile o WHERE o.name LIKE '%!_%' ESCAPE '!'") == []
    assert run(db, "SELECT o.name FROM Datafile o WHERE o.name LIKE '%5-_%' ESCAPE '!'") == ["e208945-2.nxs"]
    assert run(db, "SELECT o.value FROM PermissibleStringValue o WHERE o.value LIKE 'g[o]od'") == []
    assert run(db, "SELECT o.value FROM PermissibleStringValue o WHERE o.value LIKE 'g*'") == []
    assert run(db, "SELECT o.value FROM PermissibleStringValue o WHERE o.value LIKE 'go?d'") == []
    assert run(db, "SELECT o.value FROM PermissibleStringValue o WHERE o.value LIKE o.value") == ["good"]


def test_unknown_names_are_bad_parameters(db):
    assert "Nope" in bad(db, "SELECT o FROM Nope o")
    assert "Dataset has no field nosuch" == bad(db, "SELECT o FROM Dataset o WHERE o.nosuch = 1")
    assert "nosuch" in bad(db, "SELECT o.nosuch FROM Dataset o")
    assert "nosuch" in bad(db, "SELECT o FROM Dataset o JOIN o.nosuch n")
    assert "relationship" in bad(db, "SELECT o FROM Dataset o JOIN o.name n")
    assert "relationship" in bad(db, "SELECT o FROM Dataset o WHERE o.name.x = 1")
    assert "X" in bad(db, "SELECT x FROM Dataset o")
    assert "FETCH" in bad(db, "SELECT o FROM Dataset o JOIN FETCH o.datafiles f")
    assert "already been defined" in bad(db, "SELECT o FROM Dataset o JOIN o.investigation O")
    assert "Unknown function" in bad(db, "SELECT o FROM Dataset o WHERE COALESCE(o.name, 'x') = 'x'")


@pytest.mark.parametrize("text, stored", [
    ("2012-01-01", "2012-01-01 00:00:00.000"),
    ("2012-01-01 10:00", "2012-01-01 10:00:00.000"),
    ("2012-01-01 10:00:00", "2012-01-01 10:00:00.000"),
    ("2012-01-01T10:00:00.5Z", "2012-01-01 10:00:00.500"),
    ("2012-01-01 10:00:00+01:00", "2012-01-01 09:00:00.000"),
])
def test_strings_compared_with_dates_are_normalised(text, stored):
    assert date_literal(text) == stored


def test_include_variables_ignore_case(db):
    [inv] = run(db, "SELECT o FROM Investigation o WHERE o.id = 1 INCLUDE o.datasets AS DS, ds.datafiles")
    assert [len(d.manys["datafiles"]) for d in inv.manys["datasets"]] == [1, 1]
