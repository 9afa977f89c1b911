"""People who sign in, their roles, and what each role may do."""

from __future__ import annotations

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


def add_user(db: ProgrammeDatabase, user: User) -> User:
    """Register `user`; ValueError when the username is taken or empty."""
    if not user.username.strip():
        raise ValueError("a user needs a username")
    with db.session() as s:
        if s.scalar(sa.select(UserRow).where(UserRow.username == user.username)) is not None:
            raise ValueError(f"the username {user.username!r} is taken")
        s.add(UserRow(username=user.username, display_name=user.display_name, role=user.role.value,
                      department=user.department))  # fmt: skip
    return user


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
