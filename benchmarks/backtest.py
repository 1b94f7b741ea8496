"""Acceptance figures of the calibration (issue 4): backtest scores on the bundled data
(base 2020 → 2025) and on synthetic worlds not used while building it, and the time
of calibrate + forecast --calibrated.

    .venv/bin/python benchmarks/backtest.py [--seeds 7 11 33] [--skip-cli]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nq21model.backtest import backtest  # noqa: E402
from nq21model.calibrate import Calibration  # noqa: E402
from nq21model.data import load_dataset  # noqa: E402
from nq21model.forecast import forecast  # noqa: E402
from nq21model.synth import write_bundle  # noqa: E402


def acceptance(result) -> str:
    s = result.scores.set_index(["method", "k"])
    lines = [f"{'k':>2} {'Brier cal':>9} {'oracle':>7} {'cal/oracle':>10} {'sheet':>7} {'better':>7} "
             f"{'PIT80':>6} {'[q10,q90]':>9} {'oracle PIT80':>12}  pass"]
    for k in (3, 4, 5):
        cal, sheet = s.loc[("calibrated", k)], s.loc[("spreadsheet", k)]
        oracle = s.loc[("oracle", k)] if ("oracle", k) in s.index else None
        ratio = cal["brier"] / oracle["brier"] if oracle is not None else float("nan")
        better = 1 - cal["brier"] / sheet["brier"]
        ok = (ratio <= 1.10) and (better >= 0.40) and (0.75 <= cal["pit_coverage_80"] <= 0.85)
        lines.append(f"{k:>2} {cal['brier']:9.4f} {oracle['brier'] if oracle is not None else float('nan'):7.4f} "
                     f"{ratio:10.3f} {sheet['brier']:7.4f} {better:7.1%} {cal['pit_coverage_80']:6.1%} "
                     f"{cal['coverage_80']:9.1%} {oracle['pit_coverage_80'] if oracle is not None else float('nan'):12.1%}"
                     f"  {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 11, 33])
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()

    ds = load_dataset()
    t = time.perf_counter()
    result = backtest(ds, 2020, 2025)
    elapsed = time.perf_counter() - t
    print(f"Bundled data (seed 21), base 2020 → 2025, {len(result.cells)} cells scored; backtest {elapsed:.1f} s")
    print("Targets: Brier ≤ 1.10 × oracle, ≥ 40 % better than the spreadsheet, 80 % intervals cover 75–85 % "
          "(randomised PIT)")
    print(acceptance(result))
    lat = result.scores.set_index(["method", "k"])
    print("Brier ÷ oracle_latent (also knows each cell's latent propensity): "
          + ", ".join(f"k={k}: {lat.loc[('calibrated', k), 'brier'] / lat.loc[('oracle_latent', k), 'brier']:.3f}"
                      for k in (3, 4, 5)))
    print()
    print(result.summary())

    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            write_bundle(tmp, seed=seed)
            world = load_dataset(Path(tmp) / "cells.csv", Path(tmp) / "history.csv")
            res = backtest(world, 2020, 2025, crosscheck=False)
        print(f"\nUnseen world seed {seed}, base 2020 → 2025")
        print(acceptance(res))

    print("\nSpeed on the bundled data (base 2025 → 2030, 100 parameter draws)")
    t, c = time.perf_counter(), time.process_time()
    cal = Calibration().fit(ds, 2025)
    t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    res = forecast(ds.at_base(2025), base_year=2025, horizons=[2030], rates=cal.rates(ds.at_base(2025), 2030))
    res.summary()
    t_fc, c_fc = time.perf_counter() - t, time.process_time() - c
    print(f"  calibrate (in process) {t_fit:.2f} s wall / {c_fit:.2f} s CPU; forecast with calibrated "
          f"rates + district and province summary {t_fc:.2f} s wall / {c_fc:.2f} s CPU")
    if not args.skip_cli:
        for cmd in (["calibrate", "--out", str(Path(tempfile.gettempdir()) / "nq21_bench_cal.json")],
                    ["forecast", "--calibrated"]):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nq21model", *cmd], cwd=ROOT, check=True,
                           capture_output=True)
            print(f"  nq21model {' '.join(cmd[:1] + (['--calibrated'] if '--calibrated' in cmd else []))}: "
                  f"{time.perf_counter() - t:.2f} s wall (process start and imports included)")


if __name__ == "__main__":
    main()
