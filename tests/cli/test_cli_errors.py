"""Usage and configuration errors: exit 2, nothing on stdout, one line on stderr that says what is wrong,
never a traceback and never a credential. All the commands run once, in parallel."""

from __future__ import annotations

import os

import pytest
from cli_support import HUBSPOT_TOKEN, Cli, Result, assert_no_token, call

from crm.cli import build_parser, main
from crm.mapping import default_mapping
from data.leads import get_campaign_by_name_or_id
from service import adapters, runs
from service.auth import SYSTEM

NA_SAAS = "Demo: North America SaaS decision-makers"
DACH = "Demo: DACH manufacturing trade-fair leads"

Case = tuple[tuple[str, ...], dict[str, str | None], str]  # arguments, environment changes, the message

# Run as real subprocesses: the documented failures of ``push`` and a few of the configuration kind.
SUBPROCESS_CASES: dict[str, Case] = {
    "bad arguments": (("push", "hubspot"), {}, "one of the arguments --csv --campaign is required"),
    "unknown campaign": (
        ("push", "hubspot", "--campaign", "No such list"),
        {},
        "no campaign named or numbered",
    ),
    "missing credentials": (
        ("push", "hubspot", "--campaign", NA_SAAS),
        {"HUBSPOT_ACCESS_TOKEN": None},
        "Set HUBSPOT_ACCESS_TOKEN (and HUBSPOT_BASE_URL for a sandbox) in the environment",
    ),
    "malformed mapping": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--mapping", "{home}/broken.json"),
        {},
        "The mapping is not valid JSON: Expecting property name enclosed in double quotes (line 1",
    ),
    "unreadable csv": (("push", "hubspot", "--csv", "{home}/missing.csv"), {}, "cannot read"),
    "binary csv": (("push", "hubspot", "--csv", "{home}/photo.csv"), {}, "it contains binary data"),
    "token on the command line": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--access-token", HUBSPOT_TOKEN),
        {},
        "unrecognized arguments: --access-token",
    ),
    "already running": (("push", "hubspot", "--campaign", DACH, "--json"), {}, "is already running (run #"),
    "database unreachable": (
        ("history", "--json"),
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"},
        "cannot open the app's database",
    ),
}
# The same contract through ``crm.cli.main`` in this process (a CLI start costs seconds).
IN_PROCESS_CASES: dict[str, Case] = {
    "no command": ((), {}, "the following arguments are required: command"),
    "unknown provider": (("push", "pipedrive", "--campaign", NA_SAAS), {}, "invalid choice: 'pipedrive'"),
    "unknown mode": (("push", "hubspot", "--campaign", NA_SAAS, "--mode", "sideways"), {}, "invalid choice"),
    "not a number": (("push", "hubspot", "--campaign", NA_SAAS, "--min-score", "high"), {}, "invalid int"),
    "object on hubspot": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--object", "Contact"),
        {},
        "--object applies to Salesforce only",
    ),
    "bad --set": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--set", "jobtitle"),
        {},
        "--set takes FIELD=VALUE",
    ),
    "mapping without email": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--mapping", "{home}/no-email.json"),
        {},
        "The mapping must send the lead's email",
    ),
    "missing mapping file": (
        ("push", "hubspot", "--campaign", NA_SAAS, "--mapping", "{home}/nowhere.json"),
        {},
        "cannot read the mapping file",
    ),
    "missing salesforce credentials": (
        ("fields", "salesforce"),
        {"SALESFORCE_ACCESS_TOKEN": None},
        "Set SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN",
    ),
    "no key for a shared database": (
        ("history",),
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere", "CRM_SECRET_KEY": None},
        "cannot open the app's database or keys: CRM_SECRET_KEY is not set",
    ),
    "unknown run": (("status", "hubspot", "--run", "99999"), {}, "no hubspot run #99999"),
    "resume unknown run": (("resume", "99999", "--json"), {}, "No run #99999"),
}


def assert_usage_error(result: Result, expected: str) -> None:
    assert result.code == 2, result.show()
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.show()
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert_no_token(result)


@pytest.fixture(scope="module")
def bad_files(module_cli: Cli) -> None:
    """The bad input files both kinds of case read (each test may run on its own xdist worker)."""
    home = module_cli.home
    (home / "broken.json").write_text('{fields: {"email": "email"}', encoding="utf-8")
    (home / "no-email.json").write_text('{"fields": {"first_name": "firstname"}}', encoding="utf-8")
    (home / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(256))


@pytest.fixture(scope="module")
def results(module_cli: Cli, bad_files: None) -> dict[str, Result]:
    home = module_cli.home
    # A push of DACH that is running (queued by another process) holds the campaign's lock.
    ctx = module_cli.context()
    try:
        env = {"HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN}
        conn = adapters.env_connection(ctx, "hubspot", env=env)
        with ctx.db.session() as session:
            campaign = get_campaign_by_name_or_id(session, DACH)
        assert campaign is not None
        request = runs.PushRequest(
            provider="hubspot",
            object_name="contacts",
            rows=[{"email": "someone@dach.example"}],
            connection_name=conn.name,
            mapping=default_mapping("hubspot", "contacts"),
            source_label=campaign.name,
            actor=SYSTEM,
            campaign_id=campaign.id,
        )
        runs.create(ctx, request)
    finally:
        ctx.close()
    calls = [
        call(*(arg.format(home=home) for arg in args), env=env_changes)
        for args, env_changes, _ in SUBPROCESS_CASES.values()
    ]
    return dict(zip(SUBPROCESS_CASES, module_cli.run_many(*calls), strict=True))


@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_usage_and_configuration_errors_exit_2_with_one_line(results: dict[str, Result], case: str) -> None:
    assert_usage_error(results[case], SUBPROCESS_CASES[case][2])


@pytest.mark.parametrize("case", list(IN_PROCESS_CASES))
def test_more_usage_errors_through_main(
    module_cli: Cli,
    bad_files: None,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, env_changes, expected = IN_PROCESS_CASES[case]
    for name, value in {**module_cli.env, **env_changes}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    code = main([arg.format(home=module_cli.home) for arg in args])

    out, err = capsys.readouterr()
    assert_usage_error(Result(args, code, out, err), expected)


def test_no_option_takes_a_credential() -> None:
    """Credentials come from the environment or a saved connection, never from argv."""
    options: list[str] = []
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            options += action.option_strings
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                # `sandbox --token` sets the token the local emulator accepts: not a CRM credential
                parsers += [sub for name, sub in choices.items() if name != "sandbox"]
    assert "--json" in options and "--password-stdin" in options  # the walk saw every command
    words = ("token", "secret", "password", "key", "credential", "auth")
    suspicious = [o for o in options if any(w in o.lower() for w in words) and o != "--password-stdin"]
    assert suspicious == []
