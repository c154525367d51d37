"""PACER's ICAT access: the query helper, the session, reference data and its loader."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import icat
import pytest

from pacer_celery.errors import ConfigurationError, PermanentError, TransientError
from pacer_celery.icat import reference, session
from pacer_celery.icat.errors import classify
from pacer_celery.icat.query import condition, literal, search, search_in
from pacer_celery.models.users import UserMessage
from pacer_celery.settings import get_settings
from pacer_celery.tasks.reference import load_reference, read_reference_file
from pacer_celery.tasks.users import update_user
from tests.flows.conftest import REFERENCE_FILE, user_message

HOSTILE = ["O'Brien", 'sample "A"', "100%_done", "back\\slash", "Ünïcödé ☃", "'; DELETE FROM User u --", "''"]


def test_literals_double_single_quotes():
    assert literal("O'Brien") == "'O''Brien'"
    assert literal("''") == "''''''"
    assert literal(42) == "42" and literal(True) == "TRUE"
    assert condition(None) == "IS NULL"
    assert condition(["a'b", "c"]) == "IN ('a''b', 'c')"
    with pytest.raises(TypeError):
        literal(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_values_find_exactly_their_object(client, checker, uid, text):
    name = f"hostile{uid}"
    update_user(UserMessage.model_validate(user_message(name, affiliation=text)), client=client)
    assert [u.name for u in search(client, "User", where={"affiliation": text, "name": f"uos/{name}"})] == [
        f"uos/{name}"
    ]
    assert [u.name for u in search_in(client, "User", "affiliation", [text, "other"],
                                      where={"name": f"uos/{name}"})] == [f"uos/{name}"]
    # A near miss finds nothing: the value is compared as a whole, not as a pattern.
    assert search(client, "User", where={"affiliation": text + "x"}) == []


def test_search_in_splits_long_lists(client):
    names = [f"uos/nobody{i}" for i in range(1200)] + ["uos/nobody-at-all"]
    assert search_in(client, "User", "name", names) == []


def test_service_url_from_the_base_url():
    assert session.service_url("https://icat.example.org") == "https://icat.example.org/ICATService/ICAT?wsdl"
    assert session.service_url("https://icat.example.org/") == "https://icat.example.org/ICATService/ICAT?wsdl"
    assert session.service_url("https://h/ICATService/ICAT?wsdl") == "https://h/ICATService/ICAT?wsdl"
    with pytest.raises(ConfigurationError):
        session.service_url("icat.example.org")


def test_one_client_per_process(client):
    assert session.client() is client
    assert client.getUserName().endswith("/" + os.environ["ICAT_AUTH_USERNAME"])


def test_session_killed_by_icat_is_transient_and_the_next_use_logs_in_again(client, icat_server, uid):
    # End PACER's session from outside, as an ICAT restart would.
    outsider = icat.Client(session.service_url(icat_server["ICAT_SERVER_URL"]))
    outsider.sessionId = client.sessionId
    outsider.logout()
    message = UserMessage.model_validate(user_message(f"s{uid}"))
    # What the worker runtime does with a step's ICAT error: classify it, drop the session.
    with pytest.raises(icat.exception.ICATSessionError) as raised:
        update_user(message, client=client)
    assert isinstance(classify(raised.value), TransientError)
    assert "ICAT session no longer valid" in str(classify(raised.value))
    session.discard(client)
    fresh = session.client()
    assert fresh is not client
    assert update_user(message, client=fresh)["created"] is True


def test_unreachable_icat_is_transient():
    with pytest.raises(OSError) as raised:
        icat.Client("http://127.0.0.1:1/ICATService/ICAT?wsdl")
    problem = classify(raised.value)
    assert isinstance(problem, TransientError) and "cannot reach ICAT" in str(problem)


def test_reference_lookups(client):
    assert reference.instrument(client, "ID01").fullName == "Diffraction beamline 1"
    assert reference.datafile_format(client, "TIFF").version == "6.0"
    assert reference.datafile_format(client, "NeXus/4.3").version == "4.3"
    assert reference.parameter_type(client, "energy", None).units == "keV"
    assert reference.parameter_type(client, "energy", "eV") is None
    with pytest.raises(PermanentError, match="unknown instrument 'ID99' in facility 'PACER'"):
        reference.instrument(client, "ID99")


def test_reference_added_later_is_found_without_waiting_for_the_ttl(client, uid):
    with pytest.raises(PermanentError):
        reference.instrument(client, f"NEW{uid}")
    data = read_reference_file(REFERENCE_FILE)
    extended = data.model_copy(update={"instruments": [*data.instruments,
                                                        data.instruments[0].model_copy(update={"name": f"NEW{uid}"})]})
    load_reference(client, extended)
    time.sleep(1.1)  # a reload happens at most once a second
    assert reference.instrument(client, f"NEW{uid}").name == f"NEW{uid}"


def test_init_reference_twice_changes_nothing(client, checker):
    data = read_reference_file(REFERENCE_FILE)
    before = {e: [(o.id, o.modTime) for o in checker.search(f"SELECT o FROM {e} o ORDER BY o.id")]
              for e in ("Facility", "Instrument", "DatafileFormat", "ParameterType")}
    results = load_reference(client, data)
    assert all(r.created == 0 and r.updated == 0 for r in results)
    after = {e: [(o.id, o.modTime) for o in checker.search(f"SELECT o FROM {e} o ORDER BY o.id")]
             for e in before}
    assert after == before


def test_init_reference_command(icat_server, tmp_path, uid):
    path = tmp_path / "reference.yaml"
    path.write_text(REFERENCE_FILE.read_text() + f"  - {{name: CLI{uid}, units: mm, value_type: NUMERIC}}\n")
    # parameter_types is the file's second-to-last section; move the new line into it.
    lines = path.read_text().splitlines()
    sample_types = lines.index("sample_types: []")
    lines.insert(sample_types, lines.pop())
    path.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "pacer_celery.cli", "icat", "init-reference", str(path)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ)
    assert first.returncode == 0, first.stderr
    assert "parameter_types: 1 created" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ)
    assert second.returncode == 0
    assert "ICAT already held this reference data" in second.stdout


def test_init_reference_rejects_a_bad_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("facility: {name: X, colour: blue}\n")
    run = subprocess.run([sys.executable, "-m", "pacer_celery.cli", "icat", "init-reference", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "facility.colour: Extra inputs are not permitted" in run.stderr


@pytest.fixture
def short_sessions(monkeypatch) -> Iterator[None]:
    """PACER's session pointed at a testbox whose sessions last three seconds."""
    if os.environ.get("PACER_TEST_BACKEND", "testbox") != "testbox":
        pytest.skip("needs a testbox with short sessions")
    process = subprocess.Popen(
        [sys.executable, "-m", "testbox.cli", "icat", "--port", "0", "--db", ":memory:",
         "--root", "pacer:pacer-secret", "--session-minutes", "0.05"],
        stdout=subprocess.PIPE, text=True,
    )
    url = process.stdout.readline().removeprefix("url: ").strip()
    threading.Thread(target=process.stdout.read, daemon=True).start()
    session.close()
    for name, value in {"ICAT_SERVER_URL": url, "ICAT_AUTH_PLUGIN": "db",
                        "ICAT_AUTH_USERNAME": "pacer", "ICAT_AUTH_PASSWORD": "pacer-secret"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    session.close()
    monkeypatch.undo()
    get_settings.cache_clear()
    process.terminate()
    process.wait(timeout=30)


def test_session_is_kept_alive_past_its_lifetime(short_sessions):
    first = session.client()
    time.sleep(4)  # longer than a session lives: it is refreshed before use (as ICAT allows)
    again = session.client()
    assert again is first
    assert again.search("SELECT f FROM Facility f") == []


def test_session_gone_from_icat_is_replaced_by_a_new_login(short_sessions, icat_server):
    first = session.client()
    old = first.sessionId
    outsider = icat.Client(session.service_url(os.environ["ICAT_SERVER_URL"]))
    outsider.sessionId = old
    outsider.logout()  # ICAT forgets it, as after a restart
    again = session.client()
    assert again.sessionId != old
    assert again.getUserName() == "db/pacer"
