"""Admission quotas per cell and year (giao chỉ tiêu kết nạp), handed down the way
the programme does: province → unit → cell (MODEL.md §2 "Quotas").

1. **The province's budget** of village-cell admissions a year: the programme's
   rate of all party members (default 3.5 %, the village cells' share φ of it), a
   rate of local members, or a number (:func:`province_budget`).
2. **Each unit's budget** (district, or the ``--unit`` column): its share of the
   programme's admissions when the totals table has the unit (its members × its
   village share φ_u), else its population share; integers that add up to the
   province's every year. ``pool=True`` lets the province move admissions between
   units (those that lose some are named).
3. **Each cell's quota** from :func:`nq21model.quotas.optimise`: a quota is realised
   only up to the cell's capacity — its calibrated natural rate (empirical-Bayes
   posterior) times a lift (default 2) — so quotas go where they can be met and
   where they lift cells to the threshold; every cell whose population share of
   the period is ≥ 2 admissions gets at least 1; a cell's quota changes by at most
   1 a year.

The population split of the same unit budgets stands beside the plan, and both are
scored at lifts 1, 2 and 3 (:meth:`Allocation.sensitivity`): the gain a board is
shown holds whichever lift is true. The tables and workbooks made of an allocation
are in :mod:`nq21model.quota_tables`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import config
from .data import PROVINCE, Dataset, load_dataset
from .exceptions import ParameterError
from .quotas import QuotaPlan, mixed_values, optimise, population_split

__all__ = ["Allocation", "allocate", "province_budget", "budget_grouping", "unit_budgets", "optimised_quotas",
           "SENSITIVITY_LIFTS"]

#: Lifts at which a plan and the population split are scored side by side.
SENSITIVITY_LIFTS = (1.0, 2.0, 3.0)


@dataclass
class Allocation:
    """Optimised quotas of every cell present in the base year, with the population
    split of the same budgets beside them (made by :func:`allocate`)."""

    dataset: Dataset
    base_year: int
    horizon: int
    thresholds: dict
    unit_column: str
    unit_names: list
    unit: np.ndarray             # (n,) index into unit_names
    budgets: np.ndarray          # (U, Y) int
    province_budget: np.ndarray  # (Y,) float, before rounding
    budget_note: str
    plan: QuotaPlan
    proportional: np.ndarray     # (n, Y) int: the population split
    n0: np.ndarray
    survival: np.ndarray         # (n,)    the optimiser's rates: the means over the parameter draws
    natural: np.ndarray          # (n, Y)
    transfers: np.ndarray        # (n, Y)
    lift: float
    #: ("optimised" | "proportional", lift) → ({k: P(≥ k) (n,)}, expected realised admissions (n,)):
    #: the plan and the population split scored over every parameter draw (:func:`~nq21model.quotas.mixed_values`)
    scores: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        """Calendar years of the quotas."""
        return list(range(self.base_year + 1, self.horizon + 1))

    @property
    def threshold(self) -> int:
        """The threshold the tables' ``p_*`` columns refer to (the highest one)."""
        return max(self.thresholds)

    @property
    def quotas(self) -> np.ndarray:
        """(n, Y) integer quotas."""
        return self.plan.quotas

    @property
    def p_optimised(self) -> dict:
        """Threshold → (n,) P(≥ k) under the plan (the assumed lift), the forecast's
        own: mixed over the parameter draws."""
        return self._scored("optimised", self.lift)[0]

    @property
    def p_proportional(self) -> dict:
        """Threshold → (n,) P(≥ k) under the population split (as :attr:`p_optimised`)."""
        return self._scored("proportional", self.lift)[0]

    @property
    def realised_optimised(self) -> np.ndarray:
        """(n,) admissions each cell is expected to make of its quotas over the period
        (the assumed lift; mixed over the parameter draws)."""
        return self._scored("optimised", self.lift)[1]

    def _scored(self, plan: str, lift: float) -> tuple[dict, np.ndarray]:
        try:
            return self.scores[(plan, float(lift))]
        except KeyError:
            raise ParameterError(f"this allocation has no scores of its {plan} plan at lift {lift:g} (made by an "
                                 "older version, or by hand): make it with allocate()") from None

    def sensitivity(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        """The plan against the population split if cells can admit 1, 2 or 3 times
        their calibrated rate: ``lift, share_proportional, share_optimised, gain``
        (expected share of cells with ≥ the threshold) and ``realised_proportional,
        realised_optimised`` (expected admissions actually made over the period)."""
        mask = np.ones(len(self.n0), bool) if mask is None else mask
        rows = []
        k = self.threshold
        for lift in SENSITIVITY_LIFTS:
            (vo, ro), (vp, rp) = self._scored("optimised", lift), self._scored("proportional", lift)
            vo, vp = vo[k], vp[k]
            rows.append({"lift": lift, "share_proportional": float(vp[mask].mean()),
                         "share_optimised": float(vo[mask].mean()), "gain": float(vo[mask].mean() - vp[mask].mean()),
                         "realised_proportional": float(rp[mask].sum()), "realised_optimised": float(ro[mask].sum())})
        return pd.DataFrame(rows)

    @property
    def place_columns(self) -> list[str]:
        return [c for c in ("district", "commune") if c in self.dataset.cells]

    @property
    def table(self) -> pd.DataFrame:
        """One row per cell and year: ``cell_id, district`` (when present), ``commune,
        cell_name, year, quota, p_proportional, p_optimised``."""
        cells = self.dataset.cells[["cell_id", *self.place_columns, "cell_name"]].reset_index(drop=True)
        n, Y = self.quotas.shape
        frame = cells.loc[np.repeat(np.arange(n), Y)].reset_index(drop=True)
        frame["year"] = np.tile(self.years, n)
        frame["quota"] = self.quotas.ravel()
        frame["p_proportional"] = np.repeat(self.p_proportional[self.threshold], Y)
        frame["p_optimised"] = np.repeat(self.p_optimised[self.threshold], Y)
        return frame

    def quota_table(self) -> pd.DataFrame:
        """``cell_id, year, quota`` — what ``Scenario(allocation="quota")`` takes."""
        return self.table[["cell_id", "year", "quota"]]

    def unit_mask(self, by: str | None, unit: str | None) -> np.ndarray:
        """Cells of ``unit`` (a value of ``by``; None or "Toàn tỉnh": every cell)."""
        if unit is None or unit == PROVINCE:
            return np.ones(len(self.n0), bool)
        by = by or self.unit_column
        if by not in self.dataset.cells:
            raise ParameterError(f"no column '{by}' in the cells table")
        mask = self.dataset.cells[by].eq(unit).to_numpy()
        if not mask.any():
            raise ParameterError(f"no {by} named '{unit}'")
        return mask

    def summary(self, by: str | None = None) -> pd.DataFrame:
        """Per unit (and the province, last): cells, budget, quotas, expected
        admissions realised, and the expected share with ≥ the threshold under the
        population split and the plan."""
        by = by or self.unit_column
        names = sorted(self.dataset.cells[by].astype(str).unique())
        rows = []
        k = self.threshold
        realised = self.realised_optimised
        for name in names + [PROVINCE]:
            mask = self.unit_mask(by, name)
            row = {"unit": name, "cells": int(mask.sum()), "quota_total": int(self.quotas[mask].sum()),
                   "proportional_total": int(self.proportional[mask].sum()),
                   "realised_optimised": float(realised[mask].sum()),
                   f"share_proportional_{k}": float(self.p_proportional[k][mask].mean()),
                   f"share_optimised_{k}": float(self.p_optimised[k][mask].mean())}
            if by == self.unit_column and name != PROVINCE:
                u = self.unit_names.index(name)
                row["budget"] = int(self.budgets[u].sum())
                row["transfer"] = int(self.plan.unit_transfer[u])
            rows.append(row)
        return pd.DataFrame(rows)

    def print_summary(self, by: str | None = None) -> None:
        """Print the summary and the sensitivity to the lift."""
        print(format_summary(self, by))


def format_summary(a: Allocation, by: str | None = None) -> str:
    """The allocation as text (English, numbers as the CLI prints them)."""
    table = a.summary(by)
    k = a.threshold
    lines = [f"Admission quotas {a.years[0]}–{a.years[-1]} (base {a.base_year}, horizon {a.horizon}): {a.budget_note}",
             f"Province budget a year: {', '.join(str(int(b)) for b in a.budgets.sum(axis=0))}; handed down "
             f"by {a.unit_column}" + (" and pooled across units" if a.plan.pooled else "")
             + f"; a cell admits at most {a.lift:g}× its calibrated rate"]
    if a.dataset.synthetic:
        lines.append("Dữ liệu mô phỏng (synthetic data)")
    head = f"{'unit':<24}{'cells':>6}{'quota':>7}{'realised':>9}{'≥' + str(k) + ' by population':>17}{'≥' + str(k) + ' plan':>10}"
    lines += ["", f"Expected share of cells with ≥ {k} local members in {a.horizon}", head]
    for _, r in table.iterrows():
        lines.append(f"{str(r['unit']):<24}{r['cells']:>6}{r['quota_total']:>7}{r['realised_optimised']:>9.0f}"
                     f"{100 * r[f'share_proportional_{k}']:>16.1f}%{100 * r[f'share_optimised_{k}']:>9.1f}%")
    sens = a.sensitivity()
    lines += ["", "If cells can admit L × their calibrated rate (the gain must hold whichever L is true):",
              f"{'L':>4}{'by population':>15}{'plan':>8}{'gain':>8}{'admitted (pop.)':>17}{'admitted (plan)':>17}"]
    for _, r in sens.iterrows():
        lines.append(f"{r['lift']:>4g}{100 * r['share_proportional']:>14.1f}%{100 * r['share_optimised']:>7.1f}%"
                     f"{100 * r['gain']:>+7.1f}{r['realised_proportional']:>17.0f}{r['realised_optimised']:>17.0f}")
    unplaced = int(a.plan.info.get("unplaced", 0))
    if unplaced > 0:  # budget no cell can take at the lift: said, never silently dropped
        short = [f"{a.unit_names[u]} ({int(a.plan.unit_unplaced[u])})" for u in np.flatnonzero(a.plan.unit_unplaced > 0)]
        lines.append(f"Not placed: {unplaced} admissions of the budget, above what the cells can admit at "
                     f"{a.lift:g}× their calibrated rate" + (f" — {', '.join(short)}" if short else "")
                     + "; check the data (a population typed wrong shifts a budget split by population)"
                     + ("" if a.plan.pooled else ", or --pool lets other units take them")
                     + "; --max-lift raises the cap")
    losing = [a.unit_names[u] for u in a.plan.losing_units]
    if losing:
        lines.append("Units giving admissions to others (pooled): " + ", ".join(
            f"{a.unit_names[u]} ({int(a.plan.unit_transfer[u])})" for u in a.plan.losing_units))
    return "\n".join(lines)


# ------------------------------------------------------------------- budgets


def province_budget(dataset: Dataset, base_year: int, horizon: int, *, admission_rate: float | None = None,
                    admissions_per_year: float | None = None, admission_base: str | None = None,
                    natural=None) -> tuple[np.ndarray, str]:
    """Village-cell admissions a year for the years after ``base_year`` → ((Y,), note).

    Default: the programme's 3.5 % of all party members (the totals table), the
    village cells' share of it; without totals, 3.5 % of the village cells' local
    members."""
    from .scenario import Scenario, scenario_rates

    default = admission_rate is None and admissions_per_year is None
    if default:
        admission_rate = config.ADMISSION_RATE
    # an explicit rate is the programme's (all members: refused without totals); the
    # default budget falls back to local members, and says so
    base = admission_base or ("all" if dataset.totals is not None or not default else "local")
    scenario = Scenario(admission_rate=admission_rate, admissions_per_year=admissions_per_year,
                        admission_base=base, fixed_rates=natural is None,
                        allocation="population" if natural is None else None)
    rates = scenario_rates(dataset, scenario, base_year, horizon, natural=natural)
    budget = rates.admissions.sum(axis=1).mean(axis=0)
    note = scenario.label + (" (không có bảng tổng số đảng viên: tỷ lệ trên số đảng viên tại chỗ)"
                             if default and base == "local" and admission_base is None else "")
    return budget, note


def budget_grouping(dataset: Dataset, by: str, base_year: int) -> str:
    """The grouping whose units a briefing batch hands the province's budget to: ``by``
    when the totals table has its units' members (the programme's rate) or the data
    have no district, else the district (its totals' shares, else its population's) —
    a commune's cells then take their quotas from their district's plan (a new
    commune over two former districts: from both plans), so that a cell has one quota
    whichever grouping a report uses."""
    def has_totals(column: str) -> bool:
        if dataset.totals is None or column not in dataset.cells:
            return False
        return all(base_year in dataset.unit_totals("members", u).index
                   for u in dataset.cells[column].astype(str).unique())

    if by == "district" or has_totals(by) or "district" not in dataset.cells:
        return by
    return "district"


def unit_budgets(dataset: Dataset, active: Dataset, by: str, budget: np.ndarray,
                 base_year: int) -> tuple[list, np.ndarray, np.ndarray, str]:
    """Each unit's integer budget a year (adding up to ⌊budget⌋) → (names, unit of
    each cell, (U, Y) budgets, how they were shared)."""
    from .quota_rules import _largest_remainder

    codes, names = pd.factorize(active.cells[by].astype(str), sort=True)
    names = list(names)
    weight, how = None, "theo dân số"
    members = {u: dataset.unit_totals("members", u) for u in names} if dataset.totals is not None else {}
    if members and all(base_year in m.index for m in members.values()):
        weight = np.array([members[u][base_year] * np.nan_to_num(dataset.village_share(base_year, u, by)[0])
                           for u in names])
        how = "theo tỷ lệ kết nạp của Chương trình (số đảng viên của đơn vị, phần của chi bộ thôn, bản)"
    if weight is None or weight.sum() <= 0:
        weight = np.bincount(codes, weights=active.cells["population"].to_numpy(float), minlength=len(names))
        how = "theo dân số"
    totals = np.floor(np.asarray(budget, float) + 1e-9).astype(np.int64)
    share = weight / weight.sum()
    Y = totals.size
    exact = (share[:, None] * totals[None, :]).T.ravel()                  # year-major
    group = np.repeat(np.arange(Y), len(names))
    out = _largest_remainder(exact, group, totals).reshape(Y, len(names)).T
    return names, codes.astype(np.int64), out, how


# ----------------------------------------------------------------- allocate


def allocate(dataset: Dataset | None = None, *, base_year: int | None = None, horizon: int | None = None,
             thresholds=None, admissions_per_year: float | None = None, admission_rate: float | None = None,
             admission_base: str | None = None, unit: str | None = None, pool: bool = False,
             max_lift: float = 2.0, floor: float | None = 2.0, cap: int | None = None, calibration=None,
             rates=None) -> Allocation:
    """Optimise admission quotas per cell and year.

    Parameters
    ----------
    dataset : Dataset, optional
        Default the bundled synthetic province.
    base_year, horizon : int, optional
        Default the last year of history and the last target year after it (2030).
    thresholds : int, iterable of int or dict {k: weight}, optional
        Default the highest threshold of the horizon (5 for 2030, 3 for 2025).
    admissions_per_year, admission_rate, admission_base
        The province's budget (:func:`province_budget`); default 3.5 % of all members.
    unit : str, optional
        The cells column budgets are handed down by (default district, or commune).
    pool : bool
        Let the province move admissions between units.
    max_lift : float
        A cell admits at most this many times its calibrated rate.
    floor : float or None
        At least 1 for every cell whose population share of the period's budget is
        ≥ ``floor`` admissions (default 2; None: no floor).
    cap : int, optional
        Most quota per cell and year, whatever the cell's capacity.
    calibration, rates
        A fitted Calibration, or its natural rates for the cells present in the base
        year (``Rates``), to use instead of fitting. Default: a Calibration fitted on
        history up to the base year with parameter draws, as the forecast's (the
        optimiser takes the mean rates over the draws), so that these quotas are a
        batch of briefings' on the same data.
    """
    from .calibrate import Calibration, can_calibrate

    dataset = dataset if dataset is not None else load_dataset()
    base_year = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base_year)
    if horizon is None:
        from .forecast import default_horizons

        horizon = default_horizons(base_year)[-1]
    horizon = int(horizon)
    if not base_year < horizon <= base_year + 50:
        raise ParameterError(f"horizon {horizon} must be after the base year {base_year} (and within 50 years); "
                             "quotas are for the years after it")
    if thresholds is None:
        thresholds = {max(config.TARGETS.get(horizon, config.THRESHOLDS)): 1.0}
    elif not isinstance(thresholds, dict):
        thresholds = {int(k): 1.0 for k in np.atleast_1d(thresholds)}
    if any(int(k) < 1 for k in thresholds):
        raise ParameterError(f"thresholds must be ≥ 1, got {sorted(thresholds)}")
    if admission_rate is not None and admissions_per_year is not None:
        raise ParameterError("give the budget as admissions per year or as an admission rate, not both")
    if not 0 < max_lift <= 100:
        raise ParameterError(f"the lift must be in (0, 100], got {max_lift}")
    if floor is not None and not 0 <= floor <= 1e6:
        raise ParameterError(f"the floor is a number of admissions ≥ 0, got {floor}")
    if cap is not None and cap < 0:
        raise ParameterError(f"the cap must be ≥ 0, got {cap}")
    active = dataset.at_base(base_year)
    by = unit or dataset.default_unit
    if by not in active.cells:
        raise ParameterError(f"no column '{by}' in the cells table")
    if rates is None:
        if not can_calibrate(dataset, base_year):
            raise ParameterError(f"quotas need each cell's calibrated rate, from at least 3 years of history "
                                 f"before the base year {base_year}; the history covers "
                                 f"{dataset.first_year}–{dataset.last_year}"
                                 + ("" if base_year == dataset.last_year else ": choose a later base year"))
        # the forecast's own calibration (parameter draws): the quotas of `allocate` are the
        # quotas of a batch of briefings on the same data
        calibration = calibration or Calibration().fit(dataset, base_year)
        rates = calibration.rates(active, horizon)
    Y = horizon - base_year
    draws = (rates.survival, rates.admissions[:, :, :Y],
             rates.info.get("transfers", np.zeros_like(rates.admissions))[:, :, :Y])
    survival, natural, transfers = (x.mean(axis=0) for x in draws)  # the optimiser plans on the means
    budget, note = province_budget(dataset, base_year, horizon, admission_rate=admission_rate,
                                   admissions_per_year=admissions_per_year, admission_base=admission_base,
                                   natural=rates)
    names, codes, budgets, how = unit_budgets(dataset, active, by, budget, base_year)
    n0 = active.members_at(base_year).to_numpy(np.int64)
    population = active.cells["population"].to_numpy(float)
    plan = optimise(n0, survival, natural, transfers, codes, budgets, population=population,
                    thresholds=thresholds, lift=max_lift, pool=pool, floor_rule=floor is not None,
                    floor_share=2.0 if floor is None else float(floor), cap=cap)
    proportional = population_split(budgets, codes, population)
    # what it reports is scored over every draw: what a forecast of the plan gives
    scores = mixed_values({"optimised": plan.quotas, "proportional": proportional}, n0, *draws,
                          lifts={float(max_lift), *SENSITIVITY_LIFTS}, thresholds=thresholds)
    return Allocation(dataset=active, base_year=base_year, horizon=horizon, thresholds=dict(thresholds),
                      unit_column=by, unit_names=names, unit=codes, budgets=budgets, province_budget=budget,
                      budget_note=f"{note}; units' budgets {how}", plan=plan, proportional=proportional,
                      n0=n0, survival=survival, natural=natural, transfers=transfers, lift=float(max_lift),
                      scores=scores,
                      info={"seconds": plan.info["seconds"], "checks": plan.info["checks"], "shared": how})


def optimised_quotas(dataset: Dataset, scenario, base_year: int, horizon: int) -> pd.DataFrame:
    """Optimised quotas ``cell_id, year, quota`` for a scenario's budget (the
    explorer's "theo chỉ tiêu tối ưu": ``Explorer(quota_provider=optimised_quotas)``)."""
    budget = ({"admissions_per_year": scenario.admissions_per_year} if scenario.admissions_per_year is not None
              else {"admission_rate": scenario.rate, "admission_base": scenario.admission_base})
    return allocate(dataset, base_year=base_year, horizon=horizon, **budget).quota_table()
