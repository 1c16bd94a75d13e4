"""Field mappings: parsing with clear refusals, applying to leads, defaults per object, payload hashes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.mapping import (
    DEFAULTS,
    HUBSPOT_CONTACTS,
    LEAD_FIELDS,
    SALESFORCE_CONTACT,
    SALESFORCE_LEAD,
    TIERS,
    FieldMapping,
    MappingError,
    default_mapping,
    parse_mapping,
    payload_hash,
)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"fields": {"email": "email"', ["not valid JSON", "line 1"]),
        ("", ["not valid JSON"]),
        ("[1, 2]", ["must be a JSON object"]),
        ('"email"', ["must be a JSON object"]),
        ('{"fields": {"email": "email"}, "extras": {}}', ["Unknown mapping keys", "extras"]),
        ('{"fields": ["email"]}', ["'fields' must be an object"]),
        ('{"fields": {"email": ["Email"]}}', ["'fields' must map strings to strings", "'email'"]),
        ('{"fields": {"email": true}}', ["'fields' must map strings to strings"]),
        ('{"fields": {"email": "Email", "mail": "Email2"}}', ["unknown lead fields", "'mail'", "first_name"]),
        ('{"fields": {"first_name": "FirstName"}}', ["must send the lead's email", "map 'email'"]),
        ("{}", ["must send the lead's email"]),
        ('{"fields": {"email": "e"}, "value_maps": []}', ["'value_maps' must be an object"]),
        (
            '{"fields": {"email": "e"}, "value_maps": {"tier": "Hot"}}',
            ["'value_maps.tier' must be an object"],
        ),
        ('{"fields": {"email": "e"}, "value_maps": {"tier": {"HOT": null}}}', ["'value_maps.tier'", "None"]),
        (
            '{"fields": {"email": "e"}, "constants": {"Source__c": {"a": 1}}}',
            ["'constants' must map strings"],
        ),
    ],
)
def test_parse_mapping_refuses_bad_input_and_says_what_is_wrong(raw: str, words: list[str]) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(raw)
    for word in words:
        assert word in str(caught.value)


def test_parse_mapping_accepts_text_or_a_decoded_object_and_trims() -> None:
    raw = {"fields": {"email": " Email ", "tier": "Rating"}, "value_maps": {"tier": {"HOT": "Hot"}}}
    mapping = parse_mapping(raw)
    assert mapping.fields == {"email": "Email", "tier": "Rating"}
    assert mapping.email_field == "Email"
    assert parse_mapping(json.dumps(raw)) == mapping
    assert parse_mapping('{"fields": {"email": "e"}, "constants": {"Score__c": 5}}').constants == {
        "Score__c": "5"
    }


def test_email_field_of_a_mapping_without_email_raises() -> None:
    with pytest.raises(MappingError, match="map 'email'"):
        _ = FieldMapping({"first_name": "FirstName"}).email_field


def test_apply_drops_blanks_and_nan_so_crm_data_is_never_erased() -> None:
    mapping = FieldMapping({f: f.upper() for f in LEAD_FIELDS})
    payload = mapping.apply(
        {
            "email": "a@b.co",
            "first_name": "",
            "last_name": "   ",
            "company": None,
            "title": float("nan"),
            "phone": " +1 555 0100 ",
            "score": 0,
        }
    )
    assert payload == {"EMAIL": "a@b.co", "PHONE": "+1 555 0100", "SCORE": 0}


def test_apply_skips_lead_fields_the_lead_lacks() -> None:
    assert HUBSPOT_CONTACTS.apply({"email": "a@b.co"}) == {"email": "a@b.co"}


def test_apply_turns_whole_floats_into_ints_and_keeps_other_floats() -> None:
    mapping = FieldMapping({"email": "Email", "score": "Score__c"})
    assert mapping.apply({"email": "a@b.co", "score": 87.0})["Score__c"] == 87
    assert type(mapping.apply({"email": "a@b.co", "score": 87.0})["Score__c"]) is int
    assert mapping.apply({"email": "a@b.co", "score": 87.5})["Score__c"] == 87.5


@pytest.mark.parametrize(
    ("tier", "rating"), [("HOT", "Hot"), ("WARM", "Warm"), ("COOL", "Cold"), (" HOT ", "Hot")]
)
def test_salesforce_lead_default_maps_tiers_to_ratings(tier: str, rating: str) -> None:
    payload = SALESFORCE_LEAD.apply({"email": "a@b.co", "tier": tier, "last_name": "Lovelace"})
    assert payload == {"Email": "a@b.co", "Rating": rating, "LastName": "Lovelace"}


def test_value_map_leaves_unmapped_values_as_they_are() -> None:
    assert SALESFORCE_LEAD.apply({"email": "a@b.co", "tier": "LUKEWARM"})["Rating"] == "LUKEWARM"


def test_constants_are_sent_on_every_row_unless_blank() -> None:
    mapping = FieldMapping({"email": "email"}, constants={"lead_source": "Webinar 2025", "empty": ""})
    assert mapping.apply({"email": "a@b.co"}) == {"email": "a@b.co", "lead_source": "Webinar 2025"}
    assert mapping.crm_fields() == ["email", "lead_source", "empty"]


def test_crm_fields_lists_each_target_once_mapped_first() -> None:
    mapping = FieldMapping(
        {"email": "Email", "city": "City", "state": "City"}, constants={"Email": "x", "Src": "y"}
    )
    assert mapping.crm_fields() == ["Email", "City", "Src"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            ("hubspot", "contacts"),
            {
                "email": "email",
                "first_name": "firstname",
                "last_name": "lastname",
                "company": "company",
                "title": "jobtitle",
                "phone": "phone",
                "website": "website",
                "city": "city",
                "state": "state",
                "country": "country",
                "industry": "industry",
            },
        ),
        (
            ("salesforce", "Lead"),
            {
                "email": "Email",
                "first_name": "FirstName",
                "last_name": "LastName",
                "company": "Company",
                "title": "Title",
                "phone": "Phone",
                "website": "Website",
                "city": "City",
                "state": "State",
                "country": "Country",
                "industry": "Industry",
                "tier": "Rating",
            },
        ),
        (
            ("salesforce", "Contact"),
            {
                "email": "Email",
                "first_name": "FirstName",
                "last_name": "LastName",
                "title": "Title",
                "phone": "Phone",
                "city": "MailingCity",
                "state": "MailingState",
                "country": "MailingCountry",
            },
        ),
    ],
)
def test_defaults_exist_with_the_vendor_field_names(key: tuple[str, str], expected: dict[str, str]) -> None:
    mapping = default_mapping(*key)
    assert dict(mapping.fields) == expected
    assert mapping is DEFAULTS[key]
    assert parse_mapping(mapping.to_json()) == mapping  # every default passes its own checks


def test_salesforce_lead_rating_value_map_covers_every_tier() -> None:
    assert dict(SALESFORCE_LEAD.value_maps["tier"]) == {"HOT": "Hot", "WARM": "Warm", "COOL": "Cold"}
    assert set(SALESFORCE_LEAD.value_maps["tier"]) == set(TIERS)
    assert SALESFORCE_CONTACT.value_maps == {}


def test_no_default_for_an_unknown_object() -> None:
    with pytest.raises(MappingError, match="No default mapping for hubspot deals"):
        default_mapping("hubspot", "deals")


# Names and values as an editor would type them: non-empty, no surrounding whitespace.
_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and s != ""
)
_mappings = st.builds(
    FieldMapping,
    fields=st.dictionaries(st.sampled_from(LEAD_FIELDS[1:]), _name, max_size=6).flatmap(
        lambda rest: _name.map(lambda email: {"email": email, **rest})
    ),
    value_maps=st.dictionaries(
        st.sampled_from(LEAD_FIELDS), st.dictionaries(_name, _name, max_size=4), max_size=3
    ),
    constants=st.dictionaries(_name, _name, max_size=4),
)


@given(_mappings)
def test_to_json_and_parse_mapping_round_trip(mapping: FieldMapping) -> None:
    text = json.dumps(mapping.to_json())
    assert parse_mapping(text) == mapping
    assert parse_mapping(mapping.to_json()) == mapping


def test_payload_hash_is_stable_under_key_order() -> None:
    a = {"Email": "a@b.co", "LastName": "Lovelace", "NumberOfEmployees": 12}
    b = dict(reversed(list(a.items())))
    assert list(a) != list(b)
    assert payload_hash("Lead", a) == payload_hash("Lead", b)
    assert len(payload_hash("Lead", a)) == 64


def test_payload_hash_differs_by_object_and_by_value() -> None:
    payload = {"Email": "a@b.co", "LastName": "Lovelace"}
    assert payload_hash("Lead", payload) != payload_hash("Contact", payload)
    assert payload_hash("Lead", payload) != payload_hash("Lead", {**payload, "LastName": "Byron"})
    assert payload_hash("Lead", {"n": 1}) != payload_hash("Lead", {"n": "1"})


@given(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=8)))
def test_payload_hash_depends_only_on_content(payload: dict[str, object]) -> None:
    shuffled = dict(sorted(payload.items(), reverse=True))
    assert payload_hash("contacts", payload) == payload_hash("contacts", shuffled)  # type: ignore[arg-type]


def test_apply_never_sends_nan_or_none() -> None:
    payload = HUBSPOT_CONTACTS.apply({f: float("nan") for f in LEAD_FIELDS} | {"email": "a@b.co"})
    assert payload == {"email": "a@b.co"}
    assert not any(isinstance(v, float) and math.isnan(v) for v in payload.values())


def test_the_mapping_knows_exactly_the_lead_fields_our_campaigns_carry() -> None:
    # crm and data never import each other, so each keeps the list; this keeps the two the same.
    from data.lead_columns import LEAD_FIELDS as CAMPAIGN_FIELDS

    assert LEAD_FIELDS == CAMPAIGN_FIELDS
