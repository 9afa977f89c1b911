"""Opening the programme database: SQLite in a folder, or a shared server by URL, migrated to the
newest schema on open.

`open_database("sqlite:////path/programme.sqlite3")` or `open_database("postgresql+psycopg://user@host:
5432/scanner")`. SQLite is opened in WAL mode with a busy timeout, so two app processes on one
workstation wait for each other rather than fail; a server takes any number of workstations.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 10.0
URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
MIGRATION_LOCK_KEY = 0x5CA11E7  # any constant: the advisory lock's name for "migrating the programme"


class ProgrammeDbError(Exception):
    """The programme database cannot be opened or used; the message names it (never its password)."""


def sqlite_url(folder: Path) -> str:
    """The workstation's own database, `programme.sqlite3` in `folder`."""
    return f"sqlite:///{(folder / 'programme.sqlite3').resolve()}"


class ProgrammeDatabase:
    """An open, migrated database and the sessions on it; close() when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ProgrammeDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_url(url: str | URL) -> URL:
    """The parsed URL when it names a database this app uses; ProgrammeDbError saying why not."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ProgrammeDbError(f"{str(url)!r} is not a database URL ({URL_FORMS})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise ProgrammeDbError(f"{shown!r} is not a database URL this app uses ({URL_FORMS})")
    return parsed


def open_database(url: str | URL) -> ProgrammeDatabase:
    """Connect to `url` and bring its schema to the newest migration.

    Raises ProgrammeDbError (with the URL, password hidden) when the URL is malformed, the server
    cannot be reached, or the migration fails.
    """
    try:
        parsed = check_url(url)
    except ProgrammeDbError as exc:
        raise ProgrammeDbError(f"programme database: {exc}") from None
    shown = parsed.render_as_string(hide_password=True)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        with _migration_lock(parsed), engine.begin() as connection:
            if parsed.get_backend_name() == "postgresql":
                # Two workstations opening a new database at once: one migrates, the other waits
                # and then finds it done (the lock ends with this transaction).
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ProgrammeDbError(f"programme database {shown}: {reason}") from exc
    return ProgrammeDatabase(engine)


@contextmanager
def _migration_lock(url: URL) -> Iterator[None]:
    """SQLite: an exclusive lock on a file beside the database while migrating (two app processes
    starting together). A server database locks inside its own transaction instead."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(url.database).with_suffix(".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
