"""Alembic's environment for the journal: run with the connection ``migrate`` hands over."""

from alembic import context

from pacer_celery.journal.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
