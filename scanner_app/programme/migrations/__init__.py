"""Alembic migrations of the programme database (run by `scanner_app.programme.db.open_database`)."""
