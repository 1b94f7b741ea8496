"""Trends of the yearly indicators: the probability is the model's own (checked by
quadrature), and the 80 % bands hold 80 % when years have shocks of their own."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from nq21model.trends import count_future, fit_share_trend, predict_share


def _series(rng, years, n, a, b, shock):
    x = np.arange(len(years)) - (len(years) - 1)
    p = 1 / (1 + np.exp(-(a + b * x + shock * rng.standard_normal(len(years)))))
    return pd.DataFrame({"year": years, "successes": rng.binomial(n, p), "trials": n})


def test_probability_is_the_mixture_of_the_fit_by_quadrature():
    series = pd.DataFrame({"year": range(2019, 2026), "successes": [10, 11, 11, 13, 12, 14, 15],
                           "trials": [20] * 7})
    fit = fit_share_trend(series)
    x = np.array([1.0, 5.0])
    total = 0.0
    for w, beta, cov, sigma in zip(fit["weights"], fit["beta"], fit["cov"], fit["sigma"]):
        if w < 1e-8:
            continue
        eta, sd = x @ beta, math.sqrt(x @ cov @ x + sigma ** 2)
        total += w * integrate.quad(lambda z: stats.norm.pdf(z) * stats.binom.sf(15, 20, 1 / (1 + math.exp(
            -(eta + sd * z)))), -12, 12)[0]
    total /= fit["weights"][fit["weights"] >= 1e-8].sum()
    assert predict_share(fit, 2030, needed=16)[3] == pytest.approx(total, abs=2e-4)


@pytest.mark.parametrize("shock", [0.1, 0.2])
def test_bands_hold_eighty_percent_with_yearly_shocks(shock):
    rng = np.random.default_rng(int(shock * 100))
    years = list(range(2020, 2026))
    inside = []
    for _ in range(200):
        n = int(rng.integers(80, 400))
        a, b = rng.normal(0.8, 0.6), rng.normal(0.1, 0.08)
        full = _series(rng, years + list(range(2026, 2031)), n, a, b, shock)
        fit = fit_share_trend(full[full["year"] <= 2025])
        _, lo, hi, _ = predict_share(fit, 2030)
        seen = full.loc[full["year"] == 2030, "successes"].iloc[0] / n
        inside.append(lo - 1e-9 <= seen <= hi + 1e-9)
    # integer shares: [q10, q90] holds a little more than 80 %
    assert 0.76 <= np.mean(inside) <= 0.93, np.mean(inside)


def test_shock_spread_is_found():
    rng = np.random.default_rng(5)
    calm = [fit_share_trend(_series(rng, list(range(2016, 2026)), 2000, 0.5, 0.05, 0.0))["shock_sd"]
            for _ in range(40)]
    rough = [fit_share_trend(_series(rng, list(range(2016, 2026)), 2000, 0.5, 0.05, 0.2))["shock_sd"]
             for _ in range(40)]
    assert np.median(calm) < 0.08 < np.median(rough)
    assert np.median(rough) == pytest.approx(0.2, abs=0.06)


def test_counts_widen_with_overdispersed_years():
    steady = pd.DataFrame({"year": range(2021, 2026), "count": [5, 6, 5, 6, 5]})
    jumpy = pd.DataFrame({"year": range(2021, 2026), "count": [1, 12, 2, 10, 3]})
    m1, d1, _ = count_future(steady, range(2026, 2031))
    m2, d2, _ = count_future(jumpy, range(2026, 2031))
    assert d1.ppf(0.9) - d1.ppf(0.1) < d2.ppf(0.9) - d2.ppf(0.1)
    assert count_future(pd.DataFrame({"year": [2024, 2025], "count": [0, 0]}), [2026])[1] is None
