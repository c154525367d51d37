"""Shared test set-up: real RabbitMQ (a virtual host of its own per run), real Redis,
real PostgreSQL for the journal (a database of its own per run).

The virtual host and the database isolate this run from any other run on the same
servers; both are created before PACER's settings are first read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

pytest_plugins = ["tests.icat_backend"]

RUN = uuid.uuid4().hex[:8]
VHOST = f"pacer-test-{RUN}"
#: Where the run's journal database is created (PostgreSQL's maintenance database).
POSTGRES_URL = os.environ.get("PACER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JOURNAL_DATABASE = f"pacer_test_{RUN}"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def postgres(database: str = "postgres") -> psycopg.Connection:
    """A connection to the suite's PostgreSQL server (autocommit: CREATE DATABASE needs it)."""
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database=database)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def pytest_configure(config: pytest.Config) -> None:
    # Fast retries and a small size limit keep failure tests short.
    os.environ.setdefault("PACER_RETRY_BACKOFF_SECONDS", "0.2")
    os.environ.setdefault("PACER_RETRY_BACKOFF_MAX_SECONDS", "1")
    os.environ.setdefault("PACER_MAX_RETRIES", "2")
    os.environ.setdefault("PACER_MAX_MESSAGE_BYTES", "65536")
    if "PACER_JOURNAL_URL" not in os.environ:
        with postgres() as connection:
            connection.execute(f'CREATE DATABASE "{JOURNAL_DATABASE}"')
        os.environ["PACER_JOURNAL_URL"] = (
            make_url(POSTGRES_URL).set(database=JOURNAL_DATABASE).render_as_string(hide_password=False)
        )
        config._pacer_journal = JOURNAL_DATABASE  # type: ignore[attr-defined]
    if "PACER_RMQ_VIRTUAL_HOST" in os.environ or not shutil.which("rabbitmqctl"):
        return  # a broker chosen from outside: use it as configured
    _rabbitmqctl("add_vhost", VHOST)
    user = os.environ.get("PACER_RMQ_USERNAME", "guest")
    _rabbitmqctl("set_permissions", "-p", VHOST, user, ".*", ".*", ".*")
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    config._pacer_vhost = VHOST  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    vhost = getattr(config, "_pacer_vhost", None)
    if vhost:
        _rabbitmqctl("delete_vhost", vhost)
    database = getattr(config, "_pacer_journal", None)
    if database:
        # Imported only now: PACER's settings must first be read after pytest_configure.
        from pacer_celery.journal.database import dispose_all

        dispose_all()
        with postgres() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def rabbitmqctl(*args: str) -> None:
    """For tests that change the broker's behaviour (policies) in this run's vhost."""
    _rabbitmqctl(*args)
