"""Login users: hashing, rules, the last admin, and the shape streamlit-authenticator consumes."""

from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy.orm import Session
from streamlit_authenticator.utilities.hasher import Hasher

from data import users
from data.users import (
    LastAdminError,
    UserError,
    count_users,
    create_user,
    credentials_for_authenticator,
    delete_user,
    get_user,
    list_users,
    record_login,
    set_password,
    set_role,
    verify_password,
)

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cost 4 keeps the suite fast; test_production_cost checks the real one."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


def test_production_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 12)
    hashed = users.hash_password(PASSWORD)
    assert hashed.startswith("$2b$12$")
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())


def test_no_user_exists_until_one_is_created(session: Session) -> None:
    assert count_users(session) == 0
    assert credentials_for_authenticator(session) == {"usernames": {}}


def test_create_get_verify(session: Session) -> None:
    user = create_user(session, username="  Alice ", password=PASSWORD, role="admin", email="a@example.com")
    assert user.username == "alice" and user.display_name == "alice"
    assert PASSWORD not in user.password_hash
    assert get_user(session, "ALICE") is user
    assert verify_password(session, "Alice", PASSWORD) is user
    assert verify_password(session, "alice", PASSWORD + "x") is None
    assert verify_password(session, "nobody", PASSWORD) is None
    assert verify_password(session, "alice", "x" * 100) is None  # too long for bcrypt: no exception


@pytest.mark.parametrize("username", ["", "a", "has space", "semi;colon", "-leading", "x" * 65, "ünïcode"])
def test_bad_usernames(session: Session, username: str) -> None:
    with pytest.raises(UserError, match="username"):
        create_user(session, username=username, password=PASSWORD, role="analyst")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short", "at least"),
        ("é" * 40, "at most"),
        (" padded password", "space"),
        ("padded password ", "space"),
    ],
)
def test_password_rules(session: Session, password: str, rule: str) -> None:
    with pytest.raises(UserError, match=rule):
        create_user(session, username="bob", password=password, role="analyst")


def test_role_and_duplicate_are_refused(session: Session) -> None:
    with pytest.raises(UserError, match="role"):
        create_user(session, username="bob", password=PASSWORD, role="superuser")
    create_user(session, username="bob", password=PASSWORD, role="analyst")
    with pytest.raises(UserError, match="taken"):
        create_user(session, username="BOB", password=PASSWORD, role="analyst")
    assert count_users(session) == 1  # the failed insert did not spoil the transaction


def test_list_count_and_change(session: Session) -> None:
    create_user(session, username="carol", password=PASSWORD, role="admin")
    create_user(session, username="bob", password=PASSWORD, role="analyst")
    assert [u.username for u in list_users(session)] == ["bob", "carol"]
    assert count_users(session, role="admin") == 1
    set_role(session, "bob", "admin")
    assert count_users(session, role="admin") == 2
    set_password(session, "bob", "another password")
    assert verify_password(session, "bob", PASSWORD) is None
    assert verify_password(session, "bob", "another password") is not None
    record_login(session, "bob")
    assert get_user(session, "bob").last_login_at is not None
    with pytest.raises(UserError, match="No user"):
        set_role(session, "nobody", "admin")


def test_last_admin_cannot_be_deleted_or_demoted(session: Session) -> None:
    create_user(session, username="root", password=PASSWORD, role="admin")
    create_user(session, username="ana", password=PASSWORD, role="analyst")
    with pytest.raises(LastAdminError):
        delete_user(session, "root")
    with pytest.raises(LastAdminError):
        set_role(session, "root", "analyst")
    delete_user(session, "ana")  # analysts go freely
    create_user(session, username="second", password=PASSWORD, role="admin")
    delete_user(session, "root")  # another admin remains
    assert [u.username for u in list_users(session)] == ["second"]


def test_credentials_for_streamlit_authenticator(session: Session) -> None:
    create_user(
        session,
        username="dana",
        password=PASSWORD,
        role="admin",
        display_name="Dana Scully Fox",
        email="d@x.io",
    )
    create_user(session, username="eve", password=PASSWORD, role="analyst")
    credentials = credentials_for_authenticator(session)
    dana = credentials["usernames"]["dana"]
    assert dana == {
        "email": "d@x.io",
        "first_name": "Dana",
        "last_name": "Scully Fox",
        "password": get_user(session, "dana").password_hash,
        "roles": ["admin"],
    }
    assert credentials["usernames"]["eve"]["roles"] == ["analyst"]
    # The authenticator keeps a hash as is (auto_hash skips it) and checks it with bcrypt.
    assert Hasher.is_hash(dana["password"])
    assert Hasher.check_pw(PASSWORD, dana["password"])
    assert not Hasher.check_pw("wrong password", dana["password"])
    # It lower-cases the typed username and strips the typed password: our rules make that harmless.
    assert all(name == name.lower() for name in credentials["usernames"])
    credentials["usernames"]["dana"]["logged_in"] = True  # the authenticator mutates what it gets
    assert "logged_in" not in credentials_for_authenticator(session)["usernames"]["dana"]


def test_streamlit_authenticator_logs_in_with_our_credentials(session: Session) -> None:
    from streamlit_authenticator.models.authentication_model import AuthenticationModel

    create_user(session, username="frank", password=PASSWORD, role="analyst", display_name="Frank Lloyd")
    model = AuthenticationModel(credentials_for_authenticator(session), auto_hash=True)
    assert model.login("frank", "wrong password") is False
    assert model.login("frank", PASSWORD) is True
    assert model.credentials["usernames"]["frank"]["roles"] == ["analyst"]
