"""Authorisation rules through python-icat: who sees and changes what, as ICAT 6.2 decides it.

One in-process testbox per module with a root and three ordinary users (logged in once:
a python-icat client costs 0.4 s); each test starts from an emptied ICAT holding a small
facility: investigations ``I1`` (alice writes, bob reads) and ``I2`` (nobody's), each with a
dataset of two datafiles. Rules are created by root as on a real ICAT.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import icat
import pytest
from icat.exception import ICATNoObjectError, ICATParameterError, ICATPrivilegesError
from testbox_support import ROOT, make_client

from testbox.authz import parse_what
from testbox.instance import build_icat_server
from testbox.model import ENTITIES
from testbox.query.compiler import Compiler
from testbox.server import IcatHTTPServer
from testbox.service import Config

ALICE, BOB, CAROL = ("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw")


def member_rule(entity: str, var: str, path: str = "", extra: str = "") -> str:
    """A rule on ``entity`` for members of any grouping of its investigation (``path`` joins
    from ``var`` to ``i``; empty for Investigation itself), ``extra`` AND-ed to its WHERE."""
    return (f"SELECT {var} FROM {entity} {var} {path} JOIN i.investigationGroups ig JOIN ig.grouping g "
            f"JOIN g.userGroups ug JOIN ug.user u WHERE u.name = :user{extra}")


@pytest.fixture(scope="module")
def server() -> Iterator[IcatHTTPServer]:
    config = Config(users=dict([ROOT, ALICE, BOB, CAROL]), root_users={ROOT[0]})
    srv = build_icat_server(config)
    srv.start_background()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def clients(server) -> Iterator[dict[tuple[str, str], icat.Client]]:
    logged_in = {account: make_client(server.url, account) for account in (ROOT, ALICE, BOB, CAROL)}
    yield logged_in
    for c in logged_in.values():
        c.logout()


@pytest.fixture
def root(clients) -> icat.Client:
    return clients[ROOT]


@pytest.fixture
def login(clients):
    return clients.__getitem__


@pytest.fixture
def world(root) -> SimpleNamespace:
    """The facility, in an otherwise empty ICAT: I1 with alice in its writer and bob in its
    reader grouping, I2 without."""
    for entity in ("Facility", "User", "Grouping", "Rule", "PublicStep"):
        root.deleteMany(root.search(f"SELECT o FROM {entity} o"))
    facility = root.new("Facility", name="F")
    facility.create()
    itype = root.new("InvestigationType", name="experiment", facility=facility)
    dtype = root.new("DatasetType", name="raw", facility=facility)
    itype.create()
    dtype.create()
    users = {}
    for name in ("alice", "bob", "carol"):
        users[name] = root.new("User", name=f"db/{name}")
        users[name].create()
    w = SimpleNamespace(facility=facility, dtype=dtype, users=users, inv={}, ds={}, groups={})
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    for name in ("I1", "I2"):
        inv = root.new("Investigation", name=name, visitId="1", title=name, facility=facility, type=itype,
                       releaseDate=past + timedelta(days=365 * 100) if name == "I1" else past)
        inv.create()
        ds = root.new("Dataset", name=f"{name}-ds", investigation=inv, type=dtype, complete=False)
        ds.datafiles = [root.new("Datafile", name=f"{name}-f{n}") for n in (1, 2)]
        ds.create()
        w.inv[name], w.ds[name] = inv, ds
    for role, member in (("writer", "alice"), ("reader", "bob")):
        grouping = root.new("Grouping", name=f"I1_{role}")
        grouping.create()
        root.new("UserGroup", grouping=grouping, user=users[member]).create()
        root.new("InvestigationGroup", investigation=w.inv["I1"], grouping=grouping, role=role).create()
        w.groups[role] = grouping
    return w


def rules(root: icat.Client, flags: str, *whats: str, grouping=None) -> list[int]:
    beans = [root.new("Rule", crudFlags=flags, what=w, grouping=grouping) for w in whats]
    return root.createMany(beans)


def read_rules(root: icat.Client) -> None:
    """Members read their investigations, datasets and datafiles."""
    rules(root, "R", member_rule("Investigation", "i"),
          member_rule("Dataset", "ds", "JOIN ds.investigation i"),
          member_rule("Datafile", "df", "JOIN df.dataset ds JOIN ds.investigation i"))


# --- search ------------------------------------------------------------------------------

def test_without_rules_a_search_is_empty_and_a_count_is_zero(world, login):
    alice = login(ALICE)
    assert alice.search("SELECT ds FROM Dataset ds") == []
    assert alice.search("SELECT COUNT(ds) FROM Dataset ds") == [0]
    assert alice.search("SELECT MAX(ds.id) FROM Dataset ds") == []
    assert alice.search("Dataset") == []
    # icat.server gives up before it builds the JPQL: a wrong WHERE field is not noticed.
    assert alice.search("SELECT ds FROM Dataset ds WHERE ds.nosuchfield = 1") == []
    with pytest.raises(ICATParameterError):
        alice.search("SELECT ds FROM Dataset ds INCLUDE ds.nosuchfield")


def test_rules_filter_searches_counts_and_aggregates(root, world, login):
    read_rules(root)
    alice, bob, carol = login(ALICE), login(BOB), login(CAROL)
    for member in (alice, bob):
        assert [i.name for i in member.search("SELECT i FROM Investigation i")] == ["I1"]
        assert member.search("SELECT df.name FROM Datafile df ORDER BY df.name") == ["I1-f1", "I1-f2"]
        assert member.search("SELECT COUNT(df) FROM Datafile df") == [2]
        assert member.search("SELECT MAX(df.id) FROM Datafile df") == \
            root.search("SELECT MAX(df.id) FROM Datafile df WHERE df.dataset.name = 'I1-ds'")
    assert carol.search("SELECT i FROM Investigation i") == []
    assert carol.search("SELECT COUNT(df) FROM Datafile df") == [0]
    assert root.search("SELECT COUNT(df) FROM Datafile df") == [4]


def test_the_selected_object_is_checked_not_the_joins_or_where(root, world, login):
    rules(root, "R", member_rule("Dataset", "ds", "JOIN ds.investigation i"))
    alice = login(ALICE)
    # Investigation has no rule: filtering by it is fine, selecting it is not.
    assert alice.search("SELECT ds.name FROM Dataset ds JOIN ds.investigation i WHERE i.name = 'I1'") == ["I1-ds"]
    assert alice.search("SELECT ds.investigation FROM Dataset ds") == []
    assert alice.search("SELECT ds.investigation.name FROM Dataset ds") == []
    # An attribute path is checked on the object that owns the attribute.
    assert alice.search("SELECT ds.name, ds.id FROM Dataset ds") == [("I1-ds", world.ds["I1"].id)]
    assert alice.search("SELECT ds.name, i.name FROM Dataset ds JOIN ds.investigation i") == []


def test_concise_rules_user_parameter_and_current_timestamp(root, world, login):
    rules(root, "R", "Investigation <-> InvestigationGroup <-> Grouping <-> UserGroup <-> User [name=:user]",
          "SELECT i FROM Investigation i WHERE i.releaseDate < CURRENT_TIMESTAMP")
    assert sorted(i.name for i in login(ALICE).search("Investigation")) == ["I1", "I2"]
    assert [i.name for i in login(CAROL).search("SELECT i FROM Investigation i")] == ["I2"]  # released


def test_grouping_rules_apply_to_members_only_and_changes_apply_at_once(root, world, login):
    alice, bob = login(ALICE), login(BOB)
    (rule,) = rules(root, "R", "Dataset", grouping=world.groups["writer"])
    assert len(alice.search("SELECT ds FROM Dataset ds")) == 2  # unrestricted, for the grouping
    assert bob.search("SELECT ds FROM Dataset ds") == []
    membership = root.search(f"SELECT ug FROM UserGroup ug WHERE ug.grouping.id = {world.groups['writer'].id}")
    root.delete(membership[0])
    assert alice.search("SELECT ds FROM Dataset ds") == []
    root.new("UserGroup", grouping=world.groups["writer"], user=world.users["bob"]).create()
    assert len(bob.search("SELECT ds FROM Dataset ds")) == 2
    root.delete(root.get("Rule", rule))
    assert bob.search("SELECT ds FROM Dataset ds") == []


def test_what_a_user_may_read_is_reread_after_every_write(root, world, login):
    alice = login(ALICE)
    assert alice.search("SELECT i FROM Investigation i") == []  # read, and remembered
    rules(root, "R", "SELECT i FROM Investigation i WHERE i.name = 'I2'")
    assert [i.name for i in alice.search("SELECT i FROM Investigation i")] == ["I2"]
    root.new("Facility", name="unrelated").create()  # any write: no stale answer either way
    assert [i.name for i in alice.search("SELECT i FROM Investigation i")] == ["I2"]


def test_a_rule_without_where_or_grouping_makes_a_public_table_whatever_its_flags(root, world, login):
    rules(root, "C", "SELECT t FROM DatasetType t JOIN t.facility f")  # a join is no restriction
    carol = login(CAROL)
    assert [t.name for t in carol.search("SELECT t FROM DatasetType t")] == ["raw"]
    assert carol.isAccessAllowed(carol.new("DatasetType", id=world.dtype.id), "READ") is True
    assert carol.isAccessAllowed(carol.new("DatasetType", id=world.dtype.id), "UPDATE") is False


# --- INCLUDE and get ---------------------------------------------------------------------

def test_include_leaves_out_what_the_user_may_not_read(root, world, login):
    rules(root, "R", member_rule("Dataset", "ds", "JOIN ds.investigation i"),
          member_rule("Datafile", "df", "JOIN df.dataset ds JOIN ds.investigation i", " AND df.name = 'I1-f1'"))
    alice = login(ALICE)
    (ds,) = alice.search("SELECT ds FROM Dataset ds INCLUDE ds.investigation, ds.datafiles, ds.type")
    assert ds.investigation is None  # no rule on Investigation
    assert ds.type is None
    assert [f.name for f in ds.datafiles] == ["I1-f1"]
    (ds,) = alice.search("SELECT ds FROM Dataset ds INCLUDE 1")
    assert ds.investigation is None


def test_public_steps_and_tables_open_include_steps(root, world, login):
    rules(root, "R", member_rule("Dataset", "ds", "JOIN ds.investigation i"), "DatasetType")
    root.createMany([root.new("PublicStep", origin="Dataset", field="datafiles"),
                     root.new("PublicStep", origin="Dataset", field="investigation")])
    alice = login(ALICE)
    (ds,) = alice.search("SELECT ds FROM Dataset ds INCLUDE ds.investigation, ds.datafiles, ds.type")
    assert (ds.investigation.name, ds.type.name) == ("I1", "raw")
    assert sorted(f.name for f in ds.datafiles) == ["I1-f1", "I1-f2"]
    # A public step is for INCLUDE only: a search still needs a rule.
    assert alice.search("SELECT df FROM Datafile df") == []


def test_get_checks_read_after_existence(root, world, login):
    read_rules(root)
    bob = login(BOB)
    assert bob.get("Dataset ds INCLUDE ds.datafiles", world.ds["I1"].id).name == "I1-ds"
    with pytest.raises(ICATPrivilegesError, match="READ access to this Dataset is not allowed."):
        bob.get("Dataset", world.ds["I2"].id)
    with pytest.raises(ICATNoObjectError):
        bob.get("Dataset", 999_999)


# --- writes ------------------------------------------------------------------------------

WRITER = ("SELECT ds FROM Dataset ds JOIN ds.investigation i JOIN i.investigationGroups ig JOIN ig.grouping g "
          "JOIN g.userGroups ug JOIN ug.user u WHERE u.name = :user AND ig.role = 'writer' AND ds.complete = False")


def test_create_is_checked_on_the_new_object(root, world, login):
    rules(root, "CRUD", WRITER)
    alice, bob = login(ALICE), login(BOB)
    new = alice.new("Dataset", name="new", investigation=world.inv["I1"], type=world.dtype)
    new.create()
    assert alice.search("SELECT ds.name FROM Dataset ds WHERE ds.name = 'new'") == ["new"]
    for user, inv in ((alice, "I2"), (bob, "I1")):
        with pytest.raises(ICATPrivilegesError, match="CREATE access to this Dataset is not allowed."):
            user.create(user.new("Dataset", name="x", investigation=world.inv[inv], type=world.dtype))
    with pytest.raises(ICATPrivilegesError) as info:
        alice.createMany([alice.new("Dataset", name="ok", investigation=world.inv["I1"], type=world.dtype),
                          alice.new("Dataset", name="no", investigation=world.inv["I2"], type=world.dtype)])
    assert info.value.offset == 1
    assert root.search("SELECT COUNT(ds) FROM Dataset ds WHERE ds.name IN ('ok', 'no', 'x')") == [0]
    # Inline children are not checked (Datafile has no rule at all).
    inline = alice.new("Dataset", name="inline", investigation=world.inv["I1"], type=world.dtype,
                       datafiles=[alice.new("Datafile", name="child")])
    inline.create()
    assert root.search("SELECT COUNT(df) FROM Datafile df WHERE df.name = 'child'") == [1]


def test_update_and_delete(root, world, login):
    rules(root, "RUD", WRITER)
    alice, bob = login(ALICE), login(BOB)
    ds = root.get("Dataset INCLUDE 1", world.ds["I1"].id)  # alice may not read its type
    ds.description = "edited"
    alice.update(ds)
    ds.complete = True
    alice.update(ds)  # the rule is checked on the stored object, which was not complete yet
    with pytest.raises(ICATPrivilegesError, match="UPDATE access to this Dataset is not allowed."):
        alice.update(ds)
    with pytest.raises(ICATPrivilegesError):
        bob.update(bob.new("Dataset", id=world.ds["I1"].id, name="I1-ds", investigation=world.inv["I1"]))
    # Delete cascades to the datafiles, which need DELETE too.
    fresh = alice.new("Dataset", name="fresh", investigation=world.inv["I1"], type=world.dtype)
    fresh.id = root.create(fresh)
    fresh_file = root.new("Datafile", name="ff", dataset=fresh)
    fresh_file.create()
    with pytest.raises(ICATPrivilegesError, match="DELETE access to this Datafile is not allowed."):
        alice.delete(fresh)
    rules(root, "D", "Datafile")
    alice.delete(fresh)
    assert root.search("SELECT COUNT(df) FROM Datafile df WHERE df.name = 'ff'") == [0]


def test_moving_an_object_needs_delete_and_create(root, world, login):
    rules(root, "RU", WRITER)
    alice = login(ALICE)
    ds = root.get("Dataset INCLUDE 1", world.ds["I1"].id)
    ds.investigation = world.inv["I2"]
    with pytest.raises(ICATPrivilegesError, match="DELETE access to this Dataset is not allowed."):
        alice.update(ds)
    rules(root, "CD", "SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = 'I1'")
    with pytest.raises(ICATPrivilegesError, match="CREATE access to this Dataset is not allowed."):
        alice.update(ds)  # the moved dataset would be in I2
    rules(root, "C", "SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = 'I2'")
    alice.update(ds)
    assert root.get("Dataset ds INCLUDE ds.investigation", ds.id).investigation.name == "I2"


def test_is_access_allowed(root, world, login):
    rules(root, "RU", WRITER)
    alice, bob = login(ALICE), login(BOB)
    mine = alice.new("Dataset", id=world.ds["I1"].id)
    assert [alice.isAccessAllowed(mine, a) for a in ("READ", "UPDATE", "DELETE")] == [True, True, False]
    assert [bob.isAccessAllowed(mine, a) for a in ("READ", "UPDATE")] == [False, False]
    assert alice.isAccessAllowed(alice.new("Dataset", id=999_999), "READ") is False
    new = alice.new("Dataset", name="n", investigation=world.inv["I1"], type=world.dtype)
    assert alice.isAccessAllowed(new, "CREATE") is False  # no C flag
    rules(root, "C", WRITER)
    assert alice.isAccessAllowed(new, "CREATE") is True
    assert root.search("SELECT COUNT(ds) FROM Dataset ds WHERE ds.name = 'n'") == [0]
    assert root.isAccessAllowed(mine, "DELETE") is True


# --- the rules themselves ----------------------------------------------------------------

@pytest.mark.parametrize(("flags", "what", "message"), [
    ("R", "SELECT ds FROM Dataset ds WHERE", "Attempt to read beyond end"),
    ("R", "SELECT ds FROM Dataset ds WHERE ds.nosuch = 1", "Dataset has no field nosuch"),
    ("R", "SELECT DISTINCT ds FROM Dataset ds", "Rule must have an entity reference"),
    ("R", "SELECT ds.investigation.name FROM Dataset ds", "Rule must have an entity reference"),
    ("R", "SELECT COUNT(ds) FROM Dataset ds", "Rule must have an entity reference"),
    ("R", "SELECT ds FROM Dataset ds ORDER BY ds.name", "only SELECT, FROM and WHERE"),
    ("R", "Dataset INCLUDE 1", "only SELECT, FROM and WHERE"),
    ("R", "SELECT x FROM Dataset ds", "idVar 'X' referenced in the SELECT clause is not defined"),
    ("R", "Nonsense [name='x']", "Nonsense is not an ICAT entity"),
    ("R", "SELECT ds.name FROM Dataset ds", "Attribute selection in rules is only allowed for Update"),
    ("U", "SELECT ds.nosuch FROM Dataset ds", "Dataset does not have attribute nosuch"),
    ("RX", "Dataset", "CRUD value RX contains false"),
])
def test_malformed_rules_are_refused(root, world, flags, what, message):
    with pytest.raises(ICATParameterError, match=message):
        root.create(root.new("Rule", crudFlags=flags, what=what))
    assert root.search("SELECT COUNT(r) FROM Rule r") == [0]


def test_rule_text_cannot_reach_the_database(root, world, login):
    hostile = "SELECT ds FROM Dataset ds WHERE ds.name = 'x'' OR 1=1; DROP TABLE \"Dataset\" --'"
    rules(root, "R", hostile)
    assert login(ALICE).search("SELECT ds FROM Dataset ds") == []
    assert root.search("SELECT COUNT(ds) FROM Dataset ds") == [2]
    with pytest.raises(ICATParameterError):
        rules(root, "R", "SELECT ds FROM Dataset ds WHERE ds.name = 'x' OR 1=1; DROP TABLE Dataset")


def test_a_stored_rule_that_does_not_parse_grants_nothing(server, root, world, login):
    read_rules(root)
    with server.service.store.writing() as conn:  # as a database of an older testbox might hold
        conn.execute('INSERT INTO "Rule" (id, crudFlags, what) VALUES (999999, \'R\', \'SELECT nonsense\')')
    assert [i.name for i in login(ALICE).search("SELECT i FROM Investigation i")] == ["I1"]


def test_flags_are_normalised_and_updates_are_checked(root, world):
    (rule_id,) = rules(root, " crud ", "Dataset")
    rule = root.get("Rule", rule_id)
    assert rule.crudFlags == "CRUD"
    rule.what = "SELECT ds FROM Dataset ds WHERE"
    with pytest.raises(ICATParameterError):
        rule.update()
    assert root.get("Rule", rule_id).what == "Dataset"


def test_public_step_needs_a_relation_of_its_origin(root, world):
    with pytest.raises(ICATParameterError, match="Field value name does not implement a relationship from Dataset"):
        root.create(root.new("PublicStep", origin="Dataset", field="name"))
    with pytest.raises(ICATParameterError, match="Nonsense is not an ICAT entity"):
        root.create(root.new("PublicStep", origin="Nonsense", field="name"))
    root.create(root.new("PublicStep", origin="Dataset", field="datafiles"))


# --- how rules become SQL ------------------------------------------------------------------

@pytest.mark.parametrize(("what", "condition"), [
    # The variable only leads to its first ONE relation: the foreign key is tested.
    ("SELECT df FROM Datafile df JOIN df.dataset ds JOIN ds.investigation i WHERE i.name = 'x'",
     't0."dataset_id" IN (SELECT'),
    ("Datafile <-> Dataset [name = 'x']", 't0."dataset_id" IN (SELECT'),
    # The variable is used again, the first join is LEFT or along a MANY relation: the id is.
    ("SELECT df FROM Datafile df JOIN df.dataset ds WHERE df.name = 'x'", "t0.id IN (SELECT"),
    ("SELECT df FROM Datafile df LEFT JOIN df.dataset ds WHERE ds.name = 'x'", "t0.id IN (SELECT"),
    ("SELECT df FROM Datafile df JOIN df.parameters p WHERE p.stringValue = 'x'", "t0.id IN (SELECT"),
    ("SELECT df FROM Datafile df JOIN df.dataset ds WHERE ds.id IN (SELECT d.dataset.id FROM Datafile d "
     "WHERE d.id = df.id)", "t0.id IN (SELECT"),
])
def test_rules_compile_to_one_sub_select_each(what, condition):
    sql = Compiler("db/alice").id_filter("t0.", ENTITIES["Datafile"], [parse_what(what)])
    assert sql.startswith("(" + condition)
