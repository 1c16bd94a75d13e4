"""Login, the first-admin form, logout, and who is acting on this run.

streamlit-authenticator 0.4.2 does the login: its form checks the bcrypt hashes of our ``users`` table
(``data.users.credentials_for_authenticator``), and its ``crm_push_auth`` cookie (a JWT signed with
``ctx.cookie_key``) logs a returning browser in without the form. Every way in ends with the library's
session keys set (``ui.state.AUTH_*``); each run then re-reads that user from the database, so a removed
user is out at once and a changed role applies on the next click.

The library writes and deletes the cookie through custom components (invisible iframes), which only
act if they stay on the page until their script has run. So the authenticator is built at the same
place on every run, as the library expects: its cookie-reading component stays mounted instead of
mounting anew, reporting, and so triggering a rerun that would remove a fresh "set" or "delete" iframe
before it acts. A fresh login reruns with ``SET_COOKIE`` set and that next, complete run renders the
cookie; logout is a button callback that leaves ``LOGOUT_REQUESTED`` for the script body, which logs
out and renders the deletion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.exc import SQLAlchemyError
from streamlit_authenticator.utilities import LoginError

from data import users
from service.auth import Actor
from service.context import AppContext
from ui import state
from ui.users import DISPLAY_NAME_MAX
from ui.widgets import plain

log = logging.getLogger("ui.auth")

COOKIE_NAME = "crm_push_auth"
# The re-login cookie cannot be revoked server-side (rotating CRM_COOKIE_KEY ends every session), so it
# lives a day; each new browser session with a valid cookie renews it, so daily users stay logged in.
COOKIE_EXPIRY_DAYS = 1.0
# The library sleeps before every logged-out render, a wait its older versions needed for their cookie
# component to answer; 0.4.2 reads the cookie from the request (st.context.cookies), so nothing to wait for.
LOGIN_SLEEP_SECONDS = 0.0
LOGIN_FORM_KEY = "login_form"
# The library's form labels (a label named "Password" is not a password).
LOGIN_FIELDS = {"Form name": "Log in", "Username": "Username", "Password": "Password", "Login": "Log in"}  # nosec B105


@dataclass(frozen=True)
class SignedIn:
    """The user of this session as the database knows them on this run."""

    actor: Actor
    display_name: str


def gate(ctx: AppContext) -> SignedIn | None:
    """Log the session in, or render what it takes (first-admin form or login form) and return None."""
    authenticator = _authenticator(ctx)  # first, and on every run: see the module docstring
    if st.session_state.pop(state.LOGOUT_REQUESTED, False):
        _logout(authenticator)
    if not _any_user(ctx):
        _first_admin_form(ctx)
        return None
    signed_in = _signed_in(ctx)
    if signed_in is None:
        _login_form(authenticator)
        signed_in = _signed_in(ctx)
        if signed_in is None:
            return None
        _record_login(ctx, signed_in.actor.username)
        st.session_state[state.SET_COOKIE] = True
        st.rerun()  # drop the login form; the next run writes the cookie
    if st.session_state.pop(state.SET_COOKIE, False):
        authenticator.cookie_controller.set_cookie()
    st.session_state[state.SIGNED_IN] = signed_in
    return signed_in


def current_actor() -> Actor:
    """The signed-in user; every page starts with this, so nothing renders for a session that is not
    logged in (app.py's gate already stops such a session; this holds if a page is ever run alone)."""
    signed_in = st.session_state.get(state.SIGNED_IN)
    if not isinstance(signed_in, SignedIn):
        st.warning("Log in first.")
        st.stop()
    return signed_in.actor


def require_admin(action: str) -> Actor | None:
    """The acting admin, or None after telling an analyst that only admins can ``action``.

    For page sections; the service functions behind them check the role again.
    """
    actor = current_actor()
    if actor.is_admin:
        return actor
    st.info(f"Only admins can {action}. You are logged in as an analyst.", icon=":material/lock:")
    return None


def sidebar(signed_in: SignedIn) -> None:
    """Who is logged in, their role, and the logout button."""
    with st.sidebar:
        st.markdown(f"**{plain(signed_in.display_name)}**")
        st.caption(f"{plain(signed_in.actor.username)} · {signed_in.actor.role}")
        st.button("Log out", key="app_logout", icon=":material/logout:", on_click=_request_logout)


def _authenticator(ctx: AppContext) -> stauth.Authenticate:
    with ctx.db.session() as session:
        credentials = users.credentials_for_authenticator(session)
    return stauth.Authenticate(
        credentials,
        cookie_name=COOKIE_NAME,
        cookie_key=ctx.cookie_key,
        cookie_expiry_days=COOKIE_EXPIRY_DAYS,
        auto_hash=False,  # the database holds bcrypt hashes only
        login_sleep_time=LOGIN_SLEEP_SECONDS,  # type: ignore[arg-type]  # the library's **kwargs hint is off
    )


def _any_user(ctx: AppContext) -> bool:
    with ctx.db.session() as session:
        return users.count_users(session) > 0


def _signed_in(ctx: AppContext) -> SignedIn | None:
    """The logged-in user re-read from the database; a user removed meanwhile is logged out here."""
    if st.session_state.get(state.AUTH_STATUS) is not True:
        return None
    username = st.session_state.get(state.AUTH_USERNAME)
    with ctx.db.session() as session:
        user = users.get_user(session, username) if isinstance(username, str) else None
        found = SignedIn(Actor(user.username, user.role), user.display_name) if user else None
    if found is None:
        _forget_session()
        st.warning("Your account was removed. Ask an admin if you still need access.")
    return found


def _login_form(authenticator: stauth.Authenticate) -> None:
    """The library's login: its cookie first, else its form (checked against our bcrypt hashes)."""
    st.title("CRM Push")
    try:
        authenticator.login(location="main", key=LOGIN_FORM_KEY, fields=LOGIN_FIELDS)
    except LoginError:
        # A valid cookie for a user who no longer exists: forget it and offer the form.
        st.session_state[state.AUTH_LOGOUT] = True  # the library then ignores the cookie
        authenticator.cookie_controller.delete_cookie()
        authenticator.login(location="main", key=LOGIN_FORM_KEY, fields=LOGIN_FIELDS)
    if st.session_state.get(state.AUTH_STATUS) is False:
        st.error("Incorrect username or password.")
    elif not st.session_state.get(state.AUTH_STATUS):
        st.caption("No account yet? An admin adds users on the Users page.")


def _record_login(ctx: AppContext, username: str) -> None:
    try:
        with ctx.db.begin() as session:
            users.record_login(session, username)
    except (SQLAlchemyError, users.UserError):  # a statistic: never a reason to refuse a login
        log.warning("could not record the login of %s", username, exc_info=True)


def _sign_in(username: str, display_name: str, email: str | None, role: str) -> None:
    """Set the session keys exactly as the library does after a successful login."""
    st.session_state[state.AUTH_STATUS] = True
    st.session_state[state.AUTH_USERNAME] = username
    st.session_state[state.AUTH_NAME] = display_name
    st.session_state[state.AUTH_EMAIL] = email
    st.session_state[state.AUTH_ROLES] = [role]


def _forget_session() -> None:
    """Log out of this session only, and drop everything the previous user left in it."""
    for key in list(st.session_state.keys()):
        if key not in state.AUTHENTICATOR_KEYS:
            del st.session_state[key]
    for key in (state.AUTH_STATUS, state.AUTH_USERNAME, state.AUTH_NAME, state.AUTH_EMAIL, state.AUTH_ROLES):
        st.session_state[key] = None
    st.session_state[state.AUTH_LOGOUT] = True  # a cookie still in the browser must not log back in


def _request_logout() -> None:
    st.session_state[state.LOGOUT_REQUESTED] = True


def _logout(authenticator: stauth.Authenticate) -> None:
    """The library's logout (session keys and cookie), then forget the rest of the session too."""
    if st.session_state.get(state.AUTH_STATUS):
        authenticator.logout(location="unrendered")
    _forget_session()


# The first admin ----------------------------------------------------------------------------------------

# Widget keys of the first-admin form (session-state names, not passwords).
_FIRST_ADMIN_FIELDS = {
    "username": "first_admin_username",
    "display_name": "first_admin_display_name",
    "password": "first_admin_password",  # nosec B105
    "password_again": "first_admin_password_again",  # nosec B105
}


def _first_admin_form(ctx: AppContext) -> None:
    """The one-time form shown while the database has no user at all: there is no default password."""
    st.title("Welcome to CRM Push")
    st.write(
        "No one can log in yet. Create the first admin: they can then add the other users, connect the "
        "CRMs and push leads."
    )
    error = st.session_state.pop(state.FIRST_ADMIN_ERROR, None)
    if error:
        st.error(error)
    with st.form("first_admin_form"):
        st.text_input(
            "Username", key=_FIRST_ADMIN_FIELDS["username"], help="2 to 64 characters: a-z 0-9 . _ @ -"
        )
        st.text_input("Display name", key=_FIRST_ADMIN_FIELDS["display_name"], max_chars=DISPLAY_NAME_MAX)
        st.text_input(
            "Password",
            type="password",
            key=_FIRST_ADMIN_FIELDS["password"],
            help=f"At least {users.PASSWORD_MIN_LENGTH} characters",
        )
        st.text_input("Repeat the password", type="password", key=_FIRST_ADMIN_FIELDS["password_again"])
        st.form_submit_button(
            "Create the admin and log in", type="primary", on_click=_create_first_admin, args=(ctx,)
        )


def _create_first_admin(ctx: AppContext) -> None:
    """Form callback: validate, create the admin, and log them in (runs before the script body)."""
    values = {name: str(st.session_state.get(key) or "") for name, key in _FIRST_ADMIN_FIELDS.items()}
    # Never keep a typed password in the session, whatever happens next.
    st.session_state[_FIRST_ADMIN_FIELDS["password"]] = ""
    st.session_state[_FIRST_ADMIN_FIELDS["password_again"]] = ""
    error = _first_admin_problem(values)
    if error is None:
        try:
            with ctx.db.begin() as session:
                if users.count_users(session) > 0:
                    raise users.UserError("Someone created the first admin meanwhile: log in instead.")
                user = users.create_user(
                    session,
                    username=values["username"],
                    password=values["password"],
                    role="admin",
                    display_name=values["display_name"],
                )
                users.record_login(session, user.username)
                created = (user.username, user.display_name, user.email, user.role)
        except users.UserError as exc:
            error = str(exc)
    if error is not None:
        st.session_state[state.FIRST_ADMIN_ERROR] = error
        return
    _sign_in(*created)
    st.session_state[state.SET_COOKIE] = True


def _first_admin_problem(values: dict[str, str]) -> str | None:
    if not values["username"].strip():
        return "Enter a username."
    if not values["display_name"].strip():
        return "Enter a display name: it is shown in the sidebar and in the push history."
    if len(values["display_name"].strip()) > DISPLAY_NAME_MAX:
        return f"A display name can have at most {DISPLAY_NAME_MAX} characters."
    if values["password"] != values["password_again"]:
        return "The two passwords differ. Type the same password twice."
    return None
