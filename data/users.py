"""Login users: bcrypt hashes only, two roles, and never fewer than one admin.

There is no default user or password anywhere: the first admin is created through the first-run form
or the CLI. Usernames are stored lower-case because streamlit-authenticator lower-cases both its
credential keys and the name typed at login; passwords must not start or end with whitespace because
it strips the typed password, so such a password could never log in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import bcrypt
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.models import User, utcnow

ROLES = ("admin", "analyst")
BCRYPT_ROUNDS = 12  # ~0.25 s per hash on a laptop: slow for guessing, fine for a login
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

_dummy_hashes: dict[int, bytes] = {}


class UserError(ValueError):
    """A refused user operation; the message is fit to show as is."""


class LastAdminError(UserError):
    """The operation would leave the app without an admin, who alone can manage users and connections."""


def normalize_username(username: str) -> str:
    return username.strip().lower()


def validate_username(username: str) -> str:
    """The normalized username, or UserError explaining the rule it breaks."""
    name = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise UserError(
            "A username has 2 to 64 characters: letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


def validate_password(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise UserError(f"A password needs at least {PASSWORD_MIN_LENGTH} characters")
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise UserError(f"A password can have at most {PASSWORD_MAX_BYTES} bytes")
    if password != password.strip():
        raise UserError("A password cannot start or end with a space")


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    validate_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


def _check(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:  # over 72 bytes, or a damaged hash
        return False


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    email: str | None = None,
) -> User:
    name = validate_username(username)
    validate_role(role)
    user = User(
        username=name,
        display_name=(display_name or "").strip() or name,
        email=(email or "").strip() or None,
        password_hash=hash_password(password),
        role=role,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise UserError(f"The username {name!r} is taken") from None
    return user


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalize_username(username)))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_users(session: Session, *, role: str | None = None) -> int:
    stmt = select(func.count()).select_from(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    return int(session.scalar(stmt) or 0)


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The user when the password matches, else None.

    An unknown username costs one bcrypt check too, so response time does not reveal which names exist.
    """
    user = get_user(session, username)
    if user is None:
        _check(password, _dummy_hash().decode("ascii"))
        return None
    return user if _check(password, user.password_hash) else None


def _dummy_hash() -> bytes:
    if BCRYPT_ROUNDS not in _dummy_hashes:
        _dummy_hashes[BCRYPT_ROUNDS] = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=BCRYPT_ROUNDS))
    return _dummy_hashes[BCRYPT_ROUNDS]


def record_login(session: Session, username: str, at: datetime | None = None) -> None:
    user = _require(session, username)
    user.last_login_at = at or utcnow()


def set_password(session: Session, username: str, password: str) -> None:
    _require(session, username).password_hash = hash_password(password)


def set_role(session: Session, username: str, role: str) -> None:
    """Change a role; demoting the last admin is refused like deleting them."""
    validate_role(role)
    user = _require(session, username)
    if user.role == "admin" and role != "admin":
        _ensure_another_admin(session, user)
    user.role = role


def delete_user(session: Session, username: str) -> None:
    user = _require(session, username)
    if user.role == "admin":
        _ensure_another_admin(session, user)
    session.delete(user)
    session.flush()


def _ensure_another_admin(session: Session, user: User) -> None:
    # FOR UPDATE on PostgreSQL: two admins removing each other at once cannot both succeed. SQLite
    # serializes write transactions anyway.
    admins = session.scalars(select(User.id).where(User.role == "admin").with_for_update()).all()
    if not any(admin_id != user.id for admin_id in admins):
        raise LastAdminError(f"{user.username} is the last admin: make someone else admin first")


def _require(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise UserError(f"No user named {normalize_username(username)!r}")
    return user


def credentials_for_authenticator(session: Session) -> dict[str, Any]:
    """The ``credentials`` argument of ``streamlit_authenticator.Authenticate`` (0.4.2).

    Passwords are the bcrypt hashes, which it checks with ``bcrypt.checkpw`` and recognises as hashes
    (so ``auto_hash`` never re-hashes them). It mutates the dict (login flags, failed attempts), so each
    call builds a fresh one.
    """
    usernames: dict[str, dict[str, Any]] = {}
    for user in list_users(session):
        first, _, last = user.display_name.partition(" ")
        usernames[user.username] = {
            "email": user.email or "",
            "first_name": first,
            "last_name": last,
            "password": user.password_hash,
            "roles": [user.role],
        }
    return {"usernames": usernames}
