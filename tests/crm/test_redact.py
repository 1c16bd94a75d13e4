"""Secrets stay out of text, exception bodies and log records, whichever library logs them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import redact as redact_module
from crm.http import BODY_SNIPPET, snippet
from crm.redact import MIN_SECRET_LENGTH, install_log_redaction, mask, redact, register

DOTS = "••••"


@pytest.fixture(autouse=True)
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers its own secrets; nothing leaks into the process-wide set."""
    monkeypatch.setattr(redact_module, "_secrets", set())


@pytest.fixture
def log_redaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install the record factory for this test only, and restore the previous one afterwards."""
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(redact_module, "_installed", False)
    install_log_redaction()
    yield
    logging.setLogRecordFactory(previous)


@given(st.text(min_size=1, max_size=80))
def test_mask_shows_at_most_the_last_four_characters(secret: str) -> None:
    shown = mask(secret)
    assert shown.startswith(DOTS)
    tail = shown[len(DOTS) :]
    assert len(tail) <= 4
    assert secret.endswith(tail)
    if len(secret) < 12:
        assert tail == ""  # a short secret shows nothing of itself


def test_mask_of_nothing_is_empty() -> None:
    assert mask(None) == ""
    assert mask("") == ""


def test_mask_examples() -> None:
    assert mask("pat-na1-abcdefgh-1234") == "••••1234"
    assert mask("short") == "••••"


def test_registered_secrets_are_masked_in_text() -> None:
    token = "pat-na1-11112222-3333-4444-5555-666677778888"
    register(token)
    text = f"GET /oauth/v1/access-tokens/{token} failed; retry with {token}"
    cleaned = redact(text)
    assert token not in cleaned
    assert cleaned.count(DOTS + "8888") == 2
    assert cleaned.startswith("GET /oauth/v1/access-tokens/")


def test_a_secret_containing_another_is_masked_whole() -> None:
    inner = "abcdefgh12345678"
    outer = "prefix-" + inner + "-suffix-9999"
    register(inner, outer)
    cleaned = redact(f"{outer} and {inner}")
    assert inner not in cleaned and outer not in cleaned
    assert "prefix" not in cleaned  # the longer secret went first, so no piece of it survives


def test_short_and_empty_values_are_not_registered() -> None:
    register(None, "", "x" * (MIN_SECRET_LENGTH - 1))
    assert redact("x" * (MIN_SECRET_LENGTH - 1)) == "x" * (MIN_SECRET_LENGTH - 1)
    register("y" * MIN_SECRET_LENGTH)
    assert "y" * MIN_SECRET_LENGTH not in redact("key=" + "y" * MIN_SECRET_LENGTH)


def test_text_without_secrets_is_unchanged() -> None:
    register("s3cr3t-value-0001")
    assert redact("nothing to hide here") == "nothing to hide here"
    assert redact("") == ""


def test_snippet_of_an_error_body_is_redacted_and_bounded() -> None:
    secret = "00Dxx0000001gPL!AQ4AQFakeSessionId"
    register(secret)
    body = f'[{{"message": "Session expired or invalid: {secret}", "errorCode": "INVALID_SESSION_ID"}}]'
    response = httpx.Response(401, text=body + " " * (BODY_SNIPPET * 2))
    text = snippet(response)
    assert secret not in text
    assert "INVALID_SESSION_ID" in text and mask(secret) in text
    assert len(text) <= BODY_SNIPPET


@pytest.mark.usefixtures("log_redaction")
@pytest.mark.parametrize("logger_name", ["crm.http", "httpx", "urllib3.connectionpool", "some.other.lib"])
def test_log_records_are_redacted_whichever_logger_emits_them(
    caplog: pytest.LogCaptureFixture, logger_name: str
) -> None:
    token = "pat-eu1-aaaabbbb-cccc-dddd-eeee-ffff00001111"
    register(token)
    caplog.set_level(logging.DEBUG, logger=logger_name)
    logger = logging.getLogger(logger_name)
    logger.info("HTTP Request: GET https://api.hubapi.com/oauth/v1/access-tokens/%s", token)
    logger.warning(f"plain message with {token}")
    messages = [r.getMessage() for r in caplog.records if r.name == logger_name]
    assert len(messages) == 2
    for message in messages:
        assert token not in message
        assert mask(token) in message
    assert token not in caplog.text


@pytest.mark.usefixtures("log_redaction")
def test_secrets_registered_after_installing_are_still_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    late = "late-registered-token-98765"
    register(late)
    logging.getLogger("httpx").info("token=%s", late)
    assert late not in caplog.text and mask(late) in caplog.text


@pytest.mark.usefixtures("log_redaction")
def test_records_without_secrets_keep_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    register("some-registered-secret-1")
    caplog.set_level(logging.INFO, logger="crm.test")
    logging.getLogger("crm.test").info("pushed %d rows to %s", 3, "hubspot")
    record = caplog.records[-1]
    assert record.args == (3, "hubspot")
    assert record.getMessage() == "pushed 3 rows to hubspot"


@pytest.mark.usefixtures("log_redaction")
def test_installing_twice_wraps_the_factory_once() -> None:
    factory = logging.getLogRecordFactory()
    install_log_redaction()
    assert logging.getLogRecordFactory() is factory
