"""The ``icat_backend`` fixture (tests/icat_backend.py): in this session as configured, and
in separate pytest runs for the other settings of its environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from provisioning_support import Api, refuses_connections, running_api

from pacer_celery.settings import get_settings

REPOSITORY = Path(__file__).resolve().parents[2]
BACKEND_VARIABLES = ("ICAT_SERVER_URL", "ICAT_AUTH_PLUGIN", "ICAT_AUTH_USERNAME", "ICAT_AUTH_PASSWORD")

#: Run in a separate pytest: records what the fixture gave and what PACER's settings saw.
INNER_TEST = '''
import json, os
from pacer_celery.settings import get_settings

def test_inner(icat_backend):
    client = icat_backend.client()
    settings = get_settings()
    record = {
        "url": icat_backend.url,
        "user": client.getUserName(),
        "facilities": [f.name for f in client.search("Facility")],
        "settings_url": settings.icat_server_url,
        "settings_user": settings.icat_auth_username,
    }
    client.logout()
    with open(os.environ["INNER_RECORD"], "w") as out:
        json.dump(record, out)
'''


def test_the_fixture_gives_a_logged_in_client_and_exports_the_settings(icat_backend) -> None:
    client = icat_backend.client()
    assert client.getUserName() == f"{icat_backend.auth_plugin}/{icat_backend.username}"
    assert client.search("SELECT COUNT(f) FROM Facility f")[0] >= 0
    client.logout()
    assert os.environ["ICAT_SERVER_URL"] == icat_backend.url
    assert os.environ["ICAT_AUTH_PASSWORD"] == icat_backend.password
    settings = get_settings()
    assert settings.icat_server_url == icat_backend.url
    assert settings.icat_auth_plugin == icat_backend.auth_plugin
    assert settings.icat_auth_username == icat_backend.username
    assert settings.icat_auth_password.get_secret_value() == icat_backend.password


def run_inner(tmp_path: Path, **variables: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST)
    record = tmp_path / "record.json"
    env = {name: value for name, value in os.environ.items()
           if name not in BACKEND_VARIABLES and not name.startswith(("ICAT_TESTBOX_", "PACER_TEST_"))}
    env |= {"PYTHONPATH": str(REPOSITORY), "INNER_RECORD": str(record), **variables}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.icat_backend", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    return result, json.loads(record.read_text()) if record.exists() else None


api = pytest.fixture(scope="module", name="api")(running_api)


def api_variables(api: Api, **more: str) -> dict[str, str]:
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    return {"ICAT_TESTBOX_SERVER_HOST": host, "ICAT_TESTBOX_SERVER_PORT": port, **more}


@pytest.mark.parametrize("delete_after", ["true", "false"])
def test_a_given_api_provisions_the_instance(tmp_path: Path, api: Api, delete_after: str) -> None:
    before = {i["id"] for i in api.call("GET", "/instances")[1]["instances"]}
    result, record = run_inner(tmp_path, **api_variables(
        api, ICAT_TESTBOX_DB_FIXTURE_LOAD="false", ICAT_TESTBOX_DELETE_AFTER_TESTS_RUN=delete_after))
    assert result.returncode == 0, result.stdout + result.stderr
    assert record["user"] == "db/root" and record["facilities"] == []  # fixtures not loaded
    assert (record["settings_url"], record["settings_user"]) == (record["url"], "root")

    left = [i for i in api.call("GET", "/instances")[1]["instances"] if i["id"] not in before]
    if delete_after == "true":
        assert left == []
    else:
        assert [i["url"] for i in left] == [record["url"]] and left[0]["status"] == "running"


def test_without_a_host_the_suite_runs_its_own_api(tmp_path: Path) -> None:
    result, record = run_inner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert record["user"] == "db/root" and record["facilities"] == ["TESTFAC"]  # loaded by default
    # The API it started stopped with the run, and the instance with it.
    assert refuses_connections(record["url"])


def test_the_server_backend_uses_the_given_icat(tmp_path: Path, api: Api) -> None:
    instance = api.create(load_fixtures=True)
    result, record = run_inner(
        tmp_path, PACER_TEST_BACKEND="server", ICAT_SERVER_URL=instance["url"], ICAT_AUTH_PLUGIN="db",
        ICAT_AUTH_USERNAME="root", ICAT_AUTH_PASSWORD=instance["password"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert record["url"] == instance["url"] and record["facilities"] == ["TESTFAC"]


@pytest.mark.parametrize("variables, message", [
    ({"PACER_TEST_BACKEND": "docker"}, "PACER_TEST_BACKEND must be one of testbox, server"),
    ({"PACER_TEST_BACKEND": "server"}, "PACER_TEST_BACKEND=server needs ICAT_SERVER_URL"),
    ({"ICAT_TESTBOX_DB_FIXTURE_LOAD": "maybe"}, "ICAT_TESTBOX_DB_FIXTURE_LOAD must be true or false"),
    ({"ICAT_TESTBOX_ICAT_SERVER_VERSION": "4.11.1"}, "unsupported icat_server_version '4.11.1'"),
])
def test_bad_settings_fail_clearly(tmp_path: Path, api: Api, variables: dict, message: str) -> None:
    result, record = run_inner(tmp_path, **api_variables(api), **variables)
    assert result.returncode == 1 and record is None
    assert message in result.stdout
