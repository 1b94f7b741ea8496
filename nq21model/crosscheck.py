"""Totals the cell model's replay is checked on: a statsmodels ETS model of the
yearly province totals up to a base year beside the sum of the cell model
(:func:`ets_crosscheck`; the briefing's table :func:`ets_crosscheck_table`, the
backtest's text :func:`format_crosscheck`), and each unit's total against its own
80 % band (:func:`unit_totals`: cells can be right one by one while a district's
cells move together)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import config, engine, engine_groups
from .calibrate import Calibration
from .data import Dataset
from .exceptions import ConvergenceWarning, ParameterError

__all__ = ["ets_crosscheck", "ets_crosscheck_table", "format_crosscheck", "unit_totals", "format_unit_totals"]


def unit_totals(units: np.ndarray, n0: np.ndarray, p: np.ndarray, mu: np.ndarray, actual: np.ndarray,
                seed: int = 0) -> pd.DataFrame:
    """Each unit's replayed total of local members against what happened: ``unit,
    cells, actual, expected, q10, q90, inside`` (actual within [q10, q90]) and
    ``pit`` (a randomised PIT value: uniform on [F(actual − 1), F(actual)] of the
    total's exact distribution, mixed over the draws). If the model is right, 80 %
    of the PIT values fall in [0.1, 0.9] — the units' coverage a cells' coverage
    cannot show when a unit's cells move together."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in sorted(set(units.tolist())):
        idx = np.flatnonzero(units == name)
        offset, pmf = engine_groups.total_pmf(n0[idx], p[:, idx], mu[:, idx])
        pmf = np.clip(np.atleast_2d(pmf).mean(axis=0), 0.0, None)
        cdf = np.cumsum(pmf) / pmf.sum()
        q10, q90 = (int(np.argmax(cdf >= level - 1e-12)) + offset for level in config.BAND)
        y = int(actual[idx].sum())
        at = lambda k: 0.0 if k < offset else 1.0 if k - offset >= cdf.size else float(cdf[k - offset])  # noqa: E731
        low, high = at(y - 1), at(y)
        rows.append({"unit": name, "cells": idx.size, "actual": y,
                     "expected": float((n0[idx] * p[:, idx] + mu[:, idx]).sum(axis=1).mean()),
                     "q10": q10, "q90": q90, "inside": q10 <= y <= q90, "pit": low + rng.random() * (high - low)})
    return pd.DataFrame(rows)


def format_unit_totals(table: pd.DataFrame, unit_column: str) -> str:
    """The units' totals of a replay in two lines: how many fell in their 80 % band,
    and the share of PIT values in [0.1, 0.9] (80 % if the bands are honest)."""
    pit80 = float(table["pit"].between(0.1, 0.9).mean())
    above, below = int((table["pit"] > 0.9).sum()), int((table["pit"] < 0.1).sum())
    return (f"Each {unit_column}'s total of local members: {int(table['inside'].sum())} of {len(table)} inside "
            f"their 80 % band; PIT80 {pit80:.0%} ({above} above, {below} below; 80 % if the bands are honest — "
            "lower: the units' cells move together more than the model allows)")


def _ets_forecast(totals: pd.Series, years: list[int]) -> pd.DataFrame:
    """Holt's linear-trend ETS (additive error and trend) of yearly totals, 80 % intervals."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = pd.Series(totals.to_numpy(float), index=pd.period_range(str(totals.index[0]), periods=len(totals),
                                                                   freq="Y"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ETSModel(y, error="add", trend="add")
        fit = model.fit(disp=False, maxiter=500)
        pred = fit.get_prediction(start=len(y), end=len(y) + len(years) - 1)
        frame = pred.summary_frame(alpha=1.0 - (config.BAND[1] - config.BAND[0]))
    for w in caught:
        text = str(w.message)
        if "converge" in text.lower() or type(w.message).__name__ == "ConvergenceWarning":
            warnings.warn(f"ETS of province totals: {text}", ConvergenceWarning, stacklevel=3)
    return pd.DataFrame({"year": years, "ets_forecast": frame["mean"].to_numpy(),
                         "ets_q10": frame["pi_lower"].to_numpy(), "ets_q90": frame["pi_upper"].to_numpy()})


def ets_crosscheck(dataset: Dataset, base_year: int | None = None, horizon: int | None = None, *,
                   rates=None, draws: int = 100, seed: int = 0, path: pd.DataFrame | None = None) -> pd.DataFrame:
    """Province local members per year after ``base_year``: a statsmodels ETS model of
    the yearly totals up to the base year beside the sum of the calibrated cell model.

    Columns ``year, ets_forecast, ets_q10, ets_q90, cells_expected, cells_q10,
    cells_q90, observed`` (observed where history covers the year, else NaN); 80 %
    bands. ``rates`` default: a :class:`~nq21model.calibrate.Calibration` fitted to
    the base year. ``path``: the cell model's province path a forecast already made
    (``ForecastResults.path()``: ``year, expected, q10, q90``), used instead.
    """
    base_year = dataset.last_year if base_year is None else int(base_year)
    if horizon is None:
        from .forecast import default_horizons

        horizon = default_horizons(base_year)[-1]
    horizon = int(horizon)
    if horizon <= base_year:
        raise ParameterError(f"horizon {horizon} must be after the base year {base_year}")
    totals = dataset.panel("local_members").sum(axis=0)
    totals = totals[totals.index <= base_year]
    years = list(range(base_year + 1, horizon + 1))
    out = _ets_forecast(totals, years)
    if path is not None:
        mine = path.set_index("year").reindex(years)
        out["cells_expected"], out["cells_q10"], out["cells_q90"] = (
            mine[c].to_numpy(dtype=float) for c in ("expected", "q10", "q90"))
    else:
        active = dataset.at_base(base_year)
        if rates is None:
            rates = Calibration(draws=draws, seed=seed).fit(dataset, base_year).rates(active, horizon)
        n0 = active.members_at(base_year).to_numpy(np.int64)
        exp, lo, hi = [], [], []
        for year in years:
            p, mu = engine.horizon_parameters(rates.survival, rates.lam, year - base_year)
            offset, pmf = engine_groups.total_pmf(n0, p, mu)
            q = engine.quantiles_from_pmf(pmf, config.BAND, offset=offset)[0]
            exp.append(float((n0 * p + mu).sum(axis=1).mean()))
            lo.append(float(q[0]))
            hi.append(float(q[1]))
        out["cells_expected"], out["cells_q10"], out["cells_q90"] = exp, lo, hi
    all_totals = dataset.panel("local_members").sum(axis=0)
    out["observed"] = [float(all_totals[y]) if y in all_totals.index else np.nan for y in years]
    return out


def format_crosscheck(table: pd.DataFrame) -> str:
    head = f"{'year':>4} {'ETS':>8} {'ETS 80 % band':>17} {'cells':>8} {'cells 80 % band':>17} {'observed':>8}"
    lines = [head, "-" * len(head)]
    for _, r in table.iterrows():
        obs = "" if pd.isna(r["observed"]) else f"{r['observed']:8.0f}"
        lines.append(f"{int(r['year']):>4} {r['ets_forecast']:8.0f} {r['ets_q10']:8.0f}–{r['ets_q90']:<8.0f} "
                     f"{r['cells_expected']:8.0f} {r['cells_q10']:8.0f}–{r['cells_q90']:<8.0f} {obs:>8}")
    return "\n".join(lines)


def ets_crosscheck_table(dataset: Dataset, base_year: int | None = None, horizon: int | None = None, *,
                         rates=None, path: pd.DataFrame | None = None) -> pd.DataFrame:
    """The briefing's cross-check: ``year, ets_forecast, ets_q10, ets_q90,
    cells_expected, cells_q10, cells_q90`` (and ``observed``) from the base year
    (default the last year of history) to the horizon (default the last target
    year after it); see :func:`ets_crosscheck`."""
    return ets_crosscheck(dataset, base_year, horizon, rates=rates, path=path)
