"""Interactive scenario explorer: widget state → results, tables and figures.

``notebooks/explore.ipynb`` wires ipywidgets to this module and does nothing else.
An :class:`ExplorerState` holds what the widgets show (unit, base year, horizon,
and two scenarios A and B, each: admissions, rates, allocation); :meth:`Explorer.run`
turns it into an :class:`ExplorerView` (forecast results of the unit for both
scenarios); :meth:`Explorer.page` renders a view into what the widgets display (HTML
snippets and one PNG) and never raises on bad parameters: the message goes to the
page.

**Scenarios** (MODEL.md §2). Each of A and B chooses

* its admissions: ``"continue"`` (each cell's calibrated rates carried forward —
  what happens if nothing changes; A's default) or ``"rate"`` (the programme's rate,
  a share of ALL party members of the totals table, of which the village cells get
  their historical share φ; without a totals table a share of the village cells'
  local members, and the labels say so);
* its rates: ``"calibrated"`` (fitted on history up to the base year, with parameter
  uncertainty: :data:`EXPLORER_DRAWS` parameter draws) or ``"fixed"`` (one attrition
  rate for every cell, the textbook process; the attrition slider applies only then);
* its allocation of a rate over cells: ``"calibrated"`` (by each cell's calibrated
  rate), ``"population"``, ``"members"`` or ``"quota"``.

With fewer than ``calibrate.MIN_YEARS`` years of history before the base year the
explorer falls back to fixed rates and says so on the page.

**Speed.** The calibration is fitted once per base year and its natural rates kept
per (base year, horizon); the rates of each scenario for every cell, each scenario's
forecast of a unit and every view are cached too, so a slider move recomputes only
the scenario that changed, for the cells of the chosen unit (province admissions
still come from every cell). ``benchmarks/explorer.py`` measures it.

Optimised quotas: ``allocation="quota"`` takes its quotas from ``state.quotas``
(a ``cell_id, year, quota`` table, e.g. written by ``nq21model allocate`` and
read with :func:`nq21model.data.load_quotas`) or, when the state has none, from
the ``quota_provider`` given to :class:`Explorer` — a callable
``provider(dataset, scenario, base_year, horizon) -> quotas table`` that may
optimise for the scenario's admission rate (the notebook passes
:func:`nq21model.allocate.optimised_quotas`).
"""
from __future__ import annotations

import html
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import config, engine, engine_groups
from .data import ABSENCE_LABELS, Dataset, load_dataset
from .exceptions import DataError, ParameterError
from .fmt import format_number, format_percent, format_probability, slugify
from .results import PROVINCE, ForecastResults
from .statuses import risk_threshold
from .scenario import ALLOCATIONS, Rates, Scenario, programme_base, scenario_rates
from .styles import Sheet, chance_value

__all__ = [
    "LEVELS", "ADMISSIONS", "RATE_MODELS", "ALLOCATION_CHOICES", "ADMISSION_RANGE", "ATTRITION_RANGE",
    "PROGRAMME_BAND", "EXPLORER_DRAWS", "ExplorerState", "Explorer", "ExplorerView", "ExplorerPage",
    "UnitForecast", "ExplorerResults", "MemoDataset", "fan_path", "default_threshold", "threshold_options",
    "rate_band_html", "people_label",
    "export_tables", "slugify",
]

#: Level of the unit → Vietnamese label (the value is the cells column, or province);
#: a level is offered when the cells table has its column.
LEVELS = {"province": "Toàn tỉnh", "district": "Huyện, thành phố", "commune_2025": "Xã, phường (sau 1/7/2025)",
          "commune": "Xã, phường, thị trấn"}

#: Admissions of a scenario → Vietnamese label.
ADMISSIONS = {"continue": "Giữ nguyên xu hướng hiện nay", "rate": "Theo tỷ lệ kết nạp"}

#: Rates of a scenario → Vietnamese label.
RATE_MODELS = {"calibrated": "Hiệu chỉnh theo lịch sử", "fixed": "Cố định"}

#: Allocation of a rate over the cells → Vietnamese label (quota: a quotas file).
ALLOCATION_CHOICES = {"calibrated": "Theo khả năng của từng chi bộ", "population": "Theo dân số",
                      "members": "Theo số đảng viên tại chỗ", "quota": "Theo chỉ tiêu giao (tệp chỉ tiêu)"}
#: Its label when the quotas come from the optimiser.
OPTIMISED_QUOTAS = "Theo chỉ tiêu tối ưu"

#: Admission-rate slider: minimum, maximum, step.
ADMISSION_RANGE = (0.02, 0.06, 0.001)

#: Attrition slider: minimum, maximum, step.
ATTRITION_RANGE = (0.005, 0.05, 0.001)

#: The programme's band of yearly admissions (3–4 % of all party members, section II.2).
PROGRAMME_BAND = (0.03, 0.04)

#: Parameter draws of the explorer's calibrated rates: 40 keep a slider move within
#: the redraw goals (benchmarks/explorer.py); forecasts and briefings use
#: :data:`REPORT_DRAWS`. On the bundled data, between seeds, shares move by ±0.002
#: and P(share ≥ 95 %) by up to ±0.05 with 40 draws (±0.01 with 100).
EXPLORER_DRAWS = 40
#: Parameter draws of a calibration by default (``Calibration(draws=100)``).
REPORT_DRAWS = 100

#: Years after the base year that the horizon may take.
MAX_STEPS = 15

#: Cells listed at most in the at-risk table (the XLSX export has them all).
AT_RISK_ROWS = 15

#: Style of the explorer's HTML tables (compact, readable inside a widget).
TABLE_CSS = ("<style>.nq21-table{border-collapse:collapse;font-size:13px;line-height:1.35;margin:4px 0}"
             ".nq21-table th,.nq21-table td{padding:2px 8px;border-bottom:1px solid #e0e0e0;text-align:left;"
             "vertical-align:top}.nq21-table th{background:#f5f5f5;font-weight:600}"
             ".nq21-table td.num{text-align:right;white-space:nowrap}</style>")

QuotaProvider = Callable[[Dataset, Scenario, int, int], pd.DataFrame]


def default_threshold(horizon: int) -> int:
    """Threshold of local members for the at-risk list at ``horizon``.

    The lowest threshold of the first programme target year at or after the
    horizon (2025 → 3; 2026–2030 → 4); after the last target year, the highest
    threshold (5).
    """
    return risk_threshold(horizon)


def threshold_options() -> list[tuple[str, int]]:
    """(label, value) pairs for the at-risk threshold; 0 = the programme's target."""
    return [("Theo mục tiêu", 0)] + [(f"≥ {k} đảng viên", k) for k in config.THRESHOLDS]


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer's widgets show; scenario A and the scenario B it is compared with.

    Parameters
    ----------
    level : {"province", "district", "commune_2025", "commune"}
        A level whose column the cells table has (see :meth:`Explorer.levels`).
    unit : str, optional
        Name of the district or commune (ignored for the province).
    admissions : {"continue", "rate"}
        Scenario A's admissions: calibrated trend carried forward, or the rate.
    admission_rate : float
        Scenario A's programme rate: yearly admissions as a share of all party
        members (of the village cells' local members when the data has no totals).
    rates : {"calibrated", "fixed"}
        Scenario A's rates; ``attrition_rate`` applies only to fixed rates.
    allocation : {"calibrated", "population", "members", "quota"}
        Scenario A's split of a rate over cells.
    base_year : int, optional
        Default the last year of history.
    horizon : int
        Year of the forecast shown (after the base year).
    threshold : int, optional
        Local members a cell needs in the at-risk table; None or 0 means
        :func:`default_threshold` of the horizon.
    compare_* :
        Scenario B, shown beside A (default: the programme's 3 % rate).
    quotas : DataFrame, optional
        ``cell_id, year, quota`` for ``allocation="quota"`` (both scenarios).
    """

    level: str = "district"
    unit: str | None = None
    admissions: str = "continue"
    admission_rate: float = config.ADMISSION_RATE
    rates: str = "calibrated"
    attrition_rate: float = config.ATTRITION_RATE
    allocation: str = "calibrated"
    base_year: int | None = None
    horizon: int = 2030
    threshold: int | None = None
    compare_admissions: str = "rate"
    compare_admission_rate: float = PROGRAMME_BAND[0]
    compare_rates: str = "calibrated"
    compare_attrition_rate: float = config.ATTRITION_RATE
    compare_allocation: str = "calibrated"
    quotas: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def key(self) -> tuple:
        """Hashable identity of the state (the quotas table by object identity)."""
        values = tuple(getattr(self, f.name) for f in fields(self) if f.name != "quotas")
        return values + (id(self.quotas) if self.quotas is not None else None,)

    def with_(self, **changes) -> "ExplorerState":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def scenario_fields(self, which: str) -> dict:
        """Scenario A's or B's fields without prefix: ``admissions, admission_rate,
        rates, attrition_rate, allocation``."""
        if which not in ("a", "b"):
            raise ParameterError(f"which must be 'a' or 'b', got '{which}'")
        prefix = "" if which == "a" else "compare_"
        return {name: getattr(self, prefix + name) for name in SCENARIO_FIELDS}


#: The fields of one scenario in an :class:`ExplorerState` (B's carry ``compare_``).
SCENARIO_FIELDS = ("admissions", "admission_rate", "rates", "attrition_rate", "allocation")


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


@dataclass(frozen=True)
class Choice:
    """A scenario of the explorer: the :class:`Scenario` run, and the notes that
    say where it departs from what the widgets ask (short history, fixed rates
    without calibrated shares)."""

    scenario: Scenario
    notes: tuple = ()
    requested: dict = field(default_factory=dict, compare=False)


class Explorer:
    """Scenario explorer over one dataset; caches what slider moves do not change.

    Parameters
    ----------
    dataset : Dataset, optional
        Default the bundled synthetic province.
    quota_provider : callable, optional
        ``provider(dataset, scenario, base_year, horizon)`` → ``cell_id, year,
        quota`` table for ``allocation="quota"`` when the state carries no quotas
        (e.g. :func:`nq21model.allocate.optimised_quotas`); its answers are cached.
    cache_size : int
        Views kept for instant return to an earlier state.
    draws : int
        Parameter draws of the calibrated rates (default :data:`EXPLORER_DRAWS`).
    seed : int
        Seed of the calibration's parameter draws.
    """

    def __init__(self, dataset: Dataset | None = None, *, quota_provider: QuotaProvider | None = None,
                 cache_size: int = 64, draws: int = EXPLORER_DRAWS, seed: int = 0):
        if draws < 1:
            raise ParameterError(f"draws must be ≥ 1, got {draws}")
        dataset = dataset if dataset is not None else load_dataset()
        self.dataset = MemoDataset(**{f.name: getattr(dataset, f.name) for f in fields(Dataset)})
        self.quota_provider = quota_provider
        self.cache_size = cache_size
        self.draws = int(draws)
        self.seed = int(seed)
        self._calibrations: dict[int, object] = {}
        self._natural: OrderedDict[tuple, Rates] = OrderedDict()
        self._active: dict[int, Dataset] = {}
        self._programme: dict[int, object] = {}
        self._units: OrderedDict[tuple, tuple[np.ndarray, Dataset, Dataset]] = OrderedDict()
        self._views: OrderedDict[tuple, ExplorerView] = OrderedDict()
        self._rates: OrderedDict[tuple, Rates] = OrderedDict()
        self._forecasts: OrderedDict[tuple, UnitForecast] = OrderedDict()
        self._quota_refs: dict[int, pd.DataFrame] = {}
        self._renderer = None
        self._hints: OrderedDict[tuple, dict] = OrderedDict()
        self._checked_years: set[int] = set()
        self._quotas: OrderedDict[tuple, pd.DataFrame] = OrderedDict()

    # ------------------------------------------------------------- options
    def levels(self) -> list[tuple[str, str]]:
        """(Vietnamese label, level) pairs of the levels the data has: the province,
        then district, commune_2025 and commune when the cells table has them."""
        return [(label, key) for key, label in LEVELS.items() if key == "province" or key in self.dataset.cells]

    def default_level(self) -> str:
        """The data's largest unit below the province (district, else the post-2025
        commune, else the commune)."""
        return next(key for key in ("district", "commune_2025", "commune") if key in self.dataset.cells)

    def start(self, level: str | None, unit: str | None) -> tuple[str, str | None, str]:
        """A (level, unit) to show first, and a note when the one asked for is not in
        the data (another data set than the bundled one): then the data's default
        level and its first unit."""
        levels = [key for _, key in self.levels()]
        note = ""
        if level not in levels:
            if level:
                note = f"Dữ liệu không có cấp '{level}'; hiển thị {LEVELS[self.default_level()].lower()}."
            level = self.default_level()
        if level == "province":
            return level, None, note
        names = self.units(level)
        if unit not in names:
            if unit:
                note = (note + " " if note else "") + f"Không có '{unit}' trong dữ liệu; hiển thị {names[0]}."
            unit = names[0]
        return level, unit, note

    def units(self, level: str) -> list[str]:
        """Names a unit of ``level`` may take, sorted (province: ['Toàn tỉnh'])."""
        if level == "province":
            return [PROVINCE]
        self._check_level(level)
        return sorted(self.dataset.cells[level].astype(str).unique(), key=_sort_key)

    def unit_options(self, level: str) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown: communes carry their district (when
        the data has districts)."""
        if level != "commune" or "district" not in self.dataset.cells:
            return [(name, name) for name in self.units(level)]
        district = self.dataset.cells.drop_duplicates("commune").set_index("commune")["district"]
        return [(f"{name} ({district[name]})", name) for name in self.units(level)]

    def base_years(self) -> list[int]:
        """Years of history that can serve as base year."""
        return list(self.dataset.years)

    def horizons(self, base_year: int | None = None) -> list[int]:
        """Horizons offered after ``base_year``: the next :data:`MAX_STEPS` years."""
        base = self.dataset.last_year if base_year is None else int(base_year)
        return list(range(base + 1, base + MAX_STEPS + 1))

    def default_horizon(self, base_year: int | None = None, current: int | None = None) -> int:
        """``current`` if it is after the base year, else the first target year after
        it (else the base year + 5)."""
        choices = self.horizons(base_year)
        if current in choices:
            return int(current)
        base = choices[0] - 1
        later = [y for y in sorted(config.TARGETS) if y > base]
        return later[0] if later else base + 5

    def admissions_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs of a scenario's admissions."""
        return [(label, key) for key, label in ADMISSIONS.items()]

    def rate_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs of a scenario's rates."""
        return [(label, key) for key, label in RATE_MODELS.items()]

    def allocations(self, *, quotas: bool = False) -> list[tuple[str, str]]:
        """(Vietnamese label, value) pairs of the allocations on offer; 'quota' only
        when a quotas table is at hand (``quotas=True``) or a provider was given."""
        values = ["calibrated", "population", "members"]
        if quotas or self.quota_provider is not None:
            values.append("quota")
        labels = dict(ALLOCATION_CHOICES)
        if self.quota_provider is not None and not quotas:
            labels["quota"] = OPTIMISED_QUOTAS
        return [(labels[v], v) for v in values]

    def admission_base(self, base_year: int | None = None) -> str:
        """``all`` when the totals table gives the programme's base in ``base_year``
        (the rate is a share of all party members), else ``local`` (a share of the
        village cells' local members)."""
        base = self.dataset.last_year if base_year is None else int(base_year)
        return "all" if self.programme(base) is not None else "local"

    def rate_description(self, which: str = "a", base_year: int | None = None) -> str:
        """The admission-rate slider's label: what the rate is a share of (all party
        members, or the village cells' local members when the data has no totals)."""
        of = "tổng số đảng viên" if self.admission_base(base_year) == "all" else "đảng viên tại chỗ"
        return f"{which.upper()}: kết nạp/năm (% {of})"

    def controls_disabled(self, state: ExplorerState) -> dict[str, bool]:
        """Which scenario controls do nothing in ``state`` (the notebook greys them
        out): the rate slider and the allocation with continued admissions, the
        attrition slider with calibrated rates."""
        try:
            base = self._years(state)[0]
            calibrated = self.can_calibrate(base)
        except (ParameterError, DataError):
            calibrated = True
        out = {}
        for which, prefix in (("a", ""), ("b", "compare_")):
            f = state.scenario_fields(which)
            fitted = calibrated and f["rates"] == "calibrated"
            keep = fitted and f["admissions"] == "continue"
            out[prefix + "admission_rate"] = keep
            out[prefix + "allocation"] = keep
            out[prefix + "attrition_rate"] = fitted
        return out

    def _check_level(self, level: str) -> None:
        levels = [key for _, key in self.levels()]
        if level not in levels:
            raise ParameterError(f"level must be one of {', '.join(levels)} (the data's levels), got '{level}'")

    # ----------------------------------------------------- calibration, bases
    def can_calibrate(self, base_year: int) -> bool:
        """Whether history before ``base_year`` is long enough to calibrate."""
        from .calibrate import can_calibrate

        return can_calibrate(self.dataset, int(base_year))

    def calibration(self, base_year: int):
        """The :class:`~nq21model.calibrate.Calibration` fitted on history up to
        ``base_year`` (fitted once per base year)."""
        from .calibrate import Calibration

        base = int(base_year)
        if base not in self._calibrations:
            self._calibrations[base] = Calibration(draws=self.draws, seed=self.seed).fit(self.dataset, base)
        return self._calibrations[base]

    def natural(self, base_year: int, horizon: int) -> Rates:
        """The calibration's natural rates of the cells present in the base year,
        years ``base_year + 1 … horizon`` (cached per base year and horizon)."""
        key = (int(base_year), int(horizon))
        if key not in self._natural:
            self._natural[key] = self.calibration(base_year).rates(self.active(base_year), int(horizon))
            _trim(self._natural, 8)
        self._natural.move_to_end(key)
        return self._natural[key]

    def active(self, base_year: int) -> Dataset:
        """The cells present in ``base_year`` (``Dataset.at_base``; cached)."""
        base = int(base_year)
        if base not in self._active:
            self._active[base] = self.dataset.at_base(base)
        return self._active[base]

    def programme(self, base_year: int):
        """The programme's base (:func:`~nq21model.scenario.programme_base`) in
        ``base_year``, or None when the data cannot give it (no totals table, or
        none up to the base year)."""
        base = int(base_year)
        if base not in self._programme:
            try:
                self._programme[base] = programme_base(self.dataset, base)
            except ParameterError:
                self._programme[base] = None
        return self._programme[base]

    def programme_missing(self, base_year: int) -> str:
        """Why the rate cannot be of all members in ``base_year`` (Vietnamese), or ''."""
        if self.programme(base_year) is not None:
            return ""
        if self.dataset.totals is None:
            return "không có bảng tổng số đảng viên"
        return f"bảng tổng số đảng viên không có đủ số liệu đến năm {int(base_year)}"

    # ------------------------------------------------------------- compute
    def unit_index(self, level: str, unit: str | None, base_year: int | None = None) -> np.ndarray:
        """Positions of the unit's cells among the cells present in the base year
        (``dataset.at_base(base_year)``; cached)."""
        base = self.dataset.last_year if base_year is None else int(base_year)
        return self._unit(base, level, unit)[0]

    def _unit(self, base: int, level: str, unit: str | None) -> tuple[np.ndarray, Dataset, Dataset]:
        """(positions in the active cells, the unit's active cells, the unit's whole data)."""
        self._check_level(level)
        key = (base, level, None if level == "province" else unit)
        if key not in self._units:
            active = self.active(base)
            if level == "province":
                entry = (np.arange(len(active.cells)), active, self.dataset)
            else:
                if unit is None:
                    raise ParameterError(f"choose a {level} (one of: {', '.join(self.units(level))})")
                cells = self.dataset.cells
                mask = cells[level].astype(str).eq(unit).to_numpy()
                if not mask.any():
                    raise ParameterError(f"no {level} named '{unit}' in the data "
                                         f"(choose from: {', '.join(self.units(level))})")
                idx = np.flatnonzero(active.cells[level].astype(str).eq(unit).to_numpy())
                if idx.size == 0:
                    raise ParameterError(f"no cell of {level} '{unit}' has history in the base year {base} "
                                         "(all dissolved or not yet in the data)")
                history = self.dataset.history
                full = replace(self.dataset, cells=cells.loc[mask].reset_index(drop=True),
                               history=history[history["cell_id"].isin(set(cells.loc[mask, "cell_id"]))]
                               .reset_index(drop=True), cell_rows=None, adjustments=None, absent=None)
                entry = (idx, full.at_base(base), full)
            self._units[key] = entry
            _trim(self._units, 4 * self.cache_size)
        return self._units[key]

    def choice(self, state: ExplorerState, which: str = "a") -> Choice:
        """Scenario A (``which="a"``) or B of the state, with its notes."""
        f = state.scenario_fields(which)
        for name, allowed in (("admissions", ADMISSIONS), ("rates", RATE_MODELS), ("allocation", ALLOCATIONS)):
            if f[name] not in allowed:
                raise ParameterError(f"{name} must be one of {', '.join(allowed)}, got '{f[name]}'")
        base, horizon = self._years(state)
        notes = []
        fixed = f["rates"] == "fixed"
        short = not fixed and not self.can_calibrate(base)
        fixed = fixed or short
        admissions, allocation = f["admissions"], f["allocation"]
        if admissions == "continue" and fixed:
            admissions = "rate"
            if not short:
                notes.append("Tỷ lệ cố định không có xu hướng riêng của từng chi bộ: kết nạp theo tỷ lệ "
                             "của thanh trượt.")
        if admissions == "continue":
            return Choice(Scenario(), (), f)
        if fixed and allocation == "calibrated":
            allocation = "population"
            if not short:
                notes.append("Tỷ lệ cố định: phân bổ theo dân số (phân bổ theo khả năng của từng chi bộ cần "
                             "tỷ lệ hiệu chỉnh).")
        scenario = Scenario(admission_rate=float(f["admission_rate"]), admission_base=self.admission_base(base),
                            fixed_rates=fixed,
                            attrition_rate=float(f["attrition_rate"]) if fixed else config.ATTRITION_RATE,
                            allocation="population" if allocation == "quota" else allocation)
        if allocation == "quota":   # the quotas for the slider's budget are the admissions
            scenario = scenario.with_(allocation="quota", quotas=self._quotas_for(state, scenario),
                                      admission_rate=None, admissions_per_year=None)
        if short:
            from .calibrate import MIN_YEARS
            from .forecast import SHORT_HISTORY_NOTE

            notes.insert(0, SHORT_HISTORY_NOTE.format(years=MIN_YEARS, base=base, label=scenario.label))
        return Choice(scenario, tuple(notes), f)

    def scenario(self, state: ExplorerState, which: str = "a") -> Scenario:
        """The :class:`Scenario` of A (``which="a"``) or B."""
        return self.choice(state, which).scenario

    def _quotas_for(self, state: ExplorerState, scenario: Scenario) -> pd.DataFrame:
        if state.quotas is not None:
            return state.quotas
        if self.quota_provider is None:
            raise ParameterError("allocation 'quota' needs a quotas table (a quotas file or an optimiser)")
        base, horizon = self._years(state)
        key = (scenario.rate, scenario.admission_base, scenario.fixed_rates,
               scenario.attrition_rate if scenario.fixed_rates else None, base, horizon)
        if key not in self._quotas:
            self._quotas[key] = self.quota_provider(self.dataset, scenario, base, horizon)
            _trim(self._quotas, self.cache_size)
        return self._quotas[key]

    def _scenario_key(self, scenario: Scenario, *, rate: bool = True) -> tuple:
        quotas = None
        if scenario.quotas is not None:
            quotas = id(scenario.quotas)
            self._quota_refs[quotas] = scenario.quotas  # keeps the id unique while cached
        return (scenario.admission_rate if rate else None, scenario.admissions_per_year, scenario.admission_base,
                scenario.fixed_rates, scenario.attrition_rate if scenario.fixed_rates else None, scenario.split,
                scenario.max_lift, quotas)

    def _years(self, state: ExplorerState) -> tuple[int, int]:
        base = self.dataset.last_year if state.base_year is None else int(state.base_year)
        if base not in self._checked_years:
            self.dataset.check_base_year(base)
            self._checked_years.add(base)
        horizon = int(state.horizon)
        if horizon <= base:
            raise ParameterError(f"horizon {horizon} is at or before the base year {base}")
        if horizon > base + MAX_STEPS:
            raise ParameterError(f"horizon {horizon} is more than {MAX_STEPS} years after the base year {base}")
        return base, horizon

    def province_rates(self, scenario: Scenario, base: int, horizon: int) -> Rates:
        """The scenario's rates of every cell present in the base year (cached); a
        calibrated scenario reuses the natural rates of (base, horizon)."""
        key = (self._scenario_key(scenario), base, horizon)
        if key not in self._rates:
            natural = None if scenario.fixed_rates else self.natural(base, horizon)
            self._rates[key] = scenario_rates(self.dataset, scenario, base, horizon, natural=natural)
            _trim(self._rates, 4 * self.cache_size)
        return self._rates[key]

    def _forecast(self, scenario: Scenario, level: str, unit: str | None, base: int,
                  horizon: int) -> UnitForecast:
        key = (self._scenario_key(scenario), level, unit, base, horizon)
        if key in self._forecasts:
            self._forecasts.move_to_end(key)
            return self._forecasts[key]
        idx, active, full = self._unit(base, level, unit)
        rates = self.province_rates(scenario, base, horizon)
        if level != "province":
            rates = subset_rates(rates, idx)
        forecast = UnitForecast(ExplorerResults(active, scenario, rates, [horizon], full=full), level, horizon,
                                province=self.province_rates(scenario, base, horizon))
        self._forecasts[key] = forecast
        _trim(self._forecasts, 2 * self.cache_size)
        return forecast

    def run(self, state: ExplorerState) -> "ExplorerView":
        """Results of the state's unit under scenarios A and B (cached by state).

        Raises ParameterError or DataError on a state the data cannot answer.
        """
        key = state.key()
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        base, horizon = self._years(state)
        self._check_level(state.level)
        unit = PROVINCE if state.level == "province" else state.unit
        choices = {which: self.choice(state, which) for which in ("a", "b")}
        forecasts = {which: self._forecast(c.scenario, state.level, unit, base, horizon)
                     for which, c in choices.items()}
        view = ExplorerView(state, unit, base, horizon, forecasts["a"], forecasts["b"],
                            axis_hints=self.axis_hints(state), choices=choices, programme=self.programme(base),
                            missing=self.programme_missing(base))
        self._views[key] = view
        _trim(self._views, self.cache_size)
        return view

    def axis_hints(self, state: ExplorerState) -> dict:
        """Ranges the charts should cover whatever the admission sliders say.

        For each scenario whose admissions follow the rate slider, the unit's total
        local members from the base year to the horizon at the slider's lowest and
        highest rate (mean ± 2.5 sd given each parameter draw, from the closed form;
        no distribution needed) and the lowest expected share of cells with ≥ 5
        members (at the lowest rate); a scenario that does not follow the slider
        counts as it is. The charts keep these axis limits while a rate slider
        moves, so the eye can compare positions and the figure's background is
        reused. Returns ``{"members": (low, high), "share_floor": float}``; cached.
        """
        base, horizon = self._years(state)
        unit = PROVINCE if state.level == "province" else state.unit
        choices = [self.choice(state, which).scenario for which in ("a", "b")]
        key = (state.level, unit, base, horizon, *(self._scenario_key(s, rate=s.kind != "rate") for s in choices))
        if key in self._hints:
            return self._hints[key]
        idx, active, _full = self._unit(base, state.level, unit)
        n0 = active.members_at(base).to_numpy(dtype=np.int64)
        low, high, floor = np.inf, -np.inf, 1.0
        for scenario in choices:
            variants = ([scenario.with_(admission_rate=r) for r in ADMISSION_RANGE[:2]] if scenario.kind == "rate"
                        else [scenario])
            for j, variant in enumerate(variants):
                rates = self.province_rates(variant, base, horizon)
                survival, lam = rates.survival[:, idx], rates.lam[:, idx, :]
                for step in range(1, horizon - base + 1):
                    p, mu = engine.horizon_parameters(survival, lam, step)
                    mean = (n0 * p + mu).sum(axis=-1)
                    sd = np.sqrt((n0 * p * (1 - p) + mu).sum(axis=-1))
                    low, high = min(low, float((mean - 2.5 * sd).min())), max(high, float((mean + 2.5 * sd).max()))
                if j == 0:
                    stats = engine.summarise_cells(n0, p, mu, thresholds=(max(config.THRESHOLDS),))
                    floor = min(floor, float(stats[f"p_at_least_{max(config.THRESHOLDS)}"].mean()))
        self._hints[key] = {"members": (max(0.0, low), high), "share_floor": floor}
        _trim(self._hints, self.cache_size)
        return self._hints[key]

    @property
    def renderer(self):
        """The figure renderer kept between redraws (:class:`nq21model.plots_explorer.ExplorerRenderer`)."""
        if self._renderer is None:
            from .plots_explorer import ExplorerRenderer

            self._renderer = ExplorerRenderer()
        return self._renderer

    def page(self, state: ExplorerState, *, renderer=None) -> "ExplorerPage":
        """Everything the notebook shows for ``state``, rendered; a state the data
        cannot answer gives a page with ``error`` set and nothing else."""
        try:
            view = self.run(state)
        except (ParameterError, DataError) as exc:
            return ExplorerPage(view=None, error=str(exc), banner_html=self.banner_html(),
                                rates_html=self.rates_html(state, "a"), rates_b_html=self.rates_html(state, "b"),
                                status_html=_error_html(str(exc)))
        renderer = renderer or self.renderer
        return ExplorerPage(view=view, error=None, banner_html=self.banner_html(), rates_html=view.rates_html("a"),
                            rates_b_html=view.rates_html("b"), title_html=view.title_html(),
                            shares_html=view.shares_html(), comparison_html=view.comparison_html(),
                            at_risk_html=view.at_risk_html(), figure_png=renderer.render_png(view))

    def rates_html(self, state: ExplorerState, which: str = "a") -> str:
        """What scenario A's (or B's) controls mean, for a state with no view (an
        error page): the view's :meth:`ExplorerView.rates_html` when it can be
        computed, else the programme's ruler alone."""
        try:
            return self.run(state).rates_html(which)
        except (ParameterError, DataError):
            f = state.scenario_fields(which)
            if which != "a" or f["admissions"] != "rate":
                return ""
            other = state.scenario_fields("b")
            return rate_band_html(f["admission_rate"], other["admission_rate"] if other["admissions"] == "rate"
                                  else None)

    def export(self, state: ExplorerState, directory: str | Path | None = None) -> str:
        """Write the state's cell table to XLSX in ``directory`` (default outputs/);
        returns an HTML status line (the error message when it fails)."""
        try:
            view = self.run(state)
            path = view.write_cell_table(view.default_path(directory))
        except (ParameterError, DataError, OSError) as exc:
            return _error_html(str(exc))
        return (f'<div class="nq21-saved">Đã ghi bảng {format_number(view.members_now.size)} chi bộ: '
                f"<code>{html.escape(str(path))}</code></div>")

    def banner_html(self) -> str:
        """Red 'Dữ liệu mô phỏng' banner for synthetic data (empty for real data)."""
        if not self.dataset.synthetic:
            return ""
        return ('<div class="nq21-synthetic" style="background:#b71c1c;color:#fff;padding:6px 10px;'
                'font-weight:bold;border-radius:3px">Dữ liệu mô phỏng — mọi số liệu là giả lập, '
                'không phản ánh chi bộ thực tế</div>')


def subset_rates(rates: Rates, idx: np.ndarray) -> Rates:
    """The rates of the cells ``idx`` (positions among the rates' cells), with their
    admissions and transfers."""
    info = dict(rates.info)
    for name in ("admissions", "transfers"):
        if name in info:
            info[name] = info[name][:, idx]
    return replace(rates, survival=rates.survival[:, idx], lam=rates.lam[:, idx, :], info=info)


def _trim(cache: OrderedDict, size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


def _sort_key(name: str) -> str:
    """Vietnamese-like order: accents ignored, đ after d."""
    text = unicodedata.normalize("NFD", name.casefold().replace("đ", "d~"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def rate_band_html(rate_a: float | None, rate_b: float | None = None, *, approx_a: bool = False,
                   approx_b: bool = False) -> str:
    """A 2–6 % ruler with the programme's 3–4 % band of all party members shaded and
    markers at the admission rates of scenario A (and B), as shares of all members;
    says whether A is inside the band. ``approx_*``: the rate is what a scenario
    that does not follow the slider amounts to ("≈")."""
    lo, hi = ADMISSION_RANGE[0], ADMISSION_RANGE[1]

    def pos(rate: float) -> float:
        return 100.0 * (min(max(rate, lo), hi) - lo) / (hi - lo)

    band = (f'<div style="position:absolute;left:{pos(PROGRAMME_BAND[0]):.1f}%;'
            f'width:{pos(PROGRAMME_BAND[1]) - pos(PROGRAMME_BAND[0]):.1f}%;top:0;bottom:0;'
            'background:#a5d6a7"></div>')
    marks = [(r, c, n) for r, c, n in ((rate_a, "#1565c0", "A"), (rate_b, "#ef6c00", "B")) if r is not None]
    markers = "".join(
        f'<div title="{name}" style="position:absolute;left:calc({pos(rate):.1f}% - 1px);width:3px;top:-3px;'
        f'bottom:-3px;background:{colour}"></div>' for rate, colour, name in marks)
    ticks = "".join(f'<span style="position:absolute;left:{pos(r):.1f}%;transform:translateX(-50%)">'
                    f"{format_percent(r, 0)}</span>" for r in (0.02, 0.03, 0.04, 0.05, 0.06))
    text = ""
    inside = None
    if rate_a is not None:
        inside = PROGRAMME_BAND[0] - 1e-9 <= rate_a <= PROGRAMME_BAND[1] + 1e-9
        verdict = "trong" if inside else "ngoài"
        text = (f"Kết nạp A {'≈ ' if approx_a else ''}{format_percent(rate_a)}/năm — {verdict} khung 3–4% tổng số "
                "đảng viên của Chương trình hành động")
    if rate_b is not None:
        text += ("; " if text else "") + f"B {'≈ ' if approx_b else ''}{format_percent(rate_b)}/năm"
    return (f'<div class="nq21-rate-band" data-inside="{str(inside).lower()}" '
            'style="max-width:420px;margin:2px 14px 0 14px;font-size:11px;line-height:1.3">'
            f'<div style="position:relative;height:8px;background:#eceff1;margin:4px 0">{band}{markers}</div>'
            f'<div style="position:relative;height:14px">{ticks}</div><div>{text}</div></div>')


def people_label(scenario: Scenario, rates: Rates, programme=None, *, unit: str | None = None,
                 unit_rates: Rates | None = None, missing: str = "không có bảng tổng số đảng viên") -> str:
    """What a scenario's admissions mean in people in the first forecast year, e.g.
    "3,5% tổng số đảng viên ≈ 1.038 đảng viên/năm toàn tỉnh, chi bộ thôn, bản ≈ 655".

    The province's admissions are the rate times all members of the programme's
    base (``programme``, :func:`~nq21model.scenario.programme_base`), the village
    cells' the rates' expected admissions (mean over parameter draws) of every cell
    (``rates``) and of the unit's cells (``unit_rates``, named ``unit``). A rate of
    local members says why it is not of all members (``missing``).
    """
    year = rates.base_year + 1
    village = float(rates.admissions.mean(axis=0)[:, 0].sum())
    part = ""
    if unit is not None and unit_rates is not None and unit != PROVINCE:
        part = f"; {unit} ≈ {format_number(float(unit_rates.admissions.mean(axis=0)[:, 0].sum()))}"
    kind = scenario.kind
    if kind == "rate" and scenario.admission_base == "all":
        province = rates.info.get("province_admissions")
        province = float(province[0]) if province is not None else scenario.rate * programme.members_at(year - 1)
        return (f"{format_percent(scenario.rate)} tổng số đảng viên ≈ {format_number(province)} đảng viên/năm toàn "
                f"tỉnh, chi bộ thôn, bản ≈ {format_number(village)}{part} (năm {year})")
    if kind == "rate":
        return (f"{format_percent(scenario.rate)} số đảng viên tại chỗ của chi bộ thôn, bản ≈ "
                f"{format_number(village)} đảng viên/năm{part} (năm {year}); {missing} nên không tính được theo "
                "tổng số đảng viên")
    what = "giữ nguyên xu hướng hiện nay" if kind == "continue" else "theo chỉ tiêu giao, thực hiện được"
    text = f"{what}: chi bộ thôn, bản ≈ {format_number(village)} đảng viên/năm{part} (năm {year})"
    share = all_members_rate(rates, programme)
    if share is not None:
        text += (f", tức là tỷ lệ kết nạp chung của toàn tỉnh ≈ {format_percent(share)} tổng số đảng viên "
                 f"(chi bộ thôn, bản chiếm ≈ {format_percent(programme.phi, 0)} số kết nạp)")
    return text


def all_members_rate(rates: Rates, programme=None) -> float | None:
    """The village cells' expected admissions in the first forecast year as the
    province's rate of all members they amount to (their share φ of the province's
    admissions held as in the recent years); None without a programme base."""
    if programme is None or programme.phi <= 0:
        return None
    village = float(rates.admissions.mean(axis=0)[:, 0].sum())
    return village / programme.phi / programme.members_at(rates.base_year)


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


def _error_html(message: str) -> str:
    return (f'<div class="nq21-error" style="color:#b71c1c;border:1px solid #b71c1c;padding:6px">'
            f'Không tính được với các tham số này: {html.escape(message)}</div>')


# --------------------------------------------------------------------- view


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


class ExplorerView:
    """Forecasts of one unit under scenarios A and B at one horizon.

    Attributes
    ----------
    state : ExplorerState
    unit : str
        Name of the unit ('Toàn tỉnh' for the province).
    base_year, horizon, threshold : int
    axis_hints : dict
        Ranges the charts keep while a rate slider moves (:meth:`Explorer.axis_hints`).
    results, compare : ForecastResults
        Scenario A and scenario B, over the unit's cells present in the base year
        (province admissions from every cell); ``results.full`` holds the unit's
        whole data (dissolved cells counted in the years they existed).
    choices : dict
        ``{"a": Choice, "b": Choice}``: each scenario and its notes.
    programme : ProgrammeBase or None
        The programme's base of admission rates (None without a totals table).
    missing : str
        Why there is no programme base (Vietnamese), when there is none.
    """

    def __init__(self, state: ExplorerState, unit: str, base_year: int, horizon: int,
                 forecast_a: UnitForecast, forecast_b: UnitForecast, *, axis_hints: dict | None = None,
                 choices: dict | None = None, programme=None, missing: str = ""):
        self.state = state
        self.axis_hints = axis_hints or {}
        self.unit = unit
        self.base_year = base_year
        self.horizon = horizon
        self._forecasts = {"a": forecast_a, "b": forecast_b}
        self.choices = choices or {w: Choice(f.results.scenario) for w, f in self._forecasts.items()}
        self.programme = programme
        self.missing = missing or "không có bảng tổng số đảng viên"
        self.threshold = int(state.threshold) if state.threshold else default_threshold(horizon)
        if self.threshold not in config.THRESHOLDS:
            raise ParameterError(f"threshold must be one of {config.THRESHOLDS}, got {self.threshold}")

    @property
    def results(self) -> ForecastResults:
        """Scenario A's forecast results (the unit's cells)."""
        return self._forecasts["a"].results

    @property
    def compare(self) -> ForecastResults:
        """Scenario B's forecast results (the unit's cells)."""
        return self._forecasts["b"].results

    def _get(self, which: str) -> UnitForecast:
        if which not in self._forecasts:
            raise ParameterError(f"which must be 'a' or 'b', got '{which}'")
        return self._forecasts[which]

    def unit_row(self, which: str = "a") -> pd.Series:
        """The unit's forecast row at the horizon (see ``ForecastResults.units``)."""
        return self._get(which).unit_row.copy()

    @cached_property
    def members_now(self) -> np.ndarray:
        """Local members of the unit's cells at the base year."""
        return self.results.n0

    @property
    def absent(self) -> pd.DataFrame:
        """The unit's cells not forecast (dissolved before the base year, or not yet
        in the data): ``cell_id, cell_name, …, reason, first_year, last_year``."""
        return self.results.absent

    def rates_label(self, which: str = "a") -> str:
        """How the scenario's rates are made, in Vietnamese."""
        res = self._get(which).results
        if res.rates.source == "calibrated":
            first = res.full.first_year
            draws = res.rates.draws
            fewer = (f"; bản tin và lệnh forecast dùng {REPORT_DRAWS}, xác suất đạt 95% có thể chênh đến ±0,05"
                     if draws < REPORT_DRAWS else "")
            return (f"Tỷ lệ hiệu chỉnh theo lịch sử {first}–{self.base_year}, có tính bất định của tham số "
                    f"({format_number(draws)} bộ tham số{fewer})")
        return (f"Tỷ lệ cố định: giảm {format_percent(res.scenario.attrition_rate)}/năm cho mọi chi bộ, "
                "không tính bất định của tham số")

    def people(self, which: str = "a") -> str:
        """What the scenario's admissions mean in people (:func:`people_label`)."""
        forecast = self._get(which)
        return people_label(forecast.results.scenario, forecast.province, self.programme, unit=self.unit,
                            unit_rates=forecast.results.rates, missing=self.missing)

    def all_members_rate(self, which: str = "a") -> tuple[float | None, bool]:
        """(the scenario's admissions as a rate of all members, whether approximate)."""
        forecast = self._get(which)
        scenario = forecast.results.scenario
        if scenario.kind == "rate":
            return (scenario.rate, False) if scenario.admission_base == "all" else (None, False)
        return all_members_rate(forecast.province, self.programme), True

    def notes(self, which: str = "a") -> tuple:
        """Where the scenario departs from what the controls ask (short history…)."""
        return self.choices[which].notes

    def shares(self, which: str = "a") -> pd.DataFrame:
        """Per threshold k = 3, 4, 5: ``threshold, share_now`` (observed at the base
        year), ``share`` (expected at the horizon), ``p_share_95`` (probability that
        the share reaches 95 %), ``cells_needed`` (cells with ≥ k for 95 %),
        ``observed`` (share seen at the horizon when history covers it)."""
        row = self.unit_row(which)
        n = self.members_now.size
        out = []
        for k in config.THRESHOLDS:
            out.append({"threshold": k, "share_now": float((self.members_now >= k).mean()),
                        "share": float(row[f"share_at_least_{k}"]),
                        "p_share_95": float(row[f"p_share_95_at_least_{k}"]),
                        "cells_needed": engine_groups.cells_needed(config.TARGET_SHARE, n),
                        "observed": float(row.get(f"observed_share_at_least_{k}", np.nan))})
        return pd.DataFrame(out)

    def comparison(self) -> pd.DataFrame:
        """Scenario A and B side by side: one row per figure, columns ``figure, a, b``."""
        rows = []
        ra, rb = self.unit_row("a"), self.unit_row("b")
        fa, fb = self._get("a"), self._get("b")
        rows.append(("scenario", self.results.scenario.label, self.compare.scenario.label))
        rows.append(("rates", self.rates_label("a"), self.rates_label("b")))
        rows.append(("admissions_first_year", float(fa.admissions[0]), float(fb.admissions[0])))
        steps = self.horizon - self.base_year
        rows.append(("admissions_total", float(fa.admissions[:steps].sum()), float(fb.admissions[:steps].sum())))
        rows.append(("expected_members", ra["expected_members"], rb["expected_members"]))
        rows.append(("members_q10", ra["members_q10"], rb["members_q10"]))
        rows.append(("members_q90", ra["members_q90"], rb["members_q90"]))
        for k in config.THRESHOLDS:
            rows.append((f"share_at_least_{k}", ra[f"share_at_least_{k}"], rb[f"share_at_least_{k}"]))
            rows.append((f"p_share_95_at_least_{k}", ra[f"p_share_95_at_least_{k}"],
                         rb[f"p_share_95_at_least_{k}"]))
        rows.append(("expected_zero_cells", ra["expected_zero_cells"], rb["expected_zero_cells"]))
        rows.append(("at_risk_cells", len(self.at_risk("a")), len(self.at_risk("b"))))
        return pd.DataFrame(rows, columns=["figure", "a", "b"])

    def at_risk(self, which: str = "a") -> pd.DataFrame:
        """Cells with P(≥ threshold at the horizon) < 0.5 or no local member now."""
        return self._get(which).at_risk(self.threshold).copy()

    def cell_table(self, which: str = "a") -> pd.DataFrame:
        """The unit's cells at the horizon: MODEL.md §3 columns (``district`` when
        the data has it), then ``members_<base year>``."""
        res = self._get(which).results
        table = res.cells[res.cells["horizon"] == self.horizon][res.cell_columns].reset_index(drop=True)
        table[f"members_{self.base_year}"] = self.members_now
        return table

    def path(self, which: str = "a") -> pd.DataFrame:
        """Yearly local members of the unit: history and forecast band."""
        return self._get(which).path.copy()

    # ------------------------------------------------------------ rendering
    @property
    def synthetic(self) -> bool:
        """Whether the data are synthetic."""
        return bool(self.results.dataset.synthetic)

    @property
    def level_label(self) -> str:
        return LEVELS.get(self.state.level, self.state.level)

    def title_html(self) -> str:
        """Heading: unit, base year, horizon, cells (and those not forecast)."""
        level = "" if self.state.level == "province" else f"{self.level_label}: "
        absent = self.absent
        gone = int((absent["reason"] == "dissolved").sum()) if len(absent) else 0
        later = len(absent) - gone
        extra = ""
        if gone:
            extra += f"; {format_number(gone)} chi bộ đã giải thể, sáp nhập trước năm gốc — không dự báo"
        if later:
            extra += f"; {format_number(later)} chi bộ chưa có số liệu đến năm gốc — không dự báo"
        notes = [n for w in ("a", "b") for n in self.notes(w) if n.startswith("Lịch sử chưa đủ")][:1]
        warning = "".join(f'<div class="nq21-note" style="background:#fff3e0;border-left:4px solid #ef6c00;'
                          f'padding:4px 8px;margin:4px 0">{html.escape(n)}</div>' for n in notes)
        return (f'<h3 style="margin:4px 0">{html.escape(level + self.unit)} — dự báo năm {self.horizon} '
                f'(năm gốc {self.base_year}, {format_number(self.members_now.size)} chi bộ{extra})</h3>{warning}')

    def rates_html(self, which: str = "a") -> str:
        """Under a scenario's controls: what its admissions mean in people, how its
        rates are made, its notes; under A, the programme's 3–4 % ruler with A and B
        as rates of all members (when the data gives that base)."""
        name = which.upper()
        lines = [f"<b>{name}</b>: {html.escape(self.people(which))}.", html.escape(self.rates_label(which)) + "."]
        lines += [html.escape(n) for n in self.notes(which) if not n.startswith("Lịch sử chưa đủ")]
        notes = [n for n in self.notes(which) if n.startswith("Lịch sử chưa đủ")]
        lines += [f'<span class="nq21-note" style="color:#e65100">{html.escape(n)}</span>' for n in notes]
        ruler = ""
        if which == "a" and self.programme is not None:
            (rate_a, approx_a), (rate_b, approx_b) = self.all_members_rate("a"), self.all_members_rate("b")
            if rate_a is not None or rate_b is not None:
                ruler = rate_band_html(rate_a, rate_b, approx_a=approx_a, approx_b=approx_b)
        body = "".join(f"<div>{line}</div>" for line in lines)
        return (f'<div class="nq21-scenario-{which}" style="font-size:12px;line-height:1.35;max-width:560px">'
                f"{body}{ruler}</div>")

    def shares_html(self) -> str:
        """Shares ≥ 3/4/5 of scenario A against 95 % with the probability of reaching it."""
        table = self.shares("a")
        head = ("<tr><th>Chỉ tiêu</th><th>Năm " + str(self.base_year) + "</th><th>Dự báo "
                + str(self.horizon) + "</th><th>Xác suất đạt 95%</th>"
                + ("<th>Thực tế " + str(self.horizon) + "</th>" if table["observed"].notna().any() else "")
                + "</tr>")
        body = []
        for r in table.itertuples():
            ok = r.share >= config.TARGET_SHARE
            colour = "#1b5e20" if ok else "#b71c1c"
            cells = (f"<td>Tỷ lệ chi bộ có ≥ {r.threshold} đảng viên tại chỗ</td>"
                     f'<td class="num">{format_percent(r.share_now)}</td>'
                     f'<td class="num nq21-share-value" data-threshold="{r.threshold}" '
                     f'style="color:{colour};font-weight:bold">{format_percent(r.share)}</td>'
                     f'<td class="num">{format_probability(r.p_share_95)}</td>')
            if table["observed"].notna().any():
                cells += f'<td class="num">{format_percent(r.observed)}</td>'
            body.append(f"<tr>{cells}</tr>")
        note = (f'<div style="font-size:90%;line-height:1.3">Kịch bản A: {html.escape(self.results.scenario.label)}. '
                f"Mục tiêu: 95% chi bộ ({format_number(table['cells_needed'].iloc[0])} / "
                f"{format_number(self.members_now.size)} chi bộ).</div>")
        return f'{TABLE_CSS}<table class="nq21-table">{head}{"".join(body)}</table>{note}'

    def comparison_html(self) -> str:
        """Scenario A and B side by side, as an HTML table."""
        table = self.comparison().set_index("figure")
        first = self.base_year + 1
        rows = [("Kịch bản", html.escape(table.loc["scenario", "a"]), html.escape(table.loc["scenario", "b"])),
                ("Cách tính tỷ lệ", RATE_MODELS["calibrated" if self.results.rates.source == "calibrated" else "fixed"],
                 RATE_MODELS["calibrated" if self.compare.rates.source == "calibrated" else "fixed"])]
        numbers = [(f"Kết nạp năm {first} (kỳ vọng)", format_number(table.loc["admissions_first_year", "a"]),
                    format_number(table.loc["admissions_first_year", "b"])),
                   (f"Tổng kết nạp {first}–{self.horizon} (kỳ vọng)", format_number(table.loc["admissions_total", "a"]),
                    format_number(table.loc["admissions_total", "b"])),
                   (f"Đảng viên tại chỗ năm {self.horizon} (kỳ vọng)",
                    format_number(table.loc["expected_members", "a"]), format_number(table.loc["expected_members", "b"])),
                   ("Khoảng 80%",
                    f"{format_number(table.loc['members_q10', 'a'])}–{format_number(table.loc['members_q90', 'a'])}",
                    f"{format_number(table.loc['members_q10', 'b'])}–{format_number(table.loc['members_q90', 'b'])}")]
        for k in config.THRESHOLDS:
            numbers.append((f"Tỷ lệ chi bộ ≥ {k} đảng viên", format_percent(table.loc[f"share_at_least_{k}", "a"]),
                            format_percent(table.loc[f"share_at_least_{k}", "b"])))
            numbers.append((f"Xác suất tỷ lệ ≥ {k} đạt 95%",
                            format_probability(table.loc[f"p_share_95_at_least_{k}", "a"]),
                            format_probability(table.loc[f"p_share_95_at_least_{k}", "b"])))
        numbers.append(("Số chi bộ không còn đảng viên (kỳ vọng)",
                        format_number(table.loc["expected_zero_cells", "a"], 1),
                        format_number(table.loc["expected_zero_cells", "b"], 1)))
        numbers.append((f"Chi bộ có nguy cơ (< {self.threshold} đảng viên)",
                        format_number(table.loc["at_risk_cells", "a"]), format_number(table.loc["at_risk_cells", "b"])))
        body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        body += "".join(f'<tr><td>{a}</td><td class="num">{b}</td><td class="num">{c}</td></tr>' for a, b, c in numbers)
        return (f'{TABLE_CSS}<table class="nq21-table"><tr><th></th><th>Kịch bản A</th><th>Kịch bản B</th></tr>'
                f"{body}</table>")

    def at_risk_html(self, limit: int = AT_RISK_ROWS) -> str:
        """The at-risk cells of scenario A (the first ``limit``), as an HTML table."""
        table = self.at_risk("a")
        title = (f"<b>Chi bộ có nguy cơ năm {self.horizon}</b>: xác suất có ≥ {self.threshold} đảng viên "
                 f"tại chỗ dưới 0,5 hoặc hiện không có đảng viên — {format_number(len(table))} chi bộ")
        if table.empty:
            return f"<div>{title}.</div>"
        shown = table.head(limit)
        district = "district" in shown
        head = ("<tr><th>Mã chi bộ</th><th>Tên chi bộ</th><th>Xã</th>" + ("<th>Huyện</th>" if district else "")
                + f"<th>Đảng viên {self.base_year}</th><th>Kỳ vọng {self.horizon}</th>"
                f"<th>Xác suất ≥ {self.threshold}</th></tr>")
        body = "".join(
            f"<tr><td>{html.escape(str(r.cell_id))}</td><td>{html.escape(str(r.cell_name))}</td>"
            f"<td>{html.escape(str(r.commune))}</td>"
            + (f"<td>{html.escape(str(r.district))}</td>" if district else "")
            + f'<td class="num">{format_number(r.members_now)}</td>'
            f'<td class="num">{format_number(r.expected_members, 1)}</td>'
            f'<td class="num">{format_probability(r.p_at_least)}</td></tr>' for r in shown.itertuples())
        more = (f"<div>… và {format_number(len(table) - limit)} chi bộ khác (xem tệp XLSX).</div>"
                if len(table) > limit else "")
        return f'{TABLE_CSS}<div>{title}:</div><table class="nq21-table">{head}{body}</table>{more}'

    # ------------------------------------------------------------ export
    def default_path(self, directory: str | Path | None = None) -> Path:
        """``outputs/explorer_<unit>_<base>-<horizon>.xlsx`` (unit as ASCII)."""
        directory = Path(directory) if directory else config.OUTPUTS_DIR
        return directory / f"explorer_{slugify(self.unit)}_{self.base_year}-{self.horizon}.xlsx"

    def write_cell_table(self, path: str | Path | None = None) -> Path:
        """Write the current cell table (scenario A) to XLSX, atomically, with
        Vietnamese headers and rounded values (:func:`export_tables`), as an office
        workbook (:mod:`nq21model.styles`: title rows, "Dữ liệu mô phỏng" on every
        sheet when the data are synthetic, probabilities as the briefing shows them).

        Default path: :meth:`default_path`. Returns the path written.
        """
        from .files import write_table

        path = Path(path) if path is not None else self.default_path()
        if path.suffix.lower() != ".xlsx":
            raise ParameterError(f"{path}: the cell table is written as .xlsx")
        return write_table(export_tables(self), path, office=True, synthetic=self.synthetic, widths=(8, 60))

    def parameters_table(self) -> pd.DataFrame:
        """The view's parameters and key figures as ``Mục, Giá trị`` rows (Vietnamese;
        rates and shares as percentages, probabilities with 2 decimals)."""
        data = "Dữ liệu mô phỏng — không phản ánh chi bộ thực tế" if self.synthetic else "Số liệu thực tế"
        rows = [("Dữ liệu", data),
                ("Đơn vị", f"{self.level_label}: {self.unit}" if self.state.level != "province" else self.unit),
                ("Số chi bộ dự báo", int(self.members_now.size)),
                ("Chi bộ không dự báo (giải thể, sáp nhập hoặc chưa có số liệu)", int(len(self.absent))),
                ("Năm gốc", self.base_year), ("Năm dự báo", self.horizon),
                ("Ngưỡng chi bộ nguy cơ", f"≥ {self.threshold} đảng viên tại chỗ")]
        for which in ("a", "b"):
            name = which.upper()
            f = self.choices[which].requested or self.state.scenario_fields(which)
            rows += [(f"Kịch bản {name}", self._get(which).results.scenario.label),
                     (f"Kịch bản {name}: kết nạp", ADMISSIONS.get(f["admissions"], f["admissions"])),
                     (f"Kịch bản {name}: tỷ lệ kết nạp (thanh trượt)", format_percent(f["admission_rate"])),
                     (f"Kịch bản {name}: cách tính tỷ lệ", self.rates_label(which)),
                     (f"Kịch bản {name}: phân bổ", ALLOCATION_CHOICES.get(f["allocation"], f["allocation"])),
                     (f"Kịch bản {name}: số người", self.people(which))]
            rows += [(f"Kịch bản {name}: ghi chú", note) for note in self.notes(which)]
        for r in self.shares("a").itertuples():
            rows.append((f"A: tỷ lệ chi bộ ≥ {r.threshold} đảng viên năm {self.horizon}", format_percent(r.share)))
            rows.append((f"A: xác suất tỷ lệ ≥ {r.threshold} đạt 95%", chance_value(float(r.p_share_95))))
        return pd.DataFrame(rows, columns=["Mục", "Giá trị"])


#: Vietnamese headers of the explorer's export, by column of the cell table.
EXPORT_HEADERS = {"cell_id": "Mã chi bộ", "district": "Huyện", "commune_2025": "Xã mới (sau 1/7/2025)",
                  "commune": "Xã", "cell_name": "Tên chi bộ", "horizon": "Năm dự báo",
                  "expected_members": "Đảng viên tại chỗ dự kiến (kỳ vọng)", "q10": "Phân vị 10%",
                  "q50": "Trung vị", "q90": "Phân vị 90%", "p_zero": "Xác suất không còn đảng viên",
                  **{f"p_at_least_{k}": f"Xác suất ≥ {k} đảng viên" for k in config.THRESHOLDS}}


def export_tables(view: ExplorerView) -> dict[str, Sheet]:
    """The sheets of the explorer's XLSX export (:class:`nq21model.styles.Sheet`:
    a frame and its title), Vietnamese headers, expected members to 1 decimal
    (probabilities as they are: the writer shows them with 2 decimals, or "> 0,99" /
    "< 0,01", as the briefing does):

    * "Chi bộ" — every cell of the unit at the horizon (scenario A) with the members
      at the base year (and the post-2025 commune when the data has it);
    * "Có nguy cơ" — the at-risk cells;
    * "Không dự báo" — the unit's cells dissolved before the base year or not yet in
      the data (only when there are some);
    * "Kịch bản" — both scenarios, what they mean in people, the key figures.
    """
    table = view.cell_table("a")
    cells = view.results.dataset.cells
    if "commune_2025" in cells:
        table.insert(list(table.columns).index("commune"), "commune_2025", cells["commune_2025"].to_numpy())
    members = f"members_{view.base_year}"
    table = table.assign(expected_members=table["expected_members"].round(1))
    table = table.rename(columns={**EXPORT_HEADERS, members: f"Đảng viên tại chỗ {view.base_year}"})
    risk = view.at_risk("a")
    at_risk = pd.DataFrame({"Mã chi bộ": risk["cell_id"], "Tên chi bộ": risk["cell_name"], "Xã": risk["commune"]})
    if "district" in risk:
        at_risk["Huyện"] = risk["district"]
    at_risk[f"Đảng viên tại chỗ {view.base_year}"] = risk["members_now"].astype(int)
    at_risk[f"Dự kiến {view.horizon}"] = risk["expected_members"].round(1)
    at_risk[f"Xác suất ≥ {view.threshold} ({view.horizon})"] = risk["p_at_least"]
    where = view.unit if view.state.level == "province" else f"{view.level_label}: {view.unit}"
    scenario = view.results.scenario.label
    sheets = {"Chi bộ": Sheet(table, title=f"Dự báo từng chi bộ năm {view.horizon} — {where} (kịch bản A: {scenario})"),
              "Có nguy cơ": Sheet(at_risk, title=f"Chi bộ có nguy cơ không đạt {view.threshold} đảng viên tại chỗ "
                                                 f"năm {view.horizon} — {where} (kịch bản A)")}
    absent = view.absent
    if len(absent):
        gone = pd.DataFrame({"Mã chi bộ": absent["cell_id"], "Tên chi bộ": absent["cell_name"]})
        for col in ("district", "commune_2025", "commune"):
            if col in absent:
                gone[EXPORT_HEADERS[col]] = absent[col]
        gone["Tình trạng"] = absent["reason"].map(ABSENCE_LABELS)
        gone["Năm có số liệu"] = [f"{int(a)}–{int(b)}" if pd.notna(a) else "" for a, b in
                                  zip(absent["first_year"], absent["last_year"])]
        sheets["Không dự báo"] = Sheet(gone, title=f"Chi bộ không dự báo (giải thể, sáp nhập hoặc chưa có số liệu) — "
                                                   f"{where}")
    sheets["Kịch bản"] = Sheet(view.parameters_table(), title=f"Kịch bản và các số liệu chính — {where}")
    return sheets


@dataclass
class ExplorerPage:
    """What the notebook displays for one state (HTML snippets and a PNG)."""

    view: ExplorerView | None
    error: str | None
    banner_html: str = ""
    rates_html: str = ""
    rates_b_html: str = ""
    title_html: str = ""
    shares_html: str = ""
    comparison_html: str = ""
    at_risk_html: str = ""
    figure_png: bytes = b""
    status_html: str = ""

    def widget_values(self) -> dict:
        """New value of each output widget, by name (``banner, rates, rates_b,
        title, figure, shares, comparison, at_risk, status``). On an error only the
        rates and the status change: the last good figures stay on screen."""
        values = {"rates": self.rates_html, "rates_b": self.rates_b_html, "status": self.status_html}
        if self.error is None:
            values.update(banner=self.banner_html, title=self.title_html, figure=self.figure_png,
                          shares=self.shares_html, comparison=self.comparison_html, at_risk=self.at_risk_html)
        return values

    def __repr__(self) -> str:
        what = f"error={self.error!r}" if self.error else f"unit={self.view.unit!r}, png={len(self.figure_png)} bytes"
        return f"ExplorerPage({what})"
