"""Users (admins only): list the users, add one, change a role, reset a password, remove one.

The two password forms act in their submit callbacks, which run before the page and may clear the typed
passwords from the session: a password is never kept once its form has been handled.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from data.users import ROLES, UserError
from service.auth import Actor, PermissionDenied
from service.context import AppContext
from ui import services
from ui import users as user_admin
from ui.auth import current_actor, require_admin
from ui.widgets import plain, when

FLASH_KEY = "users_flash"
ADD_ERROR_KEY = "users_add_error"
RESET_ERROR_KEY = "users_reset_error"
ADD_FIELDS = (
    "users_add_username",
    "users_add_display_name",
    "users_add_password",
    "users_add_password_again",
)
PASSWORD_FIELDS = ("users_new_password", "users_new_password_again")


def attempt(action: Callable[[], str], error_key: str, clear: tuple[str, ...]) -> None:
    """Run ``action``; keep its message for the page, or its refusal for ``error_key``; clear ``clear``."""
    try:
        st.session_state[FLASH_KEY] = action()
    except (UserError, PermissionDenied) as exc:
        st.session_state[error_key] = str(exc)
    finally:
        for key in clear:
            st.session_state[key] = ""


def on_add(ctx: AppContext, admin: Actor) -> None:
    values = {key: str(st.session_state.get(key) or "") for key in ADD_FIELDS}
    role = str(st.session_state.get("users_add_role") or "analyst")

    def add() -> str:
        name = user_admin.add_user(
            ctx,
            admin,
            username=values["users_add_username"],
            display_name=values["users_add_display_name"],
            role=role,
            passwords=(values["users_add_password"], values["users_add_password_again"]),
        )
        for key in ("users_add_username", "users_add_display_name"):
            st.session_state[key] = ""
        return f"Added {plain(name)} as {role}."

    attempt(add, ADD_ERROR_KEY, clear=ADD_FIELDS[2:])


def on_reset(ctx: AppContext, admin: Actor, username: str) -> None:
    passwords = tuple(str(st.session_state.get(key) or "") for key in PASSWORD_FIELDS)

    def reset() -> str:
        user_admin.reset_password(ctx, admin, username, passwords)
        return f"Set a new password for {plain(username)}."

    attempt(reset, RESET_ERROR_KEY, clear=PASSWORD_FIELDS)


def done(message: str) -> None:
    """Show ``message`` after the rerun that refreshes the table."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


actor = current_actor()
ctx = services.context()
st.title("Users")
admin = require_admin("manage users")
if admin is None:
    st.stop()

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

rows = user_admin.list_users(ctx, admin)
st.dataframe(
    pd.DataFrame(
        {
            "Username": [row.username for row in rows],
            "Display name": [row.display_name for row in rows],
            "Role": [row.role for row in rows],
            "Created": [when(row.created_at) for row in rows],
            "Last login": [when(row.last_login_at) for row in rows],
        }
    ),
    key="users_table",
    hide_index=True,
)

add_column, manage_column = st.columns(2, gap="large")

with add_column, st.form("users_add_form"):
    st.subheader("Add a user")
    if error := st.session_state.pop(ADD_ERROR_KEY, None):
        st.error(error)
    st.text_input("Username", key="users_add_username", help="2 to 64 characters: a-z 0-9 . _ @ -")
    st.text_input("Display name", key="users_add_display_name", max_chars=user_admin.DISPLAY_NAME_MAX)
    st.selectbox("Role", ROLES, index=ROLES.index("analyst"), key="users_add_role")
    st.text_input("Password", type="password", key="users_add_password")
    st.text_input("Repeat the password", type="password", key="users_add_password_again")
    st.form_submit_button(
        "Add user", type="primary", icon=":material/person_add:", on_click=on_add, args=(ctx, admin)
    )

with manage_column:
    st.subheader("Change a user")
    selected = st.selectbox("User", [row.username for row in rows], key="users_selected")
    current = next((row for row in rows if row.username == selected), None)
    if current is not None:
        new_role = st.selectbox(
            "Role", ROLES, index=ROLES.index(current.role), key=f"users_role_{current.username}"
        )
        if st.button("Change role", key="users_change_role", disabled=new_role == current.role):
            try:
                user_admin.change_role(ctx, admin, current.username, new_role)
            except (UserError, PermissionDenied) as exc:
                st.error(str(exc))
            else:
                done(f"{plain(current.username)} is now {new_role}.")

        with st.form("users_password_form"):
            if error := st.session_state.pop(RESET_ERROR_KEY, None):
                st.error(error)
            st.text_input("New password", type="password", key=PASSWORD_FIELDS[0])
            st.text_input("Repeat the new password", type="password", key=PASSWORD_FIELDS[1])
            st.form_submit_button(
                "Reset password",
                icon=":material/key:",
                on_click=on_reset,
                args=(ctx, admin, current.username),
            )

        sure = st.checkbox(
            f"Yes, remove {plain(current.username)}", key=f"users_remove_confirm_{current.username}"
        )
        if st.button("Remove user", key="users_remove", disabled=not sure, icon=":material/person_remove:"):
            try:
                user_admin.remove_user(ctx, admin, current.username)
            except (UserError, PermissionDenied) as exc:
                st.error(str(exc))
            else:
                done(f"Removed {plain(current.username)}.")
