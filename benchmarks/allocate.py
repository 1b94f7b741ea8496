"""Time to allocate admission quotas (issue 11): the bundled province, and 100,000
cells (the synthetic country of benchmarks/national.py) as a whole command with its
peak memory (goal: ≤ 60 s and ≤ 4 GB).

    .venv/bin/python benchmarks/allocate.py

The plans' quality against hidden true responses: benchmarks/quotas_acceptance.py;
the optimiser against scipy's MILP and its 100,000-cell speed: benchmarks/quotas.py.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nq21model.allocate import allocate, format_summary  # noqa: E402
from nq21model.data import load_dataset  # noqa: E402


def main() -> None:
    from national import NQ, country, timed

    dataset = load_dataset()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        allocation = allocate(dataset)
        times.append(time.perf_counter() - t0)
    print(f"Bundled province ({len(allocation.n0)} cells, 2026–2030): best {min(times):.2f} s of 3 "
          f"(the optimiser itself {allocation.info['seconds']:.2f} s)")
    print(format_summary(allocation))
    cells, history = country()
    with tempfile.TemporaryDirectory() as tmp:
        s, gb, _ = timed([*NQ, "allocate", "--cells", str(cells), "--history", str(history), "--out", f"{tmp}/q.csv"])
    print(f"\n100,000 cells, the whole command: {s:.0f} s, peak {gb:.2f} GB (goal ≤ 60 s, ≤ 4 GB)")


if __name__ == "__main__":
    main()
