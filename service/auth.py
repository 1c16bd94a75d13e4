"""Who is acting, and what they may do. Checked in the service layer, so calling a page's functions
directly cannot get around it."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "analyst")


class PermissionDenied(Exception):
    """The acting user's role does not allow this; the message says what is needed."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def require_admin(actor: Actor, action: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(f"Only an admin can {action}; {actor.username} is an {actor.role}.")


SYSTEM = Actor("system", "admin")  # the CLI on the server's own shell, and background jobs
