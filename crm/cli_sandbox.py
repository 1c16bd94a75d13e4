"""``python -m crm sandbox {hubspot,salesforce}``: run an emulator as an HTTP server on loopback."""

from __future__ import annotations

import argparse

from crm.sandbox import VENDORS, create
from crm.sandbox.core import DEFAULT_FAULT_KINDS, FAULT_KINDS, SandboxOptions
from crm.sandbox.server import serve


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sandbox", help="run a HubSpot or Salesforce emulator on loopback")
    p.add_argument("vendor", choices=VENDORS)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument(
        "--token", default="sandbox-token", help="the bearer token accepted (default: %(default)s)"
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    p.add_argument("--rate-limit", type=int, default=None, help="HubSpot: requests per rolling window")
    p.add_argument("--rate-window", type=float, default=10.0, help="rolling window in seconds")
    p.add_argument("--daily-limit", type=int, default=None, help="daily API allocation")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of data calls that fail")
    p.add_argument(
        "--fail-kinds",
        default=",".join(DEFAULT_FAULT_KINDS),
        help=f"comma-separated faults to inject, from {','.join(FAULT_KINDS)}",
    )
    p.add_argument("--seed", type=int, default=None, help="makes faults and ids repeatable")
    p.add_argument("--token-ttl", type=float, default=None, help="seconds before issued tokens expire")
    p.add_argument("--duplicate-rule", action="store_true", help="Salesforce: activate a duplicate rule")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = SandboxOptions(
        token=args.token,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        daily_limit=args.daily_limit,
        fail_rate=args.fail_rate,
        fail_kinds=tuple(k for k in args.fail_kinds.split(",") if k),
        seed=args.seed,
        token_ttl=args.token_ttl,
        duplicate_rule=args.duplicate_rule,
    )
    serve(create(args.vendor, options), host=args.host, port=args.port)
    return 0
