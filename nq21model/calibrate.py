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

**Future years** (:class:`~nq21model.flows.LocalLevel`). The fitted years' log effects are a level
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
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Dataset
from .exceptions import DataError, ParameterError, Violation
from .flows import MAX_DRAW_DEVIATION, Flow, _fit_flow, antithetic_normal
from .scenario import Rates

__all__ = ["Calibration", "calibrate", "MIN_YEARS", "FLOWS", "can_calibrate"]

#: Years of history before the base year that a calibration needs.
MIN_YEARS = 3
#: Flows fitted, in order, and the history column each counts.
FLOWS = {"exits": "exited", "admissions": "admitted", "transfers": "transferred_in"}
_MAX_ATTRITION = 0.95
#: Most admissions (or transfers in) a cell's rate may give in a year, as a share of
#: its residents: a guard against a draw that runs away on a thin record.
MAX_YEARLY_SHARE = 0.1


def can_calibrate(dataset: Dataset, base_year: int) -> bool:
    """Whether history has at least :data:`MIN_YEARS` years of flows before ``base_year``."""
    return base_year - dataset.first_year >= MIN_YEARS


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
                f"{base_year}; the history covers {dataset.first_year}–{dataset.last_year}"
                + (". Choose a later base year" if base_year < dataset.last_year else ": it needs a longer history")
                + " (a forecast can also use fixed rates: --fixed-rates)"))
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
                         f"extra-Poisson variation of a cell-year: κ = {f.overdispersion:.3f} its own, "
                         f"κ_a = {f.area_year:.3f} shared by its area's cells that year")
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
            # "years": every parameter at its point estimate, the years to come still uncertain
            log_v = flow.future.future(rng, D, steps)
            out = (np.exp(point) * w * u)[None, :, None] * np.exp(log_v)[:, None, :]
        else:
            cov = np.asarray(flow.cov)
            cov = np.where(np.isfinite(cov), cov, 0.0)
            values, vectors = np.linalg.eigh((cov + cov.T) / 2)                    # cov = L Lᵀ
            betas = beta + antithetic_normal(rng, (D, beta.size)) @ (vectors * np.sqrt(np.clip(values, 0, None))).T
            eta = np.clip(betas @ X.T, point - MAX_DRAW_DEVIATION, point + MAX_DRAW_DEVIATION)   # (D, n)
            log_v = flow.future.future(rng, D, steps)                                        # (D, steps)
            w = flow.areas.sample(rng, areas, flow.areas.draw_alpha(rng, D))
            u = flow.cells.sample(rng, cell_index, np.full(D, flow.cells.alpha_mean))
            out = np.exp(eta + np.log(w) + np.log(u))[:, :, None] * np.exp(log_v)[:, None, :]
        # the years' own variation, process not parameter uncertainty: an area-year's
        # multiplier its cells share, then each cell-year's own
        if flow.area_year > 0:
            k = 1.0 / flow.area_year
            codes = np.unique(areas, return_inverse=True)[1].ravel()
            shock = rng.gamma(k, 1.0 / k, size=(D, int(codes.max()) + 1, steps))
            for d in range(D):  # a draw at a time: no second array of the rates' size
                out[d] *= shock[d, codes]
        if flow.overdispersion > 0:
            k = 1.0 / flow.overdispersion
            out *= rng.gamma(k, 1.0 / k, size=out.shape)
        return out


def calibrate(dataset: Dataset, base_year: int | None = None, **options) -> Calibration:
    """Fit a :class:`Calibration` (options as its constructor) and return it."""
    return Calibration(**options).fit(dataset, base_year=base_year)
