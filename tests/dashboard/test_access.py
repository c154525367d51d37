"""Who may see the dashboard and who may act through it: refusals over real HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import bcrypt
import requests

from pacer_celery.journal import journal, search
from tests.core.conftest import letters_of_run, send, wait_for
from tests.dashboard.conftest import ROOT, running_dashboard


def test_a_page_without_credentials_is_refused(dashboard):
    for path in ("/", "/search?q=x", "/dead-letters", "/message?id=x", "/static/style.css"):
        refused = requests.get(dashboard.url + path, timeout=10)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = requests.get(dashboard.url + "/", auth=(dashboard.user, "not-it"), timeout=10)
    assert wrong.status_code == 401
    unknown = requests.get(dashboard.url + "/", auth=("nobody", dashboard.password), timeout=10)
    assert unknown.status_code == 401
    assert requests.get(dashboard.url + "/healthz", timeout=10).text == "ok"
    assert dashboard.get("/").status_code == 200


def test_every_response_forbids_scripts_and_framing(dashboard):
    for response in (dashboard.get("/"), requests.get(dashboard.url + "/", timeout=10)):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in dashboard.get("/").text


def test_a_post_without_the_csrf_token_is_refused_and_does_nothing(dashboard, bridges, broker, run):
    send(broker, {"run": run, "item": "x", "faults": {"first": "permanent"}})
    (letter,) = wait_for(lambda: letters_of_run(broker, run), what="the dead letter")
    auth = (dashboard.user, dashboard.password)
    page = dashboard.get(f"/dead-letters?q=run%3D{run}").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    for fields in (
        {"id": letter.message_id, "confirmed": "yes"},
        {"id": letter.message_id, "confirmed": "yes", "csrf": "1.forged"},
        {"id": letter.message_id, "confirmed": "yes", "csrf": token[:-1] + ("0" if token[-1] != "0" else "1")},
    ):
        for action in ("/replay", "/purge"):
            refused = requests.post(dashboard.url + action, data=fields, auth=auth, timeout=10)
            assert refused.status_code == 403, (action, fields)
    assert [x.id for x in letters_of_run(broker, run)] == [letter.id]
    with journal().engine.connect() as connection:
        assert search.timeline(connection, letter.message_id).actions == []

    # The page's own token works: the refusal above was the token's doing.
    done = requests.post(dashboard.url + "/purge", data={"id": letter.message_id, "confirmed": "yes", "csrf": token},
                         auth=auth, timeout=30)
    assert done.status_code == 200 and "purged" in done.text
    assert letters_of_run(broker, run) == []


def test_a_users_file_of_bcrypt_hashes(tmp_path):
    users = tmp_path / "users"
    users.write_text("# made with htpasswd -B\nalice:" + bcrypt.hashpw(b"wonderland", bcrypt.gensalt(5)).decode() + "\n")
    with running_dashboard(tmp_path / "log", PACER_DASHBOARD_USERS_FILE=str(users)) as url:
        assert requests.get(url + "/", auth=("alice", "wonderland"), timeout=10).status_code == 200
        assert requests.get(url + "/", auth=("alice", "wonderlan"), timeout=10).status_code == 401


def test_a_proxy_header_names_the_user_only_from_a_trusted_proxy(tmp_path):
    header = {"X-Remote-User": "jdoe"}
    with running_dashboard(tmp_path / "log", PACER_DASHBOARD_AUTH="header") as url:
        assert requests.get(url + "/", timeout=10).status_code == 401
        page = requests.get(url + "/", headers=header, timeout=10)
        assert page.status_code == 200 and "jdoe" in page.text
    with running_dashboard(tmp_path / "log2", PACER_DASHBOARD_AUTH="header",
                           PACER_DASHBOARD_TRUSTED_PROXIES="192.0.2.10") as url:
        assert requests.get(url + "/", headers=header, timeout=10).status_code == 401


def _start(**environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "dashboard"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, **environment},
    )


def test_the_dashboard_does_not_start_open_by_accident():
    no_users = _start(PACER_DASHBOARD_AUTH="basic")
    assert no_users.returncode == 2 and "the dashboard needs users" in no_users.stderr
    open_to_all = _start(PACER_DASHBOARD_AUTH="none", PACER_DASHBOARD_HOST="0.0.0.0")
    assert open_to_all.returncode == 2 and "PACER_DASHBOARD_AUTH=none is for a local demo" in open_to_all.stderr


def test_hostile_query_strings_get_a_page_never_a_server_error(dashboard):
    answers = {
        "/search?q=%00%ff%ud800": 200,
        "/search?q=" + "x" * 2001: 400,
        "/search?q=status%3Anope": 400,
        "/search?q=since%3Ayesterday": 400,
        "/search?before=abc": 200,
        "/dead-letters?reason=%00%25_%27": 200,
        "/dead-letters?status=%3Cscript%3E": 200,
        "/message?id=" + "y" * 300: 404,
        "/message?id=%00": 404,
    }
    for path, status in answers.items():
        response = dashboard.get(path)
        assert response.status_code == status, (path, response.text[:300])
        assert "<script>" not in response.text
    assert "longer than 2000 characters" in dashboard.get("/search?q=" + "x" * 2001).text
