"""One scenario's forecast of one unit, as the scenario explorer computes it: the
data with its bases remembered (:class:`MemoDataset`), a unit's share of the rates
(:func:`subset_rates`), results whose 80 % band of a total takes one transform for
all parameter draws (:class:`ExplorerResults`, :func:`fan_path`) and the tables
derived from them, cached (:class:`UnitForecast`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from . import config
from .data import Dataset
from .results import PROVINCE, ForecastResults
from .scenario import Rates

__all__ = ["MemoDataset", "subset_rates", "ExplorerResults", "fan_path", "UnitForecast"]


@dataclass(frozen=True)
class MemoDataset(Dataset):
    """The explorer's :class:`~nq21model.data.Dataset`: the same data, with
    :meth:`at_base` and :meth:`unit_totals` remembered (every scenario's rates ask
    for them again; a slider move need not recompute them)."""

    def at_base(self, base_year: int) -> Dataset:
        memo = self.__dict__.setdefault("_at_base", {})
        if base_year not in memo:
            memo[base_year] = super().at_base(base_year)
        return memo[base_year]

    def unit_totals(self, column: str, unit: str | None = None) -> pd.Series:
        memo = self.__dict__.setdefault("_unit_totals", {})
        if (column, unit) not in memo:
            memo[column, unit] = super().unit_totals(column, unit)
        return memo[column, unit].copy()


def subset_rates(rates: Rates, idx: np.ndarray) -> Rates:
    """The rates of the cells ``idx`` (positions among the rates' cells), with their
    admissions and transfers."""
    info = dict(rates.info)
    for name in ("admissions", "transfers"):
        if name in info:
            info[name] = info[name][:, idx]
    return replace(rates, survival=rates.survival[:, idx], lam=rates.lam[:, idx, :], info=info)


class ExplorerResults(ForecastResults):
    """:class:`~nq21model.results.ForecastResults` of the explorer: the 80 % band of
    a total (the units table's ``members_q10/q90`` and the path) from
    :func:`_mixture_band`, one transform for all parameter draws instead of the
    exact total's 64 survival classes per draw — 10–15 times faster, and within one
    member of the exact band on the bundled data's units (exact with fixed rates,
    where every cell has the same survival). Everything else is the exact engine's.
    """

    def _bands(self, horizon: int, groups: list[np.ndarray]):
        p, mu = self.parameters(horizon)
        return np.array([_mixture_band(self.n0[idx], p[:, idx], mu[:, idx], config.BAND) for idx in groups])

    def path(self, by: str | None = None, unit: str | None = None) -> pd.DataFrame:
        """The path of every cell of the results (:func:`fan_path`); of a unit among
        them as ``ForecastResults.path``."""
        if (by is None and unit is None) or unit == PROVINCE:
            return fan_path(self)
        return super().path(by, unit)


def fan_path(results: ForecastResults) -> pd.DataFrame:
    """Yearly local members of the results' cells, as ``ForecastResults.path()``:
    ``year, observed`` (history, every cell of the year), ``expected, q10, q90``
    (the forecast's expectation and 80 % band; at the base year the observed total).

    The expectation is exact. The band is the quantiles of the mixture over
    parameter draws of ``Binomial(N, p̄) + Poisson(Σ mu)`` in each draw, p̄ the
    members-weighted survival (:func:`_mixture_band`): it overstates each draw's
    variance by Σ n0 (p − p̄)², a fraction of a percent (one member at most on the
    bundled data's units).
    """
    history = results.full.panel("local_members")
    rows = [{"year": int(y), "observed": float(history[y].sum())} for y in history.columns]
    n0 = results.n0
    for year in results.years:
        p, mu = results.parameters(year)
        expected = float((n0 * p + mu).sum(axis=1).mean())
        q10, q90 = _mixture_band(n0, p, mu, config.BAND)
        rows.append({"year": year, "expected": expected, "q10": float(q10), "q90": float(q90)})
    frame = pd.DataFrame(rows).groupby("year", as_index=False).first()
    base = frame["year"].eq(results.base_year)
    for col in ("expected", "q10", "q90"):
        frame.loc[base, col] = frame.loc[base, "observed"]
    return frame


def _mixture_band(n0: np.ndarray, p: np.ndarray, mu: np.ndarray, levels) -> np.ndarray:
    """Quantiles of the mixture over draws of ``Binomial(Σ n0, p̄_d) + Poisson(Σ mu_d)``
    (``p``, ``mu``: (D, n)); see :func:`fan_path`."""
    total = float(n0.sum())
    pbar = (n0 * p).sum(axis=1) / total if total > 0 else np.zeros(p.shape[0])
    m = mu.sum(axis=1)
    mean = total * pbar + m
    sd = np.sqrt(total * pbar * (1 - pbar) + m)
    low = max(0, int(np.floor((mean - 10 * sd - 25).min())))
    high = int(np.ceil(min((mean + 10 * sd + 25).max(), total + m.max() + 10 * np.sqrt(m.max()) + 25)))
    size = int(2 ** np.ceil(np.log2(max(high - low, 1) + 2)))
    theta = 2.0 * np.pi * np.arange(size // 2 + 1) / size
    cos, sin = np.cos(theta) - 1.0, -np.sin(theta)
    re = 1.0 + pbar[:, None] * cos                      # (1 − p̄ + p̄ z) at z = exp(−iθ), in real arithmetic
    im = pbar[:, None] * sin
    with np.errstate(divide="ignore"):
        modulus = total * 0.5 * np.log(re * re + im * im) + m[:, None] * cos
    angle = total * np.arctan2(im, re) + m[:, None] * sin
    g = np.exp(modulus) * (np.cos(angle) + 1j * np.sin(angle))
    pmf = np.clip(np.fft.irfft(g, n=size, axis=1), 0.0, None).mean(axis=0)
    pmf = np.roll(pmf, -(low % size))                         # pmf[j] = P(total = low + j)
    cdf = np.cumsum(pmf)
    return np.array([int(np.argmax(cdf >= level - 1e-9)) + low for level in levels])


class UnitForecast:
    """One scenario's forecast of one unit at one horizon, with the derived tables
    cached (they are reused while the other scenario's slider moves). ``province``
    holds the scenario's rates of every cell (for the province's admissions)."""

    def __init__(self, results: ForecastResults, level: str, horizon: int, *, province: Rates | None = None):
        self.results = results
        self.level = level
        self.horizon = horizon
        self.province = province if province is not None else results.rates
        self._at_risk: dict[int, pd.DataFrame] = {}

    @cached_property
    def unit_row(self) -> pd.Series:
        """The unit's forecast row at the horizon (see ``ForecastResults.units``)."""
        res = self.results
        table = res.province if self.level == "province" else res.units(by=self.level)
        return table[(table["status"] == "forecast") & (table["horizon"] == self.horizon)].iloc[0]

    @cached_property
    def path(self) -> pd.DataFrame:
        """Yearly local members of the unit: history and forecast band (:func:`fan_path`)."""
        return self.results.path()

    @cached_property
    def admissions(self) -> np.ndarray:
        """(Y,) the unit's expected admissions each year (mean over parameter draws)."""
        return self.results.rates.admissions.mean(axis=0).sum(axis=0)

    def at_risk(self, threshold: int) -> pd.DataFrame:
        """``ForecastResults.at_risk`` at the horizon for ``threshold``."""
        if threshold not in self._at_risk:
            self._at_risk[threshold] = self.results.at_risk(self.horizon, threshold)
        return self._at_risk[threshold]
