"""Alembic's environment for the app database: the target is AppBase.metadata (users, tokens, audit,
supervisions); the connection comes from dashboard.migrations.upgrade (config.attributes), or from
COCKPIT_APP_DB_URL when the `alembic` command is run by hand with `-c` naming no ini."""

from __future__ import annotations

from alembic import context

from dashboard import supervision  # noqa: F401 - registers cockpit_supervisions on AppBase.metadata
from dashboard.user_store import AppBase

target_metadata = AppBase.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from config.settings import load_settings
        from etl.source.schema import writable_engine

        with writable_engine(load_settings().app_db_url).begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
