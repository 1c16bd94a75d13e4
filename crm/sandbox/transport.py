"""Run a sandbox in-process, as an ``httpx`` transport: fast tests and the app's sandbox mode."""

from __future__ import annotations

import time

import httpx

from crm.sandbox.core import DropConnection, Request, SandboxApp


class SandboxTransport(httpx.BaseTransport):
    """An ``httpx`` transport answered by a :class:`SandboxApp`, with the same faults as the server.

    A dropped connection surfaces as ``httpx.RemoteProtocolError`` and a stalled one as
    ``httpx.ReadTimeout``: exactly what a real client sees from a real server.
    """

    def __init__(self, app: SandboxApp) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        target = request.url.raw_path.decode("ascii")
        req = Request.build(request.method, target, request.headers.multi_items(), body)
        try:
            resp = self.app.handle(req)
        except DropConnection as drop:
            self._sleep(self.app.options.latency_ms / 1000.0)
            if drop.hang:
                raise httpx.ReadTimeout("sandbox stalled the request", request=request) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        self._sleep(self.app.options.latency_ms / 1000.0)
        return httpx.Response(resp.status, headers=resp.headers, content=resp.body, request=request)

    @staticmethod
    def _sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
