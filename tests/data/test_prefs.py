"""Remembered choices (``data.prefs``): the last mapping per provider and object, and installation flags.

Every test runs on SQLite and PostgreSQL (the ``session`` and ``database`` fixtures).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.mapping import default_mapping
from crm.model import Provider
from data.db import Database
from data.models import AppFlag, MappingPreset
from data.prefs import clear_flag, get_flag, load_mapping_preset, save_mapping_preset, set_flag

HUBSPOT = default_mapping("hubspot", "contacts").to_json()
LEAD = default_mapping("salesforce", "Lead").to_json()
CUSTOM = {
    "fields": {"email": "Email", "company": "Company", "tier": "Rating"},
    "value_maps": {"tier": {"A": "Hot", "B": "Warm", "C": "Cold"}},
    "constants": {"LeadSource": "Trade fair 2026"},
}


def preset_rows(session: Session) -> list[tuple[str, str, str | None]]:
    rows = session.execute(
        select(MappingPreset.provider, MappingPreset.object_name, MappingPreset.updated_by).order_by(
            MappingPreset.provider, MappingPreset.object_name
        )
    )
    return [tuple(row) for row in rows]


# ----- mapping presets ------------------------------------------------------------------------------------
def test_nothing_is_offered_before_a_mapping_was_saved(session: Session) -> None:
    assert load_mapping_preset(session, "hubspot", "contacts") is None
    assert load_mapping_preset(session, "salesforce", "Lead") is None


def test_a_saved_mapping_is_offered_again_as_it_was(session: Session) -> None:
    save_mapping_preset(session, "salesforce", "Lead", CUSTOM, updated_by="ada")
    session.commit()
    session.expire_all()

    assert load_mapping_preset(session, "salesforce", "Lead") == CUSTOM
    assert preset_rows(session) == [("salesforce", "Lead", "ada")]


def test_saving_again_replaces_the_mapping_and_who_saved_it(session: Session) -> None:
    save_mapping_preset(session, "salesforce", "Lead", LEAD, updated_by="ada")
    first = session.scalar(select(MappingPreset.updated_at))

    save_mapping_preset(session, "salesforce", "Lead", CUSTOM, updated_by="bob")
    session.expire_all()

    assert load_mapping_preset(session, "salesforce", "Lead") == CUSTOM
    assert preset_rows(session) == [("salesforce", "Lead", "bob")]  # still one row for the pair
    later = session.scalar(select(MappingPreset.updated_at))
    assert first is not None and later is not None and later >= first


def test_each_provider_and_object_keeps_its_own_mapping(session: Session) -> None:
    save_mapping_preset(session, "hubspot", "contacts", HUBSPOT)
    save_mapping_preset(session, "salesforce", "Lead", LEAD)
    save_mapping_preset(session, "salesforce", "Contact", CUSTOM)

    save_mapping_preset(session, "salesforce", "Contact", LEAD, updated_by="bob")  # changes only its own

    assert load_mapping_preset(session, "hubspot", "contacts") == HUBSPOT
    assert load_mapping_preset(session, "salesforce", "Lead") == LEAD
    assert load_mapping_preset(session, "salesforce", "Contact") == LEAD
    assert load_mapping_preset(session, "hubspot", "Lead") is None  # the same object name elsewhere
    assert load_mapping_preset(session, "salesforce", "contacts") is None
    assert len(preset_rows(session)) == 3


def test_a_provider_enum_and_its_name_are_the_same_preset(session: Session) -> None:
    save_mapping_preset(session, Provider.SALESFORCE, "Lead", CUSTOM)

    assert load_mapping_preset(session, "salesforce", "Lead") == CUSTOM
    save_mapping_preset(session, "salesforce", "Lead", LEAD)
    assert load_mapping_preset(session, Provider.SALESFORCE, "Lead") == LEAD
    assert preset_rows(session) == [("salesforce", "Lead", None)]


def test_the_caller_gets_its_own_copy(session: Session) -> None:
    mapping: dict[str, Any] = {"fields": {"email": "email"}, "value_maps": {}, "constants": {}}
    save_mapping_preset(session, "hubspot", "contacts", mapping)
    mapping["fields"] = {"email": "changed"}  # the caller's dict changes after saving

    loaded = load_mapping_preset(session, "hubspot", "contacts")
    assert loaded == {"fields": {"email": "email"}, "value_maps": {}, "constants": {}}
    loaded["constants"] = {"x": "y"}  # and so does what it was given back
    assert load_mapping_preset(session, "hubspot", "contacts") == {
        "fields": {"email": "email"},
        "value_maps": {},
        "constants": {},
    }


def test_sessions_saving_the_same_preset_at_once_never_fail(database: Database) -> None:
    """Two pushes starting together both remember their mapping: an upsert, never a duplicate key."""
    mappings = [{**CUSTOM, "constants": {"LeadSource": f"run {i}"}} for i in range(4)]
    barrier = threading.Barrier(len(mappings))
    errors: list[Exception] = []

    def remember(mapping: dict[str, Any]) -> None:
        barrier.wait()
        try:
            with database.begin() as session:
                save_mapping_preset(session, "salesforce", "Lead", mapping, updated_by="worker")
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=remember, args=(m,)) for m in mappings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(MappingPreset)) == 1
        assert load_mapping_preset(session, "salesforce", "Lead") in mappings  # the last writer's


# ----- installation flags ---------------------------------------------------------------------------------
def test_a_flag_never_set_reads_as_the_default(session: Session) -> None:
    assert get_flag(session, "demo_loaded") is None
    assert get_flag(session, "demo_loaded", "no") == "no"


def test_a_flag_set_is_read_back_and_can_be_changed(session: Session) -> None:
    set_flag(session, "demo_loaded", "1,2,3")
    assert get_flag(session, "demo_loaded", "no") == "1,2,3"

    set_flag(session, "demo_loaded", "4")

    assert get_flag(session, "demo_loaded") == "4"
    assert session.scalar(select(func.count()).select_from(AppFlag)) == 1


def test_a_flag_set_to_none_is_not_the_default(session: Session) -> None:
    set_flag(session, "welcome_seen", None)

    assert get_flag(session, "welcome_seen", "never") is None


def test_flags_are_independent_by_name(session: Session) -> None:
    set_flag(session, "demo_loaded", "1")
    set_flag(session, "welcome_seen", "yes")

    assert clear_flag(session, "demo_loaded") is True

    assert get_flag(session, "demo_loaded", "gone") == "gone"
    assert get_flag(session, "welcome_seen") == "yes"


def test_clearing_a_flag_says_whether_it_was_there(session: Session) -> None:
    assert clear_flag(session, "demo_loaded") is False
    set_flag(session, "demo_loaded", "1")

    assert clear_flag(session, "demo_loaded") is True
    assert clear_flag(session, "demo_loaded") is False
    assert get_flag(session, "demo_loaded") is None
