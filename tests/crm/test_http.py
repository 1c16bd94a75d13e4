"""ApiClient: status routing, the retry policy (idempotent or not), token refresh, counting, hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import pytest

from crm import governor as governor_module
from crm.errors import (
    AuthError,
    CRMError,
    ForbiddenError,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    ValidationError,
)
from crm.http import ApiClient, RetryPolicy, StaticToken, network_error, snippet

BASE = "https://crm.test"
Handler = Callable[[httpx.Request], httpx.Response]


def router(response: httpx.Response) -> CRMError:
    """A vendor router as the adapters write them: status (and body) -> our exception."""
    status, url, body = response.status_code, str(response.request.url), snippet(response)
    kw: dict[str, object] = {"status": status, "url": url, "body": body}
    if status == 401:
        cls = TokenExpired if "expired" in body else AuthError
        return cls("refused", code="INVALID_SESSION_ID", **kw)  # type: ignore[arg-type]
    if status == 403:
        return ForbiddenError("no scope", code="MISSING_SCOPES", **kw)  # type: ignore[arg-type]
    if status == 404:
        return NotFound("gone", **kw)  # type: ignore[arg-type]
    if status == 429:
        retry_after = float(response.headers.get("Retry-After", "10"))
        return RateLimited("slow down", retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError("server trouble", **kw)  # type: ignore[arg-type]
    return ValidationError("bad input", code="INVALID_INPUT", **kw)  # type: ignore[arg-type]


class RecordingGovernor:
    def __init__(self) -> None:
        self.acquired = 0
        self.released = 0
        self.backoffs: list[float] = []

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def release(self) -> None:
        self.released += 1

    def backoff(self, seconds: float) -> None:
        self.backoffs.append(seconds)


class Script:
    """A transport that answers from a list, one item per request (a status, or an exception class)."""

    def __init__(self, *answers: int | type[httpx.TransportError], headers: dict[str, str] | None = None):
        self.answers = list(answers)
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, type):
            raise answer("simulated", request=request)
        return httpx.Response(answer, json={"n": len(self.requests)}, headers=self.headers)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., ApiClient]]:
    clients: list[ApiClient] = []

    def make(handler: Handler, **kw: object) -> ApiClient:
        kw.setdefault("governor", RecordingGovernor())
        kw.setdefault("retry", RetryPolicy(attempts=4))
        client = ApiClient(
            BASE,
            router,
            transport=httpx.MockTransport(handler),
            sleep=sleeps.append,
            **kw,  # type: ignore[arg-type]
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_a_2xx_answer_is_returned_after_one_governed_call(make_client: Callable[..., ApiClient]) -> None:
    script = Script(200)
    client = make_client(script)
    response = client.request("GET", "/contacts", params={"limit": 5})
    assert response.json() == {"n": 1}
    assert client.api_calls == 1
    assert client.governor.acquired == 1  # type: ignore[attr-defined]
    assert script.requests[0].url == httpx.URL(f"{BASE}/contacts?limit=5")
    assert script.requests[0].headers["User-Agent"].startswith("crm-push/")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, ForbiddenError),
        (404, NotFound),
        (409, ValidationError),
    ],
)
def test_fatal_answers_raise_their_error_and_are_never_retried(
    make_client: Callable[..., ApiClient], sleeps: list[float], status: int, error: type[CRMError]
) -> None:
    script = Script(status)
    client = make_client(script, tokens=StaticToken("tok-fatal-0123456789"))
    with pytest.raises(error) as caught:
        client.request("GET", "/x")
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.url == f"{BASE}/x"
    assert len(script.requests) == 1
    assert client.api_calls == 1
    assert sleeps == []


def test_429_waits_retry_after_and_holds_the_governor(
    make_client: Callable[..., ApiClient], sleeps: list[float]
) -> None:
    script = Script(429, 200, headers={"Retry-After": "3"})
    client = make_client(script)
    assert client.request("GET", "/x").status_code == 200
    assert client.governor.backoffs == [3.0]  # type: ignore[attr-defined]
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 3.25  # retry_after plus a little jitter
    assert client.api_calls == 2


def test_429_with_the_default_governor_waits_once_through_the_injected_sleep(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sleeps: list[float] = []
    monkeypatch.setattr(governor_module, "time", SimpleNamespace(sleep=real_sleeps.append))
    script = Script(429, 200, headers={"Retry-After": "30"})
    client = ApiClient(BASE, router, transport=httpx.MockTransport(script), sleep=sleeps.append)
    try:
        assert client.request("GET", "/x").status_code == 200
    finally:
        client.close()
    assert real_sleeps == []  # no second, uninjectable wait on top of the retry's own
    assert len(sleeps) == 1 and sleeps[0] >= 30


def test_5xx_is_retried_for_idempotent_calls_up_to_the_attempts_then_raised(
    make_client: Callable[..., ApiClient], sleeps: list[float]
) -> None:
    script = Script(503)
    client = make_client(script, retry=RetryPolicy(attempts=3, base_delay=1.0, max_delay=2.0))
    with pytest.raises(ServerError) as caught:
        client.request("GET", "/x")
    assert caught.value.status == 503
    assert len(script.requests) == 3
    assert client.api_calls == 3
    assert len(sleeps) == 2
    assert all(0 < s <= 2.0 * 1.5 for s in sleeps)  # exponential, capped at max_delay, with jitter


def test_5xx_then_success_returns_the_success(make_client: Callable[..., ApiClient]) -> None:
    script = Script(500, 502, 200)
    client = make_client(script)
    assert client.request("PUT", "/x", json={"a": 1}).json() == {"n": 3}


def test_non_idempotent_call_is_not_retried_on_5xx(make_client: Callable[..., ApiClient]) -> None:
    script = Script(500, 200)
    client = make_client(script)
    with pytest.raises(ServerError):
        client.request("POST", "/batch/create", json={}, idempotent=False)
    assert len(script.requests) == 1


def test_non_idempotent_call_is_not_retried_when_the_connection_drops_after_sending(
    make_client: Callable[..., ApiClient],
) -> None:
    script = Script(httpx.RemoteProtocolError, 200)
    client = make_client(script)
    with pytest.raises(NetworkError) as caught:
        client.request("POST", "/batch/create", json={}, idempotent=False)
    assert caught.value.maybe_committed is True
    assert len(script.requests) == 1
    assert client.api_calls == 1


def test_idempotent_call_is_retried_when_the_connection_drops(make_client: Callable[..., ApiClient]) -> None:
    script = Script(httpx.RemoteProtocolError, httpx.ReadTimeout, 200)
    client = make_client(script)
    assert client.request("GET", "/x").status_code == 200
    assert len(script.requests) == 3


def test_non_idempotent_call_is_retried_on_429(make_client: Callable[..., ApiClient]) -> None:
    script = Script(429, 429, 201, headers={"Retry-After": "1"})
    client = make_client(script)
    assert client.request("POST", "/batch/create", json={}, idempotent=False).status_code == 201
    assert client.governor.backoffs == [1.0, 1.0]  # type: ignore[attr-defined]
    assert client.api_calls == 3


def test_non_idempotent_call_is_retried_when_the_connection_never_opened(
    make_client: Callable[..., ApiClient],
) -> None:
    script = Script(httpx.ConnectError, 201)
    client = make_client(script)
    assert client.request("POST", "/batch/create", json={}, idempotent=False).status_code == 201
    assert len(script.requests) == 2
    assert client.api_calls == 2


def test_a_connection_that_never_opens_gives_up_after_the_attempts(
    make_client: Callable[..., ApiClient],
) -> None:
    script = Script(httpx.ConnectError)
    client = make_client(script, retry=RetryPolicy(attempts=3))
    with pytest.raises(NetworkError) as caught:
        client.request("POST", "/x", idempotent=False)
    assert caught.value.maybe_committed is False
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("exc", "committed", "words"),
    [
        (httpx.ConnectError, False, "connection failed"),
        (httpx.ConnectTimeout, False, "timed out"),
        (httpx.PoolTimeout, False, "timed out"),
        (httpx.ReadTimeout, True, "timed out"),
        (httpx.WriteError, True, "connection failed"),
        (httpx.RemoteProtocolError, True, "connection failed"),
    ],
)
def test_network_error_says_whether_the_request_may_have_been_acted_on(
    exc: type[httpx.TransportError], committed: bool, words: str
) -> None:
    error = network_error(exc("x"), "/path")
    assert error.maybe_committed is committed
    assert words in error.message and error.url == "/path"


class RefreshingTokens:
    can_refresh = True

    def __init__(self) -> None:
        self.current = "access-token-old-0001"
        self.refreshes = 0
        self._lock = threading.Lock()

    def token(self) -> str:
        return self.current

    def refresh(self) -> str:
        with self._lock:
            self.refreshes += 1
            self.current = f"access-token-new-{self.refreshes:04d}"
            return self.current


def expiring(valid: Callable[[str], bool]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not valid(token):
            return httpx.Response(401, text="session expired")
        return httpx.Response(200, json={"token": token})

    return handle


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(
    make_client: Callable[..., ApiClient],
) -> None:
    tokens = RefreshingTokens()
    client = make_client(expiring(lambda t: "new" in t), tokens=tokens)
    assert client.request("GET", "/x").json() == {"token": "access-token-new-0001"}
    assert tokens.refreshes == 1
    assert client.api_calls == 2


def test_a_token_still_refused_after_refresh_is_not_refreshed_again(
    make_client: Callable[..., ApiClient],
) -> None:
    tokens = RefreshingTokens()
    client = make_client(expiring(lambda t: False), tokens=tokens)
    with pytest.raises(TokenExpired):
        client.request("GET", "/x")
    assert tokens.refreshes == 1
    assert client.api_calls == 2


def test_threads_that_see_the_same_expiry_refresh_once(make_client: Callable[..., ApiClient]) -> None:
    tokens = RefreshingTokens()
    threads_n = 8
    all_refused = threading.Barrier(threads_n)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer access-token-old-0001":
            all_refused.wait(timeout=10)  # every thread holds the old token before anyone refreshes
            return httpx.Response(401, text="session expired")
        return httpx.Response(200, json={"auth": request.headers["Authorization"]})

    client = make_client(handle, tokens=tokens)
    answers: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        body = client.request("GET", "/x").json()
        with lock:
            answers.append(body)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tokens.refreshes == 1
    assert answers == [{"auth": "Bearer access-token-new-0001"}] * threads_n
    assert client.api_calls == 2 * threads_n


def test_static_token_cannot_refresh() -> None:
    token = StaticToken("pat-na1-static-0123456789")
    assert token.can_refresh is False
    with pytest.raises(TokenExpired, match="reconnect"):
        token.refresh()


def test_static_token_expiry_is_raised_without_a_repeat(make_client: Callable[..., ApiClient]) -> None:
    client = make_client(expiring(lambda t: False), tokens=StaticToken("pat-na1-static-0123456789"))
    with pytest.raises(TokenExpired):
        client.request("GET", "/x")
    assert client.api_calls == 1


def test_authorization_header_carries_the_token_only_when_authenticated(
    make_client: Callable[..., ApiClient],
) -> None:
    script = Script(200)
    client = make_client(script, tokens=StaticToken("pat-na1-header-0123456789"))
    client.request("GET", "/data")
    client.request("POST", "/oauth/token", data={"grant_type": "x"}, authenticated=False)
    assert script.requests[0].headers["Authorization"] == "Bearer pat-na1-header-0123456789"
    assert "Authorization" not in script.requests[1].headers


def test_api_calls_count_every_attempt_and_on_response_sees_every_answer(
    make_client: Callable[..., ApiClient],
) -> None:
    seen: list[int] = []
    script = Script(429, 503, httpx.ConnectError, 200, headers={"Retry-After": "0"})
    client = make_client(script, on_response=lambda r: seen.append(r.status_code))
    client.request("GET", "/x")
    client.request("GET", "/y")
    assert seen == [429, 503, 200, 200]
    assert client.api_calls == 5
    assert client.governor.acquired == 5  # type: ignore[attr-defined]
    assert client.governor.released == 5, "every admitted call, the failed ones too, gives its slot back"  # type: ignore[attr-defined]


def test_error_bodies_on_exceptions_are_redacted(make_client: Callable[..., ApiClient]) -> None:
    secret = "pat-na1-leaky-secret-0123456789"

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"invalid token {secret} for this portal")

    client = make_client(handle, tokens=StaticToken(secret))
    with pytest.raises(ValidationError) as caught:
        client.request("GET", "/x")
    assert caught.value.body is not None
    assert secret not in caught.value.body
    assert caught.value.body.startswith("invalid token ") and "6789" in caught.value.body
