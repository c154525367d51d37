"""Schema migrations of the journal, with Alembic, run from PACER itself.

``pacer journal upgrade`` runs them; every process that opens the journal runs them too
when the schema is behind (a fresh SQLite file, a new release), saying so in its log.
"""

from __future__ import annotations

import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

#: Any constant: the advisory lock that makes concurrent upgrades on PostgreSQL wait in turn.
_UPGRADE_LOCK = 7_260_001


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("pacer_celery.journal") / "migrations"))
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after)."""
    before = current(engine)
    if before == head():
        return before, before
    config = _config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception:
        # Another process may have upgraded it meanwhile (SQLite has no advisory lock).
        if current(engine) != head():
            raise
    return before, head()


def ensure_current(engine: Engine) -> None:
    """Upgrade the schema if it is behind, with a line in the log saying so."""
    revision = current(engine)
    if revision == head():
        return
    logger.warning(
        "journal schema is %s, this PACER needs %s: upgrading it now (pacer journal upgrade)",
        revision or "empty", head(),
    )
    upgrade(engine)
