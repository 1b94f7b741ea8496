"""The process of MODEL.md §2 by simulation, written independently of the exact
engine: year by year, survivors are Binomial(N, s) and admissions Poisson(lam).

Used to cross-check :mod:`nq21model.engine` and for policies that react to the
simulated state (``policy`` is called each year with the current counts).
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def simulate_members(n0, survival, lam, horizons_steps, *, draws: int = 10_000,
                     seed: int | None = None, rng: np.random.Generator | None = None,
                     policy: Callable[[int, np.ndarray], np.ndarray] | None = None,
                     chunk: int | None = None) -> dict[int, np.ndarray]:
    """Simulated local members at each horizon.

    Parameters
    ----------
    n0 : int array (n,)
        Local members at the base year.
    survival : array (n,) or (D, n)
        Yearly survival; with a leading axis, draw d uses row ``d % D``.
    lam : array (n, Y) or (D, n, Y)
        Admissions' Poisson means for years B+1 … B+Y.
    horizons_steps : iterable of int
        Years after the base year at which to record the counts.
    draws : int
        Number of simulated provinces.
    seed, rng
        Randomness only through these (``rng`` wins).
    policy : callable(step, counts) -> lam_step, optional
        Admissions' means for the coming year given the counts (draws, n) at the end
        of the previous one; replaces ``lam`` (an adaptive policy).

    Returns
    -------
    dict step -> int array (draws, n).
    """
    rng = rng if rng is not None else np.random.default_rng(seed)
    n0 = np.asarray(n0, dtype=np.int64)
    survival = np.asarray(survival, dtype=float)
    lam = np.asarray(lam, dtype=float)
    if survival.ndim == 1:
        survival = survival[None, :]
    if lam.ndim == 2:
        lam = lam[None, :, :]
    steps = sorted(set(int(s) for s in horizons_steps))
    out: dict[int, list[np.ndarray]] = {s: [] for s in steps}
    chunk = chunk or max(1, min(draws, 2_000_000 // max(1, n0.size)))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        rows = (start + np.arange(size))
        s = survival[rows % survival.shape[0]]
        m = lam[rows % lam.shape[0]]
        counts = np.broadcast_to(n0, (size, n0.size)).copy()
        for step in range(1, steps[-1] + 1):
            means = m[:, :, step - 1] if policy is None else np.asarray(policy(step, counts), dtype=float)
            counts = rng.binomial(counts, s) + rng.poisson(means)
            if step in out:
                out[step].append(counts)
    return {s: np.concatenate(v, axis=0) for s, v in out.items()}
