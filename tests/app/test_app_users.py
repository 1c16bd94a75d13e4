"""The Users page: list, add, change role, reset password, remove; never the last admin, never oneself."""

from __future__ import annotations

import pandas as pd
from app_harness import PASSWORD, AppHarness, button, texts
from streamlit.testing.v1 import AppTest

from data import users


def users_page(crm_app: AppHarness) -> AppTest:
    return crm_app.open(crm_app.as_admin(), "users")


def table(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "Username" in df.value.columns)


def add(
    at: AppTest, username: str, display_name: str, role: str, password: str, again: str | None = None
) -> AppTest:
    at.text_input(key="users_add_username").input(username)
    at.text_input(key="users_add_display_name").input(display_name)
    at.selectbox(key="users_add_role").set_value(role)
    at.text_input(key="users_add_password").input(password)
    at.text_input(key="users_add_password_again").input(password if again is None else again)
    return button(at, "Add user").click().run()


def role_of(crm_app: AppHarness, username: str) -> str | None:
    with crm_app.db.session() as session:
        user = users.get_user(session, username)
        return user.role if user else None


def test_lists_users_and_adds_one(crm_app: AppHarness) -> None:
    at = users_page(crm_app)
    assert list(table(at)["Username"]) == ["admin"]
    assert table(at)["Last login"].iloc[0] != "—"

    add(at, "Bob", "Bob <b>Builder</b>", "analyst", "pw", "pw")
    assert f"at least {users.PASSWORD_MIN_LENGTH} characters" in texts(at)
    add(at, "bob", "Bob", "analyst", PASSWORD, "typo typo typo")
    assert "The two passwords differ" in texts(at)
    add(at, "no spaces allowed", "X", "analyst", PASSWORD)
    assert "A username has 2 to 64 characters" in texts(at)
    assert role_of(crm_app, "bob") is None

    add(at, "Bob", "Bob <b>Builder</b>", "analyst", PASSWORD)

    assert "Added bob as analyst." in texts(at)
    listed = table(at).set_index("Username")
    assert listed.loc["bob", "Display name"] == "Bob <b>Builder</b>"  # shown as text in the table
    assert listed.loc["bob", "Role"] == "analyst"
    assert at.text_input(key="users_add_password").value == ""  # the form forgets the password
    other = crm_app.login(crm_app.new().run(), "bob")
    assert "analyst" in "\n".join(str(c.value) for c in other.sidebar.caption)
    assert not at.exception and not other.exception


def test_changes_a_role_and_never_demotes_the_last_admin(crm_app: AppHarness) -> None:
    crm_app.add_user("bob", "analyst")
    at = users_page(crm_app)

    at.selectbox(key="users_selected").set_value("admin").run()
    at.selectbox(key="users_role_admin").set_value("analyst").run()
    at.button(key="users_change_role").click().run()
    assert "admin is the last admin" in texts(at)
    assert role_of(crm_app, "admin") == "admin"

    at.selectbox(key="users_selected").set_value("bob").run()
    at.selectbox(key="users_role_bob").set_value("admin").run()
    at.button(key="users_change_role").click().run()
    assert "bob is now admin." in texts(at)
    assert role_of(crm_app, "bob") == "admin"
    assert not at.exception


def test_resets_a_password(crm_app: AppHarness) -> None:
    crm_app.add_user("bob", "analyst")
    at = users_page(crm_app)
    at.selectbox(key="users_selected").set_value("bob").run()

    at.text_input(key="users_new_password").input("a brand new password")
    at.text_input(key="users_new_password_again").input("a brand new password")
    button(at, "Reset password").click().run()

    assert "Set a new password for bob." in texts(at)
    old = crm_app.login(crm_app.new().run(), "bob", PASSWORD)
    assert "Incorrect username or password." in texts(old)
    new = crm_app.login(crm_app.new().run(), "bob", "a brand new password")
    assert len(new.sidebar.button) == 1
    assert not at.exception and not old.exception and not new.exception


def test_removes_a_user_but_never_oneself_or_the_last_admin(crm_app: AppHarness) -> None:
    crm_app.add_user("bob", "analyst")
    at = users_page(crm_app)
    at.selectbox(key="users_selected").set_value("admin").run()
    assert at.button(key="users_remove").disabled

    at.checkbox(key="users_remove_confirm_admin").check().run()
    at.button(key="users_remove").click().run()
    assert "You cannot remove yourself" in texts(at)
    assert role_of(crm_app, "admin") == "admin"

    at.selectbox(key="users_selected").set_value("bob").run()
    assert at.button(key="users_remove").disabled  # confirmation is per user
    at.checkbox(key="users_remove_confirm_bob").check().run()
    at.button(key="users_remove").click().run()
    assert "Removed bob." in texts(at)
    assert role_of(crm_app, "bob") is None
    assert list(table(at)["Username"]) == ["admin"]
    assert not at.exception
