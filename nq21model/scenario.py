"""A scenario: rates, allocation rule; and its per-cell rates (MODEL.md §2).

Province admissions in year y are ``R_y = r * E[M_{y-1}]`` (or a fixed number a
year), ``E[M_B]`` the observed total of local members. An allocation splits
``R_y`` over cells: by ``population`` (default), by local ``members`` at the base
year, or by explicit ``quota`` per cell and year.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import config
from .data import Dataset
from .exceptions import DataError, ParameterError, Violation

ALLOCATIONS = ("population", "members", "quota")

#: Largest number of admissions a year a scenario may ask for (the whole country
#: admits about 200,000 a year).
MAX_ADMISSIONS = 1_000_000
ALLOCATION_LABELS = {"population": "theo dân số", "members": "theo số đảng viên",
                     "quota": "theo chỉ tiêu giao"}


@dataclass(frozen=True)
class Scenario:
    """Fixed-rate scenario.

    Parameters
    ----------
    admission_rate : float
        Province admissions a year as a share of the expected local members at the
        end of the previous year, in [0, 1]. Ignored when ``admissions_per_year``
        is given.
    attrition_rate : float
        Yearly probability that a local member leaves, in [0, 1).
    admissions_per_year : float, optional
        Province admissions a year as a number (the programme's "≥ 1,000 a year").
    allocation : {"population", "members", "quota"}
        How province admissions are split over cells.
    quotas : DataFrame, optional
        ``cell_id, year, quota``; required with ``allocation="quota"``.
    achievement : float
        Realised admissions for a quota q are Poisson(q · achievement).
    """

    admission_rate: float = config.ADMISSION_RATE
    attrition_rate: float = config.ATTRITION_RATE
    admissions_per_year: float | None = None
    allocation: str = "population"
    quotas: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    achievement: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.admission_rate <= 1.0:
            raise ParameterError(f"admission rate must be in [0, 1], got {self.admission_rate}")
        if not 0.0 <= self.attrition_rate < 1.0:
            raise ParameterError(f"attrition rate must be in [0, 1), got {self.attrition_rate}")
        if self.admissions_per_year is not None and not 0 <= self.admissions_per_year <= MAX_ADMISSIONS:
            raise ParameterError(f"admissions per year must be a number from 0 to {MAX_ADMISSIONS:,}, "
                                 f"got {self.admissions_per_year}")
        if self.allocation not in ALLOCATIONS:
            raise ParameterError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got '{self.allocation}'")
        if self.allocation == "quota" and self.quotas is None:
            raise ParameterError("allocation 'quota' needs a quotas table (--quotas FILE)")
        if not 0.0 <= self.achievement <= 10.0:
            raise ParameterError(f"achievement must be in [0, 10], got {self.achievement}")

    def with_(self, **changes) -> "Scenario":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def label(self) -> str:
        """Short Vietnamese description, e.g. 'kết nạp 3,5 %/năm, giảm 2 %/năm, theo dân số'."""
        from .fmt import format_number, format_percent

        if self.allocation == "quota":
            admit = "kết nạp theo chỉ tiêu giao"
        elif self.admissions_per_year is not None:
            admit = f"kết nạp {format_number(self.admissions_per_year)} đảng viên/năm"
        else:
            admit = f"kết nạp {format_percent(self.admission_rate)}/năm"
        alloc = "" if self.allocation == "quota" else f", phân bổ {ALLOCATION_LABELS[self.allocation]}"
        return f"{admit}, giảm {format_percent(self.attrition_rate)}/năm{alloc}"


@dataclass(frozen=True)
class Rates:
    """Per-cell yearly survival and admissions' Poisson means from B+1 on.

    ``survival`` has shape (D, n) and ``lam`` (D, n, Y) for the years
    ``base_year + 1 … base_year + Y``; D > 1 carries parameter uncertainty (draws
    to mix over), D = 1 fixed rates.
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


def province_admissions(n0: np.ndarray, survival: np.ndarray, shares: np.ndarray,
                        steps: int, *, rate: float | None = None,
                        per_year: float | None = None) -> np.ndarray:
    """Province admissions ``R_y`` for y = B+1 … B+steps.

    ``R_y = rate * E[M_{y-1}]`` with ``E[N_i,y] = s_i E[N_i,y-1] + R_y share_i`` (for a
    common survival this is ``E[M_y] = (s + r) E[M_{y-1}]``), or ``per_year`` each year.
    """
    if per_year is not None:
        return np.full(steps, float(per_year))
    expected = n0.astype(float)
    out = np.empty(steps)
    for j in range(steps):
        out[j] = rate * expected.sum()
        expected = survival * expected + out[j] * shares
    return out


def allocation_shares(dataset: Dataset, allocation: str, base_year: int) -> np.ndarray:
    """Each cell's share of province admissions under ``population`` or ``members``."""
    if allocation == "population":
        weight = dataset.cells["population"].to_numpy(dtype=float)
    elif allocation == "members":
        weight = dataset.members_at(base_year).to_numpy(dtype=float)
    else:
        raise ParameterError(f"no shares for allocation '{allocation}'")
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
    table = table.reindex(index=dataset.cells["cell_id"], columns=years)
    lacking = table.index[table.isna().any(axis=1)].tolist()
    if lacking:
        shown = ", ".join(lacking[:5]) + (" …" if len(lacking) > 5 else "")
        raise DataError(Violation(source, None, "cell_id",
                                  f"{len(lacking)} cells have no quota for every year {years[0]}–{years[-1]}: {shown}"))
    return table.to_numpy(dtype=float)


def fixed_rates(dataset: Dataset, scenario: Scenario, base_year: int, last_year: int) -> Rates:
    """The scenario's rates per cell for base_year + 1 … last_year (D = 1)."""
    steps = last_year - base_year
    n = len(dataset.cells)
    survival = np.full(n, 1.0 - scenario.attrition_rate)
    if scenario.allocation == "quota":
        lam = quota_matrix(scenario.quotas, dataset, range(base_year + 1, last_year + 1)) * scenario.achievement
    else:
        n0 = dataset.members_at(base_year).to_numpy()
        shares = allocation_shares(dataset, scenario.allocation, base_year)
        totals = province_admissions(n0, survival, shares, steps, rate=scenario.admission_rate,
                                     per_year=scenario.admissions_per_year)
        lam = shares[:, None] * totals[None, :]
    return Rates(base_year=base_year, survival=survival[None, :], lam=lam[None, :, :], source="fixed")
