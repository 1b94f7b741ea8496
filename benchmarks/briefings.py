"""Benchmark: all 8 district briefings of the bundled data, end to end.

Runs ``nq21model briefings`` as a user does (subprocess; notebooks, HTML, index,
Excel, manifest) once serially (``--jobs 1``) and once in parallel (``--jobs 2``),
into temporary folders, and prints the wall times. Goal: ≤ 30 s on 2 cores.

    .venv/bin/python benchmarks/briefings.py [--jobs 1 2 4] [--keep DIR]
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
GOAL_SECONDS = 30.0


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(jobs: int, out: Path) -> tuple[float, float, dict]:
    cpu = _child_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nq21model", "briefings", "--jobs", str(jobs), "--out", str(out),
                           "--quiet"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"briefings --jobs {jobs} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return wall, _child_cpu() - cpu, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temporary folder")
    args = parser.parse_args()
    print(f"nq21model briefings, bundled data (8 districts); {os.cpu_count()} cores; "
          f"load average before: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    walls = {}
    with tempfile.TemporaryDirectory(prefix="nq21-bench-") as tmp:
        base = args.keep or Path(tmp)
        for jobs in args.jobs:
            wall, cpu, manifest = run(jobs, base / f"jobs-{jobs}")
            walls[jobs] = wall
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
    print(f"goal ≤ {GOAL_SECONDS:.0f} s on 2 cores: {'met' if fastest <= GOAL_SECONDS else 'NOT met'} "
          f"(best {fastest:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
