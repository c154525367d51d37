"""The provisioning API (``icat-testbox serve``) as a separate process, used over HTTP and
through python-icat against the instances it starts."""

from __future__ import annotations

import http.client
import json
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import icat
import pytest
from provisioning_support import (
    Api,
    login,
    process_gone,
    refuses_connections,
    running_api,
    start_api,
    stop_api,
    wait_until,
)

from testbox.server import SERVICE_PATH

api = pytest.fixture(scope="module", name="api")(running_api)


def instance_directory(instance: dict) -> Path:
    """The instance's private directory: its process's working directory (Linux)."""
    return Path(os.readlink(f"/proc/{instance['pid']}/cwd"))


def test_create_answers_a_working_icat_with_the_defaults(api: Api) -> None:
    status, instance, headers = api.call("POST", "/instances", {})
    assert status == 201
    assert headers["Location"] == f"/instances/{instance['id']}"
    assert instance["auth_plugin"] == "db" and instance["username"] == "root" and instance["password"]
    assert (instance["icat_server_version"], instance["authn_db_version"]) == ("6.2.0", "3.0.0")
    assert instance["load_fixtures"] is True and instance["status"] == "running"

    client = login(instance)
    assert client.getApiVersion() == "6.2.0"
    assert client.getUserName() == "db/root"
    assert [f.name for f in client.search("Facility")] == ["TESTFAC"]  # fixtures by default
    assert sorted(i.name for i in client.search("Instrument")) == ["ALPHA", "BETA"]
    client.logout()


def test_without_fixtures_an_instance_is_empty(api: Api) -> None:
    client = login(api.create(load_fixtures=False))
    assert client.search("Facility") == []
    assert client.search("User") == []
    client.logout()


def test_accounts_per_authenticator_root_names_and_time_zone(api: Api) -> None:
    instance = api.create(
        load_fixtures=False,
        users=[{"plugin": "uos", "name": "jdoe", "password": "pw1"},
               {"plugin": "db", "name": "boss", "password": "pw:2"}],
        root_users=["db/boss"],
        timezone="Europe/Berlin",
    )
    assert instance["users"] == [{"plugin": "uos", "name": "jdoe"}, {"plugin": "db", "name": "boss"}]
    assert instance["root_users"] == ["db/root", "db/boss"] and instance["timezone"] == "Europe/Berlin"
    assert "pw1" not in json.dumps(instance) and "pw1" not in " ".join(_command_line(instance["pid"]))
    jdoe = icat.Client(instance["url"] + SERVICE_PATH + "?wsdl")
    assert sorted(a.mnemonic for a in jdoe.getAuthenticatorInfo()) == ["db", "uos"]
    jdoe.login("uos", {"username": "jdoe", "password": "pw1"})
    assert jdoe.getUserName() == "uos/jdoe"
    assert jdoe.search("Facility") == []  # no rules, no root
    boss = icat.Client(instance["url"] + SERVICE_PATH + "?wsdl")
    boss.login("db", {"username": "boss", "password": "pw:2"})
    facility = boss.new("Facility", name="F")
    facility.create()  # boss is root
    # A date without an offset is in the server's zone: midnight in Berlin in winter.
    inv_type = boss.new("InvestigationType", name="t", facility=facility)
    inv_type.create()
    inv = boss.new("Investigation", name="I", visitId="1", title="t", facility=facility, type=inv_type,
                   startDate="2024-01-01T00:00:00")
    inv.create()
    assert boss.get("Investigation", inv.id).startDate.isoformat() == "2023-12-31T23:00:00+00:00"
    for client in (jdoe, boss):
        client.logout()


def _command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_instances_are_isolated(api: Api) -> None:
    first, second = api.create(load_fixtures=False), api.create(load_fixtures=False)
    assert first["url"] != second["url"] and first["password"] != second["password"]
    a, b = login(first), login(second)
    facility = a.new("Facility", name="ONLY-IN-A", fullName="Only in A")
    facility.create()

    assert [f.name for f in a.search("Facility")] == ["ONLY-IN-A"]
    assert b.search("Facility") == []
    # Each has its own root password.
    with pytest.raises(icat.ICATSessionError):
        icat.Client(second["url"] + SERVICE_PATH + "?wsdl").login(
            "db", {"username": "root", "password": first["password"]})
    a.logout()
    b.logout()


def test_list_get_and_delete(api: Api) -> None:
    instance = api.create(load_fixtures=False)
    client = login(instance)

    status, listed, _ = api.call("GET", "/instances")
    assert status == 200 and instance["id"] in [i["id"] for i in listed["instances"]]
    status, got, _ = api.call("GET", f"/instances/{instance['id']}")
    assert status == 200 and got == instance

    directory = instance_directory(instance)
    assert (directory / "icat.db").exists()

    status, answer, _ = api.call("DELETE", f"/instances/{instance['id']}")
    assert (status, answer) == (204, None)
    # Stopped for real: the process is gone (reaped), its files too, the port refuses,
    # the client fails.
    assert process_gone(instance["pid"])
    assert not directory.exists()
    assert refuses_connections(instance["url"])
    with pytest.raises(OSError):  # suds lets urllib's URLError through
        client.getUserName()
    client.autoLogout = False  # its server is gone: no logout when it is collected
    assert api.call("GET", f"/instances/{instance['id']}")[0] == 404
    assert instance["id"] not in [i["id"] for i in api.call("GET", "/instances")[1]["instances"]]


def test_unknown_ids_are_404(api: Api) -> None:
    for method in ("GET", "DELETE"):
        status, answer, _ = api.call(method, "/instances/no-such-id")
        assert status == 404 and "no-such-id" in answer["error"]
    assert api.call("GET", "/elsewhere")[0] == 404


@pytest.mark.parametrize("field", ["icat_server_version", "authn_db_version"])
def test_unknown_versions_are_400_with_the_supported_list(api: Api, field: str) -> None:
    status, answer, _ = api.call("POST", "/instances", {field: "9.9.9"})
    assert status == 400
    assert "9.9.9" in answer["error"]
    assert answer["supported"] == (["6.2.0"] if field == "icat_server_version" else ["3.0.0"])


@pytest.mark.parametrize("raw, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[]", 400, "JSON object"),
    (b'{"load_fixture": false}', 400, "unknown fields: load_fixture"),
    (b'{"load_fixtures": "no"}', 400, "load_fixtures must be a boolean"),
    (b'{"icat_server_version": 6.2}', 400, "icat_server_version must be a string"),
    (b'{"users": {"name": "x"}}', 400, "users must be a list"),
    (b'{"users": [{"plugin": "db", "name": "x"}]}', 400, "users[0]: missing fields: password"),
    (b'{"users": [{"plugin": "db", "name": "x", "password": "p", "role": "a"}]}', 400,
     "users[0]: unknown fields: role"),
    (b'{"users": [{"plugin": "d/b", "name": "x", "password": "p"}]}', 400, "users[0].plugin must be"),
    (b'{"users": [{"plugin": "db", "name": "a b", "password": "p"}]}', 400, "users[0].name must be"),
    (b'{"users": [{"plugin": "db", "name": "x", "password": ""}]}', 400, "users[0].password must be"),
    (b'{"users": [{"plugin": "db", "name": "x", "password": "p"}, {"plugin": "db", "name": "x", "password": "q"}]}',
     400, "db/x given more than once"),
    (b'{"users": [{"plugin": "db", "name": "root", "password": "p"}]}', 400, "generated root account"),
    (b'{"root_users": ["jdoe"]}', 400, "root_users[0] must be a user name plugin/name"),
    (b'{"timezone": "Mars/Olympus"}', 400, "unknown timezone"),
    (b'{"x": "' + b"a" * 70000 + b'"}', 413, "over"),
])
def test_bad_bodies_are_refused(api: Api, raw: bytes, status: int, words: str) -> None:
    before = len(api.call("GET", "/instances")[1]["instances"])
    answer_status, answer, _ = api.call("POST", "/instances", raw=raw)
    assert answer_status == status and words in answer["error"]
    assert len(api.call("GET", "/instances")[1]["instances"]) == before


def test_a_chunked_body_is_411(api: Api) -> None:
    parts = urlsplit(api.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("POST", "/instances", body=iter([b"{}"]), headers={"Transfer-Encoding": "chunked"})
    response = conn.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    conn.close()


def test_other_methods_are_405(api: Api) -> None:
    status, _, headers = api.call("PUT", "/instances", {})
    assert status == 405 and headers["Allow"] == "GET, POST"
    status, _, headers = api.call("POST", "/instances/some-id", {})
    assert status == 405 and headers["Allow"] == "GET, DELETE"


def test_a_crashed_instance_leaves_the_api_working(api: Api) -> None:
    instance = api.create(load_fixtures=False)
    os.kill(instance["pid"], signal.SIGKILL)
    assert wait_until(lambda: api.call("GET", f"/instances/{instance['id']}")[1]["status"] == "exited")
    assert api.call("GET", f"/instances/{instance['id']}")[1]["returncode"] == -signal.SIGKILL

    login(api.create(load_fixtures=False)).logout()
    assert api.call("DELETE", f"/instances/{instance['id']}")[0] == 204


def test_instance_limit_and_sigterm_stops_every_instance(tmp_path: Path) -> None:
    own = start_api(tmp_path / "serve.log", "--max-instances", "1")
    instance = own.create(load_fixtures=False)
    directory = instance_directory(instance)
    status, answer, _ = own.call("POST", "/instances", {})
    assert status == 429 and "at most 1" in answer["error"]

    assert stop_api(own) == 0
    assert process_gone(instance["pid"])
    assert not directory.exists()
    assert refuses_connections(instance["url"])


def test_instances_follow_a_killed_api(tmp_path: Path) -> None:
    own = start_api(tmp_path / "serve.log")
    instance = own.create(load_fixtures=False)
    directory = instance_directory(instance)
    own.process.kill()
    own.process.wait()
    # The instance sees its stdin pipe close, shuts itself down and removes its files.
    assert wait_until(lambda: refuses_connections(instance["url"]) and not directory.exists(), seconds=60)
