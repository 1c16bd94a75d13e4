"""Bad input is refused with a clear message, and the database stays as it was.

* Mapping files given to ``python -m crm push --mapping`` (run in-process through ``crm.cli.main``): each
  malformed one exits 2 with one line naming the problem, and no table changes.
* Fuzzing: ``crm.mapping.parse_mapping`` gives a ``FieldMapping`` or a ``MappingError`` with a message for
  any JSON-ish value or text, never another exception; ``crm.validation.check_mapping`` and
  ``RowValidator`` never raise on random field definitions and payloads.
* Lead files the CLI cannot use are refused before anything is stored (the importer's own refusals,
  encodings and size limits are covered in tests/data: see docs/reliability.md).
* A value our validator passes but JSON cannot carry (a number beyond float range) fails its own row,
  not the run.

The parse_mapping messages for the common malformed shapes are checked in tests/crm/test_mapping.py;
here they are checked end to end, through the CLI, with the database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_support import check_outcome, import_leads, lead_csv, table_counts

from crm import sandbox
from crm.cli import main
from crm.mapping import LEAD_FIELDS, FieldMapping, MappingError, default_mapping, parse_mapping
from crm.model import FieldDef, Value
from crm.validation import RowValidator, check_mapping, check_value, coerce
from data.db import Database
from data.leads import leads_frame
from service import connections, runs
from service.auth import SYSTEM
from service.context import AppContext
from service.settings import KEYS, Settings

NA_SAAS = "Demo: North America SaaS decision-makers"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----- the CLI, in-process, on a real database ----------------------------------------------------------
@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    """``crm.cli.main`` pointed at a SQLite file of its own, migrated and with the demo campaigns loaded
    (a used installation); yields that database, to count its rows."""
    for name in (*KEYS, "CRM_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "CRM_SECRET_KEY": Fernet.generate_key().decode(),
        "CRM_COOKIE_KEY": "cookie-key-for-reliability-cli-0123456789",
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-00000000-reliability-input-test",
        "HUBSPOT_BASE_URL": "http://127.0.0.1:9",  # never reached: every case is refused before a call
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    AppContext.build(Settings.load(), key_dir=tmp_path).close()
    database = Database(env["DATABASE_URL"])
    yield database
    database.dispose()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, words: list[str]) -> None:
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


MAPPING_FILES = [
    pytest.param(b'{"fields": {"email": "email"', ["not valid JSON", "line 1, column 29"], id="truncated"),
    pytest.param(b"", ["not valid JSON"], id="empty"),
    pytest.param(b'["email"]', ["must be a JSON object"], id="a-list"),
    pytest.param(b'{"fields": {"e_mail": "email"}}', ["unknown lead fields ['e_mail']"], id="unknown-field"),
    pytest.param(b'{"fields": {"first_name": "firstname"}}', ["map 'email'"], id="no-email"),
    pytest.param(b'{"fields": {"email": ""}}', ["empty CRM field name"], id="empty-target"),
    pytest.param(b'{"fieldz": {"email": "email"}}', ["Unknown mapping keys ['fieldz']"], id="unknown-key"),
    pytest.param(
        '{"fields": {"email": "e-mail-adresse-ä"}}'.encode("latin-1"), ["cannot read the mapping file"],
        id="not-utf8",
    ),
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000,
        ["not valid JSON"],
        id="nested-100000-deep",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("content", "words"), MAPPING_FILES)
def test_a_malformed_mapping_file_is_refused_and_nothing_changes(
    cli_env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: list[str]
) -> None:
    path = tmp_path / "mapping.json"
    path.write_bytes(content)
    before = table_counts(cli_env)

    code, out, err = run_cli(capsys, "push", "hubspot", "--campaign", NA_SAAS, "--mapping", str(path))

    assert_refused(code, out, err, words)
    assert table_counts(cli_env) == before


def test_a_missing_mapping_file_is_refused_and_nothing_changes(
    cli_env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table_counts(cli_env)
    missing = tmp_path / "nowhere" / "mapping.json"

    code, out, err = run_cli(capsys, "push", "hubspot", "--campaign", NA_SAAS, "--mapping", str(missing))

    assert_refused(code, out, err, ["cannot read the mapping file", "No such file"])
    assert table_counts(cli_env) == before


LEAD_FILES = [
    pytest.param(b"", "is empty", id="empty"),
    pytest.param(b"Email,First Name\r\n", "no data rows", id="header-only"),
    pytest.param(bytes(range(256)) * 8, "binary data", id="binary-junk"),
    pytest.param(b"Email,Name,EMAIL\na@b.example,A,a@b.example\n", "columns 1 and 3", id="duplicate-headers"),
    pytest.param(b"Email,Name\n" + b"x" * (26 * 2**20), "the limit is 25.0 MB", id="26-mb"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "words"), LEAD_FILES)
def test_an_unusable_lead_file_is_refused_by_the_cli_and_nothing_changes(
    cli_env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(content)
    before = table_counts(cli_env)

    code, out, err = run_cli(capsys, "push", "hubspot", "--csv", str(path))

    assert_refused(code, out, err, [words])
    assert table_counts(cli_env) == before


# ----- fuzzing the mapping and the validation -------------------------------------------------------------
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.sampled_from(LEAD_FIELDS)
)
JSONISH = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS_NEAR_VALID = st.sampled_from([*LEAD_FIELDS, " email ", "", "Email", "value_maps", "x"])
NEAR_VALID = st.fixed_dictionaries(
    {},
    optional={
        "fields": st.one_of(st.dictionaries(KEYS_NEAR_VALID, JSON_SCALARS, max_size=5), JSONISH),
        "value_maps": st.one_of(
            st.dictionaries(KEYS_NEAR_VALID, st.dictionaries(st.text(max_size=6), JSON_SCALARS)), JSONISH
        ),
        "constants": st.one_of(st.dictionaries(st.text(max_size=12), JSON_SCALARS, max_size=3), JSONISH),
        "extra": JSONISH,
    },
)


def parse_or_refuse(raw: Any) -> FieldMapping | None:
    try:
        mapping = parse_mapping(raw)
    except MappingError as refused:
        assert str(refused).strip(), "a refusal says what is wrong"
        return None
    assert mapping.email_field  # every accepted mapping sends the email
    assert set(mapping.fields) <= set(LEAD_FIELDS)
    assert parse_mapping(json.dumps(mapping.to_json())) == mapping  # and survives being stored on a run
    return mapping


@FUZZ
@given(st.one_of(JSONISH, NEAR_VALID))
@example({"fields": {"email": "Email"}, "value_maps": {"tier": {"HOT": 1}}, "constants": {"X": 2.5}})
@example({"fields": {" email ": " Email "}})
def test_parse_mapping_of_any_json_value_gives_a_mapping_or_a_message(value: Any) -> None:
    parse_or_refuse(value)
    try:
        text = json.dumps(value)
    except ValueError:  # not representable as JSON text (a dict key that is no string cannot occur)
        return
    parse_or_refuse(text)


@FUZZ
@given(st.text(max_size=200))
@example('{"fields": {"email": "Email"}')
@example('{"fields": {"email": NaN}}')
def test_parse_mapping_of_any_text_gives_a_mapping_or_a_message(text: str) -> None:
    parse_or_refuse(text)


FIELD_TYPES = (
    "string", "textarea", "email", "phone", "url", "number", "integer", "boolean", "date", "datetime",
    "picklist", "multipicklist", "id", "reference", "other", "unknown-kind",
)  # fmt: skip
NAMES = st.sampled_from(["Email", "email", "LastName", "Title", "Score", "X", ""])
FIELD_DEFS = st.builds(
    FieldDef,
    name=NAMES,
    label=st.text(max_size=10),
    type=st.sampled_from(FIELD_TYPES),
    required=st.booleans(),
    read_only=st.booleans(),
    max_length=st.one_of(st.none(), st.integers(min_value=0, max_value=50)),
    options=st.lists(st.text(max_size=6), max_size=15).map(tuple),
    restricted=st.booleans(),
)
VALUES: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["1e400", "-0", ".5", "5.", "1_000", "nan", "inf", "2024-02-30", "yes", "a@b.c", " "]),
)
MAPPINGS = st.builds(
    FieldMapping,
    fields=st.dictionaries(st.sampled_from(LEAD_FIELDS), NAMES, max_size=5),
    value_maps=st.just({}),
    constants=st.dictionaries(NAMES, st.text(max_size=10).map(str), max_size=3),
)


@FUZZ
@given(fields=st.lists(FIELD_DEFS, max_size=8), mapping=MAPPINGS, payloads=st.lists(
    st.dictionaries(NAMES, VALUES, max_size=6), max_size=4))  # fmt: skip
def test_mapping_and_row_validation_never_raise(
    fields: list[FieldDef], mapping: FieldMapping, payloads: list[dict[str, Value]]
) -> None:
    problems = check_mapping(mapping, fields, "Lead")
    validator = RowValidator(fields)
    problems += validator.unusable_fields({name for payload in payloads for name in payload})
    for index, payload in enumerate(payloads):
        problems += validator.check(str(index), payload)
        problems += validator.missing_required(str(index), payload)
    for problem in problems:
        assert problem.code and problem.code.upper() == problem.code and problem.message.strip()


def test_a_number_json_cannot_carry_is_not_accepted_for_a_number_field() -> None:
    # A finite representation is what check_value promises when it accepts a number; "1e400" is inf.
    field = FieldDef(name="AnnualRevenue", label="Annual Revenue", type="number")
    accepted = check_value("1e400", field) is None
    coerced = coerce("1e400", field) if accepted else None
    assert not accepted or (isinstance(coerced, float) and math.isfinite(coerced)), (
        "check_value accepted '1e400', and coerce() turns it into inf, which httpx refuses to encode"
    )


# ----- end to end: one unencodable value must not sink the run -------------------------------------------
@pytest.fixture
def salesforce_ctx(sqlite_database: Database, make_ctx: Callable[..., AppContext]) -> AppContext:
    ctx = make_ctx(sqlite_database, bulk_threshold=1_000_000)
    assert connections.connect_sandbox(ctx, SYSTEM, "salesforce").ok
    return ctx


@pytest.mark.usefixtures("fast_retries")
def test_a_number_beyond_float_range_fails_its_own_row_and_nothing_is_lost(
    salesforce_ctx: AppContext,
) -> None:
    ctx = salesforce_ctx
    app = sandbox.shared("salesforce")
    campaign_id = import_leads(ctx, "Revenue list", lead_csv(450, "revenue.example"))
    with ctx.db.session() as session:
        rows = [{**r, "lead_id": r["id"]} for r in leads_frame(session, campaign_id).to_dict("records")]
    for row in rows:
        row["city"] = "250000"
    rows[305]["city"] = "1e400"
    base = default_mapping("salesforce", "Lead")
    mapping = FieldMapping({**base.fields, "city": "AnnualRevenue"}, base.value_maps, {})
    request = runs.PushRequest(
        provider="salesforce", object_name="Lead", rows=rows, connection_name="salesforce",
        mapping=mapping, source_label="Revenue list", actor=SYSTEM, campaign_id=campaign_id,
    )  # fmt: skip

    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)

    run, records, _, _ = check_outcome(ctx, run_id, app, provider="salesforce", seeded={})
    refused = [r for r in records if r.action == "failed"]
    assert [(r.row_index, r.error_code) for r in refused] == [(306, "INVALID_NUMBER")]
    assert run.created == 449
