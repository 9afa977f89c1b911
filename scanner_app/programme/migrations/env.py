"""Alembic environment: runs on the connection `scanner_app.programme.db` hands in (never a URL
read from a file), so the app and its tests migrate exactly the database they opened."""

from __future__ import annotations

from alembic import context

from scanner_app.programme.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
