"""``python -m bench.run [--quick] [--only H1,S1,…] [--repeat 3]``: the benchmark suite.

Starts the sandboxes (``python -m crm sandbox … --port 0``) as subprocesses with the profile's latency
and limits, runs every selected workload ``--repeat`` times in a fresh child process each (resetting the
sandbox before every run), and writes every figure, the medians, the bounds, the targets and the peer
ratios to JSON (``bench/results/latest.json`` for a full run), then draws ``docs/perf.png`` and prints
the table. Ours and a peer at the same N are run alternately, so their ratio comes from the same
minutes of the same noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bounds import bound, median_of
from bench.child import ChildFailed, run_child
from bench.profiles import LARGE_N, PROFILES, Profile
from bench.sandboxes import ROOT, Sandbox, SandboxConfig
from bench.targets import comparisons, cross_targets, targets_for

WORKLOADS = ("H1", "H2", "S1", "Pa", "Pb", "Pc", "A")
ALIASES = {"P": ("Pa", "Pb", "Pc")}
RESULTS = ROOT / "bench" / "results" / "latest.json"
PLOT = ROOT / "docs" / "perf.png"

H1 = "bench.workloads.hubspot:h1_push"
H2 = "bench.workloads.hubspot:h2_service"
S1 = "bench.workloads.salesforce:s1_push"
PA = "bench.workloads.peers:per_contact"
PB = "bench.workloads.peers:hubspot_client_batch"
PC = "bench.workloads.peers:simple_salesforce_bulk2"
A_IMPORT = "bench.workloads.app:csv_import"
A_PAGE = "bench.workloads.app:push_page_rerun"


@dataclass
class Entry:
    """One thing to measure: a workload function, its spec, and how it is labelled and bounded."""

    id: str
    workload: str  # H1, H2, S1, Pa, Pb, Pc, A-import, A-page
    function: str
    n: int
    spec: dict[str, Any] = field(default_factory=dict)
    variant: str = "ours"  # ours | peer
    provider: str | None = None
    tier: str | None = None
    path: str | None = None  # S1: collections | bulk
    seed_half: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        info["cpu_model"] = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
            None,
        )
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        info["mem_total_mb"] = int(meminfo[0].split()[1]) // 1024
    except OSError:
        pass
    git = ["git", "-C", str(ROOT)]
    try:
        info["git_commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=False)
        info["git_dirty"] = bool(dirty.stdout.strip())
    except OSError:
        pass
    return info


def summarise(entry: Entry, sandbox: SandboxConfig | None) -> dict[str, Any]:
    """The measurement record: runs, medians, bound, targets."""
    record: dict[str, Any] = {
        "id": entry.id, "workload": entry.workload, "variant": entry.variant, "provider": entry.provider,
        "tier": entry.tier, "path": entry.path, "n": entry.n, "seed_half": entry.seed_half,
        "sandbox": sandbox.describe() if sandbox else None, "repeats": len(entry.runs), "runs": entry.runs,
    }  # fmt: skip
    if entry.error or not entry.runs:
        record["error"] = entry.error or "no run completed"
        record["targets"] = [{"target": "the workload runs", "measured": record["error"], "ok": False}]
        return record
    med = median_of(entry.runs)
    record["median"] = med
    if sandbox is not None and "calls" in med and "wall_s" in med:
        latency = sandbox.latency_ms / 1000.0

        def bound_of(figures: dict[str, Any]) -> dict[str, Any]:
            return bound(
                figures["calls"], latency, int(med.get("concurrency", 1)), sandbox.rate_limit,
                sandbox.rate_window,
            )  # fmt: skip

        record["bound"] = bound_of(med)
        record["wall_over_bound"] = med["wall_s"] / record["bound"]["bound_s"]
        for phase in (med.get("phases") or {}).values():
            phase["bound"] = bound_of(phase)
            phase["wall_over_bound"] = phase["wall_s"] / phase["bound"]["bound_s"]
    record["targets"] = targets_for(record)
    return record


def run_group(
    entries: list[Entry], sandbox: Sandbox | None, profile: Profile, repeats: int
) -> Iterator[dict[str, Any]]:
    """Run the entries alternately ``repeats`` times (reset before each run); yield their records."""
    for rep in range(1, repeats + 1):
        for entry in entries:
            if entry.error:
                continue
            spec = {**entry.spec, "n": entry.n}
            if sandbox is not None:
                sandbox.reset()
                spec |= {"url": sandbox.url, "sandbox_pid": sandbox.proc.pid}
            try:
                result = run_child(entry.function, spec, profile.child_timeout)
            except (ChildFailed, subprocess.TimeoutExpired) as exc:
                entry.error = str(exc)
                log(f"{entry.id} run {rep}/{repeats} FAILED: {exc}")
                continue
            entry.runs.append(result)
            wall = result.get("wall_s")
            log(
                f"{entry.id} run {rep}/{repeats}: "
                + (f"wall {wall:.2f} s, " if isinstance(wall, float) else "")
                + f"calls {result.get('calls')}, 429s {result.get('throttled', 0)}, "
                f"rss {result.get('rss_peak_mb')} MB"
            )
    for entry in entries:
        yield summarise(entry, sandbox.config if sandbox else None)


class Suite:
    def __init__(self, profile: Profile, selected: set[str], out: Path, argv: list[str]) -> None:
        self.profile, self.selected, self.out = profile, selected, out
        self.started = time.monotonic()
        self.doc: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.run " + " ".join(argv),
            "profile": profile.describe(),
            "selected": sorted(selected),
            "machine": machine(),
            "calibration": [],
            "measurements": [],
        }

    def wants(self, *names: str) -> bool:
        return any(name in self.selected for name in names)

    def save(self) -> None:
        measurements = self.doc["measurements"]
        self.doc["comparisons"] = comparisons(measurements)
        self.doc["cross_targets"] = cross_targets(measurements)
        self.doc["duration_s"] = round(time.monotonic() - self.started, 1)
        self.doc["machine"]["load_avg_at_end"] = os.getloadavg()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.doc, indent=1, default=str) + "\n", encoding="utf-8")

    def group(self, entries: list[Entry], sandbox: Sandbox | None, n: int) -> None:
        if not entries:
            return
        repeats = self.profile.repeats_for(n)
        self.doc["measurements"] += list(run_group(entries, sandbox, self.profile, repeats))
        self.save()

    def calibrate(self, sandbox: Sandbox, tier: str | None) -> None:
        calibration = {**sandbox.calibrate(), "tier": tier}
        self.doc["calibration"].append(calibration)
        log(f"calibration: {calibration}")

    def hubspot(self, tier: str, limit: int, window: float) -> None:
        p = self.profile
        with Sandbox(SandboxConfig("hubspot", p.latency_ms, limit, window)) as sandbox:
            log(f"hubspot sandbox ({tier}: {limit} per {window:g} s, {p.latency_ms:g} ms) at {sandbox.url}")
            self.calibrate(sandbox, tier)
            for n in p.sizes:
                entries = []
                if self.wants("H1", "Pb"):  # ours runs with the peer, for the ratio
                    entries.append(Entry(f"H1/{tier}/N={n}", "H1", H1, n, {"tier": tier},
                                         provider="hubspot", tier=tier))  # fmt: skip
                if self.wants("Pb"):
                    entries.append(Entry(f"Pb/{tier}/N={n}", "Pb", PB, n, variant="peer",
                                         provider="hubspot", tier=tier))  # fmt: skip
                self.group(entries, sandbox, n)
            if tier != "professional":
                return
            if self.wants("Pa"):
                n = p.per_contact_n
                ours = Entry(f"H1/{tier}/N={n}/half-existing", "H1", H1, n, {"tier": tier, "seed_half": True},
                             provider="hubspot", tier=tier, seed_half=True)  # fmt: skip
                peer = Entry(f"Pa/{tier}/N={n}", "Pa", PA, n, variant="peer", provider="hubspot", tier=tier)
                self.group([ours, peer], sandbox, n)
            if self.wants("A") and LARGE_N in p.sizes:  # A: peak RSS of one service push of 100k leads
                n = LARGE_N
                entry = Entry(f"A-push-rss/N={n}", "A-push-rss", H2, n, {"tier": tier, "phases": ["first"]},
                              provider="hubspot", tier=tier)  # fmt: skip
                self.group([entry], sandbox, n)
            if self.wants("H2"):
                for n in p.sizes:
                    entry = Entry(f"H2/{tier}/N={n}", "H2", H2, n, {"tier": tier}, provider="hubspot")
                    entry.tier = tier
                    self.group([entry], sandbox, n)

    def salesforce(self) -> None:
        p = self.profile
        with Sandbox(SandboxConfig("salesforce", p.latency_ms)) as sandbox:
            log(f"salesforce sandbox ({p.latency_ms:g} ms) at {sandbox.url}")
            self.calibrate(sandbox, None)
            for n in p.sizes:
                entries = []
                if self.wants("S1"):
                    entries.append(Entry(f"S1/collections/N={n}", "S1", S1, n, {"path": "collections"},
                                         provider="salesforce", path="collections"))  # fmt: skip
                if self.wants("S1", "Pc"):
                    entries.append(Entry(f"S1/bulk/N={n}", "S1", S1, n, {"path": "bulk"},
                                         provider="salesforce", path="bulk"))  # fmt: skip
                if self.wants("Pc"):
                    entries.append(Entry(f"Pc/N={n}", "Pc", PC, n, {"peer_wait": p.peer_wait},
                                         variant="peer", provider="salesforce", path="bulk"))  # fmt: skip
                self.group(entries, sandbox, n)

    def app(self) -> None:
        p = self.profile
        self.group([Entry(f"A-import/N={p.import_n}", "A-import", A_IMPORT, p.import_n)], None, p.import_n)
        for n in p.page_sizes:
            self.group([Entry(f"A-page/N={n}", "A-page", A_PAGE, n)], None, 1)

    def run(self) -> dict[str, Any]:
        if self.wants("H1", "H2", "Pa", "Pb", "A"):
            for tier, (limit, window) in self.profile.tiers.items():
                if tier == "professional" or self.wants("H1", "Pb"):  # professional: also H2, Pa, A
                    self.hubspot(tier, limit, window)
        if self.wants("S1", "Pc"):
            self.salesforce()
        if self.wants("A"):
            self.app()
        self.save()
        return self.doc


def parse_selection(text: str | None) -> set[str]:
    if not text:
        return set(WORKLOADS)
    chosen: set[str] = set()
    for raw in text.split(","):
        name = raw.strip()
        key = next((w for w in (*WORKLOADS, *ALIASES) if w.lower() == name.lower()), None)
        if key is None:
            raise SystemExit(f"unknown workload {name!r}; choose from {', '.join((*WORKLOADS, 'P'))}")
        chosen.update(ALIASES.get(key, (key,)))
    return chosen


def build_profile(args: argparse.Namespace) -> Profile:
    profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.repeat is not None:
        profile = profile.with_(repeat=args.repeat)
    if args.repeat_large is not None:
        profile = profile.with_(repeat_large=args.repeat_large)
    if args.sizes:
        profile = profile.with_(sizes=tuple(int(s) for s in args.sizes.split(",")))
    return profile


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each, small N (N=1,000)")
    parser.add_argument("--smoke", action="store_true", help="tiny N, short windows (the pytest smoke test)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(WORKLOADS)} (P = Pa,Pb,Pc)")
    parser.add_argument("--repeat", type=int, help="runs per figure (default 3; --quick 1)")
    parser.add_argument("--repeat-large", type=int, help="runs per figure at N=100,000 (default: --repeat)")
    parser.add_argument("--sizes", help="comma-separated N, overriding the profile's")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/latest.json; "
                        "a temporary file for --quick/--smoke)")  # fmt: skip
    parser.add_argument("--plot", type=Path, help="PNG to draw (default docs/perf.png for a full run)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    profile = build_profile(args)
    full = profile.name == "full"
    out = args.out or (RESULTS if full else Path(tempfile.gettempdir()) / f"crm-bench-{profile.name}.json")
    suite = Suite(profile, parse_selection(args.only), out, argv)
    log(f"profile {profile.name}: {json.dumps(profile.describe())}")
    doc = suite.run()
    from bench.report import render

    plot_path = None if args.no_plot else (args.plot or (PLOT if full else None))
    if plot_path is not None:
        from bench.plot import draw

        doc["plot"] = draw(doc, plot_path, out.with_name(out.stem + ".vl.json"))
        suite.doc.update(plot=doc["plot"])
        suite.save()
    print(render(doc))
    log(f"results: {out}  ({doc['duration_s']:.0f} s)")
    return 0 if all(not m.get("error") for m in doc["measurements"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
