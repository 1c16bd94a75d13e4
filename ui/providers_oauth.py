"""OAuth for both CRMs: the "Connect with …" buttons, and the redirect back to the app.

* **Start.** ``service.oauth_flow.start`` stores a single-use ``state`` and the PKCE verifier server-side
  (encrypted, 10 minutes) and returns the authorize URL; the button is a link to it. The URL is made once
  per session and reused until shortly before its state expires: a new state on every rerun would only
  fill the table.
* **Where the redirect lands.** The redirect URI is the app's own URL (``http://host:8501/``), which opens
  the default page: Providers. :func:`handle_callback` runs at the top of that page, so nothing else is
  needed. It is idempotent (it removes the parameters it handled), so app.py may also call it after the
  login gate if the redirect URI ever points at another page.
* **Which provider.** The browser does not say, and is not asked: every state was stored with the
  provider it was started for, and ``consume_oauth_state`` matches state *and* provider. So the callback
  offers the state to each provider in turn: it matches at most one, is consumed at most once, and an
  attempt with the other provider consumes nothing. A forged, reused or expired state matches none and
  is refused with nothing saved. The redirect URI stays exactly the one registered at the CRM, and
  editing the URL cannot pick the provider.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import streamlit as st

from crm.errors import AuthError, CRMError
from data.connections import OAUTH_STATE_TTL
from service import connections, oauth_flow
from service.auth import Actor, PermissionDenied, require_admin
from service.context import AppContext
from ui.providers_common import PROVIDERS, Notice, key, label, post, who
from ui.widgets import plain

CALLBACK_PARAMS = ("code", "state", "error", "error_description", "error_uri")
LOGIN_HOSTS = {"production": "https://login.salesforce.com", "sandbox": "https://test.salesforce.com"}
LOGIN_HOST_LABELS = {
    "configured": "Configured login host",
    "production": "Production (login.salesforce.com)",
    "sandbox": "Sandbox org (test.salesforce.com)",
}
# Reuse a session's authorize URL while its state has at least this long left (time to log in at the CRM).
LINK_REUSE_SECONDS = (OAUTH_STATE_TTL - timedelta(minutes=3)).total_seconds()
# A CRM's error text comes back in the URL, so anyone can write it: keep it short, shown as plain text.
ERROR_TEXT_MAX = 160
REFUSED = (
    "The sign-in could not be verified: its state is unknown, already used or expired. Nothing was saved. "
    "Start again with the Connect button on this page."
)
INVALID_STATE = "INVALID_STATE"


# Starting -----------------------------------------------------------------------------------------------


def authorize_link(ctx: AppContext, actor: Actor, provider: str, login_host: str | None = None) -> str:
    """The authorize URL for this session (admins only; the service stores state and PKCE verifier)."""
    require_admin(actor, "change connections")
    slot = key("oauth_link", provider)
    signature = (login_host, hash(ctx.settings))
    cached = st.session_state.get(slot)
    now = time.monotonic()
    if cached and cached[0] == signature and now - cached[1] < LINK_REUSE_SECONDS:
        return str(cached[2])
    url = oauth_flow.start(ctx, actor, provider, login_host)
    st.session_state[slot] = (signature, now, url)
    return url


def oauth_section(ctx: AppContext, actor: Actor, provider: str) -> None:
    """The "Connect with …" link, or which settings are missing for it."""
    name = label(provider)
    st.markdown(f"**OAuth**: sign in at {name} and approve; nothing to paste")
    missing = ctx.settings.missing_oauth(provider)
    if missing:
        names = ", ".join(f"`{setting}`" for setting in missing)
        st.info(
            f"To connect with OAuth, set {names} in .streamlit/secrets.toml or the environment. "
            "The redirect URI is this app's own URL, registered in the CRM's app settings.",
            icon=":material/settings:",
        )
        return
    login_host = _login_host_choice(ctx) if provider == "salesforce" else None
    st.link_button(
        f"Connect with {name}",
        authorize_link(ctx, actor, provider, login_host),
        key=key("oauth", provider),
        type="primary",
        icon=":material/login:",
    )
    st.caption(f"Opens {name} in a new tab; after you approve, {name} sends you back to this page.")


def _login_host_choice(ctx: AppContext) -> str | None:
    """Production or sandbox org (or the configured host); None means the configured one."""
    configured = ctx.settings.salesforce_login_host.rstrip("/")
    hosts = dict(LOGIN_HOSTS)
    if configured not in hosts.values():
        hosts = {"configured": configured, **hosts}
    choices = list(hosts)
    default = next((i for i, choice in enumerate(choices) if hosts[choice] == configured), 0)
    choice = st.radio(
        "Salesforce login",
        choices,
        index=default,
        format_func=LOGIN_HOST_LABELS.__getitem__,
        key=key("salesforce", "login_host"),
        horizontal=True,
    )
    host = hosts[choice or choices[default]]
    if choice == "configured":
        st.caption(f"SALESFORCE\\_LOGIN\\_HOST: {plain(host)}")
    return None if host == configured else host


# The redirect back --------------------------------------------------------------------------------------


def handle_callback(ctx: AppContext, actor: Actor) -> bool:
    """Finish an OAuth redirect found in the URL, leave the outcome for the page, and clear the URL.

    Returns whether there was one. Call it after the login gate (``actor`` is this run's user).
    """
    params = {name: st.query_params.get(name) for name in CALLBACK_PARAMS}
    if not (params["code"] or params["state"] or params["error"]):
        return False
    for name in CALLBACK_PARAMS:  # first: a code and state are single use whatever happens next
        if name in st.query_params:
            del st.query_params[name]
    for provider in PROVIDERS:
        st.session_state.pop(key("oauth_link", provider), None)  # its state may be the one just used
    try:
        notice = finish_callback(
            ctx,
            actor,
            code=params["code"],
            state=params["state"],
            error=params["error"],
            error_description=params["error_description"],
        )
    except PermissionDenied as exc:
        notice = Notice("error", f"{exc} The sign-in was not used; nothing was saved.")
    post("oauth", notice)
    return True


def finish_callback(
    ctx: AppContext,
    actor: Actor,
    *,
    code: str | None,
    state: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> Notice:
    """Check the state (once), exchange the code with the stored verifier, save and test the tokens.

    Raises PermissionDenied for anyone but an admin, before the state is even looked at.
    """
    require_admin(actor, "change connections")
    if error:
        said = f": {_short(error_description)}" if error_description else ""
        return Notice(
            "error",
            f"The CRM did not grant access ({_short(error)}){said}. Nothing was saved; "
            "start again with the Connect button.",
        )
    if not code or not state:
        return Notice("error", REFUSED)
    for provider in PROVIDERS:
        try:
            oauth_flow.finish(ctx, actor, provider, code, state)
        except AuthError as exc:
            if exc.code == INVALID_STATE:
                continue  # not this provider's state (or no one's): nothing was consumed for it
            return _refused(provider, exc)
        except (CRMError, httpx.HTTPError) as exc:
            return _refused(provider, exc)
        return _connected(ctx, provider)
    return Notice("error", REFUSED)


def _refused(provider: str, exc: Exception) -> Notice:
    return Notice(
        "error",
        f"{label(provider)} refused the sign-in; nothing was saved. {connections.explain(exc, provider)}",
    )


def _connected(ctx: AppContext, provider: str) -> Notice:
    """What the saved connection's first test said (``finish`` ran it)."""
    conn = connections.get(ctx, provider)
    if conn is None:  # pragma: no cover - finish saved it a moment ago
        return Notice("error", f"{label(provider)} was not saved. Try again.")
    if conn.status != "connected":
        return Notice("warning", f"{label(provider)} is connected with OAuth, but the test failed. "
                      f"{conn.status_message or ''}".strip())  # fmt: skip
    identity = (conn.settings or {}).get("identity") or {}
    fields = identity.get("field_count", 0)
    account = who(provider, identity.get("account_id"), identity.get("user"))
    return Notice("success", f"Connected ✓ to {label(provider)} with OAuth: {fields} fields, as {account}.")


def _short(text: str | None) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= ERROR_TEXT_MAX else flat[: ERROR_TEXT_MAX - 1] + "…"
