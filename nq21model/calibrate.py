"""Rates calibrated on history up to a base year (never after it).

Three yearly flows are fitted on the cell-years ``first_year + 1 … base_year``
(the first year of history is the initial state: its flows refer to a year before
the file and are not used):

* **exits** — a binomial GLM of ``exited`` over the members at risk (the local
  members at the end of the previous year), logit link;
* **admissions** — a Poisson GLM of ``admitted`` with the village population as
  exposure (``log(population / 1000)`` offset, passed explicitly when predicting);
* **transfers in** — a Poisson GLM of ``transferred_in`` with the same exposure.

Each GLM starts from the covariates the data has — cell type, district,
centred log population and the calendar year (categorical, reference the base year;
only with ≥ 3 fitted years) — and keeps a term only when a cluster-robust Wald
test (clustered by cell) gives p < ``keep_p``; so the model follows what the data
shows, not a fixed formula. Standard errors are cluster-robust throughout, because
the cell-years of one cell share an unobserved propensity.

**Cell effects (empirical Bayes).** A cell's own record over the fitted years is
shrunk toward the GLM by a gamma-Poisson model: its observed total ``Y_i`` given a
multiplier ``u_i`` is Poisson(``u_i E_i``), ``E_i`` the GLM's expected total, and
``u_i ~ Gamma(shape 1/α, mean 1)``. The dispersion α is estimated by maximum
likelihood with statsmodels' discrete ``NegativeBinomial`` (NB2) on the cell totals,
offset ``log E_i`` (the GLM family ``NegativeBinomial`` does not estimate α, so it
is not used); a moment estimate is reported beside it. The posterior of ``u_i`` is
Gamma(``1/α + Y_i``, rate ``1/α + E_i``): a cell that admitted more than its peers
keeps part of it, the more so the more years it has. The same shrinkage is applied
to exits (a multiplier of the attrition hazard) and to transfers; with α ≈ 0 the
cell effect vanishes.

**Transfers in.** MODEL.md's process has a single Poisson inflow. Transfers in
(``transferred_in``) are modelled as their own Poisson stream (they do not scale
with the admission propensity) and added to the Poisson mean of each cell-year:
the sum of independent Poisson inflows is Poisson, so the exact engine is unchanged.
``admission_rate=`` rescales admissions only; transfers stay as calibrated.

**Future years.** Year effects after the base year are unknown: each flow uses the
mean effect of the last three fitted years, and with parameter uncertainty on a
shock drawn per draw from the spread of the fitted year effects (persistent over the
horizon — the history shows runs of good and bad years).

**Parameter uncertainty** (on by default): each of ``draws`` parameter sets draws
the GLM coefficients from their fitted (cluster-robust) covariance, the future
year shocks, and each cell's multipliers from their gamma posteriors; the exact
per-cell distributions are mixed over the draws (``Rates`` with D = draws).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Dataset
from .exceptions import ConvergenceWarning, DataError, ParameterError, Violation
from .scenario import Rates

__all__ = ["Calibration", "calibrate", "calibrated_rates", "MIN_YEARS", "TERMS"]

#: Years of history before the base year that a calibration needs.
MIN_YEARS = 3
#: Candidate terms of every GLM.
TERMS = ("cell_type", "district", "log_population", "year")
#: Fitted years whose mean year effect stands for the future.
RECENT_YEARS = 3
#: Flows fitted, in order.
FLOWS = ("exits", "admissions", "transfers")
_MAX_ATTRITION = 0.95
#: Cap of the spread of future year effects (log/logit scale).
MAX_FUTURE_SD = 0.5
#: A drawn linear predictor stays within this of the point estimate (log/logit scale):
#: with few cells, cluster-robust covariances can be wide; a factor e^2.5 ≈ 12 either way.
MAX_DRAW_DEVIATION = 2.5


# ------------------------------------------------------------------- helpers


def _warn_convergence(caught, what: str) -> None:
    """Re-issue statsmodels' convergence (and similar numerical) warnings as ours."""
    for w in caught:
        name = type(w.message).__name__ if isinstance(w.message, Warning) else ""
        if name in ("ConvergenceWarning", "HessianInversionWarning", "PerfectSeparationWarning",
                    "PerfectSeparationError") or "converge" in str(w.message).lower():
            warnings.warn(f"{what}: {w.message}", ConvergenceWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _cell_columns(cells: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Design columns of the static terms for each cell (no constant, no year)."""
    cols = {}
    for term in ("cell_type", "district"):
        if term in spec["terms"]:
            levels = spec["levels"][term]
            values = cells[term].astype(str).to_numpy()
            unknown = sorted(set(values) - set(levels))
            if unknown:
                raise ParameterError(f"{term} value(s) {', '.join(unknown)} were not in the calibration data")
            for level in levels[1:]:
                cols[f"{term}[{level}]"] = (values == level).astype(float)
    if "log_population" in spec["terms"]:
        cols["log_population"] = np.log(cells["population"].to_numpy(dtype=float)) - spec["log_pop_center"]
    return pd.DataFrame(cols, index=cells.index)


def _year_columns(years: np.ndarray, spec: dict) -> pd.DataFrame:
    cols = {}
    if "year" in spec["terms"]:
        for level in spec["levels"]["year"]:
            if level != spec["base_year"]:
                cols[f"year[{level}]"] = (years == level).astype(float)
    return pd.DataFrame(cols)


def _design(frame: pd.DataFrame, cells_idx: np.ndarray, cells: pd.DataFrame, spec: dict) -> pd.DataFrame:
    static = _cell_columns(cells, spec).to_numpy()[cells_idx]
    names = list(_cell_columns(cells.iloc[:1], spec).columns)
    yearly = _year_columns(frame["year"].to_numpy(), spec)
    X = pd.DataFrame(static, columns=names)
    X.insert(0, "const", 1.0)
    return pd.concat([X, yearly.reset_index(drop=True)], axis=1)


def _term_columns(names: list[str], term: str) -> list[int]:
    if term == "log_population":
        return [i for i, n in enumerate(names) if n == "log_population"]
    return [i for i, n in enumerate(names) if n.startswith(f"{term}[")]


def _check_fit(result, flow: str) -> None:
    """Warn (ConvergenceWarning) when a GLM did not converge or a coefficient runs off to
    infinity (quasi-separation, e.g. no exit at all in one cell type)."""
    if not bool(getattr(result, "converged", True)):
        warnings.warn(f"{flow} GLM: IRLS did not converge", ConvergenceWarning, stacklevel=3)
    params = result.params
    bse = np.asarray(result.bse)
    wild = [name for name, b, se in zip(params.index, params.to_numpy(), bse)
            if name != "const" and (abs(b) > 10 or not np.isfinite(b) or not np.isfinite(se))]
    if wild:
        warnings.warn(f"{flow} GLM: the coefficient(s) of {', '.join(wild)} diverge (quasi-separation: "
                      "a group with no events at all, e.g. no exit in one cell type); their rates are "
                      "fitted as ≈ 0", ConvergenceWarning, stacklevel=3)


def _gamma_poisson(observed: np.ndarray, expected: np.ndarray, what: str, keep_p: float = 0.10) -> dict:
    """Dispersion of cell totals around the GLM and the gamma posteriors of the cells.

    ``observed`` Y_i, ``expected`` E_i > 0. Returns ``alpha`` (ML, NB2 with offset
    log E), ``alpha_se``, ``alpha_moments``, ``shape``/``rate`` of each posterior
    (None when α ≈ 0: no cell effect) and the statsmodels result (``result``).
    """
    from statsmodels.discrete.discrete_model import NegativeBinomial
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    keep = expected > 0
    y, e = observed[keep], expected[keep]
    moments = float(max(0.0, ((y - e) ** 2 - y).sum() / (e ** 2).sum())) if e.size else 0.0
    out = {"alpha": 0.0, "alpha_se": float("nan"), "alpha_moments": moments, "result": None,
           "cells": int(keep.sum()), "lr_pvalue": float("nan"), "alpha_fitted": 0.0}
    if y.size < 5 or y.sum() == 0:
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = NegativeBinomial(y, np.ones((y.size, 1)), offset=np.log(e), loglike_method="nb2")
        start = np.array([0.0, max(moments, 0.05)])
        try:
            result = model.fit(start_params=start, method="bfgs", maxiter=200, disp=0)
        except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - defensive
            warnings.warn(f"{what}: dispersion fit failed ({exc}); no cell effects", ConvergenceWarning,
                          stacklevel=2)
            return out
    converged = bool(result.mle_retvals.get("converged", True))
    alpha = float(result.params[-1])
    if np.isfinite(alpha) and alpha > 1e-4:
        # at α ≈ 0 (the boundary) a failed Hessian inversion is expected, not a problem
        _warn_convergence(caught, what)
        if not converged:
            warnings.warn(f"{what}: the negative-binomial dispersion fit did not converge "
                          f"(alpha = {alpha:.4g})", ConvergenceWarning, stacklevel=2)
    out["result"] = result
    # likelihood-ratio test of α = 0 (on the boundary: half a χ²₁)
    from scipy import stats

    pois = GLM(y, np.ones((y.size, 1)), family=families.Poisson(), offset=np.log(e)).fit()
    lr = max(0.0, 2.0 * (float(result.llf) - float(pois.llf)))
    out["lr_pvalue"] = float(0.5 * stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    if not np.isfinite(alpha) or alpha < 1e-4 or out["lr_pvalue"] >= keep_p:
        out["alpha_fitted"] = alpha if np.isfinite(alpha) else 0.0
        return out  # no detectable cell heterogeneity: every cell follows the GLM
    bse = np.asarray(result.bse)
    out["alpha"] = out["alpha_fitted"] = alpha
    out["alpha_se"] = float(bse[-1]) if np.isfinite(bse[-1]) else float("nan")
    out["intercept"] = float(result.params[0])
    return out


# ------------------------------------------------------------------ the model


def _no_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


@dataclass
class _Flow:
    """Fitted parameters of one flow (JSON-serialisable)."""

    name: str
    spec: dict
    params: dict
    cov: list
    year_effects: dict
    future_effect: float
    future_sd: float
    alpha: float
    alpha_se: float
    alpha_moments: float
    alpha_fitted: float
    alpha_pvalue: float
    cells: dict  # cell_id -> [observed total, expected total]
    terms_dropped: dict
    n_obs: int

    def to_dict(self) -> dict:
        """Plain JSON types; a NaN (e.g. no standard error) becomes None (JSON null)."""
        return {k: _no_nan(getattr(self, k)) for k in self.__dataclass_fields__}


class Calibration:
    """Rates fitted on history up to a base year, in the statsmodels manner.

    Parameters
    ----------
    draws : int
        Parameter draws mixed over when ``uncertainty`` (default 100).
    uncertainty : bool
        Carry parameter uncertainty into the rates (default True); False gives
        point estimates (D = 1).
    seed : int
        Seed of the parameter draws (``numpy.random.default_rng``).
    keep_p : float
        A candidate term stays in a GLM when its cluster-robust Wald test has
        p < keep_p (default 0.10).
    terms : tuple of str
        Candidate terms, a subset of :data:`TERMS`.

    Examples
    --------
    >>> cal = Calibration().fit(dataset, base_year=2020)      # doctest: +SKIP
    >>> rates = cal.rates(dataset, last_year=2025)             # doctest: +SKIP
    >>> forecast(dataset, rates=rates, base_year=2020, horizons=[2025])  # doctest: +SKIP

    Fitted attributes end in ``_``: ``base_year_``, ``flows_`` (dict of fitted
    flows), ``results_`` (statsmodels results of each GLM), ``dispersion_``
    (DataFrame: α by flow), ``cell_effects_`` (DataFrame per cell: observed and
    expected totals and the posterior mean multiplier of each flow).
    """

    def __init__(self, draws: int = 100, uncertainty: bool = True, seed: int = 0,
                 keep_p: float = 0.10, terms: tuple[str, ...] = TERMS):
        if draws < 1:
            raise ParameterError(f"draws must be ≥ 1, got {draws}")
        if not 0.0 < keep_p <= 1.0:
            raise ParameterError(f"keep_p must be in (0, 1], got {keep_p}")
        bad = [t for t in terms if t not in TERMS]
        if bad:
            raise ParameterError(f"unknown term(s) {', '.join(bad)}; choose from {', '.join(TERMS)}")
        self.draws = int(draws)
        self.uncertainty = bool(uncertainty)
        self.seed = int(seed)
        self.keep_p = float(keep_p)
        self.terms = tuple(terms)

    # ----------------------------------------------------------------- fit
    def fit(self, dataset: Dataset, base_year: int | None = None) -> "Calibration":
        """Fit every flow on the cell-years after the first year, up to ``base_year``."""
        base_year = dataset.last_year if base_year is None else int(base_year)
        dataset.check_base_year(base_year)
        name = Path(dataset.sources.get("history", "history")).name
        before = base_year - dataset.first_year
        if before < MIN_YEARS:
            raise DataError(Violation(
                name, None, "year",
                f"calibration needs at least {MIN_YEARS} years of history before the base year "
                f"{base_year}; the history starts in {dataset.first_year} ({before} year(s) before). "
                "Choose a later base year, or use fixed rates (leave out --calibrated and give "
                "--admission-rate/--attrition-rate)"))
        hist = dataset.history.loc[dataset.history["year"] <= base_year, :].sort_values(["cell_id", "year"])
        prev = hist.groupby("cell_id")["local_members"].shift()
        consecutive = hist["year"].eq(hist.groupby("cell_id")["year"].shift() + 1)
        rows = hist.loc[prev.notna() & consecutive].copy()
        rows["at_risk"] = np.maximum(prev[rows.index].to_numpy(), rows["exited"].to_numpy()).astype(float)
        cells = dataset.cells.reset_index(drop=True)
        position = pd.Series(np.arange(len(cells)), index=cells["cell_id"].to_numpy())
        rows["_cell"] = position[rows["cell_id"].to_numpy()].to_numpy()
        rows = rows.reset_index(drop=True)

        self.base_year_ = base_year
        self.first_year_ = int(dataset.first_year)
        self.fit_years_ = sorted(int(y) for y in rows["year"].unique())
        self.synthetic_ = bool(dataset.synthetic)
        self.results_ = {}
        self.flows_ = {}
        self._dispersion_results = {}
        for flow in FLOWS:
            self.flows_[flow] = self._fit_flow(flow, rows, cells)
        return self

    def _base_spec(self, rows: pd.DataFrame, cells: pd.DataFrame) -> dict:
        levels = {}
        terms = []
        for term in ("cell_type", "district"):
            if term in self.terms:
                present = sorted(cells[term].astype(str).unique())
                if len(present) > 1:
                    # reference level: the most common one
                    counts = cells[term].astype(str).value_counts()
                    ref = counts.index[0]
                    levels[term] = [ref] + [v for v in present if v != ref]
                    terms.append(term)
        if "log_population" in self.terms and cells["population"].nunique() > 1:
            terms.append("log_population")
        if "year" in self.terms and len(self.fit_years_) >= 3:
            terms.append("year")
            levels["year"] = list(self.fit_years_)
        return {"terms": terms, "levels": levels, "base_year": self.base_year_,
                "log_pop_center": float(np.log(cells["population"].to_numpy(dtype=float)).mean())}

    def _glm(self, flow: str, rows: pd.DataFrame, cells: pd.DataFrame, spec: dict):
        # the submodules, not statsmodels.api: a command starts seconds faster
        from statsmodels.genmod import families
        from statsmodels.genmod.generalized_linear_model import GLM

        X = _design(rows, rows["_cell"].to_numpy(), cells, spec)
        groups = rows["_cell"].to_numpy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if flow == "exits":
                endog = np.column_stack([rows["exited"].to_numpy(float),
                                         (rows["at_risk"] - rows["exited"]).to_numpy(float)])
                model = GLM(endog, X, family=families.Binomial())
            else:
                column = "admitted" if flow == "admissions" else "transferred_in"
                pop = cells["population"].to_numpy(float)[groups]
                model = GLM(rows[column].to_numpy(float), X, family=families.Poisson(),
                               exposure=pop / 1000.0)
            result = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
        _warn_convergence(caught, f"{flow} GLM")
        return result

    def _fit_flow(self, flow: str, rows: pd.DataFrame, cells: pd.DataFrame) -> _Flow:
        if flow == "exits":
            rows = rows.loc[rows["at_risk"] > 0]
        spec = self._base_spec(rows, cells)
        column = {"exits": "exited", "admissions": "admitted", "transfers": "transferred_in"}[flow]
        total = float(rows[column].sum())
        dropped = {}
        if total == 0:
            spec["terms"] = []
            dropped = {t: "no events" for t in self.terms}
        result = self._glm(flow, rows, cells, spec)
        # backward selection by cluster-robust Wald tests, the weakest term first
        while spec["terms"]:
            names = list(result.params.index)
            pvalues = {}
            for term in spec["terms"]:
                idx = _term_columns(names, term)
                if not idx:
                    continue
                R = np.zeros((len(idx), len(names)))
                R[np.arange(len(idx)), idx] = 1.0
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # rank notes of a degenerate term: p = nan → dropped
                        test = result.wald_test(R, scalar=True)
                    pvalues[term] = float(test.pvalue) if np.isfinite(test.pvalue) else 1.0
                except (np.linalg.LinAlgError, ValueError):
                    pvalues[term] = 1.0
            # year effects are extrapolated: a year with no event at all (a coefficient that
            # runs off to infinity) makes the term useless for that, so it goes
            bad_years = [n for n in _term_columns(names, "year")
                         if abs(result.params.iloc[n]) > 10 or not np.isfinite(result.bse.iloc[n])]
            if bad_years and "year" in pvalues:
                pvalues["year"] = 1.0
            if not pvalues:
                break
            term, p = max(pvalues.items(), key=lambda kv: kv[1])
            if not p >= self.keep_p:
                break
            dropped[term] = round(p, 4)
            spec = {**spec, "terms": [t for t in spec["terms"] if t != term]}
            result = self._glm(flow, rows, cells, spec)
        self.results_[flow] = result
        _check_fit(result, flow)

        params = result.params
        cov = np.asarray(result.cov_params())
        year_effects = {y: (0.0 if y == self.base_year_ else float(params.get(f"year[{y}]", 0.0)))
                        for y in self.fit_years_} if "year" in spec["terms"] else {}
        if year_effects:
            effects = np.array(list(year_effects.values()))
            recent = effects[-min(RECENT_YEARS, effects.size):]
            future_effect = float(recent.mean())
            future_sd = min(MAX_FUTURE_SD, float(effects.std(ddof=1))) if effects.size > 1 else 0.0
        else:
            future_effect, future_sd = 0.0, 0.0

        # cell totals: observed vs the GLM's expectation over the fitted years
        expected_rows = np.asarray(result.fittedvalues, dtype=float)
        if flow == "exits":
            expected_rows = expected_rows * rows["at_risk"].to_numpy(float)
        n = len(cells)
        observed = np.bincount(rows["_cell"], weights=rows[column].to_numpy(float), minlength=n)
        expected = np.bincount(rows["_cell"], weights=expected_rows, minlength=n)
        shrink = _gamma_poisson(observed, expected, f"{flow} dispersion", self.keep_p)
        self._dispersion_results[flow] = shrink["result"]
        return _Flow(
            name=flow, spec=spec,
            params={k: float(v) for k, v in params.items()}, cov=cov.tolist(),
            year_effects={str(k): v for k, v in year_effects.items()},
            future_effect=future_effect, future_sd=future_sd,
            alpha=shrink["alpha"], alpha_se=shrink["alpha_se"], alpha_moments=shrink["alpha_moments"],
            alpha_fitted=shrink["alpha_fitted"], alpha_pvalue=shrink["lr_pvalue"],
            cells={cid: [float(o), float(e)] for cid, o, e in zip(cells["cell_id"], observed, expected)},
            terms_dropped=dropped, n_obs=int(result.nobs),
        )

    # ------------------------------------------------------------ fitted views
    def _check_fitted(self):
        if not hasattr(self, "flows_"):
            raise ParameterError("this Calibration is not fitted yet; call fit(dataset, base_year=...)")

    @property
    def dispersion_(self) -> pd.DataFrame:
        """α (gamma-Poisson dispersion of cell effects) by flow, ML with SE and by moments."""
        self._check_fitted()
        return pd.DataFrame([{"flow": f.name, "alpha": f.alpha, "alpha_se": f.alpha_se,
                              "alpha_fitted": f.alpha_fitted, "lr_pvalue": f.alpha_pvalue,
                              "alpha_moments": f.alpha_moments,
                              "cell_cv": math.sqrt(f.alpha)} for f in self.flows_.values()]).set_index("flow")

    @property
    def cell_effects_(self) -> pd.DataFrame:
        """Per cell and flow: observed and GLM-expected totals over the fitted years and
        the posterior mean multiplier ``(1/α + Y) / (1/α + E)`` (1 when α = 0)."""
        self._check_fitted()
        frames = []
        for flow in self.flows_.values():
            ids = list(flow.cells)
            obs, exp = np.array(list(flow.cells.values())).T
            frames.append(pd.DataFrame({"cell_id": ids, "flow": flow.name, "observed": obs, "expected": exp,
                                        "multiplier": _posterior_mean(obs, exp, flow.alpha)}))
        return pd.concat(frames, ignore_index=True)

    def coefficients(self) -> pd.DataFrame:
        """Coefficients of every GLM with cluster-robust standard errors."""
        self._check_fitted()
        frames = []
        for flow in self.flows_.values():
            se = np.sqrt(np.diag(np.asarray(flow.cov)))
            frames.append(pd.DataFrame({"flow": flow.name, "term": list(flow.params),
                                        "coef": list(flow.params.values()), "se": se}))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> str:
        """The statsmodels summaries of the GLMs and of the dispersion fits, with the
        terms kept and dropped and the future year effects."""
        self._check_fitted()
        parts = [f"Calibration on history {self.first_year_}–{self.base_year_} "
                 f"(flows of {self.fit_years_[0]}–{self.fit_years_[-1]}; never after the base year)"
                 + ("; SYNTHETIC DATA (Dữ liệu mô phỏng)" if self.synthetic_ else "")]
        for flow in self.flows_.values():
            title = {"exits": "Exits: binomial GLM of exited / members at risk (logit)",
                     "admissions": "Admissions: Poisson GLM, exposure population/1000 (log)",
                     "transfers": "Transfers in: Poisson GLM, exposure population/1000 (log)"}[flow.name]
            parts.append("=" * 78 + f"\n{title}\nterms kept: {', '.join(flow.spec['terms']) or 'none'}; "
                         f"dropped (Wald p): {flow.terms_dropped or 'none'}\n"
                         f"future year effect {flow.future_effect:+.3f} (mean of the last "
                         f"{min(RECENT_YEARS, len(flow.year_effects)) or 0} fitted years), "
                         f"sd of year effects {flow.future_sd:.3f}")
            if flow.name in getattr(self, "results_", {}):
                parts.append(str(self.results_[flow.name].summary()))
            disp = self._dispersion_results.get(flow.name) if hasattr(self, "_dispersion_results") else None
            parts.append(f"Cell effects (gamma-Poisson empirical Bayes): alpha = {flow.alpha_fitted:.4f}"
                         + (f" (se {flow.alpha_se:.4f})" if np.isfinite(flow.alpha_se) else "")
                         + f", moments {flow.alpha_moments:.4f}, LR test of alpha = 0: p = {flow.alpha_pvalue:.3g}"
                         + ("" if flow.alpha > 0 else f" → no cell effect (p ≥ {self.keep_p})"))
            if disp is not None and flow.alpha > 0:
                parts.append(str(disp.summary()))
        return "\n".join(parts)

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "nq21model.calibration", "version": 1, "base_year": self.base_year_,
                "first_year": self.first_year_, "fit_years": self.fit_years_,
                "synthetic": self.synthetic_,
                "options": {"draws": self.draws, "uncertainty": self.uncertainty, "seed": self.seed,
                            "keep_p": self.keep_p, "terms": list(self.terms)},
                "flows": {k: f.to_dict() for k, f in self.flows_.items()}}

    def to_json(self, path: str | Path | None = None) -> str:
        """The fitted parameters as JSON; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1, allow_nan=False)
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
            return cls._from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, ParameterError):
                raise
            raise ParameterError(f"{name}: not a calibration file written by nq21model calibrate "
                                 f"({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_dict(cls, data: dict) -> "Calibration":
        if not isinstance(data, dict) or data.get("kind") != "nq21model.calibration":
            raise ParameterError("not a calibration file written by nq21model calibrate")
        cal = cls(**data["options"])
        cal.base_year_ = int(data["base_year"])
        cal.first_year_ = int(data["first_year"])
        cal.fit_years_ = list(data["fit_years"])
        cal.synthetic_ = bool(data.get("synthetic", False))
        cal.results_ = {}
        cal._dispersion_results = {}
        cal.flows_ = {}
        for k, f in data["flows"].items():
            f["spec"]["levels"] = {t: ([int(v) for v in lv] if t == "year" else lv)
                                   for t, lv in f["spec"]["levels"].items()}
            for key in ("alpha_se", "alpha_pvalue"):
                f[key] = float("nan") if f.get(key) is None else float(f[key])
            f["cov"] = [[float("nan") if v is None else v for v in row] for row in f["cov"]]
            cal.flows_[k] = _Flow(**f)
        return cal

    # ------------------------------------------------------------ rates
    def rates(self, dataset: Dataset, last_year: int, *, admission_rate: float | None = None,
              admissions_per_year: float | None = None, uncertainty: bool | None = None,
              draws: int | None = None, seed: int | None = None) -> Rates:
        """Per-cell rates for ``base_year_ + 1 … last_year`` (``Rates``, D = draws).

        ``admission_rate`` (or ``admissions_per_year``) rescales the province's
        admissions in each year and draw to that rate of the expected local members
        at the end of the previous year (or to that number), keeping each cell's
        calibrated share; transfers in stay as calibrated.
        """
        self._check_fitted()
        base = self.base_year_
        steps = int(last_year) - base
        if steps < 1:
            raise ParameterError(f"last year {last_year} must be after the base year {base}")
        if admission_rate is not None and not 0.0 <= admission_rate <= 1.0:
            raise ParameterError(f"admission rate must be in [0, 1], got {admission_rate}")
        if admissions_per_year is not None and admissions_per_year < 0:
            raise ParameterError(f"admissions per year must be ≥ 0, got {admissions_per_year}")
        uncertainty = self.uncertainty if uncertainty is None else uncertainty
        D = (self.draws if draws is None else int(draws)) if uncertainty else 1
        rng = np.random.default_rng(self.seed if seed is None else seed)
        cells = dataset.cells.reset_index(drop=True)
        pop = cells["population"].to_numpy(float)

        def linear(flow: _Flow) -> np.ndarray:
            """(D, n) linear predictor of the static part plus the future year effect."""
            X = _cell_columns(cells, flow.spec)
            X.insert(0, "const", 1.0)
            names = list(flow.params)
            static = [c for c in names if not c.startswith("year[")]
            beta = np.array([flow.params[c] for c in static])
            X = X[static].to_numpy()
            point = X @ beta + flow.future_effect
            if not uncertainty:
                return point[None, :]
            idx = [names.index(c) for c in static]
            cov = np.asarray(flow.cov)[np.ix_(idx, idx)]
            cov = np.where(np.isfinite(cov), cov, 0.0)
            betas = rng.multivariate_normal(beta, cov, size=D, method="eigh")
            shock = flow.future_sd * rng.standard_normal(D)
            eta = betas @ X.T + (flow.future_effect + shock)[:, None]
            return np.clip(eta, point - MAX_DRAW_DEVIATION, point + MAX_DRAW_DEVIATION)

        def multipliers(flow: _Flow) -> np.ndarray:
            obs = np.array([flow.cells.get(c, [0.0, 0.0])[0] for c in cells["cell_id"]])
            exp = np.array([flow.cells.get(c, [0.0, 0.0])[1] for c in cells["cell_id"]])
            if flow.alpha <= 0:
                return np.ones((1, obs.size))
            shape, rate = 1.0 / flow.alpha + obs, 1.0 / flow.alpha + exp
            if uncertainty:
                return rng.gamma(shape, 1.0 / rate, size=(D, obs.size))
            return (shape / rate)[None, :]

        ex, ad, tr = self.flows_["exits"], self.flows_["admissions"], self.flows_["transfers"]
        hazard = 1.0 / (1.0 + np.exp(-linear(ex))) * multipliers(ex)
        survival = 1.0 - np.clip(hazard, 0.0, _MAX_ATTRITION)
        adm = pop / 1000.0 * np.exp(linear(ad)) * multipliers(ad)        # (D, n)
        trn = pop / 1000.0 * np.exp(linear(tr)) * multipliers(tr)
        survival = np.broadcast_to(survival, (D, len(cells))).copy()
        adm = np.broadcast_to(adm, (D, len(cells)))
        trn = np.broadcast_to(trn, (D, len(cells)))
        adm_y = np.repeat(adm[:, :, None], steps, axis=2)
        trn_y = np.repeat(trn[:, :, None], steps, axis=2)
        if admission_rate is not None or admissions_per_year is not None:
            n0 = dataset.members_at(base).to_numpy(float)
            shares = adm / np.maximum(adm.sum(axis=1, keepdims=True), 1e-300)
            expected = np.broadcast_to(n0, (D, n0.size)).copy()
            for j in range(steps):
                if admissions_per_year is not None:
                    total = np.full(D, float(admissions_per_year))
                else:
                    total = admission_rate * expected.sum(axis=1)
                adm_y[:, :, j] = shares * total[:, None]
                expected = survival * expected + adm_y[:, :, j] + trn_y[:, :, j]
        lam = adm_y + trn_y
        info = {"draws": D, "uncertainty": uncertainty, "admissions": adm_y, "transfers": trn_y,
                "alpha": {k: f.alpha for k, f in self.flows_.items()},
                "admission_rate": admission_rate, "admissions_per_year": admissions_per_year}
        return Rates(base_year=base, survival=survival, lam=lam, source="calibrated", info=info)


def _posterior_mean(observed, expected, alpha) -> np.ndarray:
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    if alpha <= 0:
        return np.ones_like(observed)
    return (1.0 / alpha + observed) / (1.0 / alpha + expected)


def calibrate(dataset: Dataset, base_year: int | None = None, **options) -> Calibration:
    """Fit a :class:`Calibration` (options as its constructor) and return it."""
    return Calibration(**options).fit(dataset, base_year=base_year)


def calibrated_rates(dataset: Dataset, base_year: int | None = None, last_year: int | None = None, *,
                     admission_rate: float | None = None, admissions_per_year: float | None = None,
                     **options) -> Rates:
    """Rates fitted on history up to ``base_year`` for ``base_year + 1 … last_year``
    (default: base + 5), ready for ``forecast(dataset, rates=...)``."""
    cal = calibrate(dataset, base_year, **options)
    last_year = cal.base_year_ + 5 if last_year is None else int(last_year)
    return cal.rates(dataset, last_year, admission_rate=admission_rate, admissions_per_year=admissions_per_year)
