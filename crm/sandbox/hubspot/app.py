"""The HubSpot sandbox: routes, scopes, limits and the vendor hooks of :class:`SandboxApp`.

Every object path is served under both API versions (``OBJECT_PREFIXES``), with ``contacts`` or its type
id ``0-1``; properties likewise (``PROPERTY_PREFIXES``). Data calls need a scope: the static
``options.token`` has them all, a token issued through OAuth has the scopes granted at authorize time,
and a missing one answers 403 ``MISSING_SCOPES`` listing ``requiredGranularScopes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from crm.sandbox.core import Request, Response, Route, SandboxApp, SandboxOptions
from crm.sandbox.hubspot.batch import BatchApi
from crm.sandbox.hubspot.contacts import ContactsApi, read_json
from crm.sandbox.hubspot.errors import (
    CORRELATION_HEADER,
    HubSpotError,
    correlation_id,
    envelope,
    missing_scopes,
    not_found,
    server_error,
    unauthorized,
)
from crm.sandbox.hubspot.limits import RateLimits
from crm.sandbox.hubspot.oauth import OAuthServer
from crm.sandbox.hubspot.registry import PropertyRegistry, utc_now
from crm.sandbox.hubspot.search import Search
from crm.sandbox.hubspot.store import ContactStore

# Paths: the notes' "legacy" v3 paths, which the official client v12 uses, and the date-versioned ones.
OBJECT_PREFIXES = ("/crm/v3/objects", "/crm/objects/2026-03")
PROPERTY_PREFIXES = ("/crm/v3/properties", "/crm/properties/2026-03")
CONTACT_TYPES = "(?:contacts|0-1)"
ACCOUNT_DETAILS_PATH = "/account-info/v3/details"
ACCOUNT_USAGE_PATH = "/account-info/v3/api-usage/daily/private-apps"

PORTAL_ID = 146_872_913
# Notes: account-info answer of a standard US portal.
ACCOUNT_DETAILS: dict[str, Any] = {
    "portalId": PORTAL_ID,
    "accountType": "STANDARD",
    "timeZone": "US/Eastern",
    "companyCurrency": "USD",
    "additionalCurrencies": [],
    "utcOffset": "-05:00",
    "utcOffsetMilliseconds": -18_000_000,
    "uiDomain": "app.hubspot.com",
    "dataHostingLocation": "na1",
}

READ = ("crm.objects.contacts.read",)
WRITE = ("crm.objects.contacts.write",)
SCHEMA_READ = ("crm.schemas.contacts.read", "crm.objects.contacts.read")
SCHEMA_WRITE = ("crm.schemas.contacts.write",)
SEARCH_ROUTE = "contacts.search"


class HubSpotSandbox(SandboxApp):
    """A one-portal HubSpot that ``hubspot-api-client`` works against unchanged."""

    vendor = "hubspot"
    portal_id = PORTAL_ID

    def __init__(
        self, options: SandboxOptions | None = None, base_url: str = "https://api.hubapi.sandbox"
    ) -> None:
        self.contacts_api = ContactsApi(self)
        self.batch_api = BatchApi(self)
        self.oauth = OAuthServer(self)
        self.clock: Callable[[], float] = time.monotonic  # drives the rate windows; tests may replace it
        super().__init__(options, base_url)

    # ----- state --------------------------------------------------------------------------------------
    def reset_data(self) -> None:
        self.store = ContactStore(self.options.seed, self.portal_id)
        self.registry = PropertyRegistry()
        self.limits = RateLimits(self.portal_id, clock=lambda: self.clock())
        self.oauth.codes.clear()
        self.oauth.refresh.clear()
        self.oauth.access_scopes.clear()

    def dump(self) -> list[dict[str, Any]]:
        return self.store.dump()

    # ----- routes -------------------------------------------------------------------------------------
    def register_routes(self) -> None:
        c, b = self.contacts_api, self.batch_api
        for prefix in OBJECT_PREFIXES:
            base = f"{prefix}/{CONTACT_TYPES}"
            one = base + "/(?P<id>[^/]+)"
            self._data("POST", base + "/batch/create", b.create, "contacts.batch_create", WRITE)
            self._data("POST", base + "/batch/read", b.read, "contacts.batch_read", READ)
            self._data("POST", base + "/batch/update", b.update, "contacts.batch_update", WRITE)
            self._data("POST", base + "/batch/upsert", b.upsert, "contacts.batch_upsert", WRITE)
            self._data("POST", base + "/batch/archive", b.archive, "contacts.batch_archive", WRITE)
            self._data("POST", base + "/search", self.search, SEARCH_ROUTE, READ)
            self._data("POST", base + "/merge", c.merge, "contacts.merge", WRITE)
            self._data("POST", base, c.create, "contacts.create", WRITE)
            self._data("GET", base, c.page, "contacts.list", READ)
            self._data("GET", one, c.get, "contacts.read", READ)
            self._data("PATCH", one, c.update, "contacts.update", WRITE)
            self._data("DELETE", one, c.archive, "contacts.archive", WRITE)
        for prefix in PROPERTY_PREFIXES:
            base = f"{prefix}/{CONTACT_TYPES}"
            self._data("GET", base, self.list_properties, "properties.list", SCHEMA_READ)
            self._data("POST", base, self.create_property, "properties.create", SCHEMA_WRITE)
            self._data("GET", base + "/(?P<name>[^/]+)", self.get_property, "properties.read", SCHEMA_READ)
        self._data("GET", ACCOUNT_DETAILS_PATH, self.account_details, "account.details", ())
        self._data("GET", ACCOUNT_USAGE_PATH, self.account_usage, "account.usage", ())
        for method, pattern, handler, name in self.oauth.routes():
            self.add(method, pattern, handler, name, kind="auth")

    def _data(
        self,
        method: str,
        pattern: str,
        handler: Callable[[Request], Response],
        name: str,
        scopes: tuple[str, ...],
    ) -> None:
        self.add(method, pattern, self._guarded(handler, scopes), name)

    def _guarded(
        self, handler: Callable[[Request], Response], scopes: tuple[str, ...]
    ) -> Callable[[Request], Response]:
        """Check the token's scopes, then turn a raised :class:`HubSpotError` into its answer."""

        def run(request: Request) -> Response:
            try:
                granted = self.scopes_for(request.bearer())
                if scopes and granted is not None and not set(scopes) & set(granted):
                    raise missing_scopes(list(scopes))
                return handler(request)
            except HubSpotError as error:
                return error.response()

        return run

    def scopes_for(self, token: str | None) -> list[str] | None:
        """None: every scope (the static private-app token)."""
        if token is None or token == self.options.token:
            return None
        return self.oauth.access_scopes.get(token, [])

    # ----- handlers not tied to contacts ---------------------------------------------------------------
    def search(self, request: Request) -> Response:
        query = Search(read_json(request), self.registry)
        total, page, nxt = query.run(list(self.store.contacts.values()))
        known = set(self.registry.definitions)
        body: dict[str, Any] = {
            "total": total,
            "results": [self.store.to_api(c, query.properties or None, known=known) for c in page],
        }
        if nxt is not None:
            body["paging"] = {
                "next": {"after": str(nxt), "link": f"{self.base_url}{request.path}?after={nxt}"}
            }
        return Response.json(200, body)

    def list_properties(self, request: Request) -> Response:
        return Response.json(200, {"results": self.registry.all()})

    def get_property(self, request: Request) -> Response:
        definition = self.registry.get(request.params["name"])
        if definition is None:
            raise not_found(f'Property "{request.params["name"]}" does not exist')
        return Response.json(200, definition)

    def create_property(self, request: Request) -> Response:
        return Response.json(201, self.registry.create(read_json(request), utc_now()))

    def account_details(self, request: Request) -> Response:
        return Response.json(200, dict(ACCOUNT_DETAILS))

    def account_usage(self, request: Request) -> Response:
        return Response.json(200, self.limits.usage(self.options))

    # ----- vendor hooks -------------------------------------------------------------------------------
    def unauthorized(self, request: Request, expired: bool) -> Response:
        seconds: int | None = None
        if expired:
            expiry = self.issued_tokens.get(request.bearer() or "")
            seconds = max(int(time.monotonic() - expiry), 1) if expiry is not None else 1
        return unauthorized(seconds)

    def not_found(self, request: Request) -> Response:
        return envelope(404, "OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}").response()

    def throttle(self, request: Request, route: Route) -> Response | None:
        refused = self.limits.admit(
            self.options, search=route.name == SEARCH_ROUTE, app_key=self._app_key(request)
        )
        return refused.response() if refused else None

    def injected_failure(self, status: int) -> Response:
        return server_error(status)

    def decorate(self, request: Request, route: Route | None, response: Response) -> Response:
        headers = {k.lower(): k for k in response.headers}
        if CORRELATION_HEADER not in headers:
            response.headers[CORRELATION_HEADER] = correlation_id()
        if (
            route is not None
            and route.kind == "data"
            and route.name != SEARCH_ROUTE
            and response.status != 401
        ):
            response.headers.update(self.limits.headers(self.options, self._app_key(request)))
        return response

    def _app_key(self, request: Request) -> str:
        """Burst limits are per app: the private app, or the OAuth app behind an issued token."""
        return "private-app" if request.bearer() == self.options.token else "oauth-app"
