"""OAuth 2.0 for both CRMs: authorization code with PKCE, refresh, client credentials, revoke.

The protocol pieces come from Authlib (grant URIs, token request bodies, the S256 code challenge,
token generation); the calls go through httpx so tests can point them at the sandboxes' OAuth
endpoints. ``state`` is generated here but stored and checked server-side by the caller (single use,
expiring: see ``data.connections``), never trusted from the browser alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from crm.errors import AuthError, NetworkError, NotConfigured
from crm.redact import redact, register

# Refresh this long before a token's announced expiry (HubSpot: "track expires_in, refresh before").
REFRESH_EARLY = 120.0
TIMEOUT = 30.0


@dataclass(frozen=True)
class OAuthEndpoints:
    provider: str
    authorize_url: str
    token_url: str
    revoke_url: str | None = None
    scopes: tuple[str, ...] = ()
    optional_scopes: tuple[str, ...] = ()


def hubspot_endpoints(
    api_base: str = "https://api.hubapi.com", app_base: str = "https://app.hubspot.com"
) -> OAuthEndpoints:
    """HubSpot's app authorize page and API token endpoint (v1; v3 replaces it in Feb 2027)."""
    return OAuthEndpoints(
        provider="hubspot",
        authorize_url=f"{app_base.rstrip('/')}/oauth/authorize",
        token_url=f"{api_base.rstrip('/')}/oauth/v1/token",
        revoke_url=f"{api_base.rstrip('/')}/oauth/v1/refresh-tokens/{{token}}",
        scopes=("crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read"),
        optional_scopes=("crm.schemas.contacts.write",),
    )


def salesforce_endpoints(login_host: str = "https://login.salesforce.com") -> OAuthEndpoints:
    """Production (login.salesforce.com), sandbox (test.salesforce.com) or a My Domain host."""
    base = login_host.rstrip("/")
    return OAuthEndpoints(
        provider="salesforce",
        authorize_url=f"{base}/services/oauth2/authorize",
        token_url=f"{base}/services/oauth2/token",
        revoke_url=f"{base}/services/oauth2/revoke",
        scopes=("api", "refresh_token"),
    )


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds; Salesforce announces none
    instance_url: str | None = None  # Salesforce
    extra: Mapping[str, Any] = field(default_factory=dict)  # non-secret fields (scope, id, hub_id …)

    def secret_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43-128 characters of the unreserved set)."""
    return generate_token(64)


def authorize_url(
    endpoints: OAuthEndpoints, client_id: str, redirect_uri: str, state: str, code_verifier: str | None
) -> str:
    """The URL to send the user to. ``state`` and the verifier are stored server-side by the caller."""
    extra: dict[str, str] = {}
    if code_verifier:
        extra = {"code_challenge": create_s256_code_challenge(code_verifier), "code_challenge_method": "S256"}
    if endpoints.optional_scopes:
        extra["optional_scope"] = " ".join(endpoints.optional_scopes)
    return prepare_grant_uri(
        endpoints.authorize_url,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(endpoints.scopes) or None,
        state=state,
        **extra,
    )


def _post_token(
    endpoints: OAuthEndpoints, form: Mapping[str, str], transport: httpx.BaseTransport | None
) -> TokenSet:
    register(*(form.get(k) for k in ("client_secret", "code", "refresh_token", "code_verifier")))
    try:
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            response = client.post(
                endpoints.token_url,
                data={k: v for k, v in form.items() if v},
                headers={"Accept": "application/json"},
            )
    except httpx.TransportError as exc:
        raise NetworkError(
            f"Could not reach {endpoints.provider}'s token endpoint: {type(exc).__name__}"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400 or "access_token" not in body:
        reason = (
            body.get("error_description")
            or body.get("message")
            or body.get("error")
            or response.reason_phrase
        )
        code = body.get("error") or body.get("status") or str(response.status_code)
        raise AuthError(
            f"{endpoints.provider} refused the token request: {redact(str(reason))}",
            code=str(code),
            status=response.status_code,
        )
    return _token_set(body)


def _token_set(body: Mapping[str, Any]) -> TokenSet:
    register(body.get("access_token"), body.get("refresh_token"))
    expires_in = body.get("expires_in")
    secret_keys = {"access_token", "refresh_token", "signature"}
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token"),
        expires_at=time.time() + float(expires_in) if expires_in else None,
        instance_url=body.get("instance_url"),
        extra={k: v for k, v in body.items() if k not in secret_keys},
    )


def exchange_code(
    endpoints: OAuthEndpoints,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code: str,
    code_verifier: str | None,
    transport: httpx.BaseTransport | None = None,
) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret or "",
        "redirect_uri": redirect_uri,
        "code": code,
        "code_verifier": code_verifier or "",
    }
    return _post_token(endpoints, form, transport)


def refresh_tokens(
    endpoints: OAuthEndpoints,
    *,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    transport: httpx.BaseTransport | None = None,
) -> TokenSet:
    """A new access token. Salesforce rotates no refresh token by default: keep the old one then."""
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret or "",
        "refresh_token": refresh_token,
    }
    fresh = _post_token(endpoints, form, transport)
    return fresh if fresh.refresh_token else replace(fresh, refresh_token=refresh_token)


def client_credentials(
    endpoints: OAuthEndpoints,
    *,
    client_id: str,
    client_secret: str,
    transport: httpx.BaseTransport | None = None,
) -> TokenSet:
    """Salesforce's client-credentials flow, posted to the org's My Domain host."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    return _post_token(endpoints, form, transport)


def revoke(endpoints: OAuthEndpoints, token: str, transport: httpx.BaseTransport | None = None) -> bool:
    """Revoke at the CRM; False when the CRM has no revoke endpoint or refused (we delete ours anyway)."""
    if not endpoints.revoke_url or not token:
        return False
    try:
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            if "{token}" in endpoints.revoke_url:  # HubSpot: DELETE /oauth/v1/refresh-tokens/{token}
                response = client.delete(endpoints.revoke_url.format(token=token))
            else:
                response = client.post(endpoints.revoke_url, data={"token": token})
    except httpx.TransportError:
        return False
    return response.status_code < 400


class OAuthTokens:
    """A refreshable TokenSource: refreshes before expiry and on demand, and reports each new set."""

    can_refresh = True

    def __init__(
        self,
        tokens: TokenSet,
        refresh: Callable[[TokenSet], TokenSet],
        on_refresh: Callable[[TokenSet], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not tokens.access_token:
            raise NotConfigured("No access token: connect the provider first.")
        register(tokens.access_token, tokens.refresh_token)
        self._tokens = tokens
        self._refresh = refresh
        self._on_refresh = on_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self.refreshed_at: float | None = None

    @property
    def current(self) -> TokenSet:
        return self._tokens

    def token(self) -> str:
        expires = self._tokens.expires_at
        if expires is not None and self._clock() >= expires - REFRESH_EARLY:
            return self.refresh()
        return self._tokens.access_token

    def refresh(self) -> str:
        with self._lock:
            fresh = self._refresh(self._tokens)
            self._tokens = fresh
            self.refreshed_at = self._clock()
        if self._on_refresh:
            self._on_refresh(fresh)
        return fresh.access_token
