"""Rates calibrated on history up to a base year (never after it).

Three yearly flows are fitted on the cell-years ``first_year + 1 … base_year`` that
follow a row of the same cell (a cell's first row is its initial state):

* **exits** — ``exited`` over the members at risk (local members at the end of the
  previous year): a hazard per member-year;
* **admissions** — ``admitted`` per 1,000 residents of the village;
* **transfers in** — ``transferred_in`` per 1,000 residents.

Each is one model, fixed in form (no term selection):

    E[count_iy] = exposure_iy · exp(x_i β) · v_y · w_a(i) · u_i

* ``x_i β`` — a Poisson GLM (statsmodels) of the cells' totals over the fitted years
  on the cell type and the centred log population (a type with no event at all is
  pooled with the most common type), with robust (sandwich) standard errors: cells
  are the units, so the errors are clustered by cell;
* ``v_y`` — a **year effect**, a gamma random effect (mean 1, variance κ) shared by
  every cell in the year;
* ``w_a`` — an **area effect** of the cell's unit (district, or commune when the data
  has no district), a gamma random effect;
* ``u_i`` — the **cell's own effect**, a gamma random effect.

Each random effect is estimated by empirical Bayes from the counts it multiplies:
given the others, group g's observed total ``O_g`` is Poisson(``E_g · m_g``) with
``m_g ~ Gamma(1/α, rate 1/α)``, so ``O_g`` is negative binomial; α is integrated over
a grid under a weakly informative half-normal prior on ``sqrt(α)`` (the spread of
the multipliers), which keeps α above zero when a few groups look alike (eight
districts, ten years) and lets many groups speak for themselves. A group's
multiplier has the posterior Gamma(``1/α + O_g``, ``1/α + E_g``): a year with no
event is a small multiplier, never an infinite coefficient; a cell with a thin
record is pulled toward its peers. The year effects and β are fitted in turn until
they agree.

**Future years** (:class:`LocalLevel`). The fitted years' log effects are a level
that may drift plus each year's own shock; the future walks on from the level of
the base year: year-level uncertainty is never zero, and it grows with the horizon
when the level drifts. **Cell-years** may vary more than Poisson around their rate
(κ, by moments); each draw gives every cell-year its own gamma multiplier of that
variance, so each cell's distribution is as wide as its history shows.

**Parameter uncertainty** (on by default): each of ``draws`` parameter sets draws β
from its robust covariance, the spread of year effects from its posterior, the
future level and yearly shocks, and every area's and cell's multiplier from its
posterior. The exact per-cell distributions are mixed over the draws (``Rates``
with D = draws). A flow with no event at all has rate 0.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Dataset
from .exceptions import ConvergenceWarning, DataError, ParameterError, Violation
from .scenario import Rates

__all__ = ["Calibration", "calibrate", "MIN_YEARS", "FLOWS", "can_calibrate"]

#: Years of history before the base year that a calibration needs.
MIN_YEARS = 3
#: Flows fitted, in order, and the history column each counts.
FLOWS = {"exits": "exited", "admissions": "admitted", "transfers": "transferred_in"}
#: Scale of the half-normal prior on the spread (sd of the multipliers) of each
#: random effect: years and areas move rates by some 10–20 %, cells by much more.
PRIOR_SCALE = {"year": 0.15, "area": 0.3, "cell": 1.0}
_MAX_ATTRITION = 0.95
#: A drawn linear predictor stays within this of the point estimate (log scale).
MAX_DRAW_DEVIATION = 2.5
_ALPHA_FLOOR = 1e-6
#: Most admissions (or transfers in) a cell's rate may give in a year, as a share of
#: its residents: a guard against a draw that runs away on a thin record.
MAX_YEARLY_SHARE = 0.1
#: Scales of the half-normal priors of a year's own shock (σ_ε) and of the drift of
#: the level (σ_η), log scale: years move rates by some 10–20 %, levels drift slowly.
LEVEL_PRIOR = {"eps": 0.15, "eta": 0.15}
_EPS_GRID = np.linspace(0.0, 0.8, 33)
_ETA_GRID = np.linspace(0.0, 0.5, 26)
#: Grid of the spread sqrt(α) of a random effect.
_SPREAD_GRID = np.concatenate([[0.0], np.geomspace(0.005, 3.0, 160)])


def can_calibrate(dataset: Dataset, base_year: int) -> bool:
    """Whether history has at least :data:`MIN_YEARS` years of flows before ``base_year``."""
    return base_year - dataset.first_year >= MIN_YEARS


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
        """(draws, steps) log year effects of the years after the base year."""
        g = rng.choice(len(self.weights), size=draws, p=np.asarray(self.weights))
        se, sh = np.asarray(self.sigma_eps)[g], np.asarray(self.sigma_eta)[g]
        level = np.asarray(self.level)[g] + np.sqrt(np.asarray(self.level_var)[g]) * rng.standard_normal(draws)
        walk = level[:, None] + np.cumsum(sh[:, None] * rng.standard_normal((draws, steps)), axis=1)
        out = walk + se[:, None] * rng.standard_normal((draws, steps)) - 0.5 * (se ** 2)[:, None]
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
    overdispersion: float  # κ: a cell-year's count varies as μ + κμ² around its rate
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
    # what a cell-year's count varies by beyond Poisson, around its fitted rate
    mu = exposure * rate[cell] * v[year] * w[area][cell] * cells_re.means()[cell]
    flow.overdispersion = float(max(0.0, ((count - mu) ** 2 - count).sum() / max((mu ** 2).sum(), 1e-300)))
    flow.glm_summary = str(result.summary())
    return flow


# ------------------------------------------------------------------ the model


class Calibration:
    """Rates fitted on history up to a base year, in the statsmodels manner.

    Parameters
    ----------
    draws : int
        Parameter draws mixed over when ``uncertainty`` (default 100).
    uncertainty : {True, "years", False}
        Carry parameter uncertainty into the rates (default True); ``"years"``: point
        estimates with the future years' effects drawn; False: point estimates (D = 1).
    seed : int
        Seed of the parameter draws (``numpy.random.default_rng``).

    Examples
    --------
    >>> cal = Calibration().fit(dataset, base_year=2020)      # doctest: +SKIP
    >>> rates = cal.rates(dataset.at_base(2020), last_year=2025)  # doctest: +SKIP

    Fitted attributes end in ``_``: ``base_year_``, ``first_year_``, ``fit_years_``,
    ``area_column_``, ``flows_`` (dict of :class:`Flow`), and the tables
    ``dispersion_``, ``year_effects_``, ``area_effects_``, ``cell_effects_``.
    """

    def __init__(self, draws: int = 100, uncertainty: bool | str = True, seed: int = 0):
        if draws < 1:
            raise ParameterError(f"draws must be ≥ 1, got {draws}")
        self.draws = int(draws)
        if uncertainty not in (True, False, "years"):
            raise ParameterError(f"uncertainty must be True, False or 'years', got {uncertainty!r}")
        self.uncertainty = uncertainty
        self.seed = int(seed)

    # ----------------------------------------------------------------- fit
    def fit(self, dataset: Dataset, base_year: int | None = None) -> "Calibration":
        """Fit every flow on the cell-years after each cell's first row, up to ``base_year``."""
        base_year = dataset.last_year if base_year is None else int(base_year)
        dataset.check_base_year(base_year)
        if not can_calibrate(dataset, base_year):
            name = Path(dataset.sources.get("history", "history")).name
            raise DataError(Violation(
                name, None, "year",
                f"calibration needs at least {MIN_YEARS} years of history before the base year "
                f"{base_year}; the history starts in {dataset.first_year}. Choose a later base year, "
                "or use fixed rates (--fixed-rates)"))
        members = dataset.panel("local_members")
        years = [y for y in dataset.years if dataset.first_year < y <= base_year]
        prev = members[[y - 1 for y in years]].to_numpy()
        now = members[years].to_numpy()
        cell, j = np.nonzero(~np.isnan(prev) & ~np.isnan(now))
        counts = {flow: dataset.panel(col)[years].to_numpy()[cell, j] for flow, col in FLOWS.items()}
        at_risk = np.maximum(prev[cell, j], counts["exits"])
        pop = dataset.cells["population"].to_numpy(float)[cell] / 1000.0
        area_column = dataset.default_unit
        area_codes, area_names = pd.factorize(dataset.cells[area_column].astype(str))
        self.base_year_ = base_year
        self.first_year_ = int(dataset.first_year)
        self.fit_years_ = years
        self.area_column_ = area_column
        self.synthetic_ = bool(dataset.synthetic)
        self.flows_ = {}
        for flow in FLOWS:
            exposure = at_risk if flow == "exits" else pop
            keep = exposure > 0
            self.flows_[flow] = _fit_flow(flow, counts[flow][keep], exposure[keep], cell[keep], j[keep],
                                          dataset.cells, area_codes, list(area_names), years)
        return self

    def _check_fitted(self):
        if not hasattr(self, "flows_"):
            raise ParameterError("this Calibration is not fitted yet; call fit(dataset, base_year=...)")

    # ------------------------------------------------------------ fitted views
    @property
    def dispersion_(self) -> pd.DataFrame:
        """Posterior mean variance α of the year, area and cell multipliers by flow
        (``*_cv`` = sqrt(α), their coefficient of variation)."""
        self._check_fitted()
        rows = []
        for f in self.flows_.values():
            row = {"flow": f.name, "events": f.events}
            for key in ("years", "areas", "cells"):
                a = getattr(f, key).alpha_mean
                row[f"alpha_{key}"], row[f"cv_{key}"] = a, math.sqrt(a)
            rows.append(row)
        return pd.DataFrame(rows).set_index("flow")

    def _effects(self, key: str, label: str) -> pd.DataFrame:
        self._check_fitted()
        frames = []
        for f in self.flows_.values():
            re = getattr(f, key)
            frames.append(pd.DataFrame({label: re.groups, "flow": f.name, "observed": re.observed,
                                        "expected": re.expected, "multiplier": re.means()}))
        return pd.concat(frames, ignore_index=True)

    @property
    def year_effects_(self) -> pd.DataFrame:
        """Per flow and fitted year: observed and expected events, posterior multiplier."""
        return self._effects("years", "year")

    @property
    def area_effects_(self) -> pd.DataFrame:
        """Per flow and area (district or commune): observed, expected, posterior multiplier."""
        return self._effects("areas", "area")

    @property
    def cell_effects_(self) -> pd.DataFrame:
        """Per flow and cell: observed and expected totals over the fitted years, and
        the posterior mean multiplier (shrunk toward 1 when the record is thin)."""
        return self._effects("cells", "cell_id")

    def coefficients(self) -> pd.DataFrame:
        """Coefficients of every GLM with robust standard errors."""
        self._check_fitted()
        frames = []
        for f in self.flows_.values():
            frames.append(pd.DataFrame({"flow": f.name, "term": f.columns, "coef": f.params,
                                        "se": np.sqrt(np.diag(np.asarray(f.cov)))}))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> str:
        """The statsmodels summaries of the GLMs, the random effects and the future level."""
        self._check_fitted()
        parts = [f"Calibration on history {self.first_year_}–{self.base_year_} "
                 f"(flows of {self.fit_years_[0]}–{self.fit_years_[-1]}; never after the base year); "
                 f"areas: {self.area_column_}" + ("; SYNTHETIC DATA (Dữ liệu mô phỏng)" if self.synthetic_ else "")]
        titles = {"exits": "Exits per member at risk", "admissions": "Admissions per 1,000 residents",
                  "transfers": "Transfers in per 1,000 residents"}
        for f in self.flows_.values():
            parts.append("=" * 78 + f"\n{titles[f.name]}: {f.events:.0f} events")
            if f.events == 0:
                parts.append("no event at all: rate 0")
                continue
            if f.pooled:
                parts.append(f"cell types with no event, pooled with '{f.levels[0]}': {', '.join(f.pooled)}")
            parts.append(f.glm_summary)
            years = ", ".join(f"{y}: {m:.3f}" for y, m in zip(f.years.groups, f.years.means()))
            parts.append(f"Year effects (posterior multipliers): {years}")
            eps, eta = f.future.spread
            parts.append(f"Future: level {math.exp(f.future.point):.3f} (local-level model of the year effects; "
                         f"a year's own shock sd {eps:.3f}, drift of the level sd {eta:.3f} a year); "
                         f"cell-year overdispersion κ = {f.overdispersion:.3f}")
            parts.append("Spread of the random effects, posterior mean sd of the multipliers: "
                         f"years {math.sqrt(f.years.alpha_mean):.3f}, areas {math.sqrt(f.areas.alpha_mean):.3f}, "
                         f"cells {math.sqrt(f.cells.alpha_mean):.3f}")
        return "\n".join(parts)

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "nq21model.calibration", "version": 2, "base_year": self.base_year_,
                "first_year": self.first_year_, "fit_years": self.fit_years_, "area_column": self.area_column_,
                "synthetic": self.synthetic_,
                "options": {"draws": self.draws, "uncertainty": self.uncertainty, "seed": self.seed},
                "flows": {k: f.to_dict() for k, f in self.flows_.items()}}

    def to_json(self, path: str | Path | None = None) -> str:
        """The fitted parameters as JSON; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=True)
        if path is not None:
            from .files import atomic_path

            with atomic_path(path) as tmp:
                Path(tmp).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> "Calibration":
        """A fitted Calibration from :meth:`to_json` output (a path or the text);
        ParameterError for anything else."""
        text = str(source)
        name = "the calibration text"
        if not text.lstrip().startswith("{"):
            name = Path(source).name
            text = Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("kind") != "nq21model.calibration" or data.get("version") != 2:
                raise ValueError("not a calibration of this version")
            cal = cls(**data["options"])
            cal.base_year_, cal.first_year_ = int(data["base_year"]), int(data["first_year"])
            cal.fit_years_, cal.area_column_ = list(data["fit_years"]), data["area_column"]
            cal.synthetic_ = bool(data.get("synthetic", False))
            cal.flows_ = {k: Flow.from_dict(f) for k, f in data["flows"].items()}
            return cal
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ParameterError(f"{name}: not a calibration file written by this version of nq21model "
                                 f"calibrate ({type(exc).__name__}: {exc})") from None

    # ------------------------------------------------------------ rates
    def rates(self, dataset: Dataset, last_year: int, *, uncertainty: bool | None = None,
              draws: int | None = None, seed: int | None = None) -> Rates:
        """Natural per-cell rates of ``dataset``'s cells (those present in the base
        year: ``dataset.at_base(base_year)``) for ``base_year_ + 1 … last_year``.

        ``Rates`` with D = draws: survival, and Poisson means of admissions plus
        transfers in; ``info["admissions"]`` and ``info["transfers"]`` (D, n, Y) hold
        the two parts (a scenario rescales the first). ``uncertainty``: True (every
        parameter drawn), ``"years"`` (point estimates, but the future years' effects
        drawn: a year to come is never certain) or False (point estimates, D = 1: for
        planning, e.g. quotas).
        """
        self._check_fitted()
        base = self.base_year_
        steps = int(last_year) - base
        if steps < 1:
            raise ParameterError(f"last year {last_year} must be after the base year {base}")
        uncertainty = self.uncertainty if uncertainty is None else uncertainty
        if uncertainty not in (True, False, "years"):
            raise ParameterError(f"uncertainty must be True, False or 'years', got {uncertainty!r}")
        D = (self.draws if draws is None else int(draws)) if uncertainty else 1
        rng = np.random.default_rng(self.seed if seed is None else seed)
        cells = dataset.cells.reset_index(drop=True)
        exposure = cells["population"].to_numpy(float) / 1000.0
        out = {}
        for name, flow in self.flows_.items():
            out[name] = self._flow_rates(flow, cells, steps, D, uncertainty, rng)
        # one survival a cell and draw (the engine's form): the mean hazard over the years,
        # so that survival to the last year is exact
        hazard = out["exits"].mean(axis=2)
        survival = np.exp(-np.clip(hazard, 0.0, -np.log(1 - _MAX_ATTRITION)))
        # a cell-year never admits (or receives) more than a tenth of its residents
        cap = MAX_YEARLY_SHARE * 1000.0
        adm = exposure[None, :, None] * np.minimum(out["admissions"], cap)
        trn = exposure[None, :, None] * np.minimum(out["transfers"], cap)
        info = {"draws": D, "uncertainty": uncertainty, "admissions": adm, "transfers": trn, "calibration": self}
        return Rates(base_year=base, survival=survival, lam=adm + trn, source="calibrated", info=info)

    def _flow_rates(self, flow: Flow, cells: pd.DataFrame, steps: int, D: int, uncertainty: bool, rng):
        """(D, n, steps) rate per unit of exposure of one flow."""
        n = len(cells)
        if flow.events == 0:
            return np.zeros((D, n, steps))
        X = flow.design(cells)
        beta = np.asarray(flow.params)
        point = X @ beta
        areas = pd.Index(flow.areas.groups).get_indexer(cells.get(self.area_column_, pd.Series("", index=cells.index))
                                                         .astype(str))
        cell_index = pd.Index(flow.cells.groups).get_indexer(cells["cell_id"])
        if uncertainty is not True:
            w = np.append(flow.areas.means(), 1.0)[areas]
            u = np.append(flow.cells.means(), 1.0)[cell_index]
            if not uncertainty:
                rate = np.exp(point + flow.future.point) * w * u
                return np.repeat(rate[None, :, None], steps, axis=2)
            # "years": every parameter at its point estimate, the future years still uncertain
            log_v = flow.future.future(rng, D, steps)
            return (np.exp(point) * w * u)[None, :, None] * np.exp(log_v)[:, None, :]
        cov = np.asarray(flow.cov)
        cov = np.where(np.isfinite(cov), cov, 0.0)
        betas = rng.multivariate_normal(beta, cov, size=D, method="eigh")
        eta = np.clip(betas @ X.T, point - MAX_DRAW_DEVIATION, point + MAX_DRAW_DEVIATION)   # (D, n)
        log_v = flow.future.future(rng, D, steps)                                        # (D, steps)
        w = flow.areas.sample(rng, areas, flow.areas.draw_alpha(rng, D))
        u = flow.cells.sample(rng, cell_index, np.full(D, flow.cells.alpha_mean))
        out = np.exp(eta + np.log(w) + np.log(u))[:, :, None] * np.exp(log_v)[:, None, :]
        if flow.overdispersion > 0:   # each cell-year's own extra-Poisson variation
            k = 1.0 / flow.overdispersion
            out *= rng.gamma(k, 1.0 / k, size=out.shape)
        return out


def calibrate(dataset: Dataset, base_year: int | None = None, **options) -> Calibration:
    """Fit a :class:`Calibration` (options as its constructor) and return it."""
    return Calibration(**options).fit(dataset, base_year=base_year)
