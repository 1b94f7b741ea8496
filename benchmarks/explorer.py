"""Redraw latency of the scenario explorer (issue 6: ≤ 150 ms for a district,
≤ 500 ms for the province).

What is timed is what the notebook does when the admission slider moves:
``Explorer.page(state)`` — the forecast of the unit under the new scenario A
(scenario B comes from the cache), the HTML tables and the PNG of both charts —
for slider values not seen before (no view cache hit). Scenario A is the
programme's rate of all members with calibrated rates (the explorer's parameter
draws, ``--draws``), B the default 3 % beside it; ``--fixed`` times the textbook
fixed-rate scenario instead (the explorer before calibrated rates). Sending the
result to the browser is not included. Wall time (perf_counter) and the process's
CPU time are printed: on a busy machine the wall time grows with the other
processes' load.

    .venv/bin/python benchmarks/explorer.py [--values 15] [--district "Sìn Hồ"] [--draws 40] [--fixed]
"""
from __future__ import annotations

import argparse
import statistics
import time

from nq21model.explorer import ADMISSION_RANGE, EXPLORER_DRAWS, Explorer, ExplorerState


def slider_values(n: int) -> list[float]:
    """n distinct admission rates on the slider's 0.1 % grid, spread over 2–6 %."""
    low, high, step = ADMISSION_RANGE
    grid = [round(low + i * step, 3) for i in range(round((high - low) / step) + 1)]
    picks = [grid[round(i * (len(grid) - 1) / (n - 1))] for i in range(n)]
    return [v for v in picks if v != 0.035]


def time_unit(app: Explorer, state: ExplorerState, values: list[float]) -> dict:
    first_start = time.perf_counter()
    app.page(state)  # the unit's first view: cold caches, full draw of the figure
    first = time.perf_counter() - first_start
    full_before = app.renderer.full_draws
    walls, cpus = [], []
    for value in values:
        wall, cpu = time.perf_counter(), time.process_time()
        page = app.page(state.with_(admission_rate=value))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert page.error is None, page.error
    return {"first": first, "walls": walls, "cpus": cpus, "full_draws": app.renderer.full_draws - full_before}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=15, help="slider values per unit (default 15)")
    parser.add_argument("--district", default="Sìn Hồ", help="district to time (default the largest, Sìn Hồ)")
    parser.add_argument("--draws", type=int, default=EXPLORER_DRAWS,
                        help=f"parameter draws of the calibrated rates (default {EXPLORER_DRAWS}, the explorer's)")
    parser.add_argument("--fixed", action="store_true", help="time the textbook fixed-rate scenario instead")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    app = Explorer(draws=args.draws)
    loaded = time.perf_counter()
    app.renderer  # matplotlib imported, the figure built (done once when the notebook starts)
    rates = "fixed" if args.fixed else "calibrated"
    if not args.fixed:
        app.calibration(app.dataset.last_year)  # fitted once per base year, when the notebook starts
    print(f"dataset loaded in {1000 * (loaded - start):.0f} ms ({len(app.dataset.cells):,} cells); "
          f"figure ready and calibration fitted in {1000 * (time.perf_counter() - loaded):.0f} ms")
    values = slider_values(args.values)
    goals = {"district": 0.150, "province": 0.500}
    print(f"{len(values)} admission-rate moves per unit, {min(values):.1%}–{max(values):.1%}; rates {rates}"
          + ("" if args.fixed else f", {args.draws} parameter draws"))
    print(f"{'unit':<24} {'cells':>5} {'first':>7} {'median':>7} {'max':>7} {'cpu med':>7} {'full':>4} {'goal':>6}")
    for level, unit in (("district", args.district), ("province", None)):
        state = ExplorerState(level=level, unit=unit, admissions="rate", rates=rates, compare_rates=rates)
        stats = time_unit(app, state, values)
        cells = app.unit_index(level, unit).size
        median, worst = statistics.median(stats["walls"]), max(stats["walls"])
        verdict = "ok" if worst <= goals[level] else "OVER"
        print(f"{(unit or 'Toàn tỉnh'):<24} {cells:>5} {1000 * stats['first']:>5.0f}ms {1000 * median:>5.0f}ms "
              f"{1000 * worst:>5.0f}ms {1000 * statistics.median(stats['cpus']):>5.0f}ms "
              f"{stats['full_draws']:>4} {1000 * goals[level]:>4.0f}ms {verdict}")
    print("first = first view of the unit (choosing it: cold caches, full draw); median/max = wall time of a slider move to a new value;")
    print("cpu med = CPU time of this process; full = moves that redrew the whole figure (new axis limits).")


if __name__ == "__main__":
    main()
