"""proposal-update against ICAT: the four steps called directly with PACER's client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pacer_celery.errors import PermanentError
from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.models.users import UserMessage
from pacer_celery.tasks import proposals
from pacer_celery.tasks.users import update_user
from tests.flows.conftest import proposal_message, run_as_chain, user_message

STEPS = (
    proposals.upsert_investigation,
    proposals.sync_instruments,
    proposals.sync_team,
    proposals.sync_access,
)


def apply(client, document):
    message = ProposalMessage.model_validate(document)
    return [step(message, client=client) for step in STEPS]


def investigation(checker, proposal, visit="1"):
    (found,) = checker.search(
        "SELECT i FROM Investigation i JOIN i.facility f WHERE f.name = 'PACER' "
        f"AND i.name = '{proposal}' AND i.visitId = '{visit}' INCLUDE i.type"
    )
    return found


def state(checker, proposal, visit="1"):
    """What the proposal's visit looks like in ICAT, for comparisons."""
    inv = investigation(checker, proposal, visit)
    where = f"i.name = '{proposal}' AND i.visitId = '{visit}'"
    instruments = checker.search(
        f"SELECT ins.name FROM InvestigationInstrument ii JOIN ii.investigation i "
        f"JOIN ii.instrument ins WHERE {where}"
    )
    team = checker.search(
        f"SELECT iu FROM InvestigationUser iu JOIN iu.investigation i WHERE {where} INCLUDE iu.user"
    )
    members = checker.search(
        f"SELECT u.name FROM UserGroup ug JOIN ug.grouping g JOIN ug.user u "
        f"WHERE g.name = 'investigation_{proposal}_{visit}'"
    )
    links = checker.search(
        f"SELECT ig.role FROM InvestigationGroup ig JOIN ig.investigation i JOIN ig.grouping g "
        f"WHERE {where} AND g.name = 'investigation_{proposal}_{visit}'"
    )
    return {
        "title": inv.title,
        "summary": inv.summary,
        "type": inv.type.name,
        "start": inv.startDate,
        "end": inv.endDate,
        "release": inv.releaseDate,
        "modTime": inv.modTime,
        "instruments": sorted(instruments),
        "team": sorted((row.user.name, row.role) for row in team),
        "members": sorted(members),
        "links": links,
    }


def test_new_proposal_lands_with_team_and_access(client, checker, uid):
    proposal = f"P{uid}"
    apply(client, proposal_message(proposal))
    inv = investigation(checker, proposal)
    assert inv.title == "Strain in Ni thin films" and inv.summary == "We will measure ..."
    assert inv.type.name == "experiment"
    assert inv.startDate == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    # No release date given: end date + the facility's 1095 days.
    assert inv.releaseDate == datetime(2026, 12, 4, 7, 0, tzinfo=UTC) + timedelta(days=1095)
    now = state(checker, proposal)
    assert now["instruments"] == ["ID01"]
    assert now["members"] == [f"uos/co{proposal}", f"uos/pi{proposal}"]
    assert now["links"] == ["participant"]
    assert now["team"] == [
        (f"uos/co{proposal}", "co_investigator"),
        (f"uos/pi{proposal}", "principal_investigator"),
    ]
    (pi,) = checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/pi{proposal}'")
    assert pi.fullName == "Jane Doe"


def test_applying_twice_leaves_the_same_state(client, checker, uid):
    proposal = f"T{uid}"
    apply(client, proposal_message(proposal))
    first = state(checker, proposal)
    results = apply(client, proposal_message(proposal))
    assert state(checker, proposal) == first
    assert results[0]["created"] is False and results[0]["changed"] == []
    assert all(not r.get("added") and not r.get("removed") for r in results[1:])


def test_a_new_investigation_skips_the_searches_and_a_step_run_again_converges(client, checker, uid):
    proposal = f"N{uid}"
    message = ProposalMessage.model_validate(proposal_message(proposal))
    results = run_as_chain(STEPS, message, client)
    assert results["proposals.upsert_investigation"]["created"] is True
    assert results["proposals.sync_instruments"] == {"added": ["ID01"], "removed": []}
    first = state(checker, proposal)
    assert first["team"] == [(f"uos/co{proposal}", "co_investigator"), (f"uos/pi{proposal}", "principal_investigator")]
    assert first["members"] == [f"uos/co{proposal}", f"uos/pi{proposal}"] and first["links"] == ["participant"]
    # The worker died after the steps wrote, before the journal knew: they run again
    # with the same earlier results, find every row there and change nothing.
    earlier = {"proposals.upsert_investigation": results["proposals.upsert_investigation"]}
    for step in STEPS[1:]:
        again = step(message, client=client, earlier=earlier)
        assert not again["added"] and not again["removed"], (step.name, again)
    assert state(checker, proposal) == first


def test_instruments_and_team_are_synchronised_exactly(client, checker, uid):
    proposal = f"S{uid}"
    apply(client, proposal_message(proposal))
    changed = proposal_message(
        proposal,
        instruments=["ID02"],
        team=[
            {"username": f"pi{proposal}", "role": "principal_investigator"},
            {"username": f"pi{proposal}", "role": "local_contact"},
            {"username": f"new{proposal}", "role": "team_member"},
        ],
    )
    apply(client, changed)
    now = state(checker, proposal)
    assert now["instruments"] == ["ID02"]
    assert now["team"] == [
        (f"uos/new{proposal}", "team_member"),
        (f"uos/pi{proposal}", "local_contact"),
        (f"uos/pi{proposal}", "principal_investigator"),
    ]
    assert now["members"] == [f"uos/new{proposal}", f"uos/pi{proposal}"]
    # The removed co-investigator's User stays: it is history.
    assert checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/co{proposal}'")


def test_cancelled_proposal_keeps_its_team_but_loses_access(client, checker, uid):
    proposal = f"C{uid}"
    apply(client, proposal_message(proposal))
    apply(client, proposal_message(proposal, status="cancelled"))
    now = state(checker, proposal)
    assert now["members"] == []
    assert len(now["team"]) == 2


def test_order_independent_with_user_update(client, checker, uid):
    proposal = f"O{uid}"
    # user-update first, then the proposal: the profile is not overwritten.
    update_user(UserMessage.model_validate(user_message(f"pi{proposal}", first_name="Ann")), client=client)
    apply(client, proposal_message(proposal))
    (pi,) = checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/pi{proposal}'")
    assert pi.fullName == "Ann Doe"
    # proposal first, then user-update: the profile completes the placeholder.
    update_user(UserMessage.model_validate(user_message(f"co{proposal}")), client=client)
    (co,) = checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/co{proposal}'")
    assert (co.fullName, co.email) == ("Jane Doe", "jane.doe@example.org")


def test_quotes_in_proposal_and_title(client, checker, uid):
    proposal = f"Q'{uid}\"%"
    team = [{"username": f"q{uid}", "role": "principal_investigator"}]
    for _ in range(2):
        apply(client, proposal_message(proposal, title="It's \"quoted\" 100%", team=team))
    escaped = proposal.replace("'", "''")
    (inv,) = checker.search(f"SELECT i FROM Investigation i WHERE i.name = '{escaped}'")
    assert inv.title == "It's \"quoted\" 100%"
    (grouping,) = checker.search(f"SELECT g FROM Grouping g WHERE g.name = 'investigation_{escaped}_1'")
    assert grouping


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "nonsense"}, "unknown investigation type 'nonsense'"),
        ({"instruments": ["ID01", "NOPE"]}, "unknown instrument 'NOPE'"),
    ],
)
def test_unknown_reference_data_is_permanent(client, checker, uid, change, reason):
    proposal = f"U{uid}"
    with pytest.raises(PermanentError, match=reason):
        apply(client, proposal_message(proposal, **change))


def test_unknown_instrument_changes_no_instruments(client, checker, uid):
    proposal = f"V{uid}"
    apply(client, proposal_message(proposal))
    message = ProposalMessage.model_validate(proposal_message(proposal, instruments=["ID02", "NOPE"]))
    with pytest.raises(PermanentError):
        proposals.sync_instruments(message, client=client)
    assert state(checker, proposal)["instruments"] == ["ID01"]
