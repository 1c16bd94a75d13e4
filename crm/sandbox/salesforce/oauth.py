"""Salesforce's OAuth 2.0 endpoints for one fixed demo connected app.

* ``GET /services/oauth2/authorize`` approves at once (no login page) and redirects to
  ``redirect_uri`` with ``code`` and ``state``; a ``code_challenge`` (S256) is remembered.
* ``POST /services/oauth2/token``: ``authorization_code`` (PKCE checked when a challenge was sent;
  codes are single-use and live 15 minutes), ``refresh_token`` (no new refresh token, since
  rotation is off, and the old one keeps working) and ``client_credentials``. The answer carries
  access_token ``00D…!…``, instance_url, id, token_type Bearer, issued_at (epoch ms, a string),
  signature (Base64 HMAC-SHA256 of id + issued_at keyed with the client secret) and scope; never
  expires_in. Errors are 400 ``{"error","error_description"}``: invalid_grant, invalid_client_id
  "client identifier invalid", invalid_client "invalid client credentials", unsupported_grant_type.
* ``POST /services/oauth2/revoke`` (``token=``): 200; a refresh token takes its access tokens
  with it. ``GET /services/oauth2/userinfo`` needs a live token.

Access tokens come from the core's ``issue_token`` so ``token_ttl`` expires them; an expired or
revoked token then gets 401 INVALID_SESSION_ID on every data call. The static ``options.token``
is configuration, not a grant: revoking it has no effect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.common import ApiPart, Route
from crm.sandbox.salesforce.ids import ORG_ID, USER_ID

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # the public demo app of the emulator  # nosec B105
CODE_TTL_SECONDS = 15 * 60  # authorization codes are valid for 15 minutes
SCOPE = "api refresh_token"
USERNAME = "integration@crm-push.sandbox"


@dataclass
class AuthCode:
    redirect_uri: str
    challenge: str | None
    expires: float
    used: bool = False


@dataclass
class Grant:
    """A refresh token and the access tokens minted from it (revoked together)."""

    access_tokens: set[str] = field(default_factory=set)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


def same(a: str, b: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (as bytes), never raising."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthServer(ApiPart):
    codes: dict[str, AuthCode]
    grants: dict[str, Grant]

    def reset(self) -> None:
        self.codes = {}
        self.grants = {}

    def routes(self) -> list[Route]:
        base = "/services/oauth2"
        return [
            ("GET", rf"{base}/authorize/?", self.authorize, "oauth.authorize", "auth"),
            ("POST", rf"{base}/token/?", self.token, "oauth.token", "auth"),
            ("POST", rf"{base}/revoke/?", self.revoke, "oauth.revoke", "auth"),
            ("GET", rf"{base}/revoke/?", self.revoke, "oauth.revoke", "auth"),
            ("GET", rf"{base}/userinfo/?", self.userinfo, "oauth.userinfo", "auth"),
            ("GET", r"/id/(?P<org>00D\w+)/(?P<user>005\w+)/?", self.userinfo, "oauth.identity", "auth"),
        ]

    # ----- authorize ------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        if request.arg("client_id") != CLIENT_ID:
            return oauth_error("invalid_client_id", "client identifier invalid")
        redirect_uri = request.arg("redirect_uri")
        if not redirect_uri:
            return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
        state = request.arg("state")
        extra = {"state": state} if state is not None else {}
        if request.arg("response_type") != "code":
            return _redirect(
                redirect_uri,
                {
                    "error": "unsupported_response_type",
                    "error_description": "response type not supported",
                    **extra,
                },
            )
        challenge = request.arg("code_challenge")
        method = request.arg("code_challenge_method") or "S256"
        if challenge and method != "S256":
            return _redirect(
                redirect_uri,
                {"error": "invalid_request", "error_description": "invalid code_challenge_method", **extra},
            )
        code = "aPrx" + secrets.token_urlsafe(40) + "=="
        self.codes[code] = AuthCode(redirect_uri, challenge, time.monotonic() + CODE_TTL_SECONDS)
        return _redirect(redirect_uri, {"code": code, **extra})

    # ----- token ----------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = request.form()
        client_id, client_secret = _client_credentials(request, form)
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != CLIENT_ID:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret is not None and not same(client_secret, CLIENT_SECRET):
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "authorization_code":
            return self._authorization_code(form, has_secret=client_secret is not None)
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self.grants:
                return oauth_error("invalid_grant", "expired access/refresh token")
            return Response.json(200, self._tokens(self.grants[refresh], refresh=None))
        if client_secret is None:
            return oauth_error("invalid_client", "invalid client credentials")
        return Response.json(200, self._tokens(Grant(), refresh=None, scope="api"))

    def _authorization_code(self, form: dict[str, str], *, has_secret: bool) -> Response:
        code = self.codes.get(form.get("code", ""))
        if code is None:
            return oauth_error("invalid_grant", "invalid authorization code")
        if code.used or time.monotonic() >= code.expires:
            return oauth_error("invalid_grant", "expired authorization code")
        code.used = True  # single use, even when the exchange below fails
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error("invalid_grant", "redirect_uri must match configuration")
        if code.challenge:
            verifier = form.get("code_verifier")
            if not verifier or not same(s256(verifier), code.challenge):
                return oauth_error("invalid_grant", "invalid code verifier")
        elif not has_secret:
            return oauth_error("invalid_client", "invalid client credentials")
        refresh = "5Aep861" + secrets.token_urlsafe(60)
        grant = Grant()
        self.grants[refresh] = grant
        return Response.json(200, self._tokens(grant, refresh=refresh))

    def _tokens(self, grant: Grant, *, refresh: str | None, scope: str = SCOPE) -> dict[str, str]:
        access = self.app.issue_token(prefix=f"{ORG_ID[:15]}!")
        grant.access_tokens.add(access)
        issued_at = str(int(time.time() * 1000))
        identity = self.identity_url()
        signature = base64.b64encode(
            hmac.new(CLIENT_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body = {"access_token": access}
        if refresh:
            body["refresh_token"] = refresh
        body.update(
            signature=signature,
            scope=scope,
            instance_url=self.app.base_url,
            id=identity,
            token_type="Bearer",  # a token type name, not a secret  # nosec B106
            issued_at=issued_at,
        )
        return body

    def identity_url(self) -> str:
        return f"{self.app.base_url}/id/{ORG_ID}/{USER_ID}"

    # ----- revoke and userinfo --------------------------------------------------------------------
    def revoke(self, request: Request) -> Response:
        token = request.form().get("token") if request.method == "POST" else None
        token = token or request.arg("token")
        if not token:
            return oauth_error("unsupported_token_type", "this token type is not supported")
        if token in self.grants:
            for access in self.grants.pop(token).access_tokens:
                self.app.issued_tokens.pop(access, None)
            return Response.empty(200)
        if token in self.app.issued_tokens:
            self.app.issued_tokens.pop(token, None)
            return Response.empty(200)
        if same(token, self.app.options.token):
            return Response.empty(200)
        return oauth_error("invalid_token", "invalid token")

    def userinfo(self, request: Request) -> Response:
        state = self.app.token_state(request.bearer())
        if state != "ok":
            return self.app.unauthorized(request, expired=state == "expired")
        base = self.app.base_url
        return Response.json(
            200,
            {
                "sub": self.identity_url(),
                "user_id": USER_ID,
                "organization_id": ORG_ID,
                "preferred_username": USERNAME,
                "nickname": "integration",
                "name": "Integration User",
                "email": USERNAME,
                "email_verified": True,
                "given_name": "Integration",
                "family_name": "User",
                "zoneinfo": "Europe/London",
                "photos": {
                    "picture": f"{base}/img/userprofile/default_profile_200_v2.png",
                    "thumbnail": f"{base}/img/userprofile/default_profile_45_v2.png",
                },
                "profile": f"{base}/{USER_ID}",
                "picture": f"{base}/img/userprofile/default_profile_200_v2.png",
                "address": {},
                "is_salesforce_integration_user": False,
                "urls": {
                    "enterprise": f"{base}/services/Soap/c/{{version}}/{ORG_ID[:15]}",
                    "partner": f"{base}/services/Soap/u/{{version}}/{ORG_ID[:15]}",
                    "rest": f"{base}/services/data/v{{version}}/",
                    "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                    "query": f"{base}/services/data/v{{version}}/query/",
                    "profile": f"{base}/{USER_ID}",
                },
                "active": True,
                "user_type": "STANDARD",
                "language": "en_US",
                "locale": "en_GB",
                "utcOffset": 0,
                "updated_at": "2026-10-10T00:00:00Z",
                "is_app_installed": True,
            },
        )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from the form, or from HTTP Basic auth (both are accepted)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user, password
        except (ValueError, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def _redirect(uri: str, params: dict[str, str]) -> Response:
    joiner = "&" if "?" in uri else "?"
    return Response.redirect(uri + joiner + urlencode(params))
