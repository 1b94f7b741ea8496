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

The pieces live in :mod:`nq21model.explorer_base` (labels, ranges, the state, the
texts beside the controls), :mod:`nq21model.explorer_options` (what the controls
offer), :mod:`nq21model.explorer_results` (one scenario's forecast of a unit) and
:mod:`nq21model.explorer_view` (the view, its export, the page); this module holds
:class:`Explorer` and re-exports their public names.
"""
from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import config, engine
from .data import Dataset, load_dataset
from .exceptions import DataError, ParameterError
from .explorer_base import (ADMISSION_RANGE, ADMISSIONS, ALLOCATION_CHOICES, ATTRITION_RANGE, EXPLORER_DRAWS,
                            LEVELS, MAX_STEPS, PROGRAMME_BAND, RATE_MODELS, Choice,
                            ExplorerState, _error_html, default_threshold, people_label, rate_band_html,
                            threshold_options)
from .explorer_options import ExplorerOptions
from .explorer_results import ExplorerResults, MemoDataset, UnitForecast, fan_path, subset_rates
from .explorer_view import ExplorerPage, ExplorerView, export_tables
from .fmt import format_number, slugify
from .results import PROVINCE
from .scenario import ALLOCATIONS, Rates, Scenario, programme_base, scenario_rates

__all__ = [
    "LEVELS", "ADMISSIONS", "RATE_MODELS", "ALLOCATION_CHOICES", "ADMISSION_RANGE", "ATTRITION_RANGE",
    "PROGRAMME_BAND", "EXPLORER_DRAWS", "ExplorerState", "Explorer", "ExplorerView", "ExplorerPage",
    "UnitForecast", "ExplorerResults", "MemoDataset", "fan_path", "default_threshold", "threshold_options",
    "rate_band_html", "people_label",
    "export_tables", "slugify",
]


QuotaProvider = Callable[[Dataset, Scenario, int, int], pd.DataFrame]


class Explorer(ExplorerOptions):
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


def _trim(cache: OrderedDict, size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)
