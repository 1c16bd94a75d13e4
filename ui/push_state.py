"""The Push page's session-state keys and the little state it keeps between reruns.

Every key starts with ``push_`` (STYLE: a widget key carries its page's name). What the page remembers
per browser session: the analyst's edits and excluded rows per campaign (a diff, never a copy of the
campaign), the mapping per provider and object, the run it started or re-attached to per target, and
one-shot messages that a button's callback leaves for the next script run to show.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from service.push_launch import Target

CAMPAIGN = "push_campaign"
PROVIDER = "push_provider"
OBJECT = "push_object"
MIN_SCORE = "push_min_score"
TIER_PREFIX = "push_tier_"
NO_TIER = "push_tier_none"
ONLY_FAILED = "push_only_failed"
PAGE_SIZE = "push_page_size"
PAGE_PREFIX = "push_page_"
TEST_MODE = "push_test_mode"
CONFIRMING = "push_confirming"
RESULTS_SHOW = "push_results_show"

EDITS = "push_edits"  # {campaign id: {lead id: {field: value}}}
EXCLUDED = "push_excluded"  # {campaign id: set of lead ids}
EDITOR_VERSION = "push_editor_version"
EDITOR_LAST = "push_editor_last"  # {"key", "campaign_id", "ids"} of the table rendered last
MAPPINGS = "push_mappings"  # {"provider/object": mapping json}
CUSTOM_ROWS = "push_custom_rows"  # {"provider/object": [{"id": n, "key": str, "value": str}]}
RUNS = "push_runs"  # {target key: run id}
SIGNATURES = "push_signatures"  # {run id: what the table looked like when the run started}
PLAN = "push_plan"  # the rows and settings the start buttons' callbacks act on
FLASH = "push_flash"  # [(kind, text)] to show once


def bucket(name: str) -> dict[Any, Any]:
    """A dict kept in session state under ``name`` (created on first use)."""
    found = st.session_state.get(name)
    if not isinstance(found, dict):
        found = {}
        st.session_state[name] = found
    return found


def target_key(target: Target) -> str:
    return f"{target.connection_name}/{target.object_name}/{target.campaign_id}"


def mapping_key(provider: str, object_name: str) -> str:
    return f"{provider}/{object_name}"


def flash(kind: str, text: str) -> None:
    """Leave a message (``success``, ``info``, ``warning`` or ``error``) for the next run to show.
    ``text`` is markdown: escape user data with ``ui.widgets.plain`` first."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flashes() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        getattr(st, kind)(text)


def bump_editor() -> None:
    """Give the lead table a new identity, so it drops edits it still holds (after save or discard)."""
    st.session_state[EDITOR_VERSION] = int(st.session_state.get(EDITOR_VERSION, 0)) + 1
    st.session_state.pop(EDITOR_LAST, None)
