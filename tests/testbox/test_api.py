"""python-icat against the testbox: connection, metadata, sessions and accounts."""

from __future__ import annotations

import icat
import pytest
import requests
from icat.exception import ICATParameterError, ICATPrivilegesError, ICATSessionError

from testbox.instance import build_icat_server
from testbox.model import ENTITIES
from testbox.service import Config

from testbox_support import ROOT, USER, make_client


def test_connects_and_reports_api_version(server):
    client = make_client(server.url, account=None)
    assert str(client.apiversion) == "6.2.0"
    assert client.getVersion() == "6.2.0"


def test_entity_names_are_the_53_of_icat_6_2(server):
    client = make_client(server.url, account=None)
    names = client.getEntityNames()
    assert len(names) == 53
    assert sorted(names) == sorted(ENTITIES)


def test_type_map_matches_the_model(server):
    client = make_client(server.url, account=None)
    for name, entity in ENTITIES.items():
        cls = client.getEntityClass(name)
        assert cls.BeanName == name
        assert cls.InstAttr == frozenset(a.name for a in entity.attributes) | {"id"}, name
        assert cls.InstRel == frozenset(r.name for r in entity.ones), name
        assert cls.InstMRel == frozenset(m.name for m in entity.manys), name
        # python-icat's default Constraint is ('id',) for entities without one
        assert cls.Constraint == (entity.unique or ("id",)), name
    assert issubclass(client.typemap["datasetParameter"], client.typemap["parameter"])


def test_entity_info_details(server):
    client = make_client(server.url, account=None)
    info = client.getEntityInfo("Dataset")
    fields = {f.name: f for f in info.fields}
    assert fields["name"].notNullable is True
    assert fields["name"].stringLength == 255
    assert fields["location"].stringLength == 511
    assert fields["investigation"].relType == "ONE"
    assert fields["investigation"].type == "Investigation"
    assert fields["datafiles"].relType == "MANY"
    assert fields["startDate"].type == "Date"
    assert fields["id"].type == "Long"
    assert list(info.constraints[0].fieldNames) == ["investigation", "name"]
    assert not hasattr(client.getEntityInfo("Rule"), "constraints") or not client.getEntityInfo("Rule").constraints
    with pytest.raises(ICATParameterError):
        client.getEntityInfo("NoSuchEntity")


def test_login_session_calls_and_logout(server):
    client = make_client(server.url)
    assert client.getUserName() == "db/root"
    assert 119 < client.getRemainingMinutes() <= 120
    client.refresh()
    assert "rootUserNames db/root" in client.getProperties()
    session = client.sessionId
    client.logout()
    other = make_client(server.url, account=None)
    other.sessionId = session
    with pytest.raises(ICATSessionError, match="Unable to find user by sessionid"):
        other.getUserName()
    other.sessionId = None


def test_bad_credentials_and_plugin(server):
    client = make_client(server.url, account=None)
    with pytest.raises(ICATSessionError, match="do not match"):
        client.login("db", {"username": ROOT[0], "password": "wrong"})
    with pytest.raises(ICATSessionError, match="not recognised"):
        client.login("ldap", {"username": ROOT[0], "password": ROOT[1]})


def test_authenticator_info(server):
    client = make_client(server.url, account=None)
    (info,) = client.getAuthenticatorInfo()
    assert info.mnemonic == "db"
    assert [(k.name, k.hide) for k in info.keys] == [("username", False), ("password", True)]


def test_expired_session_answers_session_error(server):
    client = make_client(server.url)
    response = requests.post(f"{server.url}/testbox/sessions/{client.sessionId}/expire", timeout=10)
    assert response.status_code == 204
    with pytest.raises(ICATSessionError, match="has expired"):
        client.getUserName()
    with pytest.raises(ICATSessionError):
        client.create(client.new("Facility", name="late"))
    client.sessionId = None
    assert requests.post(f"{server.url}/testbox/sessions/nope/expire", timeout=10).status_code == 404


def test_non_root_user_without_rules_sees_and_touches_nothing(server, client):
    client.new("Facility", name="F").create()
    alice = make_client(server.url, account=USER)
    assert alice.getUserName() == "db/alice"
    facility = alice.new("Facility", name="G")
    with pytest.raises(ICATPrivilegesError, match="CREATE access to this Facility is not allowed"):
        alice.create(facility)
    # As real ICAT: a search no rule allows is empty, not refused.
    assert alice.search("SELECT f FROM Facility f") == []
    assert alice.search("SELECT COUNT(f) FROM Facility f") == [0]
    with pytest.raises(ICATPrivilegesError):
        alice.getProperties()
    assert alice.isAccessAllowed(facility, "CREATE") is False
    assert server.service.store.count("Facility") == 1
    alice.logout()


def test_root_adds_accounts_to_a_running_icat(server, client):
    hook = f"{server.url}/testbox/accounts"
    users = [{"plugin": "uos", "name": "jdoe", "password": "pw"}]
    assert requests.post(hook, json={"sessionId": client.sessionId, "users": users}, timeout=10).status_code == 204
    jdoe = make_client(server.url, account=None)
    jdoe.login("uos", {"username": "jdoe", "password": "pw"})
    assert jdoe.getUserName() == "uos/jdoe"
    # Only root may: alice's session, a made-up one, or a bad body are refused.
    alice = make_client(server.url, account=USER)
    more = [{"plugin": "db", "name": "eve", "password": "pw"}]
    for session in (alice.sessionId, "no-such-session"):
        answer = requests.post(hook, json={"sessionId": session, "users": more}, timeout=10)
        assert answer.status_code == 403
    for body in ({"users": more}, {"sessionId": client.sessionId, "users": [{"name": "eve"}]}):
        assert requests.post(hook, json=body, timeout=10).status_code == 400
    assert requests.post(hook, data=b"{", timeout=10).status_code == 400
    with pytest.raises(ICATSessionError):
        make_client(server.url, account=("eve", "pw"))
    for c in (jdoe, alice):
        c.logout()


def test_root_access_allowed_checks_create_validity(server, client):
    assert client.isAccessAllowed(client.new("Facility", name="F"), "CREATE") is True
    assert client.isAccessAllowed(client.new("Facility", name="F"), "READ") is True
    with pytest.raises(icat.exception.ICATValidationError):
        client.isAccessAllowed(client.new("Facility"), "CREATE")
    assert server.service.store.count("Facility") == 0  # the check created nothing


def test_accounts_of_other_authenticator_mnemonics():
    config = Config(users={"simple/boss": "bosspw", "carol": "carolpw"}, root_users={"simple/boss"})
    srv = build_icat_server(config)
    srv.start_background()
    try:
        client = make_client(srv.url, account=None)
        assert [a.mnemonic for a in client.getAuthenticatorInfo()] == ["db", "simple"]
        client.login("simple", {"username": "boss", "password": "bosspw"})
        assert client.getUserName() == "simple/boss"
        client.new("Facility", name="F").create()
        with pytest.raises(ICATSessionError, match="do not match"):
            client.login("db", {"username": "boss", "password": "bosspw"})
        client.login("db", {"username": "carol", "password": "carolpw"})
        assert client.getUserName() == "db/carol"
        client.logout()
    finally:
        srv.stop()
