"""Trends of the programme's yearly indicators (shares and counts), with bands that
hold when years have shocks of their own.

**Shares** (a role, a rating, admissions over members…): the yearly logit of the
share is a line in the year plus a year effect,

    logit(share_y) = a + b·(y − last) + ε_y,   ε_y ~ Normal(0, σ²),

observed through binomial noise. With the empirical logit ``z_y`` (0.5 added to
successes and failures) and its sampling variance ``v_y``, ``z_y ~ N(a + b·x_y,
v_y + σ²)``: a random-effects meta-regression. a and b are weighted least squares
given σ; σ has a half-normal prior (scale :data:`SHOCK_PRIOR`; shocks of 0.1–0.2
on the logit are common) and its posterior is computed on a grid from the
restricted likelihood. A future year's logit is then normal with the line's
uncertainty plus a new shock σ², mixed over σ; the realised share of the unit's
current number of trials adds binomial noise (Gauss–Hermite quadrature; no
sampling). Fewer than three years: no projection. A series that never varies is
carried forward.

**Counts** (admissions in private enterprises, owners): a Poisson GLM of the yearly
counts on the year (statsmodels), with the same gamma year effect as the
calibration's (a new year's multiplier drawn from the fitted spread) for the band.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from . import config

#: Scale of the half-normal prior on the sd of yearly logit shocks (chosen by
#: simulation: with shocks of sd 0.1–0.2 and 6–10 years the 80 % bands hold 81–86 %).
SHOCK_PRIOR = 0.3
_SIGMA = np.linspace(0.0, 1.5, 61)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(21)
_GH_W = _GH_W / _GH_W.sum()
#: Years a trend needs.
MIN_YEARS = 3


def fit_share_trend(series: pd.DataFrame, trend: bool = True) -> dict | None:
    """The trend of ``year, successes, trials`` (trials > 0, years up to the base);
    None with fewer than :data:`MIN_YEARS` years (or none at all without a trend).
    ``trend=False`` (or a series that never varies) carries the last share forward."""
    s = series.sort_values("year")
    succ = s["successes"].to_numpy(float)
    trials = s["trials"].to_numpy(float)
    if len(s) == 0 or (trend and len(s) < MIN_YEARS):
        return None
    last = int(s["year"].iloc[-1])
    n_last = int(trials[-1])
    if not trend or (succ == trials).all() or (succ == 0).all():
        return {"method": "constant", "share": float(succ[-1] / trials[-1]), "n": n_last}
    z = np.log((succ + 0.5) / (trials - succ + 0.5))
    v = 1.0 / (succ + 0.5) + 1.0 / (trials - succ + 0.5)
    x = s["year"].to_numpy(float) - last
    # weighted least squares of z on (1, x) for every σ of the grid at once (2 × 2 in closed form)
    w = 1.0 / (v[None, :] + _SIGMA[:, None] ** 2)
    a, b, c = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1)
    det = a * c - b * b
    cov = np.stack([np.stack([c, -b], axis=-1), np.stack([-b, a], axis=-1)], axis=1) / det[:, None, None]
    beta = np.einsum("sij,sj->si", cov, np.stack([(w * z).sum(axis=1), (w * x * z).sum(axis=1)], axis=1))
    resid = z[None, :] - beta[:, :1] - beta[:, 1:] * x[None, :]
    # restricted log-likelihood (the line's two parameters integrated out), half-normal prior on σ
    log_post = 0.5 * (np.log(w).sum(axis=1) - np.log(det) - (w * resid ** 2).sum(axis=1))
    log_post -= 0.5 * (_SIGMA / SHOCK_PRIOR) ** 2
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    return {"method": "logit_trend", "last": last, "n": n_last, "weights": weights, "sigma": _SIGMA,
            "beta": beta, "cov": cov,
            "shock_sd": float(np.sqrt((weights * _SIGMA ** 2).sum()))}


def predict_share(fit: dict, year: int, needed: int | None = None) -> tuple[float, float, float, float]:
    """(expected share, q10, q90, P(successes ≥ needed)) of the realised share of the
    last year's trials in ``year``; the probability is NaN without ``needed``."""
    from scipy import special

    n = max(1, fit["n"])
    if fit["method"] == "constant":
        v = fit["share"]
        return v, v, v, float("nan") if needed is None else float(v * n >= needed - 1e-9)
    x = np.array([1.0, year - fit["last"]])
    keep = fit["weights"] > 1e-8
    w = fit["weights"][keep]
    mean = fit["beta"][keep] @ x
    sd = np.sqrt(np.einsum("i,kij,j->k", x, fit["cov"][keep], x) + fit["sigma"][keep] ** 2)
    # the mixture over σ and the Gauss–Hermite nodes of each normal, in at most
    # _COMPONENTS classes of adjacent probabilities (their weighted mean: a band's
    # error far below one trial), then binomial noise of the unit's trials
    weight = (w[:, None] * _GH_W[None, :]).ravel()
    probs = 1.0 / (1.0 + np.exp(-(mean[:, None] + sd[:, None] * _GH_X[None, :]).ravel()))
    weight, probs = _classes(weight / weight.sum(), probs)
    spread = 8.0 * math.sqrt(n / 4.0) + 2.0
    start = max(0, int(math.floor(n * probs.min() - spread)))
    stop = min(n, int(math.ceil(n * probs.max() + spread)))
    # the mixture's CDF from ``start`` (the binomials' exact CDFs: scipy.special, no per-call checks)
    below = special.bdtr(start - 1, n, probs) if start > 0 else np.zeros_like(probs)

    def cdf(k: int) -> float:
        return float((weight * (special.bdtr(k, n, probs) - below)).sum())

    lo, hi = (_first_reaching(cdf, q - 1e-12, start, stop) / n for q in config.BAND)
    p = float("nan")
    if needed is not None:
        p = float(min(1.0, (weight * special.bdtrc(needed - 1, n, probs)).sum())) if needed <= n else 0.0
    return float((weight * probs).sum()), lo, min(hi, 1.0), p


_COMPONENTS = 96


def _first_reaching(cdf, level: float, start: int, stop: int) -> int:
    """The smallest ``k`` in ``start..stop`` with ``cdf(k) ≥ level`` (``stop + 1`` if
    none), by bisection of the non-decreasing ``cdf``: a dozen evaluations where a
    unit of thousands of trials had thousands."""
    lo, hi = start, stop + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf(mid) >= level:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _classes(weight: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A mixture's components merged into at most :data:`_COMPONENTS` classes of
    adjacent probabilities of about equal weight (weighted mean probability)."""
    keep = weight > 1e-12
    weight, probs = weight[keep], probs[keep]
    if probs.size <= _COMPONENTS:
        return weight, probs
    order = np.argsort(probs)
    weight, probs = weight[order], probs[order]
    cls = np.minimum(((np.cumsum(weight) - weight / 2) * _COMPONENTS).astype(np.int64), _COMPONENTS - 1)
    total = np.bincount(cls, weights=weight, minlength=_COMPONENTS)
    mean = np.bincount(cls, weights=weight * probs, minlength=_COMPONENTS) / np.maximum(total, 1e-300)
    used = total > 0
    return total[used], mean[used]


def count_future(series: pd.DataFrame, future):
    """The distribution of the sum of the yearly counts over ``future`` years, as
    ``(mean, dist, method)`` with ``dist`` a frozen scipy distribution (None when
    the mean is 0): a log-linear Poisson GLM in the year, each future year's mean
    multiplied by a gamma year effect of the spread the fitted years show (the sum
    as a negative binomial of the same mean and variance)."""
    counts = series["count"].to_numpy(dtype=float)
    if (counts == 0).all():
        return 0.0, None, "constant"
    from scipy import stats
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    last = int(series["year"].max())
    x = series["year"].to_numpy(dtype=float) - last
    with warnings.catch_warnings():  # a constant series is fitted exactly: not a problem here
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        result = GLM(counts, np.column_stack([np.ones_like(x), x]), family=families.Poisson()).fit()
    fitted = np.asarray(result.fittedvalues)
    alpha = max(0.0, float(((counts - fitted) ** 2 - counts).sum() / max((fitted ** 2).sum(), 1e-300)))
    fx = np.asarray(list(future), dtype=float) - last
    mu = np.exp(result.params[0] + result.params[1] * fx)
    mean, var = float(mu.sum()), float((mu + alpha * mu ** 2).sum())
    if mean <= 0:
        return 0.0, None, "poisson_glm"
    if var <= mean * (1 + 1e-9):
        return mean, stats.poisson(mean), "poisson_glm"
    size = mean ** 2 / (var - mean)
    return mean, stats.nbinom(size, size / (size + mean)), "poisson_glm"
