"""ui.services: one context per configuration, a job runner per context, and no crash without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from app_harness import AppHarness, texts
from streamlit.runtime.secrets import Secrets
from streamlit.testing.v1.util import patch_config_options

from service.jobs import EmbeddedRunner
from ui import services


def test_one_context_per_database_and_one_runner_per_context(
    crm_app: AppHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = services.context()
    assert services.context() is first
    assert str(first.db.url) == crm_app.env["DATABASE_URL"]
    runner = services.job_runner()
    assert isinstance(runner, EmbeddedRunner) and runner.ctx is first
    assert services.job_runner() is runner

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    second = services.context()

    assert second is not first and str(second.db.url).endswith("other.db")
    other_runner = services.job_runner()
    assert isinstance(other_runner, EmbeddedRunner) and other_runner.ctx is second


def test_no_secrets_file_is_no_problem(
    crm_app: AppHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with patch_config_options({"secrets.files": [str(tmp_path / "missing.toml")]}):
        monkeypatch.setattr(st, "secrets", Secrets())
        assert services.secrets() == {}
        assert services.settings().database_url == crm_app.env["DATABASE_URL"]


def test_a_broken_secrets_file_is_ignored_without_quoting_it(
    crm_app: AppHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "secrets.toml"
    broken.write_text('HUBSPOT_CLIENT_SECRET = "s3cr3t-value\n')
    with patch_config_options({"secrets.files": [str(broken)]}):
        monkeypatch.setattr(st, "secrets", Secrets())
        assert services.secrets() == {}
    assert "s3cr3t-value" not in caplog.text
    assert "secrets.toml could not be read" in caplog.text


def test_an_unusable_key_or_database_shows_a_message_not_a_traceback(
    crm_app: AppHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_SECRET_KEY", "not-a-fernet-key-but-secret")
    at = crm_app.new().run()
    assert "Secret key #1 is not a valid Fernet key" in texts(at)
    assert "not-a-fernet-key-but-secret" not in texts(at)
    assert [field.label for field in at.text_input] == []
    assert not at.exception

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CRM_SECRET_KEY", crm_app.env["CRM_SECRET_KEY"])
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker / 'crm.db'}")
    at.run()
    assert "Cannot open the database at sqlite:///" in texts(at)
    assert not at.exception
