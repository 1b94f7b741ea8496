"""Benchmark of the quota optimiser core (``nq21model.quotas``, issue 11).

    .venv/bin/python benchmarks/quotas.py [--cells 100000] [--skip-bundled] [--skip-scale]

1. Bundled data (base 2025, horizon 2030, k = 5, 3.5 % of local members a year,
   each district its population share of the province budget): the plan made
   from the calibrated rates, realised through the TRUE response of the synthetic
   world (true natural rate × L_true, L_true ∈ {1, 1.5, 2, 3}), against the
   population split; the greedy that knew the truth as a reference; pooled.
2. Scale: ``synth.generate_province(seed=1, n_cells=N)``, natural rates from its
   history (each cell's admissions 2021–2025 shrunk toward its district's rate per
   resident), one optimisation per district budget and one pooled: seconds and
   peak RSS (the process's, so it includes the synthetic data) and the optimiser's
   own peak allocation (tracemalloc, a second run).
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from nq21model import quotas as qm
from nq21model.quota_rules import _largest_remainder

LIFTS_TRUE = (1.0, 1.5, 2.0, 3.0)
RATE = 0.035


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def unit_budgets(province: np.ndarray, unit: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Each unit's population share of the province's yearly budget (largest remainder)."""
    U = int(unit.max()) + 1
    upop = np.bincount(unit, weights=population, minlength=U)
    zero = np.zeros(U, np.int64)
    return np.stack([_largest_remainder(upop / upop.sum() * b, zero, np.array([b])) for b in province], axis=1)


def simple_rates(cells: pd.DataFrame, history: pd.DataFrame, base: int, years: int = 5, strength: float = 3.0):
    """Rates from history alone: (n0, survival, natural, transfers) per cell.

    Natural admissions: the cell's mean over the last ``years`` years shrunk toward
    its district's rate per resident (prior worth ``strength`` years); survival one
    minus the district's exit rate; transfers the district's rate per resident.
    """
    h = history[(history["year"] > base - years) & (history["year"] <= base)]
    h = h.assign(prev=h["local_members"] + h["exited"] - h["admitted"] - h["transferred_in"])
    per_cell = h.groupby("cell_id")[["admitted", "exited", "transferred_in", "prev"]].sum()
    per_cell = per_cell.reindex(cells["cell_id"]).fillna(0.0)
    pop = cells["population"].to_numpy(float)
    dist = cells["district"].to_numpy()
    frame = per_cell.assign(pop=pop * years, district=dist).groupby("district").sum()
    rate = (frame["admitted"] / frame["pop"]).reindex(dist).to_numpy()
    exit_rate = (frame["exited"] / frame["prev"].clip(lower=1)).reindex(dist).to_numpy()
    tr_rate = (frame["transferred_in"] / frame["pop"]).reindex(dist).to_numpy()
    natural = (per_cell["admitted"].to_numpy() + strength * rate * pop) / (years + strength)
    n0 = history[history["year"] == base].set_index("cell_id")["local_members"].reindex(cells["cell_id"])
    return n0.to_numpy(np.int64), 1.0 - exit_rate, natural, tr_rate * pop


def truth_arrays(sp, cell_ids, base: int, horizon: int):
    t = sp.truth[(sp.truth["year"] > base) & (sp.truth["year"] <= horizon)]
    piv = {c: t.pivot(index="cell_id", columns="year", values=c).reindex(cell_ids).to_numpy()
           for c in ("admission_mean", "transfer_mean", "survival")}
    return piv["admission_mean"], piv["transfer_mean"], piv["survival"]


def bundled() -> None:
    from nq21model import calibrate, scenario, synth
    from nq21model.data import load_dataset

    full = load_dataset()
    base, horizon = 2025, 2030
    ds = full.at_base(base)              # the cells present in the base year
    Y = horizon - base
    rates = calibrate.Calibration(uncertainty=False).fit(full).rates(ds, horizon)
    nat, tr, s = rates.info["admissions"][0], rates.info["transfers"][0], rates.survival[0]
    n0 = ds.members_at(base).to_numpy(np.int64)
    pop = ds.cells["population"].to_numpy(float)
    shares = scenario.allocation_shares(ds, "population", base)
    province = np.floor(scenario.province_admissions(n0, s, shares, Y, rate=RATE) + 1e-9).astype(np.int64)
    names, unit = np.unique(ds.cells["district"].to_numpy(), return_inverse=True)
    budgets = unit_budgets(province, unit, pop)
    tnat, ttr, ts = truth_arrays(synth.generate_province(seed=21), ds.cells["cell_id"], base, horizon)

    def ev(q, L):
        return qm.evaluate_plan(q, n0, ts, tnat, ttr, L, Y, 5)

    split = qm.population_split(budgets, unit, pop)
    ref = {L: ev(split, L) for L in LIFTS_TRUE}
    print(f"Bundled data: {n0.size} cells, base {base} → {horizon}, budget {', '.join(map(str, province))} a year "
          f"(3.5 %), k = 5; true response min(q, L_true · true natural)")
    print(f"{'plan (expected share with ≥ 5, points vs the split)':<50}"
          + "".join(f"{'L_true=' + format(L, 'g'):>16}" for L in LIFTS_TRUE))
    print(f"{'population split':<50}" + "".join(f"{100 * ref[L]:>15.2f}%" for L in LIFTS_TRUE))

    def row(label, q):
        print(f"{label:<50}" + "".join(f"{100 * ev(q, L):>9.2f}% {100 * (ev(q, L) - ref[L]):+5.2f}"
                                        for L in LIFTS_TRUE))
        real = [qm.cell_values(q, n0, ts, tnat, ttr, lift=L)[1].sum() - split_real[L] for L in LIFTS_TRUE]
        print(f"{'   realised admissions vs the split':<50}" + "".join(f"{r:>+16.0f}" for r in real))

    split_real = {L: qm.cell_values(split, n0, ts, tnat, ttr, lift=L)[1].sum() for L in LIFTS_TRUE}
    print(f"{'   realised admissions of the split':<50}" + "".join(f"{split_real[L]:>16.0f}" for L in LIFTS_TRUE))
    t0 = time.perf_counter()
    plan = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=5, lift=2.0)
    sec = time.perf_counter() - t0
    row(f"optimised (default: min, lifts {plan.lifts}, tie-break {qm.TIE_BREAK:g})", plan.quotas)
    for kind, lifts, tb in (("min", (2.0,), qm.TIE_BREAK), ("exp", (2.0,), qm.TIE_BREAK),
                            ("exp", None, qm.TIE_BREAK), ("min", (2.0,), 1e-4), ("min", None, 1e-4)):
        other = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=5, lift=2.0,
                            lifts=lifts, response_kind=kind, tie_break=tb)
        row(f"  variant: {kind}, lifts {other.lifts}, tie-break {tb:g}", other.quotas)
    pooled = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=5, lift=2.0, pool=True)
    row("optimised, pooled between districts", pooled.quotas)
    for L in (2.0, 1.0, 3.0):          # the reference: the threshold alone (tie-break 1e-4), true rates
        truth = qm.optimise(n0, ts, tnat, ttr, unit, budgets, population=pop, thresholds=5, lift=L, lifts=(L,),
                            tie_break=1e-4)
        row(f"greedy that knew the truth (lift {L:g})", truth.quotas)
    print(f"\nOptimised in {sec:.3f} s; {plan.info['exchange_moves']} exchange moves; "
          f"cells with no quota {int((plan.quotas.sum(axis=1) == 0).sum())} "
          f"(population split {int((split.sum(axis=1) == 0).sum())}); floors {int(plan.floors.sum())} cells")
    print("Pooled: units losing " + ", ".join(f"{names[u]} {plan_t:+d}" for u, plan_t in
                                               zip(pooled.losing_units, pooled.unit_transfer[pooled.losing_units]))
          + "; gaining " + ", ".join(f"{names[u]} {pooled.unit_transfer[u]:+d}" for u in pooled.gaining_units))
    print("Unplaced budget (capacity short), by district:", dict(zip(names, plan.unit_unplaced.tolist())))
    print(f"Expected realised admissions at lift 2: {plan.realised.sum():.0f} of {plan.quotas.sum()} quota "
          f"({budgets.sum()} budget)")
    print("Checks:", qm.check_plan(plan.quotas, unit, budgets, floors=plan.floors, caps=plan.caps),
          qm.check_plan(pooled.quotas, unit, budgets, floors=pooled.floors, caps=pooled.caps, pool=True))


def scale(n_cells: int) -> None:
    from nq21model import synth

    t0 = time.perf_counter()
    sp = synth.generate_province(seed=1, n_cells=n_cells)
    base = 2025
    n0, s, nat, tr = simple_rates(sp.cells, sp.history, base)
    pop = sp.cells["population"].to_numpy(float)
    _, unit = np.unique(sp.cells["district"].to_numpy(), return_inverse=True)
    province = np.floor(RATE * n0.sum() * (1.0 + 0.014 * np.arange(5))).astype(np.int64)
    budgets = unit_budgets(province, unit, pop)
    nat = np.repeat(nat[:, None], 5, axis=1)
    print(f"\nScale: {n_cells} cells, {budgets.shape[0]} districts, budget {province.sum()} over 5 years; "
          f"data made in {time.perf_counter() - t0:.1f} s, peak RSS so far {peak_gb():.2f} GB")
    for pool in (False, True):
        t0 = time.perf_counter()
        plan = qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=5, lift=2.0, pool=pool)
        sec = time.perf_counter() - t0
        tracemalloc.start()
        qm.optimise(n0, s, nat, tr, unit, budgets, population=pop, thresholds=5, lift=2.0, pool=pool)
        traced = tracemalloc.get_traced_memory()[1] / 1e9
        tracemalloc.stop()
        split = qm.population_split(budgets, unit, pop)
        gain = plan.value.mean() - qm.expected_share(split, n0, s, nat, tr, lift=2.0)
        print(f"  {'pooled' if pool else 'by district'}: {sec:.1f} s (curves {plan.info['seconds_curves']:.1f} s, "
              f"{plan.info['grid_points']} grid points, {plan.info['exchange_moves']} exchange moves in "
              f"{plan.info['exchange_rounds']} rounds); peak RSS {peak_gb():.2f} GB, "
              f"the optimiser's own peak {traced:.2f} GB (tracemalloc); "
              f"own-model gain over population split {100 * gain:+.2f} points; checks "
              f"{qm.check_plan(plan.quotas, unit, budgets, floors=plan.floors, caps=plan.caps, pool=pool)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--skip-bundled", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    if not args.skip_bundled:
        bundled()
    if not args.skip_scale:
        scale(args.cells)


if __name__ == "__main__":
    main()
