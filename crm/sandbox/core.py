"""What both CRM emulators share: requests and responses, routing, options, fault injection and counters.

A vendor emulator subclasses :class:`SandboxApp`, declares its routes, and supplies the vendor's own
error bodies (401, throttling, injected 5xx). The same app object then runs two ways:

* in-process, behind :class:`crm.sandbox.transport.SandboxTransport` (an ``httpx`` transport), and
* as a real HTTP server on loopback, via :func:`crm.sandbox.server.serve`.

Both call :meth:`SandboxApp.handle`, so there is one implementation of every rule.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import parse_qs, unquote

log = logging.getLogger("crm.sandbox")

INSPECT_PREFIX = "/__sandbox/"

FAULT_KINDS = ("500", "502", "503", "drop", "drop-after", "timeout")
DEFAULT_FAULT_KINDS = ("500", "502", "503", "drop")


@dataclass(frozen=True)
class SandboxOptions:
    """The knobs of ``python -m crm sandbox …``; the in-process form takes the same object."""

    token: str = "sandbox-token"  # the static bearer token always accepted
    latency_ms: float = 0.0  # added to every response
    rate_limit: int | None = None  # HubSpot rolling window: requests per window
    rate_window: float = 10.0  # seconds
    daily_limit: int | None = None  # Salesforce daily allocation (HubSpot: the DAILY policy)
    fail_rate: float = 0.0  # fraction of data calls that fail
    fail_kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    seed: int | None = None  # makes faults and generated ids repeatable
    token_ttl: float | None = None  # lifetime of tokens issued through OAuth; None: no expiry
    hang_seconds: float = 30.0  # how long a "timeout" fault stalls before dropping the connection
    duplicate_rule: bool = False  # Salesforce: answer DUPLICATES_DETECTED unless allowSave is sent

    def __post_init__(self) -> None:
        unknown = set(self.fail_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")

    def with_(self, **changes: Any) -> SandboxOptions:
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


class CaseInsensitiveDict(dict[str, str]):
    """Header map; keys are stored lower-case."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        super().__init__()
        pairs = items.items() if isinstance(items, Mapping) else items
        for k, v in pairs:
            self[k.lower()] = v

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class Request:
    """A transport-neutral HTTP request. ``path`` is percent-decoded; ``raw_path`` is not."""

    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # filled by the router from the path pattern

    @classmethod
    def build(cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> Request:
        raw_path, _, qs = target.partition("?")
        return cls(
            method=method.upper(),
            raw_path=raw_path,
            query=parse_qs(qs, keep_blank_values=True),
            headers=CaseInsensitiveDict(headers),
            body=body,
        )

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def arg_list(self, name: str) -> list[str]:
        """A list parameter sent either repeated (``?p=a&p=b``) or comma-separated (``?p=a,b``)."""
        out: list[str] = []
        for v in self.query.get(name, []):
            out.extend(x for x in v.split(",") if x)
        return out

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token:
            return token.strip()
        return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(payload).encode("utf-8"), h)

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain;charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location})


class DropConnection(Exception):
    """Close the connection without an answer. ``after_commit``: the handler ran first."""

    def __init__(self, *, after_commit: bool = False, hang: float = 0.0) -> None:
        super().__init__("connection dropped by the sandbox")
        self.after_commit = after_commit
        self.hang = hang


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """``kind``: "data" calls are authenticated, counted, throttled and may fail on purpose;
    "auth" (OAuth endpoints) and "public" (e.g. Salesforce's version list) are not."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str
    kind: str = "data"


class RollingWindow:
    """At most ``limit`` events in any ``window`` seconds, per key (HubSpot's TEN_SECONDLY_ROLLING)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _trim(self, key: str) -> deque[float]:
        q = self._events.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def hit(self, key: str = "") -> bool:
        """Count one event; False (and not counted) when the window is full. Caller holds the app lock."""
        q = self._trim(key)
        if len(q) >= self.limit:
            return False
        q.append(self._clock())
        return True

    def remaining(self, key: str = "") -> int:
        return max(self.limit - len(self._trim(key)), 0)

    def reset(self) -> None:
        self._events.clear()


@dataclass
class Stats:
    requests: int = 0  # data calls received (including throttled and failed ones)
    throttled: int = 0  # 429s and limit-exceeded answers
    failed_injected: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "failed_injected": self.failed_injected,
            "by_route": dict(self.by_route),
            "by_status": {str(k): v for k, v in self.by_status.items()},
        }


class SandboxApp:
    """Base of a vendor emulator. Thread-safe: one lock guards all state, handlers run under it."""

    vendor = "sandbox"

    def __init__(self, options: SandboxOptions | None = None, base_url: str = "http://sandbox.local") -> None:
        self.options = options or SandboxOptions()
        self.base_url = base_url.rstrip("/")
        self.lock = threading.RLock()
        self.routes: list[Route] = []
        self.stats = Stats()
        self.rng = random.Random(self.options.seed)  # nosec B311 - fault injection, not security
        self.issued_tokens: dict[str, float | None] = {}  # access token -> expiry (monotonic) or None
        self.register_routes()
        self.reset()

    # ----- to be supplied by a vendor -------------------------------------------------------------
    def register_routes(self) -> None:
        raise NotImplementedError

    def reset_data(self) -> None:
        """Empty the vendor's records (called by reset)."""
        raise NotImplementedError

    def dump(self) -> Any:
        """Every record, for tests and ``GET /__sandbox/records``."""
        raise NotImplementedError

    def unauthorized(self, request: Request, expired: bool) -> Response:
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        return Response.json(404, {"message": f"No route for {request.method} {request.path}"})

    def throttle(self, request: Request, route: Route) -> Response | None:
        """Return the vendor's throttling answer, or None to let the call through."""
        return None

    def injected_failure(self, status: int) -> Response:
        return Response.json(status, {"message": "Injected failure"})

    def decorate(self, request: Request, route: Route | None, response: Response) -> Response:
        """Add vendor headers (rate-limit info, correlation ids) to every answer."""
        return response

    def inspect(self, name: str, request: Request) -> Response | None:
        """Vendor-specific inspection endpoints under ``/__sandbox/`` (e.g. merge two records);
        None when ``name`` is not one. Called under the lock."""
        return None

    # ----- shared machinery -----------------------------------------------------------------------
    def add(self, method: str, pattern: str, handler: Handler, name: str, kind: str = "data") -> None:
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler, name, kind))

    def reset(self) -> None:
        with self.lock:
            self.stats = Stats()
            self.rng = random.Random(self.options.seed)  # nosec B311 - fault injection, not security
            self.issued_tokens.clear()
            self.reset_data()

    def configure(self, **changes: Any) -> None:
        """Change options on a running sandbox (tests turn faults on mid-run)."""
        with self.lock:
            self.options = self.options.with_(**changes)
            if "seed" in changes:  # a new seed restarts the fault sequence, so a run is repeatable
                self.rng = random.Random(self.options.seed)  # nosec B311 - fault injection, not security

    def issue_token(self, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(24)
        ttl = self.options.token_ttl
        self.issued_tokens[token] = (time.monotonic() + ttl) if ttl else None
        return token

    def expire_tokens(self) -> int:
        """Make every issued token expired now; returns how many."""
        with self.lock:
            past = time.monotonic() - 1
            for t in self.issued_tokens:
                self.issued_tokens[t] = past
            return len(self.issued_tokens)

    def token_state(self, token: str | None) -> str:
        """ "ok", "expired" or "invalid"."""
        if token is None:
            return "invalid"
        if secrets.compare_digest(token.encode("utf-8"), self.options.token.encode("utf-8")):
            return "ok"
        if token not in self.issued_tokens:
            return "invalid"
        expiry = self.issued_tokens[token]
        return "expired" if expiry is not None and time.monotonic() >= expiry else "ok"

    def match(self, request: Request) -> Route | None:
        """Match on the raw path, then decode each captured part: an id holding ``%2F`` stays one id."""
        for route in self.routes:
            if route.method != request.method:
                continue
            m = route.pattern.match(request.raw_path)
            if m:
                request.params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                return route
        return None

    def handle(self, request: Request) -> Response:
        """Answer one request. Raises :class:`DropConnection` to simulate a lost connection."""
        if request.path.startswith(INSPECT_PREFIX):
            return self._inspect(request)
        with self.lock:
            route = self.match(request)
            if route is None:
                return self.decorate(request, None, self.not_found(request))
            if route.kind != "data":
                return self.decorate(request, route, route.handler(request))
            self.stats.requests += 1
            self.stats.by_route[route.name] += 1
            state = self.token_state(request.bearer())
            if state != "ok":
                return self._finish(request, route, self.unauthorized(request, expired=state == "expired"))
            throttled = self.throttle(request, route)
            if throttled is not None:
                self.stats.throttled += 1
                return self._finish(request, route, throttled)
            fault = self._pick_fault()
            if fault is not None:
                self.stats.failed_injected += 1
                if fault.isdigit():
                    return self._finish(request, route, self.injected_failure(int(fault)))
                if fault == "drop":
                    raise DropConnection()
                if fault == "timeout":
                    raise DropConnection(hang=self.options.hang_seconds)
            try:
                response = route.handler(request)
            except Exception:  # a sandbox bug must look like a 500, not like an injected dropped connection
                log.exception("sandbox handler %s failed", route.name)
                response = self.injected_failure(500)
            if fault == "drop-after":
                raise DropConnection(after_commit=True)
            return self._finish(request, route, response)

    def _finish(self, request: Request, route: Route, response: Response) -> Response:
        self.stats.by_status[response.status] += 1
        return self.decorate(request, route, response)

    def _pick_fault(self) -> str | None:
        rate = self.options.fail_rate
        if rate <= 0 or self.rng.random() >= rate:
            return None
        return self.rng.choice(self.options.fail_kinds)

    def _inspect(self, request: Request) -> Response:
        name = request.path[len(INSPECT_PREFIX) :].strip("/")
        if request.method == "GET" and name == "stats":
            with self.lock:
                return Response.json(200, self.stats.as_dict())
        if request.method == "GET" and name == "records":
            with self.lock:
                return Response.json(200, self.dump())
        if request.method == "POST" and name == "reset":
            self.reset()
            return Response.json(200, {"reset": True})
        if request.method == "POST" and name == "expire-tokens":
            return Response.json(200, {"expired": self.expire_tokens()})
        if request.method == "POST" and name == "configure":
            changes = request.json() or {}
            bad = set(changes) - set(SandboxOptions.field_names())
            if bad:
                return Response.json(400, {"error": f"unknown options {sorted(bad)}"})
            if "fail_kinds" in changes:
                changes["fail_kinds"] = tuple(changes["fail_kinds"])
            try:
                self.configure(**changes)
            except ValueError as exc:
                return Response.json(400, {"error": str(exc)})
            return Response.json(200, {"configured": sorted(changes)})
        with self.lock:
            answer = self.inspect(name, request)
        if answer is not None:
            return answer
        return Response.json(404, {"error": f"no inspection endpoint {request.method} {name}"})
