"""Who may see what in ICAT: messages through the real pipeline (RabbitMQ → bridge → worker →
ICAT), then the people themselves log in and search.

A proposal-update makes its team the members of the visit's grouping; the rules that
reference.yaml ships let exactly those members read the visit, its datasets, datafiles,
parameters and samples. The team's accounts (``uos/<username>``) are added to the
testbox with its ``/testbox/accounts`` hook, as root; against a real ICAT
(``PACER_TEST_BACKEND=server``) nobody can create logins for them, so the module skips.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import icat
import pytest
import requests
from icat.exception import ICATPrivilegesError
from pydantic import ValidationError

from pacer_celery.icat.session import service_url
from pacer_celery.journal import journal
from pacer_celery.models.reference import ReferenceData
from pacer_celery.settings import get_settings
from pacer_celery.tasks.reference import load_reference, read_reference_file
from tests.core.conftest import send, wait_for
from tests.flows.conftest import REFERENCE_FILE, dataset_message, proposal_message, user_message

pytestmark = pytest.mark.skipif(
    os.environ.get("PACER_TEST_BACKEND", "testbox") != "testbox",
    reason="logins for the team need the testbox's /testbox/accounts hook",
)

USERS, PROPOSALS, DATASETS = "uos.users", "uos.proposals", "daq.datasets"
PASSWORD = "team-secret"


@pytest.fixture
def people(icat_server, checker):
    """``people(*usernames)``: each a fresh python-icat client logged in as ``uos/<username>``."""
    base = urlsplit(icat_server["ICAT_SERVER_URL"])
    hook = f"{base.scheme}://{base.netloc}/testbox/accounts"
    prefix = get_settings().icat_user_prefix
    clients = []

    def log_in(*usernames: str) -> list[icat.Client]:
        users = [{"plugin": prefix, "name": name, "password": PASSWORD} for name in usernames]
        answer = requests.post(hook, json={"sessionId": checker.sessionId, "users": users}, timeout=30)
        assert answer.status_code == 204, answer.text
        logged_in = []
        for name in usernames:
            client = icat.Client(service_url(icat_server["ICAT_SERVER_URL"]))
            client.login(prefix, {"username": name, "password": PASSWORD})
            logged_in.append(client)
        clients.extend(logged_in)
        return logged_in

    yield log_in
    for client in clients:
        client.logout()


def visible(client: icat.Client, proposal: str) -> dict[str, object]:
    """What ``client`` finds of the proposal's visit."""
    where = f"i.name = '{proposal}'"
    datasets = client.search(f"SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE {where} "
                             "INCLUDE ds.datafiles, ds.investigation, ds.parameters AS p, p.type")
    return {
        "investigations": [i.name for i in client.search(f"SELECT i FROM Investigation i WHERE {where}")],
        "datasets": [(ds.name, ds.investigation.name, len(ds.datafiles)) for ds in datasets],
        "parameters": sorted(p.type.name for ds in datasets for p in ds.parameters),
        "datafiles": client.search(f"SELECT COUNT(df) FROM Datafile df JOIN df.dataset ds "
                                   f"JOIN ds.investigation i WHERE {where}"),
        "samples": client.search(f"SELECT s.name FROM Sample s JOIN s.investigation i WHERE {where}"),
    }


NOTHING = {"investigations": [], "datasets": [], "parameters": [], "datafiles": [0], "samples": []}


def members(checker: icat.Client, proposal: str) -> list[str]:
    return sorted(checker.search(f"SELECT u.name FROM UserGroup ug JOIN ug.grouping g JOIN ug.user u "
                                 f"WHERE g.name = 'investigation_{proposal}_1'"))


def team_view(proposal: str) -> dict[str, object]:
    """What the team finds after ``landed``: the visit, its dataset with its files,
    parameters and sample."""
    return {
        "investigations": [proposal],
        "datasets": [("sample1_0001", proposal, 3)],
        "parameters": ["energy", "scan_type"],
        "datafiles": [3],
        "samples": ["sample1"],
    }


def landed(broker, checker, proposal: str, team_size: int = 2) -> None:
    """Publish the visit and one dataset of three files; wait until both are in ICAT."""
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    wait_for(lambda: len(members(checker, proposal)) == team_size, what="the team's grouping")
    dataset = send(broker, dataset_message(proposal), routing_key=DATASETS)
    # Done in the journal: all its steps ran (a new dataset shows its file count from the
    # moment it is created, before its files and parameters are in).
    wait_for(lambda: getattr(journal().load(dataset), "status", None) == "done", what="the dataset with its files")


def test_team_members_find_their_visit_and_nobody_else_does(broker, checker, people, uid):
    proposal = f"ACC{uid}"
    landed(broker, checker, proposal)
    pi, co, outsider = people(f"pi{proposal}", f"co{proposal}", f"out{uid}")
    for member in (pi, co):
        assert visible(member, proposal) == team_view(proposal)
        (inv,) = member.search(f"SELECT i FROM Investigation i WHERE i.name = '{proposal}' "
                               "INCLUDE i.investigationUsers AS iu, iu.user, i.facility, i.type")
        assert sorted(iu.user.name for iu in inv.investigationUsers) == [f"uos/co{proposal}", f"uos/pi{proposal}"]
        assert (inv.facility.name, inv.type.name) == ("PACER", "experiment")
        assert member.get("Investigation", inv.id).name == proposal
    assert visible(outsider, proposal) == NOTHING
    (inv_id,) = checker.search(f"SELECT i.id FROM Investigation i WHERE i.name = '{proposal}'")
    with pytest.raises(ICATPrivilegesError, match="READ access to this Investigation is not allowed"):
        outsider.get("Investigation", inv_id)
    # Reference data is everybody's.
    assert "HDF5" in outsider.search("SELECT f.name FROM DatafileFormat f")


def test_someone_removed_from_the_team_finds_nothing(broker, checker, people, uid):
    proposal = f"REM{uid}"
    landed(broker, checker, proposal)
    pi, co = people(f"pi{proposal}", f"co{proposal}")
    assert visible(co, proposal) == team_view(proposal)
    send(broker, proposal_message(proposal, team=[{"username": f"pi{proposal}", "role": "principal_investigator"}]),
         routing_key=PROPOSALS)
    wait_for(lambda: members(checker, proposal) == [f"uos/pi{proposal}"], what="the co-investigator removed")
    # The same session: rule checks follow the memberships at once.
    assert visible(co, proposal) == NOTHING
    assert visible(pi, proposal) == team_view(proposal)


def test_a_deactivated_user_finds_nothing(broker, checker, people, uid):
    proposal = f"DEA{uid}"
    landed(broker, checker, proposal)
    pi, co = people(f"pi{proposal}", f"co{proposal}")
    assert visible(co, proposal) == team_view(proposal)
    send(broker, user_message(f"co{proposal}", is_active=False), routing_key=USERS)
    wait_for(lambda: members(checker, proposal) == [f"uos/pi{proposal}"], what="the memberships revoked")
    assert visible(co, proposal) == NOTHING
    assert visible(pi, proposal) == team_view(proposal)


def test_on_a_cancelled_proposal_nobody_finds_anything(broker, checker, people, uid):
    proposal = f"CAN{uid}"
    landed(broker, checker, proposal)
    pi, co = people(f"pi{proposal}", f"co{proposal}")
    assert visible(pi, proposal) == team_view(proposal)
    send(broker, proposal_message(proposal, status="cancelled"), routing_key=PROPOSALS)
    wait_for(lambda: members(checker, proposal) == [], what="the grouping emptied")
    for member in (pi, co):
        assert visible(member, proposal) == NOTHING
    # The investigation and its data are still there, for root.
    assert visible(checker, proposal) == team_view(proposal)


# --- the rules as reference data ----------------------------------------------------------

def test_reference_rules_and_steps_are_in_icat_once(client, checker):
    data = read_reference_file(REFERENCE_FILE)
    stored = {(r.crudFlags, r.what) for r in checker.search("SELECT r FROM Rule r WHERE r.grouping IS NULL")}
    assert {(r.crud_flags, r.what) for r in data.rules} <= stored
    steps = {(s.origin, s.field) for s in checker.search("SELECT s FROM PublicStep s")}
    assert {(s.origin, s.field) for s in data.public_steps} <= steps
    before = checker.search("SELECT COUNT(r) FROM Rule r") + checker.search("SELECT COUNT(s) FROM PublicStep s")
    results = {r.section: r for r in load_reference(client, data)}
    assert (results["rules"].created, results["rules"].unchanged) == (0, len(data.rules))
    assert (results["public_steps"].created, results["public_steps"].unchanged) == (0, len(data.public_steps))
    assert checker.search("SELECT COUNT(r) FROM Rule r") + checker.search("SELECT COUNT(s) FROM PublicStep s") == before


def test_a_rule_for_a_grouping_creates_the_grouping_once(client, checker, uid):
    data = read_reference_file(REFERENCE_FILE)
    staff = f"staff{uid}"
    extra = ReferenceData.model_validate({
        "facility": data.facility.model_dump(),
        "rules": [{"crud_flags": "ru", "what": "Dataset", "grouping": staff},
                  {"crud_flags": "R", "what": "Datafile", "grouping": staff}],
    })
    assert [r.created for r in load_reference(client, extra) if r.section == "rules"] == [2]
    assert [r.created for r in load_reference(client, extra) if r.section == "rules"] == [0]
    (grouping,) = checker.search(f"SELECT g FROM Grouping g WHERE g.name = '{staff}' INCLUDE g.rules")
    assert sorted((r.crudFlags, r.what) for r in grouping.rules) == [("R", "Datafile"), ("RU", "Dataset")]


@pytest.mark.parametrize(("rules", "problem"), [
    ([{"crud_flags": "RX", "what": "Dataset"}], "String should match pattern"),
    ([{"crud_flags": "R", "what": ""}], "at least 1 character"),
    ([{"crud_flags": "R", "what": "Dataset", "role": "x"}], "Extra inputs are not permitted"),
    ([{"crud_flags": "R", "what": "Dataset"}, {"crud_flags": "r", "what": "Dataset"}], "listed more than once"),
])
def test_bad_rule_entries_are_refused(rules, problem):
    with pytest.raises(ValidationError, match=problem):
        ReferenceData.model_validate({"facility": {"name": "X"}, "rules": rules})
