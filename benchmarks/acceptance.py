"""Calibration acceptance on data the calibrator's model did not make.

Replays base 2020 → 2025 and prints, per threshold k = 3, 4, 5, the calibrated
model's Brier score divided by the oracle's and the randomised-PIT coverage of its
80 % intervals:

* on the bundled data (``nq21model.synth``: the oracle knows the generator's
  parameters, see ``nq21model.backtest``);
* on worlds of ``tests/worlds.py`` — another model family: rates that drift as
  random walks, a two-point cell mixture, zero-inflated negative-binomial
  admissions, beta-binomial exits, founded and dissolved cells, no transfers. Their
  oracle is the world's own future simulated from its hidden state in 2020
  (``simulate_future``), scored on the same cells.

Run: ``.venv/bin/python benchmarks/acceptance.py [--seeds 1 2 3]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nq21model.backtest import backtest  # noqa: E402
from nq21model.data import load_dataset  # noqa: E402


def _pit_inside(draws: np.ndarray, actual: np.ndarray) -> float:
    """Randomised-PIT coverage of [0.1, 0.9] for an empirical predictive (draws, cells)."""
    below = (draws < actual[None, :]).mean(axis=0)
    at = (draws == actual[None, :]).mean(axis=0)
    lo, hi = 0.1, 0.9
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (np.minimum(below + at, hi) - np.maximum(below, lo)) / at
    return float(np.where(at > 0, np.clip(frac, 0, 1), ((below >= lo) & (below <= hi)).astype(float)).mean())


def world_scores(seed: int, **options) -> dict:
    from worlds import make_world, simulate_future, write_world

    world = make_world(seed=seed, **options)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = write_world(world, tmp)
        ds = load_dataset(paths["cells"], paths["history"])
        t0 = time.perf_counter()
        result = backtest(ds, 2020, 2025, crosscheck=False)
        seconds = time.perf_counter() - t0
    future = simulate_future(world, 2020, 2025, draws=4000, seed=seed)
    members = future.members[:, :, -1]
    index = {c: i for i, c in enumerate(future.cell_id)}
    cells = result.cells
    keep = cells["cell_id"].map(index)
    ok = keep.notna().to_numpy()
    draws = members[:, keep[ok].astype(int).to_numpy()]
    actual = cells.loc[ok, "members_actual"].to_numpy()
    out = {"cells": int(ok.sum()), "seconds": seconds}
    for k in (3, 4, 5):
        event = actual >= k
        oracle = float(np.mean(((draws >= k).mean(axis=0) - event) ** 2))
        mine = float(np.mean((cells.loc[ok, f"calibrated_p{k}"].to_numpy() - event) ** 2))
        sheet = float(np.mean((cells.loc[ok, f"spreadsheet_p{k}"].to_numpy() - event) ** 2))
        out[k] = {"ratio": mine / oracle, "vs_sheet": 1 - mine / sheet}
    scores = result.scores.set_index(["method", "k"])
    out["pit"] = float(scores.loc[("calibrated", 3), "pit_coverage_80"])
    out["pit_oracle"] = _pit_inside(draws, actual)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--drift", type=float, nargs="+", default=[0.15, 0.08],
                        help="sd of the yearly random-walk steps of the worlds' rates (log scale)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = backtest(load_dataset(), 2020, 2025, crosscheck=False)
    s = result.scores.set_index(["method", "k"])
    print(f"Bundled data (nq21model.synth), base 2020 → 2025, {len(result.cells)} cells "
          f"({time.perf_counter() - t0:.1f} s):")
    for k in (3, 4, 5):
        print(f"  k={k}: Brier ÷ oracle {s.loc[('calibrated', k), 'brier_vs_oracle']:.3f}, "
              f"better than the spreadsheet by {s.loc[('calibrated', k), 'brier_vs_spreadsheet']:.1%}")
    print(f"  PIT coverage of the 80 % intervals: {s.loc[('calibrated', 3), 'pit_coverage_80']:.1%}")
    print("\nSecond generator (tests/worlds.py: drifting rates, cell mixture, NB admissions, founded/dissolved "
          "cells, no transfers), base 2020 → 2025:")
    for drift in args.drift:
        print(f" drift sd {drift} a year:")
        for seed in args.seeds:
            w = world_scores(seed, drift_sd=drift)
            ratios = ", ".join(f"k={k}: {w[k]['ratio']:.3f}" for k in (3, 4, 5))
            better = ", ".join(f"{w[k]['vs_sheet']:.0%}" for k in (3, 4, 5))
            print(f"  seed {seed} ({w['cells']} cells, backtest {w['seconds']:.1f} s): Brier ÷ oracle {ratios}; "
                  f"better than the spreadsheet by {better}; PIT coverage {w['pit']:.1%} "
                  f"(oracle's {w['pit_oracle']:.1%})")


if __name__ == "__main__":
    main()
