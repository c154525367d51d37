"""Fixtures for the ICAT flows: PACER's session pointed at the suite's ICAT (the
``icat_backend`` fixture: a testbox instance, or a real server with
``PACER_TEST_BACKEND=server``), the test reference data, and message builders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import icat
import pytest
from kombu import Connection

from pacer_celery.bridges import REGISTRY
from pacer_celery.bridges.runner import BridgeRunner, connect
from pacer_celery.icat import reference, session
from pacer_celery.settings import get_settings
from pacer_celery.tasks.reference import load_reference, read_reference_file
from tests.support.pipeline import running_bridges, running_worker

REFERENCE_FILE = Path(__file__).with_name("reference.yaml")
#: The message types of messages.md (the core tests register probe types too).
FLOW_TYPES = ("user-update", "proposal-update", "dataset-ingestion", "datafile-ingestion")
#: The facility of reference.yaml; named, as the ICAT may hold others (the testbox fixtures).
FACILITY = "PACER"
#: Short, so the test of a dataset whose proposal never comes ends in seconds.
MISSING_INVESTIGATION_TIMEOUT = "6"


@pytest.fixture(scope="session")
def icat_server(icat_backend) -> Iterator[dict[str, str]]:
    """The ICAT under test, as PACER's settings name it for the whole session."""
    changes = {
        "PACER_ICAT_FACILITY": FACILITY,
        "PACER_MISSING_INVESTIGATION_TIMEOUT": MISSING_INVESTIGATION_TIMEOUT,
    }
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    _forget_configuration()
    yield icat_backend.environment()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _forget_configuration()


def _forget_configuration() -> None:
    get_settings.cache_clear()
    session.close()
    reference.clear()


@pytest.fixture(scope="session")
def reference_data(icat_server) -> None:
    load_reference(session.client(), read_reference_file(REFERENCE_FILE))


@pytest.fixture
def client(reference_data) -> icat.Client:
    """PACER's own ICAT client (the process's session), as steps get it."""
    return session.client()


@pytest.fixture(scope="session")
def checker(icat_server) -> Iterator[icat.Client]:
    """A separate login, to look at ICAT the way an outsider would."""
    c = icat.Client(session.service_url(icat_server["ICAT_SERVER_URL"]))
    c.login(
        icat_server["ICAT_AUTH_PLUGIN"],
        {"username": icat_server["ICAT_AUTH_USERNAME"], "password": icat_server["ICAT_AUTH_PASSWORD"]},
    )
    yield c
    c.logout()


@pytest.fixture(scope="module")
def worker(reference_data) -> Iterator[None]:
    with running_worker():
        yield


@pytest.fixture(scope="module")
def flow_bridges(reference_data) -> Iterator[BridgeRunner]:
    """The four bridges of messages.md, consuming from this run's virtual host."""
    # The suite's small body limit is for the core's size tests; datasets need the real one.
    settings = get_settings().model_copy(update={"max_message_bytes": 16 * 1024 * 1024})
    with running_bridges([REGISTRY[kind]() for kind in FLOW_TYPES], settings) as runner:
        yield runner


@pytest.fixture(scope="module")
def flows(worker, flow_bridges) -> BridgeRunner:
    """The bridges with an in-process worker behind them."""
    return flow_bridges


@pytest.fixture
def broker(flows) -> Iterator[Connection]:
    with connect(get_settings()) as connection:
        yield connection


@pytest.fixture
def uid() -> str:
    """Unique per test, so tests share one ICAT without seeing each other's objects."""
    return uuid.uuid4().hex[:8]


def user_message(username: str, **fields: Any) -> dict[str, Any]:
    return {
        "username": username,
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane.doe@example.org",
        "orcid": "0000-0002-1825-0097",
        "affiliation": "Example University",
        "is_active": True,
        "updated_at": "2026-11-27T10:15:00+01:00",
        **fields,
    }


def proposal_message(proposal: str, **fields: Any) -> dict[str, Any]:
    return {
        "proposal": proposal,
        "visit": "1",
        "title": "Strain in Ni thin films",
        "abstract": "We will measure ...",
        "type": "experiment",
        "instruments": ["ID01"],
        "start_date": "2026-12-01T08:00:00+01:00",
        "end_date": "2026-12-04T08:00:00+01:00",
        "release_date": None,
        "doi": None,
        "status": "scheduled",
        "team": [
            {"username": f"pi{proposal}", "role": "principal_investigator", "full_name": "Jane Doe"},
            {"username": f"co{proposal}", "role": "co_investigator"},
        ],
        **fields,
    }


def dataset_message(proposal: str, dataset: str = "sample1_0001", **fields: Any) -> dict[str, Any]:
    return {
        "instrument": "ID01",
        "proposal": proposal,
        "visit": "1",
        "dataset": dataset,
        "type": "raw",
        "description": "Strain map, first position",
        "location": f"/data/ID01/{proposal}/{dataset}",
        "start_date": "2026-12-01T10:00:00+01:00",
        "end_date": "2026-12-01T10:20:00+01:00",
        "complete": True,
        "sample": {"name": "sample1"},
        "parameters": [
            {"name": "energy", "units": "keV", "value": 8.5},
            {"name": "scan_type", "units": "N/A", "value": "ascan"},
        ],
        "datafiles": [datafile(f"scan_{i:04d}.h5", size=1000 + i) for i in range(3)],
        **fields,
    }


def datafile(name: str, size: int = 1048576, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "location": f"/data/{name}",
        "size": size,
        "checksum": "adler32:0a1b2c3d",
        "format": "HDF5",
        "created": "2026-12-01T10:00:05+01:00",
        "modified": "2026-12-01T10:19:58+01:00",
        **fields,
    }


def run_as_chain(steps, message, client) -> dict[str, Any]:
    """Steps called as the worker runtime calls them: each gets the earlier steps' results."""
    earlier: dict[str, Any] = {}
    for step in steps:
        extra = {"earlier": dict(earlier)} if step.wants_earlier else {}
        earlier[step.name] = step(message, client=client, **extra)
    return earlier
