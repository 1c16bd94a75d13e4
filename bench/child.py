"""Run one workload in a fresh process, so its peak RSS and its imports are its own.

``python -m bench.child`` reads ``{"workload": "module:function", "spec": {…}}`` as JSON on stdin, calls
the function with the spec, and prints one line ``BENCH-RESULT {json}`` with the function's result plus
``rss_peak_mb``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` read at the end (KiB on Linux).
The parent (:func:`run_child`) starts it with a timeout and parses that line.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = "BENCH-RESULT "
Workload = Callable[[dict[str, Any]], dict[str, Any]]


class ChildFailed(RuntimeError):
    """The workload process exited without a result; the message carries its stderr tail."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(workload: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``workload`` (``"bench.workloads.x:function"``) in a child process and return its result."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.child"],
        input=json.dumps({"workload": workload, "spec": spec}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
    raise ChildFailed(f"{workload} exited {proc.returncode} without a result:\n{tail}")


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    request = json.loads(sys.stdin.read())
    module_name, _, function_name = request["workload"].partition(":")
    function: Workload = getattr(importlib.import_module(module_name), function_name)
    result = function(request["spec"])
    result["rss_peak_mb"] = round(peak_rss_mb(), 1)
    print(MARKER + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
