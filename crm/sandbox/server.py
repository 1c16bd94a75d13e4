"""Run a sandbox as a real HTTP/1.1 server on loopback, one thread per connection.

The server prints exactly one line with its base URL when it is ready, and stops cleanly on SIGINT or
SIGTERM. Keep-alive connections and a deep accept queue let it carry benchmark load (thousands of
requests from a concurrent client) on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

from crm.sandbox.core import DropConnection, Request, SandboxApp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers, ~40 ms a call that no real CRM adds. TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def _serve(self) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        req = Request.build(self.command, self.path, self.headers.items(), body)
        latency = app.options.latency_ms / 1000.0
        try:
            resp = app.handle(req)
        except DropConnection as drop:
            time.sleep(latency + drop.hang)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if latency:
            time.sleep(latency)
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines could carry tokens in query strings, and benchmarks need quiet."""


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, app: SandboxApp, host: str, port: int) -> None:
        self.app = app
        super().__init__((host, port), _Handler)
        bound_host, bound_port = self.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        app.base_url = self.base_url


def start_in_thread(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> SandboxHTTPServer:
    """Start a server on a background thread (tests, benchmarks); call ``shutdown()`` to stop it."""
    server = SandboxHTTPServer(app, host, port)
    threading.Thread(target=server.serve_forever, name=f"sandbox-{app.vendor}", daemon=True).start()
    return server


def serve(
    app: SandboxApp,
    host: str = "127.0.0.1",
    port: int = 0,
    out: TextIO = sys.stdout,
    on_ready: Callable[[SandboxHTTPServer], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, printing the base URL once ready."""
    server = SandboxHTTPServer(app, host, port)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"{app.vendor} sandbox listening on {server.base_url}", file=out, flush=True)
    if on_ready:
        on_ready(server)
    try:
        server.serve_forever()
    finally:
        server.server_close()
