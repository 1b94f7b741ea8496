"""Quota plans judged on responses the optimiser does not see (issue 11).

``allocate()`` plans from calibrated estimates (capacity = lift 2 × the calibrated
rate). Each plan and the population split of the same unit budgets are then
realised through a hidden true response, ``E[admitted] = min(q, L × true rate)``,
for L = 1, 1.5, 2, 3, and through each world's own hidden per-cell lift; the
expected share of cells with ≥ 5 local members in 2030 is compared.

* the bundled data: the true rates and survival of ``nq21model.synth``;
* capacity worlds of ``tests/worlds.py`` (another model family; the true natural rate
  is not proportional to population nor equal to the cell's history).

Run: ``.venv/bin/python benchmarks/quotas_acceptance.py``.
"""
from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nq21model import quotas as qm  # noqa: E402
from nq21model.allocate import allocate  # noqa: E402
from nq21model.data import load_dataset  # noqa: E402

LIFTS = (1.0, 1.5, 2.0, 3.0)


def gains(a, natural, survival, transfers, lifts=LIFTS) -> dict:
    out = {}
    for L in lifts:
        plan = qm.evaluate_plan(a.quotas, a.n0, survival, natural, transfers, L, a.quotas.shape[1], 5)
        split = qm.evaluate_plan(a.proportional, a.n0, survival, natural, transfers, L, a.quotas.shape[1], 5)
        out[L if np.isscalar(L) else "own"] = (split, plan - split)
    return out


def line(name, result) -> str:
    parts = [f"L={k}: {100 * s:.1f}% {100 * g:+.2f}" for k, (s, g) in result.items()]
    return f"  {name:<34}" + "; ".join(parts)


def main() -> None:
    from nq21model.synth import generate_province
    from worlds import capacity_world, write_world

    warnings.simplefilter("ignore")
    print("Expected share of cells with ≥ 5 in 2030 under the population split, and the plan's gain (points)")
    a = allocate(load_dataset())
    truth = generate_province(seed=21).truth
    truth = truth[truth["year"].between(2026, 2030)]

    def arr(col):
        return truth.pivot(index="cell_id", columns="year", values=col).reindex(a.dataset.cells["cell_id"]).to_numpy()

    print(line("bundled data (synth truth)", gains(a, arr("admission_mean"), arr("survival"), arr("transfer_mean"))))
    for seed in (1, 2, 3):
        cw = capacity_world(n_cells=600, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_world(cw.world, tmp)
            a = allocate(load_dataset(paths["cells"], paths["history"]))
        ids = a.dataset.cells["cell_id"]
        natural = np.repeat(cw.natural.reindex(ids).to_numpy()[:, None], 5, axis=1)
        rates = cw.world.rates
        last = rates[rates["year"] == rates["year"].max()].set_index("cell_id")["exit_prob"].reindex(ids)
        survival = 1.0 - last.to_numpy()
        zero = np.zeros_like(natural)
        result = gains(a, natural, survival, zero)
        own = cw.lift.reindex(ids).to_numpy()
        result.update(gains(a, natural, survival, zero, lifts=[own]))
        print(line(f"capacity world, seed {seed}", result))


if __name__ == "__main__":
    main()
