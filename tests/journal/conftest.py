"""A fresh journal per test, on each of its databases: PostgreSQL (the suite's server) and
SQLite (a file)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from pacer_celery.journal import Journal
from pacer_celery.journal.database import engine_for
from tests.conftest import POSTGRES_URL, postgres


@pytest.fixture(params=["postgresql", "sqlite"])
def journal_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journal.sqlite'}"
        return
    database = f"pacer_journal_{uuid.uuid4().hex[:8]}"
    with postgres() as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    yield url
    engine_for(url).dispose()
    with postgres() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def journal(journal_url) -> Journal:
    return Journal(journal_url)
