"""The login gate, the first-admin form, the frame (sidebar, pages per role) and logout, through AppTest."""

from __future__ import annotations

import bcrypt
import pytest
from app_harness import PASSWORD, AppHarness, button, texts
from streamlit.testing.v1 import AppTest

from data import users
from service.auth import Actor, PermissionDenied
from ui import services, state
from ui import users as user_admin

FIRST_ADMIN = {
    "first_admin_username": "Grace",
    "first_admin_display_name": "Grace Hopper",
    "first_admin_password": "cobol rules 1959",
    "first_admin_password_again": "cobol rules 1959",
}


def fill_first_admin(at: AppTest, **overrides: str) -> AppTest:
    for key, value in {**FIRST_ADMIN, **overrides}.items():
        at.text_input(key=key).input(value)
    return button(at, "Create the admin and log in").click().run()


def sidebar_text(at: AppTest) -> str:
    return "\n".join(str(element.value) for element in (*at.sidebar.markdown, *at.sidebar.caption))


def test_logged_out_user_sees_only_the_login(crm_app: AppHarness) -> None:
    crm_app.add_user("admin", "admin")
    at = crm_app.new().run()

    labels = [field.label for field in at.text_input]
    assert labels == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Log in"]
    assert "Providers" not in texts(at) and "Campaigns" not in texts(at)
    assert len(at.sidebar.button) == 0
    for page in ("campaigns", "users"):  # declared (hidden) so a deep link survives the login, never run
        crm_app.open(at, page)
        assert [field.label for field in at.text_input] == ["Username", "Password"]
        assert len(at.title) == 1 and at.title[0].value == "CRM Push"
        assert not at.dataframe and not at.tabs
    assert not at.exception


def test_a_deep_link_opens_after_the_login(crm_app: AppHarness) -> None:
    crm_app.add_user("admin", "admin")
    at = crm_app.open(crm_app.new().run(), "campaigns")

    crm_app.login(at, "admin")

    assert at.title[0].value == "Campaigns"
    assert not at.exception


def test_first_admin_form_creates_a_bcrypt_admin_and_logs_in(crm_app: AppHarness) -> None:
    at = crm_app.new().run()
    assert "Welcome to CRM Push" in texts(at)
    assert [field.label for field in at.text_input if field.form_id == "Login"] == []

    fill_first_admin(at, first_admin_password_again="something else")
    assert "The two passwords differ" in texts(at)
    fill_first_admin(at, first_admin_password="short", first_admin_password_again="short")
    assert f"at least {users.PASSWORD_MIN_LENGTH} characters" in texts(at)
    fill_first_admin(at, first_admin_display_name="  ")
    assert "Enter a display name" in texts(at)
    with crm_app.db.session() as session:
        assert users.count_users(session) == 0
    # A refused attempt never leaves the typed password in the session.
    assert at.session_state["first_admin_password"] == ""

    fill_first_admin(at)

    with crm_app.db.session() as session:
        admin = users.get_user(session, "grace")
        assert admin is not None
        assert (admin.role, admin.display_name) == ("admin", "Grace Hopper")
        assert (
            admin.password_hash.startswith("$2")
            and FIRST_ADMIN["first_admin_password"] not in admin.password_hash
        )
        assert bcrypt.checkpw(FIRST_ADMIN["first_admin_password"].encode(), admin.password_hash.encode())
        assert admin.last_login_at is not None
    assert "Grace Hopper" in sidebar_text(at) and "admin" in sidebar_text(at)
    assert at.title[0].value == "Providers"
    # The form is gone for good: the next visitor gets the login.
    later = crm_app.new().run()
    assert "Welcome to CRM Push" not in texts(later)
    assert [field.label for field in later.text_input] == ["Username", "Password"]
    assert not at.exception and not later.exception


def test_wrong_password_is_refused(crm_app: AppHarness) -> None:
    crm_app.add_user("admin", "admin")
    at = crm_app.login(crm_app.new().run(), "admin", "not the password")

    assert "Incorrect username or password." in texts(at)
    assert len(at.sidebar.button) == 0
    assert at.session_state[state.AUTH_STATUS] is False
    assert not at.exception


def test_admin_sees_every_page_and_the_sidebar(crm_app: AppHarness) -> None:
    at = crm_app.as_admin()

    assert at.title[0].value == "Providers"
    assert "Ada Admin" in sidebar_text(at) and "admin · admin" in sidebar_text(at)
    assert at.sidebar.button(key="app_logout").label == "Log out"
    for page, title in [
        ("push", "Push"),
        ("history", "History"),
        ("campaigns", "Campaigns"),
        ("users", "Users"),
    ]:
        crm_app.open(at, page)
        assert at.title[0].value == title
        assert not at.exception
    with crm_app.db.session() as session:
        admin = users.get_user(session, "admin")
        assert admin is not None and admin.last_login_at is not None


def test_analyst_has_no_users_page(crm_app: AppHarness) -> None:
    at = crm_app.as_analyst()

    assert "Andy Analyst" in sidebar_text(at) and "analyst" in sidebar_text(at)
    crm_app.open(at, "campaigns")
    assert at.title[0].value == "Campaigns"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/users.py")
    assert not at.exception


def test_user_management_is_refused_to_analysts_in_the_service_sense(crm_app: AppHarness) -> None:
    crm_app.as_admin()  # builds the app's context
    ctx = services.context()
    analyst = Actor("andy", "analyst")

    with pytest.raises(PermissionDenied, match="Only an admin can manage users"):
        user_admin.add_user(
            ctx, analyst, username="mallory", display_name="M", role="admin", passwords=[PASSWORD]
        )
    with pytest.raises(PermissionDenied):
        user_admin.change_role(ctx, analyst, "admin", "analyst")
    with crm_app.db.session() as session:
        assert users.get_user(session, "mallory") is None
        admin = users.get_user(session, "admin")
        assert admin is not None and admin.role == "admin"


def test_admin_demoted_meanwhile_loses_the_users_page(crm_app: AppHarness) -> None:
    crm_app.add_user("boss", "admin")
    at = crm_app.as_admin()
    crm_app.open(at, "users")
    assert "Add a user" in texts(at)
    with crm_app.db.begin() as session:
        users.set_role(session, "admin", "analyst")

    at.run()

    assert "Add a user" not in texts(at)
    assert "admin · analyst" in sidebar_text(at)
    with pytest.raises(ValueError):
        at.switch_page("views/users.py")
    assert not at.exception


def test_logout_returns_to_the_login_and_forgets_the_session(crm_app: AppHarness) -> None:
    at = crm_app.as_admin()
    crm_app.open(at, "campaigns")
    at.text_input(key="campaigns_filter").input("ada").run()

    crm_app.logout(at)

    assert [field.label for field in at.text_input] == ["Username", "Password"]
    assert len(at.sidebar.button) == 0
    assert at.session_state[state.AUTH_STATUS] is None
    assert "campaigns_filter" not in at.session_state
    crm_app.open(at, "campaigns")
    assert not at.dataframe and "Log in" in texts(at)
    crm_app.login(at, "admin")
    assert "Ada Admin" in sidebar_text(at)
    assert not at.exception


def test_a_removed_user_is_logged_out_on_the_next_run(crm_app: AppHarness) -> None:
    crm_app.add_user("admin", "admin")
    at = crm_app.as_analyst()
    with crm_app.db.begin() as session:
        users.delete_user(session, "analyst")

    at.run()

    assert "Your account was removed" in texts(at)
    assert [field.label for field in at.text_input] == ["Username", "Password"]
    assert not at.exception
