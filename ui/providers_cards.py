"""The status card of each provider: state, identity, method, dates, API allowance, the saved secret
(masked), and the Test connection and Disconnect buttons.

Everything a card shows that came from a CRM or a user is escaped with :func:`ui.widgets.plain`, or shown
verbatim in a code span (:func:`literal`: identities and URLs, which markdown would otherwise turn into
links). The only HTML is :data:`CSS`, built from constants. A saved secret is decrypted
in :func:`masked_secrets` only to keep its last 4 characters; the full value never reaches a widget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from crm.redact import mask, redact
from data import connections as store
from data.crypto import CryptoError
from data.db import as_utc
from data.models import Connection
from service import connections
from service.auth import Actor
from service.context import AppContext
from ui.providers_common import Notice, acting_admin, attempt, connected_text, key, label, show
from ui.widgets import PLAIN_MAX_CHARS, plain, when

ACCENTS = {"hubspot": "#ff7a59", "salesforce": "#00a1e0"}  # the vendors' brand colours
CSS = "<style>\n" + "\n".join(
    f"  .st-key-providers_card_{provider} {{ border-top: 0.35rem solid {colour} !important; }}"
    for provider, colour in ACCENTS.items()
) + "\n</style>"  # fmt: skip
METHODS = {
    "sandbox": "Sandbox",
    "private_app": "Private app",
    "oauth": "OAuth",
    "client_credentials": "Client credentials",
    "access_token": "Access token",  # nosec B105 - a label, not a secret
}
# The secret's fields a card names (masked), and how; labels, not secrets.
SECRET_LABELS = {
    "access_token": "access token",  # nosec B105
    "refresh_token": "refresh token",  # nosec B105
    "client_secret": "client secret",  # nosec B105
}
REFRESHABLE = ("oauth", "client_credentials")
SECURITY_NOTE = (
    "**Where credentials are kept.** Tokens and client secrets are encrypted (Fernet) in this app's "
    "database; the key is kept outside it, in `CRM_SECRET_KEY` or the key file `data/secret.key` "
    "(readable by the app's user only, mode 0600). They are never shown again: a card shows at most the "
    "last 4 characters. Disconnecting revokes them at the CRM where it allows that and deletes them here."
)


def style() -> None:
    """The accent colours of the two cards (static CSS only)."""
    st.html(CSS)


def security_note() -> None:
    st.caption(SECURITY_NOTE)


# The actions --------------------------------------------------------------------------------------------


def saved(ctx: AppContext) -> dict[str, Connection]:
    """The saved connection of each provider, by provider (a CLI run's ``env-…`` rows are not cards)."""
    return {name: conn for name, conn in connections.all_connections(ctx).items() if name in ACCENTS}


def run_test(ctx: AppContext, provider: str) -> Notice:
    """Fetch identity and field definitions through the adapter; the result is recorded on the card."""
    result = connections.test_connection(ctx, provider)
    if result.ok:
        return Notice("success", connected_text(provider, result.field_count, result.account))
    return Notice("error", f"Test failed. {result.message}")


def disconnect(ctx: AppContext, actor: Actor, provider: str) -> Notice:
    """Revoke at the CRM where supported and delete our copy (admins only: the service checks)."""
    return Notice("success", connections.disconnect(ctx, actor, provider))


def masked_secrets(ctx: AppContext, conn: Connection) -> list[str]:
    """The saved secrets as ``label ••••abcd``; decrypted only here, and only to keep the last 4."""
    try:
        with ctx.db.session() as session:
            secret = store.get_secret(session, ctx.box, conn.id)
    except CryptoError:
        return ["cannot be decrypted with the current key: connect again"]
    return [
        f"{name} {mask(str(secret[field]))}" for field, name in SECRET_LABELS.items() if secret.get(field)
    ]


# The callbacks ------------------------------------------------------------------------------------------


def _confirm_key(provider: str) -> str:
    return key("confirm_disconnect", provider)


def _on_test(ctx: AppContext, provider: str) -> None:
    attempt(provider, provider, lambda: run_test(ctx, provider))


def _on_ask(provider: str, asking: bool) -> None:
    st.session_state[_confirm_key(provider)] = asking


def _on_disconnect(ctx: AppContext, actor: Actor, provider: str) -> None:
    st.session_state[_confirm_key(provider)] = False
    attempt(provider, provider, lambda: disconnect(ctx, acting_admin(ctx, actor), provider))


# The card -----------------------------------------------------------------------------------------------


def card(ctx: AppContext, actor: Actor, provider: str, conn: Connection | None) -> None:
    """One provider's card; its buttons for whoever may use them (Disconnect: admins)."""
    with st.container(border=True, key=key("card", provider)):
        title, badge = st.columns([3, 2], vertical_alignment="center")
        title.subheader(label(provider), anchor=False)
        with badge:
            _badge(conn)
        notice = show(provider)
        if conn is None:
            who_can = "Connect it below." if actor.is_admin else "An admin can connect it."
            st.caption(f"Not connected. {who_can}")
            return
        if conn.status == "error" and conn.status_message and not (notice and notice.kind == "error"):
            st.error(
                f"Last error: {plain(redact(conn.status_message), max_chars=600)}", icon=":material/error:"
            )
        st.markdown(details_markdown(provider, conn, masked_secrets(ctx, conn)))
        _buttons(ctx, actor, provider)


def _badge(conn: Connection | None) -> None:
    if conn is None:
        st.badge("Not connected", color="gray", icon=":material/link_off:")
    elif conn.status == "connected":
        st.badge("Connected", color="green", icon=":material/check_circle:")
    else:
        st.badge("Error", color="red", icon=":material/error:")


def _buttons(ctx: AppContext, actor: Actor, provider: str) -> None:
    confirming = bool(st.session_state.get(_confirm_key(provider))) and actor.is_admin
    with st.container(horizontal=True):
        st.button(
            "Test connection",
            key=key("test", provider),
            icon=":material/network_check:",
            on_click=_on_test,
            args=(ctx, provider),
        )
        if actor.is_admin and not confirming:
            st.button(
                "Disconnect…",
                key=key("disconnect", provider),
                icon=":material/link_off:",
                on_click=_on_ask,
                args=(provider, True),
            )
    if not confirming:
        return
    name = label(provider)
    st.warning(
        f"Disconnect {name}? Its tokens are revoked at {name} where it allows that, and deleted here. "
        f"Pushes to {name} stop until someone connects it again.",
        icon=":material/warning:",
    )
    with st.container(horizontal=True):
        st.button(
            f"Yes, disconnect {name}",
            key=key("disconnect_confirm", provider),
            type="primary",
            on_click=_on_disconnect,
            args=(ctx, actor, provider),
        )
        st.button("Cancel", key=key("disconnect_cancel", provider), on_click=_on_ask, args=(provider, False))


def literal(value: object) -> str:
    """``value`` as a markdown code span: shown verbatim, and never turned into a link (an identity, a URL
    or an email from the CRM stays text). The fence is longer than any run of backticks inside it."""
    text = " ".join(str(value).split())[:PLAIN_MAX_CHARS]
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def details_markdown(provider: str, conn: Connection, secrets: list[str]) -> str:
    """The card's facts as a markdown list; identities verbatim in code spans, the rest escaped."""
    settings = conn.settings or {}
    identity: Mapping[str, Any] = settings.get("identity") or {}
    rows = _identity_rows(provider, identity)
    method = plain(METHODS.get(conn.auth_kind, conn.auth_kind))
    if provider == "salesforce" and settings.get("login_host") and conn.auth_kind != "access_token":
        method += f" via {literal(settings['login_host'])}"
    rows.append(("Method", method))
    by = f" by {literal(conn.created_by)}" if conn.created_by else ""
    rows.append(("Connected", plain(when(as_utc(conn.created_at))) + by))
    rows.append(("API calls left", plain(_allowance(provider, identity))))
    if conn.auth_kind in REFRESHABLE:
        refreshed = when(as_utc(conn.last_refreshed_at)) if conn.last_refreshed_at else "not yet"
        expires = as_utc(conn.token_expires_at)
        refreshed += f" (expires {when(expires)})" if expires else ""
        rows.append(("Token last refreshed", plain(refreshed)))
    checked = when(as_utc(conn.last_checked_at)) if conn.last_checked_at else "never"
    rows.append(("Last tested", plain(checked)))
    if secrets:
        rows.append(("Saved secret", plain(", ".join(secrets))))
    return "\n".join(f"- **{name}:** {value}" for name, value in rows)


def _identity_rows(provider: str, identity: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not identity.get("account_id"):
        return [("Connected as", "not known yet: run Test connection")]
    if provider == "hubspot":
        return [("Portal", literal(identity["account_id"]))]
    rows = [("Org", literal(identity["account_id"]))]
    if identity.get("user"):
        rows.append(("User", literal(identity["user"])))
    if identity.get("instance_url"):
        rows.append(("Instance URL", literal(identity["instance_url"])))
    return rows


def _allowance(provider: str, identity: Mapping[str, Any]) -> str:
    used, limit = identity.get("api_used"), identity.get("api_limit")
    if not isinstance(used, int) or not isinstance(limit, int) or limit <= 0:
        return f"not reported by {label(provider)}"
    return f"{max(limit - used, 0):,} of {limit:,} (at the last test)"
