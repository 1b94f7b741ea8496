"""One flow's model, the pieces a :class:`~nq21model.calibrate.Calibration` fits
(the model itself is described there):

* :class:`RandomEffect` — a gamma random effect (years, areas, cells) by empirical
  Bayes: the negative-binomial likelihood of the groups' totals over a grid of its
  spread, under a half-normal prior;
* :class:`LocalLevel` — the years to come: a level that may drift plus each year's
  own shock, walked on from the base year;
* :class:`Flow` — one flow's fitted parameters (JSON-serialisable), and
  :func:`_fit_flow`, which fits them: a Poisson GLM (statsmodels, robust errors,
  columns dropped while it fails, a closed-form constant rate when none is left),
  the year effects in turn with it, then the areas' and the cells' effects.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .exceptions import ConvergenceWarning

#: Scale of the half-normal prior on the spread (sd of the multipliers) of each
#: random effect: years and areas move rates by some 10–20 %, cells by much more.
PRIOR_SCALE = {"year": 0.15, "area": 0.3, "cell": 1.0}
#: A drawn linear predictor stays within this of the point estimate (log scale).
MAX_DRAW_DEVIATION = 2.5
_ALPHA_FLOOR = 1e-6
#: Scales of the half-normal priors of a year's own shock (σ_ε) and of the drift of
#: the level (σ_η), log scale: years move rates by some 10–20 %, levels drift slowly.
LEVEL_PRIOR = {"eps": 0.15, "eta": 0.15}
_EPS_GRID = np.linspace(0.0, 0.8, 33)
_ETA_GRID = np.linspace(0.0, 0.5, 26)
#: Grid of the spread sqrt(α) of a random effect.
_SPREAD_GRID = np.concatenate([[0.0], np.geomspace(0.005, 3.0, 160)])


# --------------------------------------------------------------- random effects


def _nb_loglik(observed: np.ndarray, expected: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Log-likelihood of the groups' totals for each α (negative binomial, mean E,
    variance E + αE²), summed over groups → array like ``alpha``."""
    from scipy.special import gammaln

    o, e = observed[None, :], expected[None, :]
    a = np.maximum(alpha, _ALPHA_FLOOR)[:, None]
    r = 1.0 / a
    ll = gammaln(o + r) - gammaln(r) - r * np.log1p(a * e) + o * (np.log(a * e + 1e-300) - np.log1p(a * e))
    return ll.sum(axis=1) - gammaln(observed + 1.0).sum()


def _spread_posterior(observed, expected, prior_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(α grid, posterior weights) of a gamma random effect's variance α."""
    observed = np.asarray(observed, float)
    expected = np.asarray(expected, float)
    keep = expected > 0
    alpha = _SPREAD_GRID ** 2
    log_prior = -0.5 * (_SPREAD_GRID / prior_scale) ** 2
    # the grid is geometric: weight each point by the width it stands for
    widths = np.gradient(_SPREAD_GRID)
    log_post = log_prior + np.log(widths) + _nb_loglik(observed[keep], expected[keep], alpha)
    w = np.exp(log_post - log_post.max())
    return alpha, w / w.sum()


def _posterior_mean(observed, expected, alpha, weights) -> np.ndarray:
    """E[multiplier | data], integrated over the α posterior."""
    observed = np.asarray(observed, float)[None, :]
    expected = np.asarray(expected, float)[None, :]
    r = 1.0 / np.maximum(alpha, _ALPHA_FLOOR)[:, None]
    return (weights[:, None] * (r + observed) / (r + expected)).sum(axis=0)


def antithetic_normal(rng, shape: tuple) -> np.ndarray:
    """Standard normals of ``shape`` in antithetic pairs along the first axis (the
    draws): the second half is the first with its sign turned. Each draw is as
    likely as with independent normals; the mean over the draws of a smooth function
    of them is far steadier — on the bundled data the province's expected members in
    2030 moved by a standard deviation of 61 between seeds with independent draws of
    β and the year effects, 26 with these (a board comparing two months' briefings
    sees the data's change, not the draws')."""
    half = (shape[0] + 1) // 2
    z = rng.standard_normal((half, *shape[1:]))
    return np.concatenate([z, -z])[:shape[0]]


@dataclass
class RandomEffect:
    """A gamma random effect: its groups' observed and expected totals and the
    posterior of its variance α (grid and weights). JSON-serialisable."""

    groups: list
    observed: list
    expected: list
    alpha: list
    weights: list

    @classmethod
    def fit(cls, groups, observed, expected, prior_scale: float) -> "RandomEffect":
        alpha, weights = _spread_posterior(observed, expected, prior_scale)
        return cls(list(groups), np.asarray(observed, float).tolist(), np.asarray(expected, float).tolist(),
                   alpha.tolist(), weights.tolist())

    @property
    def alpha_mean(self) -> float:
        """Posterior mean of α (the variance of the multipliers)."""
        return float(np.dot(self.alpha, self.weights))

    def means(self) -> np.ndarray:
        """Posterior mean multiplier of each group."""
        return _posterior_mean(self.observed, self.expected, np.asarray(self.alpha), np.asarray(self.weights))

    def draw_alpha(self, rng, size: int) -> np.ndarray:
        return np.asarray(self.alpha)[rng.choice(len(self.alpha), size=size, p=np.asarray(self.weights))]

    def sample(self, rng, index: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """(D, len(index)) multipliers of the groups ``index`` (−1: a group not fitted,
        drawn from the prior) for each draw's α."""
        obs = np.append(np.asarray(self.observed), 0.0)[index]
        exp = np.append(np.asarray(self.expected), 0.0)[index]
        r = 1.0 / np.maximum(alpha, _ALPHA_FLOOR)[:, None]
        return rng.gamma(r + obs[None, :], 1.0 / (r + exp[None, :]))


@dataclass
class LocalLevel:
    """The future of a flow's year effects: a local-level model of the fitted years'
    log effects ``z_t = log((O_t + ½) / (E_t + ½))`` (sampling variance ``1/(O_t + ½)``),

        z_t = ℓ_t + ε_t,   ℓ_t = ℓ_{t−1} + η_t,   ε ~ N(0, σ_ε²),  η ~ N(0, σ_η²),

    so a year may be a shock of its own (ε) and the level may drift (η). Half-normal
    priors on σ_ε and σ_η (:data:`LEVEL_PRIOR`); their posterior on a grid from the
    Kalman filter's likelihood; the filtered level at the base year given each grid
    point. A future year's log effect is that level walked forward plus its own shock:
    its uncertainty grows with the horizon when the level drifts. JSON-serialisable."""

    z: list
    sigma_eps: list
    sigma_eta: list
    weights: list
    level: list            # filtered level at the last fitted year, per grid point
    level_var: list

    @classmethod
    def fit(cls, observed, expected) -> "LocalLevel":
        o, e = np.asarray(observed, float), np.asarray(expected, float)
        z = np.log((o + 0.5) / (e + 0.5))
        m = 1.0 / (o + 0.5)
        se, sh = np.meshgrid(_EPS_GRID, _ETA_GRID, indexing="ij")
        se, sh = se.ravel(), sh.ravel()
        a, P = np.full(se.size, z[0]), np.full(se.size, 1e4)
        loglik = np.zeros(se.size)
        for t in range(z.size):
            if t:
                P = P + sh ** 2
            F = P + se ** 2 + m[t]
            v = z[t] - a
            if t:   # the first year only sets the level (diffuse start)
                loglik -= 0.5 * (np.log(F) + v * v / F)
            K = P / F
            a, P = a + K * v, P * (1 - K)
        log_post = loglik - 0.5 * (se / LEVEL_PRIOR["eps"]) ** 2 - 0.5 * (sh / LEVEL_PRIOR["eta"]) ** 2
        w = np.exp(log_post - log_post.max())
        return cls(z.tolist(), se.tolist(), sh.tolist(), (w / w.sum()).tolist(), a.tolist(), P.tolist())

    @property
    def point(self) -> float:
        """Posterior mean of the future log effect."""
        return float(np.dot(self.weights, self.level))

    @property
    def spread(self) -> tuple[float, float]:
        """Posterior mean of σ_ε and σ_η."""
        w = np.asarray(self.weights)
        return float(np.dot(w, self.sigma_eps)), float(np.dot(w, self.sigma_eta))

    def future(self, rng, draws: int, steps: int) -> np.ndarray:
        """(draws, steps) log year effects of the years after the base year (normals in
        antithetic pairs: :func:`antithetic_normal`)."""
        g = rng.choice(len(self.weights), size=draws, p=np.asarray(self.weights))
        se, sh = np.asarray(self.sigma_eps)[g], np.asarray(self.sigma_eta)[g]
        level = np.asarray(self.level)[g] + np.sqrt(np.asarray(self.level_var)[g]) * antithetic_normal(rng, (draws,))
        walk = level[:, None] + np.cumsum(sh[:, None] * antithetic_normal(rng, (draws, steps)), axis=1)
        out = walk + se[:, None] * antithetic_normal(rng, (draws, steps)) - 0.5 * (se ** 2)[:, None]
        return np.clip(out, self.point - MAX_DRAW_DEVIATION, self.point + MAX_DRAW_DEVIATION)


# ------------------------------------------------------------------- one flow


@dataclass
class Flow:
    """The fitted parameters of one flow (JSON-serialisable)."""

    name: str
    events: float
    columns: list          # design columns: const, cell_type[...], log_population
    levels: list           # cell types, reference first
    pooled: list           # types with no event, pooled with the reference
    log_pop_center: float
    params: list
    cov: list
    years: RandomEffect
    areas: RandomEffect
    cells: RandomEffect
    future: LocalLevel     # the future of the year effects
    overdispersion: float  # κ: a cell-year's count varies as μ + κμ² around its rate, of its own ...
    area_year: float = 0.0  # ... and by a multiplier of variance κ_a it shares with its area's cells that year
    glm_summary: str = ""

    def design(self, cells: pd.DataFrame) -> np.ndarray:
        """Design matrix (n, p) of ``cells``."""
        X = np.ones((len(cells), len(self.columns)))
        types = cells["cell_type"].astype(str).to_numpy()
        for j, col in enumerate(self.columns):
            if col.startswith("cell_type["):
                X[:, j] = types == col[len("cell_type["):-1]
            elif col == "log_population":
                X[:, j] = np.log(cells["population"].to_numpy(float)) - self.log_pop_center
        return X

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Flow":
        data = dict(data)
        for key in ("years", "areas", "cells"):
            data[key] = RandomEffect(**data[key])
        data["future"] = LocalLevel(**data["future"])
        return cls(**data)


def _glm(totals: np.ndarray, X: np.ndarray, offset: np.ndarray, names: list[str]):
    """Poisson GLM of the cells' totals, robust standard errors."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = GLM(totals, pd.DataFrame(X, columns=names), family=families.Poisson(),
                     offset=offset).fit(cov_type="HC0")
    for w in caught:
        if "converge" in str(w.message).lower() or type(w.message).__name__ in (
                "ConvergenceWarning", "PerfectSeparationWarning"):
            warnings.warn(f"GLM: {w.message}", ConvergenceWarning, stacklevel=4)
    return result


class _Constant:
    """A rate with no covariate, in closed form (what a GLM cannot fit is still a rate)."""

    def __init__(self, events: float, exposure: float):
        rate = max(events, 0.5) / max(exposure, 1e-300)
        self.params = pd.Series([math.log(rate)], index=["const"])
        self._cov = np.array([[1.0 / max(events, 0.5)]])

    def cov_params(self):
        return self._cov

    def summary(self):
        return "constant rate (too few cells or events for the GLM)"


def _stable_glm(totals, X, offset, columns):
    """The GLM, dropping columns from the end while it fails or runs off to infinity;
    with none left, the constant rate in closed form."""
    while True:
        try:
            result = _glm(totals, X[:, :len(columns)], offset, columns)
            params, cov = result.params.to_numpy(), np.asarray(result.cov_params())
            if np.isfinite(params).all() and np.isfinite(cov).all() and np.abs(params[1:]).max(initial=0) < 15:
                return result, columns
        except (np.linalg.LinAlgError, ValueError):
            pass
        if len(columns) == 1:
            return _Constant(float(totals.sum()), float(np.exp(offset).sum())), columns
        columns = columns[:-1]


def _fit_flow(name: str, count: np.ndarray, exposure: np.ndarray, cell: np.ndarray, year: np.ndarray,
              cells: pd.DataFrame, area: np.ndarray, area_names: list, fit_years: list[int]) -> Flow:
    """One flow's model from its cell-years (``cell``/``year``: indices into ``cells``
    and ``fit_years``; ``area``: each cell's index into ``area_names``)."""
    n, T = len(cells), len(fit_years)
    types = cells["cell_type"].astype(str).to_numpy()
    cell_events = np.bincount(cell, weights=count, minlength=n)
    cell_exposure = np.bincount(cell, weights=exposure, minlength=n)
    type_events = pd.Series(cell_events).groupby(types).sum()
    present = [t for t in pd.Series(types).value_counts().index if cell_exposure[types == t].sum() > 0]
    with_events = [t for t in present if type_events.get(t, 0) > 0]
    reference = with_events[0] if with_events else (present[0] if present else "")
    levels = [reference] + [t for t in with_events if t != reference]
    pooled = [t for t in present if t not in levels]
    columns = ["const"] + [f"cell_type[{t}]" for t in levels[1:]]
    pop = cells["population"].to_numpy(float)
    center = float(np.log(pop).mean())
    if np.ptp(np.log(pop)) > 0 and count.sum() > 0:
        columns.append("log_population")
    flow = Flow(name=name, events=float(count.sum()), columns=columns, levels=levels, pooled=pooled,
                log_pop_center=center, params=[], cov=[], years=None, areas=None, cells=None,
                future=None, overdispersion=0.0)
    X = flow.design(cells)
    year_exposure = np.bincount(year, weights=exposure, minlength=T)
    year_events = np.bincount(year, weights=count, minlength=T)
    if count.sum() == 0:  # no event at all: rate 0, nothing to fit
        flow.params = [-np.inf] + [0.0] * (len(columns) - 1)
        flow.cov = np.zeros((len(columns), len(columns))).tolist()
        flow.years = RandomEffect.fit(fit_years, year_events, year_exposure * 0, PRIOR_SCALE["year"])
        flow.areas = RandomEffect.fit(area_names, np.zeros(len(area_names)), np.zeros(len(area_names)),
                                      PRIOR_SCALE["area"])
        flow.cells = RandomEffect.fit(cells["cell_id"].tolist(), cell_events, cell_events * 0, PRIOR_SCALE["cell"])
        flow.future = LocalLevel.fit(year_events, year_events)
        return flow
    fitted = cell_exposure > 0
    # a design the fitted cells can carry: full rank, fewer columns than cells
    while len(columns) > 1 and (fitted.sum() <= len(columns)
                                or np.linalg.matrix_rank(X[fitted]) < len(columns)):
        columns = columns[:-1]
        X = X[:, :-1]
    flow.columns = columns
    v = np.ones(T)
    for _ in range(8):
        cell_exp_v = np.bincount(cell, weights=exposure * v[year], minlength=n)
        result, columns = _stable_glm(cell_events[fitted], X[fitted], np.log(cell_exp_v[fitted]), columns)
        X = X[:, :len(columns)]
        flow.columns = columns
        beta = result.params.to_numpy()
        rate = np.exp(np.clip(X @ beta, -30.0, 30.0))
        expected_year = np.bincount(year, weights=exposure * rate[cell], minlength=T)
        years = RandomEffect.fit(fit_years, year_events, expected_year, PRIOR_SCALE["year"])
        new_v = years.means()
        new_v /= np.exp(np.mean(np.log(new_v)))  # the intercept carries the mean level
        if np.max(np.abs(np.log(new_v) - np.log(v))) < 1e-6:
            v = new_v
            break
        v = new_v
    cell_expected = np.bincount(cell, weights=exposure * v[year], minlength=n) * rate
    area_obs = np.bincount(area, weights=cell_events, minlength=len(area_names))
    area_exp = np.bincount(area, weights=cell_expected, minlength=len(area_names))
    areas = RandomEffect.fit(area_names, area_obs, area_exp, PRIOR_SCALE["area"])
    w = areas.means()
    cells_re = RandomEffect.fit(cells["cell_id"].tolist(), cell_events, cell_expected * w[area],
                                PRIOR_SCALE["cell"])
    flow.params = beta.tolist()
    flow.cov = np.asarray(result.cov_params()).tolist()
    flow.years, flow.areas, flow.cells = years, areas, cells_re
    flow.future = LocalLevel.fit(year_events, np.bincount(year, weights=exposure * rate[cell], minlength=T))
    # what a cell-year's count varies by beyond Poisson, around its fitted rate ...
    mu = exposure * rate[cell] * v[year] * w[area][cell] * cells_re.means()[cell]
    flow.overdispersion, flow.area_year = overdispersion(count, mu, area[cell], year)
    with warnings.catch_warnings():  # a one-cell fit's pseudo-R² and null deviance divide by 0: shown as nan
        warnings.simplefilter("ignore", RuntimeWarning)
        flow.glm_summary = str(result.summary())
    return flow


def overdispersion(count: np.ndarray, mu: np.ndarray, area: np.ndarray, year: np.ndarray) -> tuple[float, float]:
    """Extra-Poisson variation of counts around their fitted means, split in two
    (method of moments): ``(κ, κ_a)``, a count varying as μ + (κ + κ_a)μ² — κ of its
    own, κ_a shared by the counts of its ``area`` in its ``year`` (a district's drive
    or bad year, which does not cancel in the area's total).

    With S₁ = Σ((y − μ)² − y) over counts and S₂ the same over area-year totals
    (M = Σμ of one), E S₁ ≈ (κ + κ_a) Σμ² and E S₂ ≈ κ_a B + κ Σμ², so κ_a = (S₂ −
    S₁) / (B − Σμ²) and κ = S₁/Σμ² − κ_a, each at least 0. B is Σ M² less what the year
    effects take: fitted on each year's total, they leave the areas' deviations from
    their mean, E Σ_a (δ_a − M_a/M Σ_b δ_b)² = κ_a (Σ M_a² − 2 Σ M_a³/M + (Σ M_a²)²/M²)
    a year; the areas' effects, fitted on each area's total over the T years, take
    about a T-th more. The cells' fitted effects take part of each count's own noise,
    so S₁ runs low (κ too) — not κ_a, whose S₁ weighs 1/(B − Σμ²) ≪ 1/Σμ²: it is not
    bounded by S₁ (a flow with κ = 0 and a district's yearly shocks still shows
    them). Areas of one count, or one area, say nothing of the split (κ_a = 0)."""
    count, mu = np.asarray(count, float), np.asarray(mu, float)
    a = float((mu ** 2).sum())
    s1 = float(((count - mu) ** 2 - count).sum())
    total = s1 / max(a, 1e-300)
    if count.size == 0:
        return 0.0, 0.0
    area, year = np.asarray(area), np.asarray(year)
    T = int(year.max()) + 1
    group = area * T + year
    size = (int(area.max()) + 1) * T  # every area's every year, a row each below
    y, m = np.bincount(group, weights=count, minlength=size), np.bincount(group, weights=mu, minlength=size)
    s2 = float(((y - m) ** 2 - y).sum())
    m = m.reshape(-1, T)                                                  # (areas, years)
    M = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_year = (m ** 2).sum(axis=0) - 2 * (m ** 3).sum(axis=0) / M + ((m ** 2).sum(axis=0) / M) ** 2
    # ... and the areas' effects, fitted on each area's total over the years, its mean over them
    b = float(np.nansum(np.where(M > 0, per_year, 0.0))) * (1.0 - 1.0 / max(int((M > 0).sum()), 2))
    if b <= a * (1 + 1e-9):
        return max(0.0, total), 0.0
    shared = max(0.0, (s2 - s1) / (b - a))
    return max(0.0, total - shared), shared
