"""Fixtures for testbox tests: real servers (in-process or as ``icat-testbox`` processes).

suds caches a WSDL per URL, so every server gets a fresh port (port 0).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlite3

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


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    """The query tests' example database, one per test module that asks for it."""
    conn = connect()
    yield conn
    conn.close()
