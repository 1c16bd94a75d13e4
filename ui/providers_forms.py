"""Ways to connect, for admins: the sandbox, a HubSpot private-app token, and Salesforce's client
credentials or access token ("Advanced"). OAuth has its own module, :mod:`ui.providers_oauth`.

The ``connect_*`` functions are the actions: safe to call from anywhere, because the service checks the
role (an analyst gets PermissionDenied) and tests credentials before it saves them (a refusal saves
nothing). The form callbacks around them run before the page: they take the typed secret out of the
session and blank its field at once, whatever happens next, so a secret never stays in a widget.
"""

from __future__ import annotations

import streamlit as st

from service import connections
from service.auth import Actor
from service.connections import TestResult
from service.context import AppContext
from ui import providers_oauth
from ui.providers_common import Notice, acting_admin, attempt, connected_text, key, label

HUBSPOT_TOKEN = key("hubspot", "token")
SF_INSTANCE_URL = key("salesforce", "instance_url")
SF_ACCESS_TOKEN = key("salesforce", "access_token")
SF_DOMAIN_URL = key("salesforce", "domain_url")
SF_CLIENT_ID = key("salesforce", "client_id")
SF_CLIENT_SECRET = key("salesforce", "client_secret")
SECRET_FIELDS = (HUBSPOT_TOKEN, SF_ACCESS_TOKEN, SF_CLIENT_SECRET)

PRIVATE_APP_HELP = (
    "HubSpot → Settings → Integrations → Private apps → your app → Auth. Scopes: "
    "crm.objects.contacts.read, crm.objects.contacts.write, crm.schemas.contacts.read."
)
URL_PLACEHOLDER = "https://yourcompany.my.salesforce.com"


# The actions --------------------------------------------------------------------------------------------


def _notice(provider: str, result: TestResult, how: str, *, saved_anyway: bool = False) -> Notice:
    if result.ok:
        return Notice("success", connected_text(provider, result.field_count, result.account, how))
    if saved_anyway:
        return Notice("warning", f"Saved, but the test failed. {result.message}")
    return Notice("error", f"Nothing was saved. {result.message}")


def connect_sandbox(ctx: AppContext, actor: Actor, provider: str) -> Notice:
    """The sales-demo path: the built-in emulator, no credentials."""
    result = connections.connect_sandbox(ctx, actor, provider)
    return _notice(provider, result, "(sandbox)", saved_anyway=True)


def connect_hubspot_token(ctx: AppContext, actor: Actor, token: str) -> Notice:
    result = connections.connect_hubspot_token(ctx, actor, token)
    return _notice("hubspot", result, "with a private app token")


def connect_salesforce_token(ctx: AppContext, actor: Actor, instance_url: str, token: str) -> Notice:
    result = connections.connect_salesforce_token(ctx, actor, instance_url, token)
    return _notice("salesforce", result, "with an access token")


def connect_salesforce_client_credentials(
    ctx: AppContext, actor: Actor, domain_url: str, client_id: str, client_secret: str
) -> Notice:
    result = connections.connect_salesforce_client_credentials(
        ctx, actor, domain_url, client_id, client_secret
    )
    return _notice("salesforce", result, "with client credentials")


# The callbacks ------------------------------------------------------------------------------------------


def _typed(name: str) -> str:
    return str(st.session_state.get(name) or "")


def _take_secret(name: str) -> str:
    """The typed secret, its field blanked at once (before anything can fail)."""
    value = _typed(name)
    st.session_state[name] = ""
    return value


def _on_sandbox(ctx: AppContext, actor: Actor, provider: str) -> None:
    attempt(provider, provider, lambda: connect_sandbox(ctx, acting_admin(ctx, actor), provider))


def _on_hubspot_token(ctx: AppContext, actor: Actor) -> None:
    token = _take_secret(HUBSPOT_TOKEN)
    attempt("hubspot", "hubspot", lambda: connect_hubspot_token(ctx, acting_admin(ctx, actor), token))


def _on_salesforce_token(ctx: AppContext, actor: Actor) -> None:
    token, instance_url = _take_secret(SF_ACCESS_TOKEN), _typed(SF_INSTANCE_URL)
    attempt(
        "salesforce",
        "salesforce",
        lambda: connect_salesforce_token(ctx, acting_admin(ctx, actor), instance_url, token),
    )


def _on_client_credentials(ctx: AppContext, actor: Actor) -> None:
    secret, domain_url, client_id = (
        _take_secret(SF_CLIENT_SECRET),
        _typed(SF_DOMAIN_URL),
        _typed(SF_CLIENT_ID),
    )
    attempt(
        "salesforce",
        "salesforce",
        lambda: connect_salesforce_client_credentials(
            ctx, acting_admin(ctx, actor), domain_url, client_id, secret
        ),
    )


# The widgets --------------------------------------------------------------------------------------------


def connect_section(ctx: AppContext, actor: Actor, provider: str, *, connected: bool) -> None:
    """Every way to connect ``provider``: open while it is not connected, folded away once it is."""
    name = label(provider)
    if connected:
        section = st.expander(f"Reconnect or switch how {name} connects", icon=":material/swap_horiz:")
    else:
        section = st.container(border=True, key=key("connect", provider))
    with section:
        if connected:
            st.caption(f"Connecting again replaces the current {name} connection once the new one works.")
        else:
            st.markdown(f"**Connect {name}**")
        _sandbox(ctx, actor, provider)
        st.divider()
        providers_oauth.oauth_section(ctx, actor, provider)
        st.divider()
        if provider == "hubspot":
            _hubspot_token_form(ctx, actor)
        else:
            _salesforce_advanced(ctx, actor)


def _sandbox(ctx: AppContext, actor: Actor, provider: str) -> None:
    st.button(
        "Use the sandbox",
        key=key("sandbox", provider),
        icon=":material/science:",
        on_click=_on_sandbox,
        args=(ctx, actor, provider),
    )
    st.caption(
        f"A built-in {label(provider)} emulator with the same API: no account and no credentials. "
        "For demos and trying the app; everything else then works against it."
    )


def _hubspot_token_form(ctx: AppContext, actor: Actor) -> None:
    with st.form(key("hubspot", "token_form"), border=False):
        st.markdown("**Private app token**")
        st.text_input(
            "Private app access token",
            type="password",
            key=HUBSPOT_TOKEN,
            placeholder="pat-…",
            autocomplete="off",
            help=PRIVATE_APP_HELP,
        )
        st.form_submit_button(
            "Test and save token",
            key=key("hubspot", "token_submit"),
            icon=":material/key:",
            on_click=_on_hubspot_token,
            args=(ctx, actor),
        )
    st.caption("The token is tested against HubSpot first; nothing is saved if HubSpot refuses it.")


def _salesforce_advanced(ctx: AppContext, actor: Actor) -> None:
    with st.expander("Advanced: client credentials or an access token", icon=":material/tune:"):
        with st.form(key("salesforce", "client_credentials_form"), border=False):
            st.markdown("**Client credentials** (a connected app with the client credentials flow enabled)")
            st.text_input("My Domain URL", key=SF_DOMAIN_URL, placeholder=URL_PLACEHOLDER)
            st.text_input("Consumer key (client id)", key=SF_CLIENT_ID, autocomplete="off")
            st.text_input(
                "Consumer secret (client secret)", type="password", key=SF_CLIENT_SECRET, autocomplete="off"
            )
            st.form_submit_button(
                "Test and save client credentials",
                key=key("salesforce", "client_credentials_submit"),
                icon=":material/key:",
                on_click=_on_client_credentials,
                args=(ctx, actor),
            )
        st.divider()
        with st.form(key("salesforce", "token_form"), border=False):
            st.markdown("**Access token** (a session token: it expires and cannot be refreshed)")
            st.text_input("Instance URL", key=SF_INSTANCE_URL, placeholder=URL_PLACEHOLDER)
            st.text_input("Salesforce access token", type="password", key=SF_ACCESS_TOKEN, autocomplete="off")
            st.form_submit_button(
                "Test and save access token",
                key=key("salesforce", "token_submit"),
                icon=":material/key:",
                on_click=_on_salesforce_token,
                args=(ctx, actor),
            )
        st.caption("Both are tested against Salesforce first; nothing is saved if it refuses them.")
