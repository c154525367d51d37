"""Fixtures for testbox tests: real servers (in-process or as ``icat-testbox`` processes).

suds caches a WSDL per URL, so every server gets a fresh port (port 0).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import icat
import pytest
from test_query_data import connect
from testbox_support import ROOT, USER, BoxProcess, make_client, start_testbox_process, stop_testbox_process

from testbox.instance import build_icat_server
from testbox.server import IcatHTTPServer
from testbox.service import Config


@pytest.fixture
def server() -> Iterator[IcatHTTPServer]:
    """An in-process testbox on an in-memory database with one root and one plain user."""
    config = Config(users=dict([ROOT, USER]), root_users={ROOT[0]}, max_entities=50)
    srv = build_icat_server(config)
    srv.start_background()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: IcatHTTPServer) -> Iterator[icat.Client]:
    c = make_client(server.url)
    yield c
    c.logout()


@pytest.fixture
def testbox_process(tmp_path) -> Iterator[BoxProcess]:
    """A testbox process on a database file."""
    box = start_testbox_process("--db", str(tmp_path / "icat.db"))
    yield box
    stop_testbox_process(box)


@pytest.fixture(scope="session")
def python_icat_sdist(tmp_path_factory) -> Path:
    """python-icat 1.7.0's sdist (its tests and example data are not in the wheel):
    ``$PYTHON_ICAT_SDIST``, or downloaded from the package index once per run."""
    given = os.environ.get("PYTHON_ICAT_SDIST")
    if given:
        return Path(given)
    target = tmp_path_factory.mktemp("python-icat-sdist")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "--dest", str(target), "python-icat==1.7.0"],
        check=True, capture_output=True, timeout=300,
    )
    (archive,) = target.glob("python*icat-1.7.0.tar.gz")
    return archive


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    """The query tests' example database, one per test module that asks for it."""
    conn = connect()
    yield conn
    conn.close()
