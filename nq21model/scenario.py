"""A scenario of admissions and the per-cell rates it gives (MODEL.md §2).

* **continue** (the default): each cell's calibrated rates carried forward, with
  their uncertainty — what happens if nothing changes;
* **programme rate** ``admission_rate=r`` (base ``all``): the province admits
  ``A_y = r · E[All_{y−1}]``, ``All`` the members of the whole party organisation
  (the totals table) carried forward with its recent net change; village cells
  receive ``φ · A_y``, φ their share of all admissions over the last three years;
* **a number** ``admissions_per_year=N``: the village cells admit N a year;
* **quotas** (``allocation="quota"``): each cell's quota per year, realised up to
  what the cell can admit (its capacity, ``max_lift`` × its calibrated rate);
* **textbook fixed rates** (``fixed_rates=True``, ``admission_base="local"``): one
  survival ``1 − a`` for every cell and ``R_y = r · E[M_{y−1}]``, M the local members
  of all cells — the exact process the engine is tested against.

A province total is split over cells by their calibrated shares (``calibrated``),
by ``population``, or by local ``members`` at the base year.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import config
from .data import Dataset
from .exceptions import DataError, ParameterError, Violation

ALLOCATIONS = ("calibrated", "population", "members", "quota")
ADMISSION_BASES = ("all", "local")

#: Largest number of admissions a year a scenario may ask for (the whole country
#: admits about 200,000 a year).
MAX_ADMISSIONS = 1_000_000
ALLOCATION_LABELS = {"calibrated": "theo khả năng của từng chi bộ", "population": "theo dân số",
                     "members": "theo số đảng viên", "quota": "theo chỉ tiêu giao"}
#: Years of history whose admissions give φ and the members' recent net change.
PROGRAMME_YEARS = 3


@dataclass(frozen=True)
class Scenario:
    """What a forecast assumes about admissions.

    Parameters
    ----------
    admission_rate : float, optional
        The programme's rate: admissions a year as a share of all party members
        (``admission_base="all"``) or of the village cells' local members
        (``"local"``), in [0, 1]. None with ``admissions_per_year`` None: continue
        as calibrated (fixed rates: ``config.ADMISSION_RATE``).
    admissions_per_year : float, optional
        Admissions of the village cells a year, as a number.
    admission_base : {"all", "local"}
    fixed_rates : bool
        One survival ``1 − attrition_rate`` for every cell and no calibration.
    attrition_rate : float
        Yearly probability that a local member leaves (fixed rates only), in [0, 1).
    allocation : {"calibrated", "population", "members", "quota"}, optional
        How a total is split over cells; default ``calibrated`` (fixed rates:
        ``population``).
    quotas : DataFrame, optional
        ``cell_id, year, quota``; required with ``allocation="quota"``.
    max_lift : float
        A cell's capacity is its calibrated rate times this (quotas above it are not
        realised).
    """

    admission_rate: float | None = None
    admissions_per_year: float | None = None
    admission_base: str = "all"
    fixed_rates: bool = False
    attrition_rate: float = config.ATTRITION_RATE
    allocation: str | None = None
    quotas: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    max_lift: float = 2.0

    def __post_init__(self):
        if self.admission_rate is not None and not 0.0 <= self.admission_rate <= 1.0:
            raise ParameterError(f"admission rate must be in [0, 1], got {self.admission_rate}")
        if self.admission_rate is not None and self.admissions_per_year is not None:
            raise ParameterError("give admissions as a rate or as a number a year, not both")
        if self.admissions_per_year is not None and not 0 <= self.admissions_per_year <= MAX_ADMISSIONS:
            raise ParameterError(f"admissions per year must be a number from 0 to {MAX_ADMISSIONS:,}, "
                                 f"got {self.admissions_per_year}")
        if not 0.0 <= self.attrition_rate < 1.0:
            raise ParameterError(f"attrition rate must be in [0, 1), got {self.attrition_rate}")
        if self.admission_base not in ADMISSION_BASES:
            raise ParameterError(f"admission base must be 'all' or 'local', got '{self.admission_base}'")
        if self.allocation is not None and self.allocation not in ALLOCATIONS:
            raise ParameterError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got '{self.allocation}'")
        if self.allocation == "calibrated" and self.fixed_rates:
            raise ParameterError("allocation 'calibrated' needs calibrated rates (leave out --fixed-rates)")
        if self.allocation == "quota" and self.quotas is None:
            raise ParameterError("allocation 'quota' needs a quotas table (--quotas FILE)")
        if not 0.0 < self.max_lift <= 100.0:
            raise ParameterError(f"the lift must be in (0, 100], got {self.max_lift}")
        if self.quotas is not None and (self.admission_rate is not None or self.admissions_per_year is not None):
            raise ParameterError("quotas are the admissions of every cell and year: leave out --admission-rate "
                                 "and --admissions-per-year with --quotas")
        if self.allocation in ("population", "members") and not self.fixed_rates and \
                self.admission_rate is None and self.admissions_per_year is None:
            raise ParameterError("--allocation splits a total of admissions: give --admission-rate R or "
                                 "--admissions-per-year N (to continue as now, each cell keeps its own "
                                 "calibrated rate)")

    @classmethod
    def textbook(cls, admission_rate: float = config.ADMISSION_RATE, attrition_rate: float = config.ATTRITION_RATE,
                 allocation: str = "population", **kw) -> "Scenario":
        """The textbook process: fixed rates, admissions a share of local members (or
        ``admissions_per_year``, or quotas)."""
        if kw.get("admissions_per_year") is not None or kw.get("quotas") is not None:
            admission_rate = None
        return cls(admission_rate=admission_rate, attrition_rate=attrition_rate, allocation=allocation,
                   fixed_rates=True, admission_base="local", **kw)

    def with_(self, **changes) -> "Scenario":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def split(self) -> str:
        """The allocation in force."""
        if self.quotas is not None and self.allocation in (None, "quota"):
            return "quota"
        return self.allocation or ("population" if self.fixed_rates else "calibrated")

    @property
    def kind(self) -> str:
        """``continue``, ``rate``, ``number`` or ``quota``."""
        if self.split == "quota":
            return "quota"
        if self.admissions_per_year is not None:
            return "number"
        if self.admission_rate is not None or self.fixed_rates:
            return "rate"
        return "continue"

    @property
    def rate(self) -> float | None:
        """The admission rate in force (fixed rates default to ``config.ADMISSION_RATE``)."""
        if self.kind != "rate":
            return None
        return config.ADMISSION_RATE if self.admission_rate is None else self.admission_rate

    @property
    def label(self) -> str:
        """Short Vietnamese description, e.g. 'kết nạp 3,5% tổng số đảng viên/năm'."""
        from .fmt import format_number, format_percent

        kind = self.kind
        if kind == "continue":
            admit = "giữ nguyên xu hướng kết nạp hiện nay"
        elif kind == "quota":
            admit = "kết nạp theo chỉ tiêu giao"
        elif kind == "number":
            admit = f"chi bộ thôn, bản kết nạp {format_number(self.admissions_per_year)} đảng viên/năm"
        else:
            base = "tổng số đảng viên" if self.admission_base == "all" else "số đảng viên tại chỗ"
            admit = f"kết nạp {format_percent(self.rate)} {base}/năm"
        parts = [admit]
        if self.fixed_rates:
            parts.append(f"giảm {format_percent(self.attrition_rate)}/năm")
        if kind in ("rate", "number") and self.split != "calibrated":
            parts.append(f"phân bổ {ALLOCATION_LABELS[self.split]}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Rates:
    """Per-cell yearly survival and admissions' Poisson means from B+1 on.

    ``survival`` has shape (D, n) and ``lam`` (D, n, Y) for the years
    ``base_year + 1 … base_year + Y``; D > 1 carries parameter uncertainty (draws
    to mix over), D = 1 fixed rates. ``info`` may hold ``admissions`` and
    ``transfers`` (D, n, Y), the two parts of ``lam``.
    """

    base_year: int
    survival: np.ndarray
    lam: np.ndarray
    source: str = "fixed"
    info: dict = field(default_factory=dict, compare=False)

    @property
    def years(self) -> np.ndarray:
        """Calendar years the admissions refer to."""
        return self.base_year + 1 + np.arange(self.lam.shape[-1])

    @property
    def draws(self) -> int:
        """Number of parameter draws (1 for fixed rates)."""
        return self.survival.shape[0]

    @property
    def admissions(self) -> np.ndarray:
        """(D, n, Y) Poisson means of admissions (without transfers in)."""
        return self.info.get("admissions", self.lam)


# ------------------------------------------------------------ the programme's base


@dataclass(frozen=True)
class ProgrammeBase:
    """All party members carried forward and the village cells' share of admissions."""

    year: int             # last year of the totals at or before the base year
    members: float        # all members that year
    growth: float         # mean yearly net change of all members over the recent years
    phi: float            # village cells' share of all admissions over the recent years
    years: tuple          # the years behind growth and φ

    def members_at(self, year: int) -> float:
        """Expected members of the whole organisation at the end of ``year``."""
        return self.members * (1.0 + self.growth) ** (year - self.year)


def programme_base(dataset: Dataset, base_year: int, unit: str | None = None, by: str | None = None
                   ) -> ProgrammeBase:
    """The programme's base of admission rates from the totals table (MODEL.md §2),
    for the province or for ``unit`` (a value of ``by``, default the data's grouping,
    that the totals table has); ParameterError saying what is missing."""
    from pathlib import Path

    members = dataset.unit_totals("members", unit)
    admitted = dataset.unit_totals("admitted", unit)
    members = members[members.index <= base_year]
    admitted = admitted[admitted.index <= base_year]
    what = ("the programme's admission rate is a share of ALL party members (docs/model.md §3), so it needs a "
            "totals table (unit, year, members, admitted; totals.csv beside the cells file or --totals F)")
    if dataset.totals is None:
        raise ParameterError(f"{what}; none was given. Use --admission-base local for a share of the village "
                             "cells' local members, or --admissions-per-year N")
    source = Path(dataset.sources.get("totals", "totals")).name
    if members.empty or admitted.empty:
        raise ParameterError(f"{source}: {what}; it has no members and admitted for the province (a "
                             f"'Toàn tỉnh' row, or every {dataset.default_unit}) up to {base_year}")
    phi, common = dataset.village_share(base_year, unit, by, years=PROGRAMME_YEARS)
    if not common:
        raise ParameterError(f"{source}: no year up to {base_year} with admissions both in the totals and in "
                             "the history, so the village cells' share of admissions is unknown")
    recent = members.iloc[-(PROGRAMME_YEARS + 1):]
    growth = float((recent.iloc[-1] / recent.iloc[0]) ** (1.0 / max(1, len(recent) - 1)) - 1.0) \
        if len(recent) > 1 and recent.iloc[0] > 0 else 0.0
    return ProgrammeBase(year=int(members.index[-1]), members=float(members.iloc[-1]), growth=growth,
                         phi=phi, years=common)


# --------------------------------------------------------------------- the rates


def allocation_shares(dataset: Dataset, allocation: str, base_year: int) -> np.ndarray:
    """Each cell's share of a total under ``population`` or ``members`` (cells of
    ``dataset``, which should be those present in the base year)."""
    if allocation == "population":
        weight = dataset.cells["population"].to_numpy(dtype=float)
    elif allocation == "members":
        weight = dataset.members_at(base_year).to_numpy(dtype=float)
    else:
        raise ParameterError(f"no shares for allocation '{allocation}'")
    weight = np.nan_to_num(weight)
    total = weight.sum()
    return weight / total if total > 0 else np.zeros(weight.size)  # no members anywhere: nobody gets any


def quota_matrix(quotas: pd.DataFrame, dataset: Dataset, years) -> np.ndarray:
    """Quotas as a cells × years array (cells order of ``dataset``), checked for gaps."""
    table = quotas.pivot_table(index="cell_id", columns="year", values="quota", aggfunc="sum")
    years = list(years)
    source = quotas.attrs.get("source", "quotas")
    missing_years = [y for y in years if y not in table.columns]
    if missing_years:
        raise DataError(Violation(source, None, "year",
                                  f"no quotas for year(s) {', '.join(map(str, missing_years))}"))
    late = ~quotas["year"].isin(years).to_numpy()
    gone = ~quotas["cell_id"].isin(dataset.cells["cell_id"]).to_numpy()
    if late.any() or gone.any():  # a quota that cannot act is said, not dropped unsaid
        import warnings

        from .exceptions import DataWarning

        rows = quotas.attrs.get("rows") or [None] * len(quotas)
        outside = sorted(set(quotas.loc[late, "year"].tolist()))
        why = list(dict.fromkeys(f"row {rows[i]}" if rows[i] is not None else f"'{quotas['cell_id'].iloc[i]}'"
                                 for i in np.flatnonzero(gone)))  # a list with a column a year: a row once
        parts = [f"quotas of {', '.join(map(str, outside))}, outside the forecast's {years[0]}–{years[-1]}"] \
            if outside else []
        if why:
            parts.append(f"cells not present in the base year: {', '.join(why[:8])}{' …' if len(why) > 8 else ''}")
        warnings.warn(f"{source}: not used — {'; '.join(parts)}", DataWarning, stacklevel=2)
    table = table.reindex(index=dataset.cells["cell_id"], columns=years)
    lacking = table.index[table.isna().any(axis=1)].tolist()
    if lacking:
        shown = ", ".join(lacking[:5]) + (" …" if len(lacking) > 5 else "")
        raise DataError(Violation(source, None, "cell_id",
                                  f"{len(lacking)} cells have no quota for every year {years[0]}–{years[-1]}: {shown}"))
    return table.to_numpy(dtype=float)


def scenario_rates(dataset: Dataset, scenario: Scenario, base_year: int, last_year: int, *,
                   natural: Rates | None = None) -> Rates:
    """The scenario's rates for the cells present in ``base_year``, years
    ``base_year + 1 … last_year``.

    ``dataset`` is the whole data; the rates are for ``dataset.at_base(base_year)``.
    ``natural``: the calibrated rates of those cells (``Calibration.rates``), which
    every scenario but the textbook one (``fixed_rates``) starts from.
    """
    active = dataset.at_base(base_year)
    steps = last_year - base_year
    n = len(active.cells)
    if scenario.fixed_rates:
        survival = np.full((1, n), 1.0 - scenario.attrition_rate)
        base_adm, transfers = None, np.zeros((1, n, steps))
        source = "fixed"
    else:
        if natural is None:
            raise ParameterError("calibrated scenarios start from the calibrated rates: pass natural= "
                                 "(Calibration().fit(dataset, base_year).rates(dataset.at_base(base_year), last_year))")
        survival, base_adm = natural.survival, natural.admissions[:, :, :steps]
        transfers = natural.info.get("transfers", np.zeros_like(base_adm))[:, :, :steps]
        source = "calibrated"
    kind = scenario.kind
    info = {"scenario": scenario.label}
    if kind == "continue":
        adm = base_adm
    elif kind == "quota":
        q = quota_matrix(scenario.quotas, active, range(base_year + 1, last_year + 1))[None]
        adm = q if base_adm is None else np.minimum(q, scenario.max_lift * base_adm)
    else:
        if scenario.split == "calibrated":
            total = base_adm.sum(axis=2)
            shares = total / np.maximum(total.sum(axis=1, keepdims=True), 1e-300)
        else:
            shares = allocation_shares(active, scenario.split, base_year)[None, :]
        totals = _village_totals(dataset, active, scenario, base_year, steps, survival, shares, transfers, info)
        adm = shares[:, :, None] * totals[:, None, :]
    D = max(survival.shape[0], adm.shape[0])
    adm = np.broadcast_to(adm, (D, n, steps))
    transfers = np.broadcast_to(transfers, (D, n, steps))
    info.update({"admissions": adm, "transfers": transfers, "draws": D,
                 "uncertainty": source == "calibrated" and D > 1,
                 "village_admissions": adm.sum(axis=1).mean(axis=0)})  # (Y,) expected, every cell
    if natural is not None:
        info["natural"] = natural
    return Rates(base_year=base_year, survival=np.broadcast_to(survival, (D, n)).copy(), lam=adm + transfers,
                 source=source, info=info)


def _village_totals(dataset, active, scenario, base_year, steps, survival, shares, transfers, info) -> np.ndarray:
    """(D, steps) admissions of the village cells each year under a rate or a number."""
    D = max(survival.shape[0], shares.shape[0])
    if scenario.kind == "number":
        return np.full((D, steps), float(scenario.admissions_per_year))
    rate = scenario.rate
    if scenario.admission_base == "all":
        base = programme_base(dataset, base_year)
        years = np.arange(base_year + 1, base_year + steps + 1)
        province = np.array([rate * base.members_at(y - 1) for y in years])
        info.update({"programme_base": base, "province_admissions": province})
        return np.broadcast_to(base.phi * province, (D, steps)).copy()
    # a share of the expected local members at the end of the previous year
    expected = np.broadcast_to(active.members_at(base_year).to_numpy(float), (D, len(active.cells))).copy()
    out = np.empty((D, steps))
    for j in range(steps):
        out[:, j] = rate * expected.sum(axis=1)
        expected = survival * expected + out[:, j:j + 1] * shares + transfers[:, :, j]
    return out


def province_admissions(n0: np.ndarray, survival: np.ndarray, shares: np.ndarray,
                        steps: int, *, rate: float | None = None,
                        per_year: float | None = None) -> np.ndarray:
    """Textbook province admissions ``R_y`` for y = B+1 … B+steps:
    ``R_y = rate * E[M_{y-1}]`` with ``E[N_i,y] = s_i E[N_i,y-1] + R_y share_i`` (for a
    common survival ``E[M_y] = (s + r) E[M_{y-1}]``), or ``per_year`` each year."""
    if per_year is not None:
        return np.full(steps, float(per_year))
    expected = n0.astype(float)
    out = np.empty(steps)
    for j in range(steps):
        out[j] = rate * expected.sum()
        expected = survival * expected + out[j] * shares
    return out


def fixed_rates(dataset: Dataset, scenario: Scenario, base_year: int, last_year: int) -> Rates:
    """The textbook scenario's rates (D = 1) for the cells present in ``base_year``."""
    if not scenario.fixed_rates:
        scenario = scenario.with_(fixed_rates=True, allocation=scenario.allocation or "population")
    return scenario_rates(dataset, scenario, base_year, last_year)
