"""user-update against ICAT: the step function called directly with PACER's client."""

from __future__ import annotations

import pytest

from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.models.users import UserMessage
from pacer_celery.tasks import proposals
from pacer_celery.tasks.users import update_user
from tests.flows.conftest import proposal_message, user_message


def icat_user(checker, name):
    (found,) = checker.search(f"SELECT u FROM User u WHERE u.name = '{name}'")
    return found


def test_new_user_gets_the_profile(client, checker, uid):
    result = update_user(UserMessage.model_validate(user_message(f"jdoe{uid}")), client=client)
    assert result["created"] is True
    user = icat_user(checker, f"uos/jdoe{uid}")
    assert (user.fullName, user.givenName, user.familyName) == ("Jane Doe", "Jane", "Doe")
    assert (user.email, user.orcidId, user.affiliation) == (
        "jane.doe@example.org", "0000-0002-1825-0097", "Example University"
    )


def test_applying_twice_changes_nothing(client, checker, uid):
    message = UserMessage.model_validate(user_message(f"twice{uid}"))
    update_user(message, client=client)
    before = icat_user(checker, f"uos/twice{uid}")
    second = update_user(message, client=client)
    after = icat_user(checker, f"uos/twice{uid}")
    assert second["created"] is False and second["changed"] == []
    assert after.modTime == before.modTime


def test_absent_fields_are_left_as_they_are(client, checker, uid):
    update_user(UserMessage.model_validate(user_message(f"part{uid}")), client=client)
    update_user(
        UserMessage.model_validate({"username": f"part{uid}", "last_name": "Smith",
                                    "updated_at": "2026-11-28T10:00:00Z"}),
        client=client,
    )
    user = icat_user(checker, f"uos/part{uid}")
    assert (user.familyName, user.fullName) == ("Smith", "Jane Smith")
    assert user.email == "jane.doe@example.org" and user.orcidId == "0000-0002-1825-0097"


@pytest.mark.parametrize("last_name", ["O'Brien", 'Say "cheese"', "100% \\ sure", "Ødegård-Ñúñez 李"])
def test_names_that_need_quoting(client, checker, uid, last_name):
    # The username is restricted; the profile fields are free text and land as sent.
    update_user(UserMessage.model_validate(user_message(f"q{uid}", last_name=last_name)), client=client)
    update_user(UserMessage.model_validate(user_message(f"q{uid}", last_name=last_name)), client=client)
    user = icat_user(checker, f"uos/q{uid}")
    assert user.familyName == last_name
    found = checker.search(
        "SELECT u FROM User u WHERE u.familyName = '%s' AND u.name LIKE 'uos/q%s'"
        % (last_name.replace("'", "''"), uid)
    )
    assert [u.name for u in found] == [f"uos/q{uid}"]


def test_inactive_user_loses_access_but_keeps_history(client, checker, uid):
    proposal = ProposalMessage.model_validate(proposal_message(f"9{uid}"))
    for step in (proposals.upsert_investigation, proposals.sync_team, proposals.sync_access):
        step(proposal, client=client)
    pi = proposal.team[0].username
    result = update_user(
        UserMessage.model_validate(user_message(pi, is_active=False)), client=client
    )
    assert result["memberships_removed"] == 1
    groups = checker.search(
        f"SELECT ug FROM UserGroup ug JOIN ug.user u WHERE u.name = 'uos/{pi}'"
    )
    assert groups == []
    roles = checker.search(
        f"SELECT iu FROM InvestigationUser iu JOIN iu.user u WHERE u.name = 'uos/{pi}'"
    )
    assert len(roles) == 1
    assert icat_user(checker, f"uos/{pi}").fullName == "Jane Doe"
