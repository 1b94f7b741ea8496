"""The parts :class:`nq21model.results.ForecastResults` is made of: the columns of
its units table, the cells of each group, per-cell statistics whose quantiles are
computed when first asked for, and the same statistics of Monte Carlo counts."""
from __future__ import annotations

import numpy as np

from . import config


def group_indices(values) -> dict:
    """Each distinct value of ``values`` (a Series) → its row positions, in the order
    the values first appear, missing values left out: ``groupby(sort=False).indices``
    by one factorize and one stable sort (a country's districts one by one from an
    Arrow column took as long as the sums)."""
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=False)
    order = np.argsort(codes, kind="stable")[int((codes < 0).sum()):]  # the missing (-1) sort first
    ends = np.cumsum(np.bincount(codes[codes >= 0], minlength=len(uniques))).tolist()
    return dict(zip(uniques.tolist(), [order[start:end] for start, end in zip([0, *ends], ends)]))


def _share(count: np.ndarray, n: np.ndarray) -> np.ndarray:
    """count / n, NaN where a group has no cell."""
    return np.divide(count, n, out=np.full(len(n), np.nan), where=n > 0)


#: Columns of a units table that hold what the history has for a year (also under a
#: forecast of a year it covers: a replay).
OBSERVED_COLUMNS = ["observed_cells", "observed_members", *(f"observed_share_at_least_{k}" for k in config.THRESHOLDS)]
#: Columns of :meth:`ForecastResults.units`, in order.
UNIT_COLUMNS = ["unit", "horizon", "status", "cells", "expected_members", "members_q10", "members_q90",
                *(c for k in config.THRESHOLDS for c in (f"share_at_least_{k}", f"p_share_95_at_least_{k}")),
                "expected_zero_cells", "p_no_zero_cell", *OBSERVED_COLUMNS]


#: The quantiles of :attr:`ForecastResults.cells` (``q10, q50, q90``).
QUANTILE_LEVELS = (0.1, 0.5, 0.9)


class _CellStats(dict):
    """Per-cell statistics of one year whose quantiles (the costly part, which the
    programme's indicators do not use) are computed when first asked for."""

    def __init__(self, values: dict, quantiles):
        super().__init__(values)
        self._quantiles = quantiles

    def __missing__(self, key):
        if self._quantiles is not None and key in {f"q{round(100 * q)}" for q in QUANTILE_LEVELS}:
            self.update(self._quantiles())
            self._quantiles = None
            return self[key]
        raise KeyError(key)


def _summarise_samples(counts: np.ndarray) -> dict[str, np.ndarray]:
    out = {"expected": counts.mean(axis=0)}
    for level in QUANTILE_LEVELS:
        # smallest k with empirical CDF ≥ level (the same definition as the exact engine)
        out[f"q{round(100 * level)}"] = np.quantile(counts, level, axis=0, method="inverted_cdf").astype(np.int64)
    out["p_zero"] = (counts == 0).mean(axis=0)
    for k in config.THRESHOLDS:
        out[f"p_at_least_{k}"] = (counts >= k).mean(axis=0)
    return out
