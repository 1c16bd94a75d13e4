"""User management for the Users page: each action checks the actor's role before it touches anything.

``data.users`` enforces the rules (bcrypt, username pattern, never fewer than one admin); these functions
add who may ask (admins only, ``service.auth.require_admin``) and one transaction per action. They
belong in ``service`` next to ``service.auth``; they live here until a ``service.users`` exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from data import users
from data.db import as_utc
from data.models import User
from service.auth import Actor, require_admin
from service.context import AppContext

MANAGE = "manage users"
# data.users does not check it; PostgreSQL would refuse a longer one with a raw error.
DISPLAY_NAME_MAX: int = User.__table__.c.display_name.type.length or 128


@dataclass(frozen=True)
class UserRow:
    username: str
    display_name: str
    role: str
    created_at: datetime | None
    last_login_at: datetime | None


def list_users(ctx: AppContext, actor: Actor) -> list[UserRow]:
    require_admin(actor, MANAGE)
    with ctx.db.session() as session:
        return [
            UserRow(u.username, u.display_name, u.role, as_utc(u.created_at), as_utc(u.last_login_at))
            for u in users.list_users(session)
        ]


def add_user(
    ctx: AppContext, actor: Actor, *, username: str, display_name: str, role: str, passwords: Sequence[str]
) -> str:
    """Create a user; returns the stored (normalised) username. UserError says what to fix."""
    require_admin(actor, MANAGE)
    password = _same_password(passwords)
    display_name = display_name.strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        raise users.UserError(f"A display name can have at most {DISPLAY_NAME_MAX} characters.")
    with ctx.db.begin() as session:
        user = users.create_user(
            session, username=username, password=password, role=role, display_name=display_name or None
        )
        return user.username


def change_role(ctx: AppContext, actor: Actor, username: str, role: str) -> None:
    require_admin(actor, MANAGE)
    with ctx.db.begin() as session:
        users.set_role(session, username, role)


def reset_password(ctx: AppContext, actor: Actor, username: str, passwords: Sequence[str]) -> None:
    require_admin(actor, MANAGE)
    password = _same_password(passwords)
    with ctx.db.begin() as session:
        users.set_password(session, username, password)


def remove_user(ctx: AppContext, actor: Actor, username: str) -> None:
    """Delete a user; never oneself (an admin would lock themselves out mid-session), never the last admin."""
    require_admin(actor, MANAGE)
    if users.normalize_username(username) == actor.username:
        raise users.UserError("You cannot remove yourself. Another admin can.")
    with ctx.db.begin() as session:
        users.delete_user(session, username)


def _same_password(passwords: Sequence[str]) -> str:
    first, *others = passwords
    if any(other != first for other in others):
        raise users.UserError("The two passwords differ. Type the same password twice.")
    return first
