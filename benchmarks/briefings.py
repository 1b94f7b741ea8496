"""Benchmark: the briefings of the bundled data, end to end.

Runs ``nq21model briefings`` as a user does (subprocess; notebooks, HTML, index,
Excel, manifest) for each ``--jobs`` given, into temporary folders, and prints the
wall times and the CPU of every process. Goals on 2 cores (issue 14): the 8
district briefings ≤ 15 s, the 106 commune briefings (``--unit commune``) ≤ 120 s.

    .venv/bin/python benchmarks/briefings.py [--unit commune] [--jobs 1 2 4] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Wall-time goals on 2 cores, by grouping.
GOALS = {"district": 15.0, "commune": 120.0}


def _adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux): the workers are
    forked from multiprocessing's fork server, which outlives the command by a moment
    and is reaped by no one; reaped here, their CPU counts in RUSAGE_CHILDREN."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return
        if pid == 0:
            time.sleep(0.05)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(jobs: int, out: Path, unit: str) -> tuple[float, float, dict]:
    cpu = _child_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nq21model", "briefings", "--unit", unit, "--jobs", str(jobs),
                           "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    _reap()  # the fork server and anything else the command left, before its CPU is read
    if proc.returncode != 0:
        sys.exit(f"briefings --jobs {jobs} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return wall, _child_cpu() - cpu, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unit", choices=sorted(GOALS), default="district")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temporary folder")
    args = parser.parse_args()
    goal = GOALS[args.unit]
    _adopt_orphans()
    print(f"nq21model briefings --unit {args.unit}, bundled data; {os.cpu_count()} cores; "
          f"load average before: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    walls = {}
    with tempfile.TemporaryDirectory(prefix="nq21-bench-") as tmp:
        base = args.keep or Path(tmp)
        for jobs in args.jobs:
            wall, cpu, manifest = run(jobs, base / f"jobs-{jobs}", args.unit)
            walls[jobs] = min(wall, walls.get(jobs, wall))  # the best of the runs given
            units = manifest["units"]
            per_unit = sum(u["seconds"] for u in units) / len(units)
            print(f"--jobs {jobs}: {wall:6.1f} s wall for {len(units)} briefings "
                  f"(mean {per_unit:.1f} s a notebook incl. HTML); CPU {cpu:.1f} s "
                  f"(all processes: CLI, workers, kernels)")
    if 1 in walls and len(walls) > 1:
        best = min(walls, key=walls.get)
        print(f"speed-up with --jobs {best}: {walls[1] / walls[best]:.2f}x")
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
          "(other work on the machine inflates wall times)")
    fastest = min(walls.values())
    print(f"goal ≤ {goal:.0f} s on 2 cores: {'met' if fastest <= goal else 'NOT met'} (best {fastest:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
