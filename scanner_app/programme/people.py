"""People who sign in, their roles, and what each role may do.

A user signs in with a PIN (4 to 12 characters); only its salted scrypt hash is kept. The first user
of a new database must be an administrator, who then registers the others.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.schema import UserRow


class Role(StrEnum):
    OPERATOR = "operator"  # a credentialed sonographer or radiologist
    TRAINEE = "trainee"
    REVIEWER = "reviewer"  # classifies flagged cases in the quality review
    ADMINISTRATOR = "administrator"


class NotAllowed(PermissionError):
    """The signed-in person's role does not allow this; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role
    department: str = ""

    @property
    def may_sign_off(self) -> bool:
        return self.role in (Role.OPERATOR, Role.REVIEWER, Role.ADMINISTRATOR)

    @property
    def sees_everyones_qa(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMINISTRATOR)


MIN_PIN, MAX_PIN = 4, 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # "scrypt$" + 32 + "$" + 64 hex: fits the column


def hash_pin(pin: str) -> str:
    """A salted scrypt hash of `pin`; ValueError when it is too short or too long."""
    if not MIN_PIN <= len(pin) <= MAX_PIN:
        raise ValueError(f"a PIN has {MIN_PIN} to {MAX_PIN} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def add_user(db: ProgrammeDatabase, user: User, *, pin: str) -> User:
    """Register `user` with a PIN. ValueError when the username is taken or empty, the PIN unfit, or
    the database has no user yet and `user` is not an administrator."""
    if not user.username.strip():
        raise ValueError("a user needs a username")
    pin_hash = hash_pin(pin)
    with db.session() as s:
        if s.scalar(sa.select(UserRow).where(UserRow.username == user.username)) is not None:
            raise ValueError(f"the username {user.username!r} is taken")
        if user.role != Role.ADMINISTRATOR and s.scalar(sa.select(sa.func.count()).select_from(UserRow)) == 0:
            raise ValueError("the first user must be an administrator (who then registers the others)")
        s.add(UserRow(username=user.username, display_name=user.display_name, role=user.role.value,
                      department=user.department, pin_hash=pin_hash))  # fmt: skip
    return user


def sign_in(db: ProgrammeDatabase, username: str, pin: str) -> User:
    """The user, when the PIN is theirs; NotAllowed (the same words for an unknown name) otherwise."""
    with db.session() as s:
        row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
        if row is None or not _pin_matches(pin, row.pin_hash):
            raise NotAllowed("unknown user or wrong PIN")
        return User(row.username, row.display_name, Role(row.role), row.department)


def get_user(db: ProgrammeDatabase, username: str) -> User:
    """The registered user; KeyError when there is none."""
    with db.session() as s:
        row = s.scalar(sa.select(UserRow).where(UserRow.username == username))
        if row is None:
            raise KeyError(f"no user {username!r}")
        return User(row.username, row.display_name, Role(row.role), row.department)


def list_users(db: ProgrammeDatabase) -> list[User]:
    """Everyone registered, by username."""
    with db.session() as s:
        rows = s.scalars(sa.select(UserRow).order_by(UserRow.username))
        return [User(r.username, r.display_name, Role(r.role), r.department) for r in rows]
