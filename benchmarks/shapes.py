"""Time per cell of the calibrated commands on data of every valid shape.

Shapes: the bundled province; worlds of ``tests/worlds.py`` (no transfers, founded
and dissolved cells, drifting rates), without a district, with one district only,
with a year without admissions, only bản cells. For each: ``forecast`` (calibrated,
default), ``backtest`` and ``allocate`` on the same data, seconds per 1,000 cells,
and the ratio to the bundled data's (the goal: no shape above 3×).

Run: ``.venv/bin/python benchmarks/shapes.py``.
"""
from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nq21model.allocate import allocate  # noqa: E402
from nq21model.backtest import backtest  # noqa: E402
from nq21model.data import load_dataset  # noqa: E402
from nq21model.forecast import forecast  # noqa: E402

SHAPES = {
    "world (no transfers, founded/dissolved)": {},
    "world without district": {"with_district": False},
    "world, one district": {"one_district": True},
    "world, a year without admissions": {"no_admission_year": 2019},
    "world, only bản, with transfers": {"only_ban": True, "with_transfers": True},
    "world of 3,000 cells": {"n_cells": 3000},
}


def timed(dataset) -> dict:
    out = {}
    t0 = time.perf_counter()
    res = forecast(dataset)
    res.units()
    out["forecast"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    backtest(dataset, crosscheck=False)
    out["backtest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    allocate(dataset)
    out["allocate"] = time.perf_counter() - t0
    out["cells"] = len(dataset.cells)
    return out


def main() -> None:
    from worlds import make_world, write_world

    warnings.simplefilter("ignore")
    forecast(load_dataset())  # imports and caches warm
    rows = {"bundled province": timed(load_dataset())}
    for name, options in SHAPES.items():
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_world(make_world(seed=4, **options), tmp)
            rows[name] = timed(load_dataset(paths["cells"], paths["history"]))
    base = rows["bundled province"]
    print(f"{'shape':<42}{'cells':>7}" + "".join(f"{c + ' s/1k':>16}{'×':>6}" for c in ("forecast", "backtest",
                                                                                     "allocate")))
    worst = 0.0
    for name, r in rows.items():
        line = f"{name:<42}{r['cells']:>7}"
        for c in ("forecast", "backtest", "allocate"):
            per = 1000 * r[c] / r["cells"]
            ratio = per / (1000 * base[c] / base["cells"])
            worst = max(worst, ratio)
            line += f"{per:>16.2f}{ratio:>6.1f}"
        print(line)
    print(f"slowest shape per cell: {worst:.1f}× the bundled data")


if __name__ == "__main__":
    main()
