"""Untrusted query text: no injection, no crash, no hang; and INCLUDE at scale."""

from __future__ import annotations

import random
import sqlite3

import pytest
from test_query_data import add, build, run

from testbox.errors import IcatError
from testbox.query import search

def refused(conn, query: str) -> str:
    with pytest.raises(IcatError) as info:
        run(conn, query)
    assert info.value.type == "BAD_PARAMETER", info.value
    return info.value.message


def test_literals_are_never_sql(db):
    assert run(db, "SELECT o FROM User o WHERE o.name = 'x'' OR 1=1 --'") == []
    assert run(db, "SELECT o FROM User o WHERE o.name = 'x\" OR \"1\"=\"1'") == []
    assert run(db, "User [name = 'x'' OR ''1''=''1']") == []
    assert run(db, "SELECT o FROM User o WHERE o.name LIKE '%'' OR 1=1 --'") == []
    assert run(db, "SELECT COUNT(o) FROM User o WHERE :user = o.name") == [1]
    assert run(db, "SELECT COUNT(o) FROM User o WHERE o.name = :user",) == [1]
    assert search(db, "SELECT COUNT(o) FROM User o WHERE o.name = :user", user="x' OR '1'='1") == [0]


@pytest.mark.parametrize("query", [
    'SELECT o FROM "User" o',
    "SELECT o FROM User o; DROP TABLE User",
    "SELECT o FROM User o WHERE o.name = 'x' -- comment",
    "SELECT o FROM User o WHERE o.name = 'x' /* c */",
    "SELECT o FROM sqlite_master o",
    "SELECT o FROM User o WHERE o.\"name\" = 1",
    "SELECT o FROM User o WHERE o.name = 'unterminated",
    "SELECT o FROM User o WHERE o.name = {ts 2012-01-01}",
    "SELECT o FROM User o WHERE o.name = {ts 2012-13-45 99:00:00}",
    "SELECT o FROM User o WHERE o.name = {ts 2012-01-01 00:00:00",
    "SELECT o FROM User o WHERE o.name = 'a'\n",
    "SELECT o FROM User o\tWHERE o.id = 1",
    "SELECT o FROM User o WHERE o.name ! 'a'",
    "SELECT o FROM User o WHERE o.name == 'a'",
    "SELECT o FROM User o WHERE o..name = 'a'",
    "SELECT o FROM User o WHERE o.name = 1abc",
    "SELECT o FROM User o WHERE o.createTime = 'not a date'",
    "SELECT o FROM User o WHERE o.createTime > '2012-02-30'",
    "SELECT o FROM User o WHERE o.name LIKE 'a' ESCAPE 'xy'",
    "SELECT o FROM User o WHERE o.name + 1 = 2",
    "SELECT o FROM User o WHERE o.name",
    "SELECT o FROM User o WHERE o.id = 1 = 2",
    "SELECT o FROM User o WHERE (o.id = 1",
    "SELECT o FROM User o WHERE o.id = 1)",
    "SELECT o FROM User o WHERE",
    "SELECT o FROM User o ORDER BY",
    "SELECT o FROM User o LIMIT -1, 5",
    "SELECT o FROM User o LIMIT 0, -5",
    "SELECT o FROM User o LIMIT 0",
    "SELECT o FROM User o LIMIT 99999999999, 1",
    "SELECT o FROM User o LIMIT 0, 1 LIMIT 0, 1",
    "SELECT o FROM User o INCLUDE o.userGroups INCLUDE o.userGroups",
    "SELECT o FROM User o INCLUDE 2",
    "SELECT o FROM User o WHERE o.id IN ()",
    "SELECT o FROM User o WHERE SUM(o.id) = 1",
    "SELECT FROM User o",
    "SELECT o FROM",
    "SELECT o",
    "SELECT",
    "",
    "   ",
    "User [",
    "User <->",
    "User <- Grouping",
    "User [name = 'x'] [id = 1]",
    "[]",
    "COUNT(User",
    "User INCLUDE",
    "User ORDER BY",
    "\x00",
    "SELECT o FROM User o WHERE o.id = 1.2.3",
])
def test_malformed_queries_are_bad_parameters(db, query):
    refused(db, query)


def test_the_database_survives(db):
    for query in ['SELECT o FROM User o; DROP TABLE "User"', "User [name='x']; DELETE FROM User"]:
        with pytest.raises(IcatError):
            run(db, query)
    assert run(db, "SELECT COUNT(o) FROM User o") == [6]


def test_nul_in_literal_is_just_a_character(db):
    # Sent inside a literal it is data, not a terminator.
    assert run(db, "SELECT o FROM User o WHERE o.name = 'db/jdoe\x00'") == []


@pytest.mark.parametrize("query", [
    "SELECT o FROM User o WHERE " + "(" * 100_000 + "o.id = 1" + ")" * 100_000,
    "SELECT o FROM User o WHERE " + "NOT " * 100_000 + "o.id = 1",
    "SELECT o FROM User o WHERE o.id = " + "- " * 100_000 + "1",
    "SELECT o FROM User o WHERE o.id IN (" + "(SELECT u.id FROM User u WHERE u.id IN " * 1000 + "(1)" + ")" * 1000 + ")",
    "SELECT o FROM User o WHERE o.name = '" + "x" * 2_000_000 + "'",
    "SELECT o FROM User o WHERE LENGTH(" * 10_000 + "o.name" + ")" * 10_000 + " = 1",
    "SELECT o FROM User o WHERE o.id = ABS(" * 10_000 + "1" + ")" * 10_000,
    "SELECT o FROM User o WHERE o.id = (SELECT COUNT(u) FROM User u WHERE u.id = " * 1000 + "1" + ")" * 1000,
    "SELECT o FROM User o INCLUDE " + ", ".join(f"x{i}.userGroups AS x{i + 1}" for i in range(5000)),
    "SELECT o FROM User o INCLUDE o.userGroups AS a0, " + ", ".join(
        f"a{i}.user AS b{i}, b{i}.userGroups AS a{i + 1}" for i in range(500)),
    "User [" + "(" * 100_000 + "id = 1" + ")" * 100_000 + "]",
    "User [" + "NOT " * 100_000 + "id = 1]",
])
@pytest.mark.timeout(30)  # a hang guard; speed itself is measured in bench/testbox.py
def test_deep_or_huge_queries_are_refused(db, query):
    refused(db, query)


@pytest.mark.timeout(60)
def test_long_but_flat_queries_work_or_are_refused(db):
    many_ors = "SELECT COUNT(o) FROM User o WHERE " + " OR ".join(f"o.id = {i}" for i in range(5000))
    many_ins = "SELECT COUNT(o) FROM User o WHERE o.id IN (" + ", ".join(str(i) for i in range(50_000)) + ")"
    many_sums = "SELECT COUNT(o) FROM User o WHERE o.id = " + " + ".join("0" for _ in range(5000)) + " + 1"
    for query in (many_ors, many_ins, many_sums):
        try:
            assert run(db, query) in ([6], [1])
        except IcatError as e:
            assert e.type == "BAD_PARAMETER"


@pytest.mark.timeout(60)  # a pattern that backtracks exponentially would hang here
def test_pathological_like_pattern_completes():
    conn = sqlite3.connect(":memory:")
    build(conn)
    add(conn, "User", 100, name="a" * 5000)
    assert run(conn, "SELECT COUNT(o) FROM User o WHERE o.name LIKE '" + "%a" * 40 + "%b'") == [0]
    assert run(conn, "SELECT COUNT(o) FROM User o WHERE o.name LIKE o.name") == [7]


_VOCABULARY = (
    "SELECT FROM WHERE AND OR NOT IN IS NULL LIKE BETWEEN DISTINCT COUNT( MAX( ( ) , = <> < >= "
    "o o.name o.id o.investigation o.datasets o.investigation.name Dataset Investigation User "
    "JOIN LEFT INCLUDE 1 LIMIT 0 5 * 'x' '' 3.5 -2 {ts 2012-01-01 00:00:00} :user TRUE ORDER BY "
    "DESC ASC AS i i.name o.datafiles EMPTY MEMBER OF EXISTS SIZE( LENGTH( CONCAT( TRIM( <-> [ ] "
    "GROUP HAVING ESCAPE '%' + - / org.icatproject.ParameterValueType.NUMERIC"
).split()


def test_random_token_soup_only_ever_raises_icat_errors(db):
    rng = random.Random(1234)
    prefixes = ["SELECT o FROM Dataset o ", "SELECT o FROM Dataset o WHERE ", "Dataset ", ""]
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(4000):
        query = rng.choice(prefixes) + " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(0, 12)))
        try:
            result = run(db, query)
        except IcatError as e:
            assert e.type in ("BAD_PARAMETER", "VALIDATION"), (query, e)
            outcomes["refused"] += 1
        else:
            assert isinstance(result, list), query
            outcomes["ok"] += 1
    assert outcomes["ok"] > 50 and outcomes["refused"] > 1000


def test_include_on_ten_thousand_rows_is_batched():
    conn = sqlite3.connect(":memory:")
    build(conn)
    rows = [(1000 + i, f"bulk{i:05d}", 1 + i % 4, 1 + i % 2) for i in range(10_000)]
    conn.executemany('INSERT INTO "Dataset" (id, name, investigation_id, type_id, complete) '
                     "VALUES (?, ?, ?, ?, 0)", rows)
    conn.executemany('INSERT INTO "Datafile" (id, name, dataset_id) VALUES (?, ?, ?)',
                     [(100_000 + i, f"f{i}", 1000 + i) for i in range(10_000)])
    statements = []
    conn.set_trace_callback(statements.append)
    result = run(conn, "SELECT o FROM Dataset o WHERE o.name LIKE 'bulk%' "
                       "INCLUDE o.investigation AS i, i.facility, o.type, o.datafiles",
                 max_entities=50_000)
    conn.set_trace_callback(None)
    assert len(result) == 10_000
    assert result[5].ones["investigation"].ones["facility"].values["name"] == "ESNF"
    assert [f.values["name"] for f in result[7].manys["datafiles"]] == ["f7"]
    assert len(statements) < 50  # batches, not a query per row
    with pytest.raises(IcatError) as info:
        run(conn, "SELECT o FROM Dataset o INCLUDE o.datafiles", max_entities=15_000)
    assert info.value.type == "VALIDATION"
