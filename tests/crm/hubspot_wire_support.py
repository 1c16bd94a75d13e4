"""Shared bodies and constants for the HubSpot wire tests (``test_hubspot_wire*.py``): the token, retry
policy and timestamps they use, HubSpot's error envelope and rate-limit bodies, and a property definition.

Plain helpers only, no fixtures: import what a test needs.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm.http import RetryPolicy

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)
NOW = "2026-03-01T10:00:00.000Z"


def envelope(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


MISSING_SCOPES = envelope(
    "MISSING_SCOPES",
    "This app hasn't been granted all required scopes to make this call.",
    errors=[
        {
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]},
        }
    ],
)


def rate_limit(policy: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "groupName": "publicapi:hapikey-api-calls-ten-secondly:151",
    }


def definition(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "x",
        "label": "X",
        "type": "string",
        "fieldType": "text",
        "options": [],
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
    }
    return {**base, **overrides}
