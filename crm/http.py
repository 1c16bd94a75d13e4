"""The one HTTP client builder: timeouts, the rate governor, retries, token refresh, error routing.

Every adapter call goes through :meth:`ApiClient.request`, so the rules live here once:

* a vendor ``router`` turns any non-2xx answer into a typed :mod:`crm.errors` exception;
* only :class:`~crm.errors.RetriableError` is retried (tenacity), with a bounded number of attempts:
  a 429 waits as the CRM says (``retry_after``), everything else backs off exponentially with jitter;
* a request that is not idempotent is retried only when the CRM surely did not act on it (a 429, or a
  connection that never opened). Otherwise the error goes back to the adapter, which re-checks by email
  before writing again, so a retry can never create a duplicate;
* an expired token is refreshed (once for all threads that saw it expire) and the call repeated; a
  fresh token refused before it ever worked is not refreshed again;
* every call waits for the account's rate governor first, and is counted.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from crm.errors import (
    CRMError,
    NetworkError,
    RateLimited,
    RetriableError,
    ServerError,
    TokenExpired,
)
from crm.governor import Governor, Unlimited
from crm.redact import redact, register

log = logging.getLogger("crm.http")

USER_AGENT = "crm-push/0.1 (+https://github.com/crm-push)"
BODY_SNIPPET = 2000  # characters of an error body kept on the exception
# Set on a response's extensions when an earlier attempt of the same call may have reached the CRM.
UNCERTAIN_RETRY = "crm_uncertain_retry"


REFRESH_ATTEMPTS = 6  # sends of one call, at most, with the token refreshed in between


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    timeout: float = 60.0


class TokenSource(Protocol):
    """Where the bearer token comes from; OAuth sources can refresh it."""

    @property
    def can_refresh(self) -> bool: ...

    def token(self) -> str: ...

    def refresh(self) -> str:
        """Get a new access token (raises AuthError when impossible)."""
        ...


class StaticToken:
    """A private-app token or a pasted access token: no refresh possible."""

    can_refresh = False

    def __init__(self, token: str) -> None:
        register(token)
        self._token = token

    def token(self) -> str:
        return self._token

    def refresh(self) -> str:
        raise TokenExpired("The access token expired and cannot be refreshed; reconnect the provider.")


ErrorRouter = Callable[[httpx.Response], CRMError]


def snippet(response: httpx.Response) -> str:
    """A redacted, bounded copy of a response body for an exception."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return redact(text[:BODY_SNIPPET])


def network_error(exc: httpx.TransportError, url: str) -> NetworkError:
    """An httpx failure as our error; ``maybe_committed`` unless the request surely never left."""
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return NetworkError(
        f"The CRM request {kind}: {type(exc).__name__}", maybe_committed=not never_sent, url=url
    )


class ApiClient:
    """An ``httpx.Client`` behind the rules above. Thread-safe; share one per connection."""

    def __init__(
        self,
        base_url: str,
        router: ErrorRouter,
        *,
        tokens: TokenSource | None = None,
        transport: httpx.BaseTransport | None = None,
        governor: Governor | None = None,
        retry: RetryPolicy | None = None,
        pool_size: int = 16,
        on_response: Callable[[httpx.Response], None] | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.tokens = tokens
        self.router = router
        self.governor = governor or Unlimited()
        self.on_response = on_response
        self._sleep = sleep
        self._calls = 0
        self._count_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._worked_token: str | None = None  # the last token a call succeeded with
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=httpx.Timeout(self.retry.timeout, connect=10.0),
            limits=limits,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url).rstrip("/")

    @property
    def api_calls(self) -> int:
        return self._calls

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send one call with governor, retries and refresh; return a 2xx/3xx answer or raise."""

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, RetriableError):
                return False
            if idempotent or isinstance(exc, RateLimited):
                return True
            return isinstance(exc, NetworkError) and not exc.maybe_committed

        kwargs: dict[str, Any] = {"params": params, "json": json, "content": content, "data": data}
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            reraise=True,
            **({"sleep": self._sleep} if self._sleep else {}),
        )
        uncertain = False

        def attempt() -> httpx.Response:
            nonlocal uncertain
            try:
                response = self._send_refreshing(method, path, headers, authenticated, kwargs)
            except ServerError:
                uncertain = True
                raise
            except NetworkError as exc:
                uncertain = uncertain or exc.maybe_committed
                raise
            response.extensions[UNCERTAIN_RETRY] = uncertain
            return response

        return retrying(attempt)

    def _send_refreshing(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        authenticated: bool,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        used = self.tokens.token() if (authenticated and self.tokens) else None
        refreshed_here = False
        for _ in range(REFRESH_ATTEMPTS - 1):
            try:
                return self._send_once(method, path, headers, used, kwargs)
            except TokenExpired:
                if not (used and self.tokens and self.tokens.can_refresh):
                    raise
                if refreshed_here and used != self._worked_token:
                    raise  # a fresh token refused before it ever worked: refreshing again won't help
                # One refresh for all threads that saw the same expiry. Under concurrency other threads can
                # wear out a fresh token before ours is repeated with it, hence a few rounds, not one.
                with self._refresh_lock:
                    current = self.tokens.token()
                    refreshed_here = current == used
                    used = self.tokens.refresh() if refreshed_here else current
                log.info("access token refreshed; repeating %s %s", method, redact(path))
        return self._send_once(method, path, headers, used, kwargs)

    def _send_once(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        token: str | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        self.governor.acquire()
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        with self._count_lock:
            self._calls += 1
        try:
            response = self._client.request(method, path, headers=all_headers, **kwargs)
        except httpx.TransportError as exc:
            raise network_error(exc, redact(path)) from None
        finally:
            self.governor.release()
        if self.on_response:
            self.on_response(response)
        log.debug("%s %s -> %s", method, redact(path), response.status_code)
        if response.status_code < 400:
            self._worked_token = token
            return response
        error = self.router(response)
        if isinstance(error, RateLimited):
            self.governor.backoff(error.retry_after)
        raise error

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            # backoff() already paused the governor; sleep here only what is left of it, plus jitter.
            return exc.retry_after + random.uniform(0, 0.25)  # noqa: S311  # nosec B311 - jitter, not security
        delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (state.attempt_number - 1))
        return delay * random.uniform(0.5, 1.5)  # noqa: S311  # nosec B311 - jitter, not security
