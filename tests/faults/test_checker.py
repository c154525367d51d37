"""The fault suite's own parts can fail: the checker sees missing, extra, wrong and
dead-lettered objects, and the reaper kills what a dead harness left behind."""

from __future__ import annotations

import subprocess

import icat
import pytest

from testbox.instance import build_icat_server
from testbox.service import Config
from tests.faults.checker import Letter, check
from tests.support.load import plan
from tests.support.reaper import Reaper


@pytest.fixture
def empty_icat():
    server = build_icat_server(Config(users={"root": "root"}, root_users={"root"}), ":memory:", False, "127.0.0.1", 0)
    server.start_background()
    client = icat.Client(f"{server.url}/ICATService/ICAT?wsdl")
    client.login("db", {"username": "root", "password": "root"})
    yield client
    client.logout()
    server.stop()


def test_checker_counts_what_is_missing_extra_wrong_and_dead_lettered(empty_icat):
    load = plan(40, seed=3)
    users = [e for (kind, _), e in load.objects.items() if kind == "user"]
    right, wrong = users[0], users[1]
    empty_icat.new("User", name=right.key[0], **right.attributes).create()
    empty_icat.new("User", name=wrong.key[0], **{**right.attributes, "fullName": "Somebody Else"}).create()
    empty_icat.new("User", name="uos/nobody.sent.this").create()
    # One valid message dead-lettered, twice; the invalid ones not at all.
    victim = next(iter(wrong.sources))
    letters = [Letter(victim, "boom"), Letter(victim, "boom")]

    findings = check(empty_icat, load, letters)

    absent = [e for e in load.objects.values() if e not in (right, wrong) and victim not in e.sources]
    assert findings.figures == {
        "lost": len(absent) + len(load.invalid_ids),
        "duplicated": 1,  # the letter
        "wrongly_dead_lettered": 1,
        "wrong": 2,  # the other full name, and the user nobody sent
    }, findings.examples()


def test_reaper_kills_the_groups_of_a_harness_that_died():
    reaper = Reaper()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    reaper.watch(orphan.pid)
    reaper.close()  # as when the harness dies: its end of the pipe closes
    assert orphan.wait(timeout=10) == -9
