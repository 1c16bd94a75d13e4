"""What the Providers modules share: key names, one-shot notices, the acting admin, and plain phrasing.

A button or form callback runs before the page script, so it cannot draw anything itself: it leaves a
:class:`Notice` in the session, and the card of that provider shows it once on the run that follows.
Every notice text goes through :func:`crm.redact.redact` (a registered secret is masked even if a CRM
ever echoed one back) and is escaped with :func:`ui.widgets.plain` when shown: a CRM's reason is data,
never markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import streamlit as st

from crm.errors import CRMError
from crm.model import AccountInfo
from crm.redact import redact
from data import users
from data.crypto import CryptoError
from service.auth import Actor, PermissionDenied
from service.connections import PROVIDER_LABELS, PROVIDERS, explain
from service.context import AppContext
from ui.widgets import plain

__all__ = ["PROVIDERS", "PROVIDER_LABELS"]

Kind = Literal["success", "error", "info", "warning"]
# Longest notice shown: a CRM's reason plus our sentence around it; the rest is cut with "…".
NOTICE_MAX_CHARS = 600
_ICONS: dict[Kind, str] = {
    "success": ":material/check_circle:",
    "error": ":material/error:",
    "info": ":material/info:",
    "warning": ":material/warning:",
}


def key(*parts: str) -> str:
    """A widget or session key of this page: ``providers_…`` (pages never collide)."""
    return "_".join(("providers", *parts))


@dataclass(frozen=True)
class Notice:
    """The outcome of an action, in plain words, to show once."""

    kind: Kind
    text: str

    @property
    def ok(self) -> bool:
        return self.kind == "success"


def post(slot: str, notice: Notice) -> None:
    """Keep ``notice`` for the next run of the page (``slot``: a provider, or ``oauth``)."""
    st.session_state[key("notice", slot)] = Notice(notice.kind, redact(notice.text))


def show(slot: str) -> Notice | None:
    """Show and forget the notice left for ``slot``; returns it (cards hide a repeated last error)."""
    notice = st.session_state.pop(key("notice", slot), None)
    if isinstance(notice, Notice):
        render(notice)
        return notice
    return None


def render(notice: Notice) -> None:
    text = plain(notice.text, max_chars=NOTICE_MAX_CHARS)
    getattr(st, notice.kind)(text, icon=_ICONS[notice.kind])


def who(provider: str, account_id: object, user: object = None) -> str:
    """The account identity in a few words: HubSpot's portal, Salesforce's user and org."""
    if provider == "hubspot":
        return f"portal {account_id}" + (f" ({user})" if user else "")
    return f"{user} in org {account_id}" if user else f"org {account_id}"


def connected_text(provider: str, field_count: int, account: AccountInfo | None, how: str = "") -> str:
    """What a successful connect or test says: "Connected ✓", the fields we see, and as whom."""
    identity = who(provider, account.account_id, account.user) if account else "an unknown account"
    via = f" {how}" if how else ""
    return f"Connected ✓ to {label(provider)}{via}: {field_count} fields, as {identity}."


def acting_admin(ctx: AppContext, actor: Actor) -> Actor:
    """``actor`` as the database knows them now: a callback runs before the login gate re-reads the user,
    so a role changed since the last run must not slip through (the service then refuses an analyst)."""
    with ctx.db.session() as session:
        user = users.get_user(session, actor.username)
        if user is None:
            raise PermissionDenied("Your account was removed meanwhile.")
        return Actor(user.username, user.role)


def attempt(slot: str, provider: str, action: Callable[[], Notice]) -> None:
    """Run a callback's ``action`` and post its notice; a refusal or a CRM failure becomes one too."""
    try:
        notice = action()
    except PermissionDenied as exc:
        notice = Notice("error", f"{exc} Nothing was changed.")
    except (CRMError, httpx.HTTPError) as exc:
        notice = Notice("error", explain(exc, provider))
    except CryptoError as exc:  # the saved secret does not open with the configured key
        notice = Notice("error", str(exc))
    post(slot, notice)


def label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)
