"""HubSpot's OAuth 2.0 endpoints for one fixed demo app, auto-approved by a pretend user.

* ``GET /oauth/authorize`` redirects straight to ``redirect_uri`` with ``code`` and ``state``; it records the
  requested ``scope`` and ``optional_scope`` and an optional PKCE ``code_challenge`` (S256 only).
* ``POST /oauth/v1/token`` and ``/oauth/v3/token`` (form-encoded): ``authorization_code`` (single-use codes
  that expire; ``code_verifier`` required when a challenge was given) and ``refresh_token``. The answer
  carries ``hub_id`` and ``scopes`` (changelog, Aug 2025).
* ``GET /oauth/v1/access-tokens/{t}``, ``GET``/``DELETE /oauth/v1/refresh-tokens/{t}``, and the v3
  ``/token/introspect`` and ``/token/revoke`` (parameters in the body; OAuth v3 spec).

Refusals use the OAuth endpoints' own body ``{"status": "BAD_…", "message": …, "correlationId": …}``.
``BAD_REFRESH_TOKEN``/"missing or invalid refresh token", ``BAD_AUTH_CODE``/"missing or unknown auth code",
``EXPIRED_AUTH_CODE`` and ``BAD_CLIENT_ID`` are seen in public reports; ``BAD_CLIENT_SECRET``,
``BAD_REDIRECT_URI`` and ``BAD_GRANT_TYPE`` follow the same pattern but are not verified. A wrong PKCE
verifier answers ``BAD_AUTH_CODE``. Any exchange attempt consumes the code (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from crm.sandbox.core import Request, Response
from crm.sandbox.hubspot.errors import correlation_id, oauth_error

if TYPE_CHECKING:
    from crm.sandbox.hubspot.app import HubSpotSandbox

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # nosec B105 - a public demo value or a path, not a secret
APP_ID = 4_271_865
USER_ID = 77_310_244
USER_EMAIL = "demo.user@crm-push.example"
HUB_DOMAIN = "crm-push-sandbox.hubspot.com"
DEFAULT_EXPIRES_IN = 1800  # access tokens last 30 minutes (notes)
AUTH_CODE_TTL = 600.0  # seconds; HubSpot does not publish the lifetime of a code

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATHS = ("/oauth/v1/token", "/oauth/v3/token")
ACCESS_TOKEN_INFO_PATH = "/oauth/v1/access-tokens"  # nosec B105 - a public demo value or a path, not a secret
REFRESH_TOKEN_PATH = "/oauth/v1/refresh-tokens"  # nosec B105 - a public demo value or a path, not a secret
INTROSPECT_PATH = "/oauth/v3/token/introspect"
REVOKE_PATH = "/oauth/v3/token/revoke"


@dataclass
class AuthCode:
    redirect_uri: str
    scopes: list[str]
    challenge: str | None
    expires: float


@dataclass
class Grant:
    """What a refresh token stands for."""

    scopes: list[str]
    revoked: bool = False


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (str compare_digest raises)."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _split_scopes(*values: str | None) -> list[str]:
    out: list[str] = []
    for value in values:
        for part in (value or "").replace(",", " ").split():
            if part not in out:
                out.append(part)
    return out


class OAuthServer:
    """Codes, refresh tokens and the scopes of issued access tokens. Runs under the app lock."""

    def __init__(self, app: HubSpotSandbox) -> None:
        self.app = app
        self.auth_code_ttl = AUTH_CODE_TTL
        self.codes: dict[str, AuthCode] = {}
        self.refresh: dict[str, Grant] = {}
        self.access_scopes: dict[str, list[str]] = {}

    def routes(self) -> list[tuple[str, str, Any, str]]:
        rows: list[tuple[str, str, Any, str]] = [("GET", AUTHORIZE_PATH, self.authorize, "oauth.authorize")]
        rows += [("POST", p, self.token, "oauth.token") for p in TOKEN_PATHS]
        rows += [
            ("GET", ACCESS_TOKEN_INFO_PATH + "/(?P<token>[^/]+)", self.access_info, "oauth.access_info"),
            ("GET", REFRESH_TOKEN_PATH + "/(?P<token>[^/]+)", self.refresh_info, "oauth.refresh_info"),
            ("DELETE", REFRESH_TOKEN_PATH + "/(?P<token>[^/]+)", self.delete_refresh, "oauth.refresh_delete"),
            ("POST", INTROSPECT_PATH, self.introspect, "oauth.introspect"),
            ("POST", REVOKE_PATH, self.revoke, "oauth.revoke"),
        ]
        return rows

    # ----- authorize ----------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        client_id = request.arg("client_id")
        redirect_uri = request.arg("redirect_uri")
        if client_id != CLIENT_ID:
            return oauth_error("BAD_CLIENT_ID", "missing or invalid client id")
        if not redirect_uri:
            return oauth_error("BAD_REDIRECT_URI", "missing redirect_uri")
        challenge = request.arg("code_challenge")
        method = request.arg("code_challenge_method", "S256" if challenge else None)
        if challenge and method != "S256":
            return oauth_error("BAD_CODE_CHALLENGE", "code_challenge_method must be S256")
        scopes = _split_scopes("oauth", request.arg("scope"), request.arg("optional_scope"))
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(redirect_uri, scopes, challenge, time.monotonic() + self.auth_code_ttl)
        params = {"code": code}
        state = request.arg("state")
        if state is not None:
            params["state"] = state
        joiner = "&" if "?" in redirect_uri else "?"
        return Response.redirect(redirect_uri + joiner + urlencode(params))

    # ----- token --------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = request.form()
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            return oauth_error("BAD_GRANT_TYPE", "missing or unknown grant type")
        refused = self._check_client(form)
        if refused:
            return refused
        if grant_type == "refresh_token":
            grant = self.refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return oauth_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
            return self._tokens(form["refresh_token"], grant.scopes)
        code = self.codes.pop(form.get("code", ""), None)  # consumed by any attempt
        if code is None:
            return oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
        if time.monotonic() >= code.expires:
            return oauth_error("EXPIRED_AUTH_CODE", "auth code is expired")
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match initial redirect uri")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier or not _same(s256(verifier), code.challenge):
                return oauth_error("BAD_AUTH_CODE", "code_verifier does not match the code_challenge")
        refresh_token = secrets.token_urlsafe(32)
        self.refresh[refresh_token] = Grant(code.scopes)
        return self._tokens(refresh_token, code.scopes)

    @staticmethod
    def _check_client(form: dict[str, str]) -> Response | None:
        if form.get("client_id") != CLIENT_ID:
            return oauth_error("BAD_CLIENT_ID", "missing or invalid client id")
        if not _same(form.get("client_secret", ""), CLIENT_SECRET):
            return oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        return None

    def expires_in(self) -> int:
        ttl = self.app.options.token_ttl
        return int(ttl) if ttl else DEFAULT_EXPIRES_IN

    def _tokens(self, refresh_token: str, scopes: list[str]) -> Response:
        access = self.app.issue_token("CN")
        self.access_scopes[access] = list(scopes)
        return Response.json(
            200,
            {
                "token_type": "bearer",  # nosec B105 - a public demo value or a path, not a secret
                "refresh_token": refresh_token,
                "access_token": access,
                "expires_in": self.expires_in(),
                "hub_id": self.app.portal_id,
                "scopes": list(scopes),
            },
        )

    # ----- token metadata -----------------------------------------------------------------------------
    def _seconds_left(self, token: str) -> int | None:
        """Seconds until an issued access token expires; None when unknown or expired."""
        if token not in self.app.issued_tokens or self.app.token_state(token) != "ok":
            return None
        expiry = self.app.issued_tokens[token]
        return self.expires_in() if expiry is None else max(int(expiry - time.monotonic()), 0)

    def access_info(self, request: Request) -> Response:
        token = request.params["token"]
        left = self._seconds_left(token)
        if left is None:
            return _gone("The access token is expired or invalid")
        return Response.json(
            200,
            {
                "token": token,
                "user": USER_EMAIL,
                "hub_domain": HUB_DOMAIN,
                "scopes": self.access_scopes.get(token, []),
                "hub_id": self.app.portal_id,
                "app_id": APP_ID,
                "expires_in": left,
                "user_id": USER_ID,
                "token_type": "access",  # nosec B105 - a public demo value or a path, not a secret
            },
        )

    def refresh_info(self, request: Request) -> Response:
        token = request.params["token"]
        grant = self.refresh.get(token)
        if grant is None or grant.revoked:
            return _gone("The refresh token is expired or invalid")
        return Response.json(
            200,
            {
                "token": token,
                "user": USER_EMAIL,
                "hub_domain": HUB_DOMAIN,
                "scopes": grant.scopes,
                "hub_id": self.app.portal_id,
                "client_id": CLIENT_ID,
                "user_id": USER_ID,
                "token_type": "refresh",  # nosec B105 - a public demo value or a path, not a secret
            },
        )

    def delete_refresh(self, request: Request) -> Response:
        grant = self.refresh.get(request.params["token"])
        if grant is None or grant.revoked:
            return _gone("The refresh token is expired or invalid")
        grant.revoked = True
        return Response.empty(204)

    def introspect(self, request: Request) -> Response:
        form = request.form()
        refused = self._check_client(form)
        if refused:
            return refused
        token = form.get("token", "")
        grant = self.refresh.get(token)
        if grant is not None and not grant.revoked:
            return Response.json(200, self._active("refresh_token", grant.scopes))
        left = self._seconds_left(token)
        if left is not None:
            body = self._active("access_token", self.access_scopes.get(token, []))
            body.update(exp=int(time.time()) + left, expires_in=left)
            return Response.json(200, body)
        return Response.json(200, {"active": False})

    def _active(self, kind: str, scopes: list[str]) -> dict[str, Any]:
        return {
            "active": True,
            "token_use": kind,
            "client_id": CLIENT_ID,
            "hub_id": self.app.portal_id,
            "user_id": USER_ID,
            "app_id": APP_ID,
            "scopes": list(scopes),
            "scope": " ".join(scopes),
        }

    def revoke(self, request: Request) -> Response:
        form = request.form()
        refused = self._check_client(form)
        if refused:
            return refused
        token = form.get("token", "")
        if token in self.refresh:
            self.refresh[token].revoked = True
        elif token in self.app.issued_tokens:
            self.app.issued_tokens.pop(token)
            self.access_scopes.pop(token, None)
        return Response.empty(200)


def _gone(message: str) -> Response:
    return Response.json(404, {"status": "error", "message": message, "correlationId": correlation_id()})
