"""``python -m crm users``: the password comes from stdin only and is stored as a bcrypt hash."""

from __future__ import annotations

import io

import pytest
from cli_support import Cli, Result, call
from sqlalchemy import text

from crm.cli import main
from data import users

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def results(module_cli: Cli) -> dict[str, Result]:
    added, empty, no_flag = module_cli.run_many(
        call("users", "add", "Alice", "--role", "admin", "--display-name", "Alice A.", "--password-stdin",
             input=PASSWORD + "\n"),
        call("users", "add", "bob", "--role", "analyst", "--password-stdin", input=""),
        call("users", "add", "carol", "--role", "analyst"),
    )  # fmt: skip
    listed = module_cli.run("users", "list", "--json")
    return {"added": added, "empty": empty, "no_flag": no_flag, "listed": listed}


def test_add_reads_the_password_from_stdin_and_stores_a_bcrypt_hash(
    results: dict[str, Result], module_cli: Cli
) -> None:
    added = results["added"]
    assert added.code == 0, added.show()
    assert added.stdout.strip() == "added admin Alice"
    assert PASSWORD not in added.stdout + added.stderr
    ctx = module_cli.context()
    try:
        with ctx.db.session() as session:
            user = users.get_user(session, "alice")
            assert user is not None and user.role == "admin" and user.display_name == "Alice A."
            assert user.password_hash.startswith("$2b$") and PASSWORD not in user.password_hash
            assert users.verify_password(session, "alice", PASSWORD) is not None
            assert users.verify_password(session, "alice", PASSWORD + "!") is None
            dump = " ".join(str(row) for row in session.execute(text("SELECT * FROM users")))
            assert PASSWORD not in dump
    finally:
        ctx.close()


def test_add_is_refused_without_a_password_on_stdin(results: dict[str, Result]) -> None:
    empty, no_flag = results["empty"], results["no_flag"]
    assert empty.code == 2 and empty.stdout == ""
    assert empty.stderr.startswith("error: no password on stdin") and len(empty.stderr.splitlines()) == 1
    assert no_flag.code == 2 and "the following arguments are required: --password-stdin" in no_flag.stderr
    assert "Traceback" not in empty.stderr + no_flag.stderr


def test_list_shows_only_the_users_added(results: dict[str, Result]) -> None:
    listed = results["listed"]
    assert listed.code == 0, listed.show()
    assert listed.json() == [{"username": "alice", "display_name": "Alice A.", "role": "admin"}]


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("alice", "another long password", "The username 'alice' is taken"),
        ("dave", "short", "A password needs at least"),
        ("dave", " padded password ", "cannot start or end with a space"),
        ("da ve", "a fine long password", "A username has 2 to 64 characters"),
    ],
)
def test_bad_additions_exit_2_with_the_reason(
    results: dict[str, Result],
    module_cli: Cli,
    name: str,
    password: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert results["added"].code == 0  # alice exists
    for key, value in module_cli.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))

    code = main(["users", "add", name, "--role", "analyst", "--password-stdin"])

    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_a_password_typed_at_a_terminal_is_not_echoed(
    results: dict[str, Result],
    module_cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def no_echo(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return "typed without echo 123"

    for key, value in module_cli.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("sys.stdin", Terminal("visible on screen\n"))
    monkeypatch.setattr("getpass.getpass", no_echo)

    code = main(["users", "add", "erin", "--role", "analyst", "--password-stdin"])

    assert code == 0 and prompts == ["Password: "], capsys.readouterr()
    ctx = module_cli.context()
    try:
        with ctx.db.session() as session:
            assert users.verify_password(session, "erin", "typed without echo 123") is not None
    finally:
        ctx.close()
