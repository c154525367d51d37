"""``icat-testbox icat``: options, printed credentials, fixtures, persistence, shutdown."""

from __future__ import annotations

import pytest
from icat.exception import ICATPrivilegesError
from testbox_support import make_client, start_testbox_process, stop_testbox_process

from testbox.cli import build_parser


def test_prints_url_and_credentials_and_stops_on_sigterm():
    box = start_testbox_process("--user", "bob:bobpw", "--session-minutes", "5")
    try:
        lines = [box.process.stdout.readline().strip() for _ in range(5)]
        assert lines[0].startswith("wsdl: http://127.0.0.1:")
        assert "auth_plugin: db" in lines
        assert "user: bob:bobpw" in lines
        bob = make_client(box.url, ("bob", "bobpw"))
        assert bob.getUserName() == "db/bob"
        assert 4.9 < bob.getRemainingMinutes() <= 5
        with pytest.raises(ICATPrivilegesError):
            bob.create(bob.new("Facility", name="F"))
        bob.logout()
    finally:
        assert stop_testbox_process(box) == 0


def test_root_names_make_accounts_of_any_authenticator_root():
    box = start_testbox_process("--user", "uos/jdoe:pw", "--root-name", "uos/jdoe")
    try:
        jdoe = make_client(box.url, account=None)
        jdoe.login("uos", {"username": "jdoe", "password": "pw"})
        jdoe.new("Facility", name="F").create()
        assert "rootUserNames db/root uos/jdoe" in jdoe.getProperties()
        jdoe.logout()
    finally:
        stop_testbox_process(box)


def test_fixtures_load_the_documented_facility():
    box = start_testbox_process("--fixtures")
    try:
        client = make_client(box.url)
        assert client.search("SELECT f.name FROM Facility f") == ["TESTFAC"]
        assert client.search("SELECT i.name FROM Instrument i ORDER BY i.name") == ["ALPHA", "BETA"]
        assert len(client.search("SELECT t FROM ParameterType t")) == 3
        (inv,) = client.search(
            "SELECT i FROM Investigation i INCLUDE i.investigationUsers AS iu, iu.user, i.keywords, i.type"
        )
        assert (inv.name, inv.visitId, inv.type.name) == ("TB-0001", "1", "experiment")
        assert sorted(iu.user.name for iu in inv.investigationUsers) == ["db/acord", "db/bbrown"]
        assert sorted(k.name for k in inv.keywords) == ["crystal", "testbox"]
        client.logout()
    finally:
        stop_testbox_process(box)


def test_a_database_file_survives_a_restart(tmp_path):
    db = str(tmp_path / "icat.db")
    box = start_testbox_process("--db", db)
    try:
        client = make_client(box.url)
        client.new("Facility", name="Persistent").create()
        client.logout()
    finally:
        stop_testbox_process(box)

    box = start_testbox_process("--db", db)
    try:
        client = make_client(box.url)
        assert client.search("SELECT f.name FROM Facility f") == ["Persistent"]
        client.new("Facility", name="Second").create()
        assert client.search("SELECT COUNT(f) FROM Facility f") == [2]
        client.logout()
    finally:
        stop_testbox_process(box)


def test_parser_has_an_icat_subcommand_with_defaults():
    args = build_parser().parse_args(["icat"])
    assert (args.host, args.port, args.db, args.fixtures) == ("127.0.0.1", 0, ":memory:", False)
    assert (args.root, args.user, args.session_minutes, args.max_entities) == ([], [], 120, 10000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["icat", "--root", "no-colon"])
