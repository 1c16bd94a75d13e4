"""The benchmark harness, run end to end in its smoke form: tiny N, 50 calls per 1 s, 5 ms latency.

This checks that the harness works (sandboxes start, every workload runs in its child process, calls are
counted from the sandbox, bounds, targets and peer ratios are computed, the JSON is complete and the
figure is drawn). It asserts no timing: benchmarks are not timed tests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
N = 300
PER_CONTACT_N = 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out / "smoke.json"),
         "--plot", str(out / "perf.png")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    doc["_stdout"], doc["_png"] = proc.stdout, (out / "perf.png").read_bytes()
    return doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in doc["measurements"]}


@pytest.mark.slow
def test_every_workload_produced_a_measurement(smoke: dict[str, Any]) -> None:
    expected = {
        f"H1/professional/N={N}", f"H1/starter/N={N}", f"Pb/professional/N={N}", f"Pb/starter/N={N}",
        f"H1/professional/N={PER_CONTACT_N}/half-existing", f"Pa/professional/N={PER_CONTACT_N}",
        f"H2/professional/N={N}", f"S1/collections/N={N}", f"S1/bulk/N={N}", f"Pc/N={N}",
        f"A-import/N={N}", f"A-page/N={N}",
    }  # fmt: skip
    measurements = by_id(smoke)
    assert set(measurements) == expected
    for m in measurements.values():
        assert "error" not in m, m.get("error")
        assert m["repeats"] == len(m["runs"]) == 1
        assert isinstance(m["median"], dict)
        assert all(r["rss_peak_mb"] > 0 for r in m["runs"])
    assert smoke["profile"]["name"] == "smoke"
    assert {"platform", "python", "cpus"} <= set(smoke["machine"])
    assert smoke["generated_at"]


@pytest.mark.slow
def test_calls_are_counted_by_the_sandbox(smoke: dict[str, Any]) -> None:
    m = by_id(smoke)
    h1 = m[f"H1/professional/N={N}"]["median"]
    assert h1["calls"] == math.ceil(N / 100) + 1  # one properties read, then batch upserts of 100
    assert h1["by_route"]["contacts.batch_upsert"] == math.ceil(N / 100)
    assert h1["created"] == N and h1["failed"] == 0
    assert m[f"Pb/starter/N={N}"]["median"]["by_route"] == {"contacts.batch_upsert": math.ceil(N / 100)}
    pa = m[f"Pa/professional/N={PER_CONTACT_N}"]["median"]
    assert pa["by_route"]["contacts.search"] >= PER_CONTACT_N
    assert pa["created"] + pa["updated"] == PER_CONTACT_N
    collections = m[f"S1/collections/N={N}"]["median"]
    assert collections["write_calls"] == 2 * math.ceil(N / 2 / 200)  # creates and updates, 200 a call
    assert collections["lookup_calls"] >= 1 and collections["created"] == collections["updated"] == N / 2
    bulk = m[f"S1/bulk/N={N}"]["median"]
    assert bulk["poll_calls"] >= 1 and bulk["by_route"]["bulk.upload"] == 2
    assert m[f"Pc/N={N}"]["median"]["by_route"]["bulk.upload"] == 1
    assert m[f"A-import/N={N}"]["median"]["imported"] == N


@pytest.mark.slow
def test_change_detection_phases_are_measured(smoke: dict[str, Any]) -> None:
    phases = by_id(smoke)[f"H2/professional/N={N}"]["median"]["phases"]
    assert set(phases) == {"first", "unchanged", "dry_run", "force_full"}
    assert phases["first"]["created"] == N
    assert phases["unchanged"]["write_calls"] == 0 and phases["unchanged"]["unchanged"] == N
    assert phases["dry_run"]["unchanged"] == N
    assert phases["force_full"]["updated"] == N
    assert all("bound" in p for p in phases.values())


@pytest.mark.slow
def test_bounds_targets_and_ratios_are_complete(smoke: dict[str, Any]) -> None:
    for m in smoke["measurements"]:
        assert isinstance(m["targets"], list)
        if m["sandbox"] is not None:
            assert m["bound"]["bound_s"] > 0 and m["bound"]["kind"] in ("rate", "latency")
            assert m["wall_over_bound"] > 0
            assert {"calls", "throttled", "wall_s"} <= set(m["median"])
        for target in m["targets"]:
            assert {"target", "measured", "ok"} <= set(target)
    names = " ".join(c["name"] for c in smoke["comparisons"])
    assert "P(a)" in names and "P(b)" in names and "P(c)" in names
    assert all(c["ratio"] > 0 for c in smoke["comparisons"])
    assert any("Bulk API 2.0" in t["name"] for t in smoke["cross_targets"])


@pytest.mark.slow
def test_table_and_figure_are_written(smoke: dict[str, Any]) -> None:
    assert "| measurement | runs | API calls |" in smoke["_stdout"]
    assert smoke["_png"].startswith(PNG_MAGIC)
    assert smoke["plot"]["series"] >= 5
