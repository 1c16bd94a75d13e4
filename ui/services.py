"""The app's long-lived objects, one per process and configuration, held in ``st.cache_resource``.

The cache is keyed on the whole :class:`Settings` (the database URL included): tests that point
``DATABASE_URL`` elsewhere get their own context, and an edited ``secrets.toml`` takes effect on the next
rerun instead of after a restart. A replaced context's engine is disposed when the cache releases it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from data.crypto import CryptoError
from data.db import redacted_url
from service.context import AppContext
from service.jobs import JobRunner, runner_for
from service.settings import Settings

log = logging.getLogger("ui.services")

# Configurations kept alive at once; more than one only while tests or secret edits swap them.
MAX_CONTEXTS = 8


class ContextUnavailable(Exception):
    """The database or the keys cannot be opened; the message says what to fix and holds no secret."""


def secrets() -> Mapping[str, Any]:
    """``st.secrets`` as a plain dict, or empty when there is no (readable) secrets.toml.

    Streamlit raises a FileNotFoundError subclass both for a missing file and for one it cannot parse.
    The parse error is not shown: its text may quote a line of the file, secret included.
    """
    try:
        return dict(st.secrets.to_dict())
    except FileNotFoundError as exc:
        if "No secrets found" not in str(exc):
            log.warning("secrets.toml could not be read (%s); using the environment only", type(exc).__name__)
        return {}


def settings() -> Settings:
    """The settings of this run: the environment first, then ``secrets.toml`` (cheap; read every run)."""
    return Settings.load(secrets=secrets())


def _release_context(ctx: AppContext) -> None:
    ctx.close()


@st.cache_resource(
    show_spinner="Opening the database…", max_entries=MAX_CONTEXTS, on_release=_release_context
)
def _context_for(config: Settings) -> AppContext:
    return AppContext.build(config)


@st.cache_resource(show_spinner=False, max_entries=MAX_CONTEXTS)
def _runner_for(config: Settings, context_id: int, _ctx: AppContext) -> JobRunner:
    # ``context_id`` ties the runner to one context object; the context itself is not hashable.
    return runner_for(_ctx)


def context() -> AppContext:
    """The shared AppContext (migrated database, demo campaigns, keys), built once per configuration.

    Raises :class:`ContextUnavailable` with a message fit to show when the database or a key is unusable;
    nothing is cached then, so the next rerun tries again.
    """
    config = settings()
    try:
        return _context_for(config)
    except CryptoError as exc:
        raise ContextUnavailable(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = detail[0] if detail else type(exc).__name__
        raise ContextUnavailable(
            f"Cannot open the database at {redacted_url(config.database_url)}: {reason}"
        ) from None


def job_runner() -> JobRunner:
    """The job runner of the current context: a worker pool in this process, or the RQ queue."""
    ctx = context()
    return _runner_for(ctx.settings, id(ctx), ctx)


def clear() -> None:
    """Drop every cached context and runner (tests, and after a manual database repair)."""
    _runner_for.clear()
    _context_for.clear()
