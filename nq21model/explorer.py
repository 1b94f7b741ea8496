"""Interactive scenario explorer: widget state → results, tables and figures.

``notebooks/explore.ipynb`` wires ipywidgets to this module and does nothing else.
An :class:`ExplorerState` holds what the widgets show (unit, rates, allocation,
base year, horizon, a second scenario to compare); :meth:`Explorer.run` turns it
into an :class:`ExplorerView` (forecast results of the unit for both scenarios);
:meth:`Explorer.page` renders a view into what the widgets display (HTML snippets
and one PNG) and never raises on bad parameters: the message goes to the page.

Speed: the dataset, each unit's cells (a sub-dataset), the province rates of
each scenario, each scenario's forecast of a unit and every view are cached in the :class:`Explorer`, so a slider move recomputes only the scenario
that changed for the cells of the chosen unit (province admissions are still
computed from every cell, MODEL.md §2). ``benchmarks/explorer.py`` measures it.

Optimised quotas: ``allocation="quota"`` takes its quotas from ``state.quotas``
(a ``cell_id, year, quota`` table, e.g. written by ``nq21model allocate`` and
read with :func:`nq21model.data.load_quotas`) or, when the state has none, from
the ``quota_provider`` given to :class:`Explorer` — a callable
``provider(dataset, scenario, base_year, horizon) -> quotas table`` that may
optimise for the scenario's admission rate (see README, "Scenario explorer").
"""
from __future__ import annotations

import html
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import config, engine
from .data import Dataset, load_dataset
from .exceptions import DataError, ParameterError
from .fmt import format_number, format_percent, format_probability, slugify
from .results import CELL_COLUMNS, PROVINCE, ForecastResults, risk_threshold
from .scenario import ALLOCATION_LABELS, Scenario, fixed_rates

__all__ = [
    "LEVELS", "ADMISSION_RANGE", "ATTRITION_RANGE", "PROGRAMME_BAND", "ExplorerState", "Explorer",
    "ExplorerView", "ExplorerPage", "UnitForecast", "default_threshold", "threshold_options",
    "rate_band_html", "slugify",
]

#: Level of the unit → Vietnamese label (the value is the cells column, or province).
LEVELS = {"province": "Toàn tỉnh", "district": "Huyện, thành phố", "commune": "Xã, phường, thị trấn"}

#: Admission-rate slider: minimum, maximum, step.
ADMISSION_RANGE = (0.02, 0.06, 0.001)

#: Attrition slider: minimum, maximum, step.
ATTRITION_RANGE = (0.005, 0.05, 0.001)

#: The programme's band of yearly admissions (3–4 % of members, section II.2).
PROGRAMME_BAND = (0.03, 0.04)

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
    level : {"province", "district", "commune"}
    unit : str, optional
        Name of the district or commune (ignored for the province).
    admission_rate, attrition_rate : float
        Scenario A: yearly admissions as a share of local members; yearly attrition.
    allocation : {"population", "members", "quota"}
        Scenario A's split of province admissions over cells.
    base_year : int, optional
        Default the last year of history.
    horizon : int
        Year of the forecast shown (after the base year).
    threshold : int, optional
        Local members a cell needs in the at-risk table; None or 0 means
        :func:`default_threshold` of the horizon.
    compare_admission_rate, compare_attrition_rate, compare_allocation
        Scenario B, shown beside A.
    quotas : DataFrame, optional
        ``cell_id, year, quota`` for ``allocation="quota"`` (both scenarios).
    """

    level: str = "district"
    unit: str | None = None
    admission_rate: float = config.ADMISSION_RATE
    attrition_rate: float = config.ATTRITION_RATE
    allocation: str = "population"
    base_year: int | None = None
    horizon: int = 2030
    threshold: int | None = None
    compare_admission_rate: float = PROGRAMME_BAND[0]
    compare_attrition_rate: float = config.ATTRITION_RATE
    compare_allocation: str = "population"
    quotas: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def key(self) -> tuple:
        """Hashable identity of the state (the quotas table by object identity)."""
        values = tuple(getattr(self, f.name) for f in fields(self) if f.name != "quotas")
        return values + (id(self.quotas) if self.quotas is not None else None,)

    def with_(self, **changes) -> "ExplorerState":
        """A copy with some fields changed."""
        return replace(self, **changes)


class Explorer:
    """Scenario explorer over one dataset; caches what slider moves do not change.

    Parameters
    ----------
    dataset : Dataset, optional
        Default the bundled synthetic province.
    quota_provider : callable, optional
        ``provider(dataset, scenario, base_year, horizon)`` → ``cell_id, year,
        quota`` table for ``allocation="quota"`` when the state carries no quotas
        (e.g. an optimiser of admission quotas); its answers are cached.
    cache_size : int
        Views kept for instant return to an earlier state.
    """

    def __init__(self, dataset: Dataset | None = None, *, quota_provider: QuotaProvider | None = None,
                 cache_size: int = 64):
        self.dataset = dataset if dataset is not None else load_dataset()
        self.quota_provider = quota_provider
        self.cache_size = cache_size
        self._units: dict[tuple[str, str | None], tuple[np.ndarray, Dataset]] = {}
        self._views: OrderedDict[tuple, ExplorerView] = OrderedDict()
        self._rates: OrderedDict[tuple, object] = OrderedDict()
        self._forecasts: OrderedDict[tuple, UnitForecast] = OrderedDict()
        self._quota_refs: dict[int, pd.DataFrame] = {}
        self._renderer = None
        self._hints: OrderedDict[tuple, dict] = OrderedDict()
        self._checked_years: set[int] = set()
        self._quotas: OrderedDict[tuple, pd.DataFrame] = OrderedDict()

    # ------------------------------------------------------------- options
    def units(self, level: str) -> list[str]:
        """Names a unit of ``level`` may take, sorted (province: ['Toàn tỉnh'])."""
        if level == "province":
            return [PROVINCE]
        self._check_level(level)
        return sorted(self.dataset.cells[level].unique(), key=_sort_key)

    def unit_options(self, level: str) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown: communes carry their district."""
        if level != "commune":
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

    def allocations(self, *, quotas: bool = False) -> list[tuple[str, str]]:
        """(Vietnamese label, value) pairs of the allocations on offer; 'quota' only
        when a quotas table is at hand (``quotas=True``) or a provider was given."""
        values = ["population", "members"]
        if quotas or self.quota_provider is not None:
            values.append("quota")
        labels = dict(ALLOCATION_LABELS)
        if self.quota_provider is not None:
            labels["quota"] = "theo chỉ tiêu tối ưu"
        return [(labels[v].capitalize(), v) for v in values]

    def _check_level(self, level: str) -> None:
        if level not in LEVELS:
            raise ParameterError(f"level must be one of {', '.join(LEVELS)}, got '{level}'")

    # ------------------------------------------------------------- compute
    def unit_index(self, level: str, unit: str | None) -> np.ndarray:
        """Row positions of the unit's cells (cached)."""
        return self._unit(level, unit)[0]

    def _unit(self, level: str, unit: str | None) -> tuple[np.ndarray, Dataset]:
        self._check_level(level)
        key = (level, None if level == "province" else unit)
        if key not in self._units:
            cells = self.dataset.cells
            if level == "province":
                idx = np.arange(len(cells))
                sub = self.dataset
            else:
                if unit is None:
                    raise ParameterError(f"choose a {level} (one of: {', '.join(self.units(level))})")
                mask = cells[level].eq(unit).to_numpy()
                if not mask.any():
                    raise ParameterError(f"no {level} named '{unit}' in the data "
                                         f"(choose from: {', '.join(self.units(level))})")
                idx = np.flatnonzero(mask)
                sub_cells = cells.iloc[idx].reset_index(drop=True)
                history = self.dataset.history
                sub = Dataset(cells=sub_cells,
                              history=history[history["cell_id"].isin(set(sub_cells["cell_id"]))],
                              sources=self.dataset.sources, synthetic=self.dataset.synthetic,
                              synthetic_info=self.dataset.synthetic_info)
            self._units[key] = (idx, sub)
        return self._units[key]

    def scenario(self, state: ExplorerState, which: str = "a") -> Scenario:
        """Scenario A (``which="a"``) or B of the state."""
        if which == "a":
            rate, attrition, allocation = state.admission_rate, state.attrition_rate, state.allocation
        elif which == "b":
            rate, attrition, allocation = (state.compare_admission_rate, state.compare_attrition_rate,
                                           state.compare_allocation)
        else:
            raise ParameterError(f"which must be 'a' or 'b', got '{which}'")
        scenario = Scenario(admission_rate=float(rate), attrition_rate=float(attrition),
                            allocation="population" if allocation == "quota" else allocation)
        if allocation == "quota":
            quotas = self._quotas_for(state, scenario)
            scenario = scenario.with_(allocation="quota", quotas=quotas)
        return scenario

    def _quotas_for(self, state: ExplorerState, scenario: Scenario) -> pd.DataFrame:
        if state.quotas is not None:
            return state.quotas
        if self.quota_provider is None:
            raise ParameterError("allocation 'quota' needs a quotas table (a quotas file or an optimiser)")
        base, horizon = self._years(state)
        key = (scenario.admission_rate, scenario.attrition_rate, base, horizon)
        if key not in self._quotas:
            self._quotas[key] = self.quota_provider(self.dataset, scenario, base, horizon)
            _trim(self._quotas, self.cache_size)
        return self._quotas[key]

    def _scenario_key(self, scenario: Scenario) -> tuple:
        quotas = None
        if scenario.quotas is not None:
            quotas = id(scenario.quotas)
            self._quota_refs[quotas] = scenario.quotas  # keeps the id unique while cached
        return (scenario.admission_rate, scenario.attrition_rate, scenario.admissions_per_year,
                scenario.allocation, scenario.achievement, quotas)

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

    def _province_rates(self, scenario: Scenario, base: int, horizon: int):
        key = (self._scenario_key(scenario), base, horizon)
        if key not in self._rates:
            self._rates[key] = fixed_rates(self.dataset, scenario, base, horizon)
            _trim(self._rates, 4 * self.cache_size)
        return self._rates[key]

    def _forecast(self, scenario: Scenario, level: str, unit: str | None, base: int,
                  horizon: int) -> UnitForecast:
        key = (self._scenario_key(scenario), level, unit, base, horizon)
        if key in self._forecasts:
            self._forecasts.move_to_end(key)
            return self._forecasts[key]
        idx, sub = self._unit(level, unit)
        rates = self._province_rates(scenario, base, horizon)
        if level != "province":
            rates = replace(rates, survival=rates.survival[:, idx], lam=rates.lam[:, idx, :])
        forecast = UnitForecast(ForecastResults(sub, scenario, rates, [horizon]), level, horizon)
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
        unit = PROVINCE if state.level == "province" else state.unit
        forecast_a = self._forecast(self.scenario(state, "a"), state.level, unit, base, horizon)
        forecast_b = self._forecast(self.scenario(state, "b"), state.level, unit, base, horizon)
        view = ExplorerView(state, unit, base, horizon, forecast_a, forecast_b,
                            axis_hints=self.axis_hints(state))
        self._views[key] = view
        _trim(self._views, self.cache_size)
        return view

    def axis_hints(self, state: ExplorerState) -> dict:
        """Ranges the charts should cover whatever the admission sliders say.

        For each scenario whose allocation follows the rate, the unit's total
        local members from the base year to the horizon at the slider's lowest and
        highest rate (mean ± 2.5 sd, from the closed form; no distribution needed)
        and the lowest expected share of cells with ≥ 5 members (at the lowest
        rate). The charts keep these axis limits while a rate slider moves, so the
        eye can compare positions and the figure's background is reused.
        Returns ``{"members": (low, high), "share_floor": float}``; cached.
        """
        base, horizon = self._years(state)
        unit = PROVINCE if state.level == "province" else state.unit
        key = (state.level, unit, base, horizon, state.attrition_rate, state.allocation,
               state.compare_attrition_rate, state.compare_allocation,
               id(state.quotas) if state.quotas is not None else None)
        if key in self._hints:
            return self._hints[key]
        idx, sub = self._unit(state.level, unit)
        n0 = sub.members_at(base).to_numpy(dtype=np.int64)
        low, high, floor = np.inf, -np.inf, 1.0
        for which, attrition, allocation, rate in (
                ("a", state.attrition_rate, state.allocation, state.admission_rate),
                ("b", state.compare_attrition_rate, state.compare_allocation, state.compare_admission_rate)):
            choices = [rate] if allocation == "quota" else list(ADMISSION_RANGE[:2])
            for value in choices:
                fields_ = ({"admission_rate": value, "attrition_rate": attrition, "allocation": allocation}
                           if which == "a" else {"compare_admission_rate": value, "compare_attrition_rate": attrition,
                                                 "compare_allocation": allocation})
                rates = self._province_rates(self.scenario(state.with_(**fields_), which), base, horizon)
                survival, lam = rates.survival[:, idx], rates.lam[:, idx, :]
                for step in range(1, horizon - base + 1):
                    p, mu = engine.horizon_parameters(survival, lam, step)
                    mean = float((n0 * p + mu).sum(axis=-1).mean())
                    sd = float(np.sqrt((n0 * p * (1 - p) + mu).sum(axis=-1)).max())
                    low, high = min(low, mean - 2.5 * sd), max(high, mean + 2.5 * sd)
                if value == choices[0]:
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
        rates = rate_band_html(state.admission_rate, state.compare_admission_rate)
        try:
            view = self.run(state)
        except (ParameterError, DataError) as exc:
            return ExplorerPage(view=None, error=str(exc), banner_html=self.banner_html(), rates_html=rates,
                                status_html=_error_html(str(exc)))
        renderer = renderer or self.renderer
        return ExplorerPage(view=view, error=None, banner_html=self.banner_html(), rates_html=rates,
                            title_html=view.title_html(), shares_html=view.shares_html(),
                            comparison_html=view.comparison_html(), at_risk_html=view.at_risk_html(),
                            figure_png=renderer.render_png(view))

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


def _sort_key(name: str) -> str:
    """Vietnamese-like order: accents ignored, đ after d."""
    text = unicodedata.normalize("NFD", name.casefold().replace("đ", "d~"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def rate_band_html(rate_a: float, rate_b: float | None = None) -> str:
    """A 2–6 % ruler with the programme's 3–4 % band shaded and markers at the
    admission rates of scenario A (and B); says whether A is inside the band."""
    lo, hi = ADMISSION_RANGE[0], ADMISSION_RANGE[1]

    def pos(rate: float) -> float:
        return 100.0 * (min(max(rate, lo), hi) - lo) / (hi - lo)

    band = (f'<div style="position:absolute;left:{pos(PROGRAMME_BAND[0]):.1f}%;'
            f'width:{pos(PROGRAMME_BAND[1]) - pos(PROGRAMME_BAND[0]):.1f}%;top:0;bottom:0;'
            'background:#a5d6a7"></div>')
    marks = [(rate_a, "#1565c0", "A")] + ([(rate_b, "#ef6c00", "B")] if rate_b is not None else [])
    markers = "".join(
        f'<div title="{name}" style="position:absolute;left:calc({pos(rate):.1f}% - 1px);width:3px;top:-3px;'
        f'bottom:-3px;background:{colour}"></div>' for rate, colour, name in marks)
    inside = PROGRAMME_BAND[0] - 1e-9 <= rate_a <= PROGRAMME_BAND[1] + 1e-9
    verdict = "trong" if inside else "ngoài"
    ticks = "".join(f'<span style="position:absolute;left:{pos(r):.1f}%;transform:translateX(-50%)">'
                    f"{format_percent(r, 0)}</span>" for r in (0.02, 0.03, 0.04, 0.05, 0.06))
    return (f'<div class="nq21-rate-band" data-inside="{str(inside).lower()}" '
            'style="max-width:320px;margin:0 14px 0 160px;font-size:11px;line-height:1.3">'
            f'<div style="position:relative;height:8px;background:#eceff1;margin:4px 0">{band}{markers}</div>'
            f'<div style="position:relative;height:14px">{ticks}</div>'
            f"<div>Kết nạp A {format_percent(rate_a)}/năm — {verdict} khung 3–4% của Chương trình hành động"
            + (f"; B {format_percent(rate_b)}/năm" if rate_b is not None else "") + "</div></div>")


def _error_html(message: str) -> str:
    return (f'<div class="nq21-error" style="color:#b71c1c;border:1px solid #b71c1c;padding:6px">'
            f'Không tính được với các tham số này: {html.escape(message)}</div>')


# --------------------------------------------------------------------- view


class UnitForecast:
    """One scenario's forecast of one unit at one horizon, with the derived tables
    cached (they are reused while the other scenario's slider moves)."""

    def __init__(self, results: ForecastResults, level: str, horizon: int):
        self.results = results
        self.level = level
        self.horizon = horizon
        self._at_risk: dict[int, pd.DataFrame] = {}

    @cached_property
    def unit_row(self) -> pd.Series:
        """The unit's forecast row at the horizon (see ``ForecastResults.units``)."""
        res = self.results
        table = res.province if self.level == "province" else res.units(by=self.level)
        return table[(table["status"] == "forecast") & (table["horizon"] == self.horizon)].iloc[0]

    @cached_property
    def path(self) -> pd.DataFrame:
        """Yearly local members of the unit: history and forecast band."""
        return self.results.path()

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
        Scenario A and scenario B, over the unit's cells only (province
        admissions from every cell).
    """

    def __init__(self, state: ExplorerState, unit: str, base_year: int, horizon: int,
                 forecast_a: UnitForecast, forecast_b: UnitForecast, *, axis_hints: dict | None = None):
        self.state = state
        self.axis_hints = axis_hints or {}
        self.unit = unit
        self.base_year = base_year
        self.horizon = horizon
        self._forecasts = {"a": forecast_a, "b": forecast_b}
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
                        "cells_needed": engine.cells_needed(config.TARGET_SHARE, n),
                        "observed": float(row.get(f"observed_share_at_least_{k}", np.nan))})
        return pd.DataFrame(out)

    def comparison(self) -> pd.DataFrame:
        """Scenario A and B side by side: one row per figure, columns ``figure, a, b``."""
        rows = []
        ra, rb = self.unit_row("a"), self.unit_row("b")
        rows.append(("scenario", self.results.scenario.label, self.compare.scenario.label))
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
        """The unit's cells at the horizon: MODEL.md §3 columns, then ``members_now``."""
        res = self._get(which).results
        table = res.cells[res.cells["horizon"] == self.horizon][CELL_COLUMNS].reset_index(drop=True)
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

    def title_html(self) -> str:
        """Heading: unit, base year, horizon, cells."""
        level = "" if self.state.level == "province" else f"{LEVELS[self.state.level]}: "
        return (f'<h3 style="margin:4px 0">{html.escape(level + self.unit)} — dự báo năm {self.horizon} '
                f'(năm gốc {self.base_year}, {format_number(self.members_now.size)} chi bộ)</h3>')

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
        labels = {"expected_members": f"Đảng viên tại chỗ năm {self.horizon} (kỳ vọng)",
                  "members_band": "Khoảng 80%",
                  "expected_zero_cells": "Số chi bộ không còn đảng viên (kỳ vọng)",
                  "at_risk_cells": f"Chi bộ có nguy cơ (< {self.threshold} đảng viên)"}
        rows = [("Kịch bản", html.escape(table.loc["scenario", "a"]), html.escape(table.loc["scenario", "b"]))]
        rows.append((labels["expected_members"], format_number(table.loc["expected_members", "a"]),
                     format_number(table.loc["expected_members", "b"])))
        rows.append((labels["members_band"],
                     f"{format_number(table.loc['members_q10', 'a'])}–{format_number(table.loc['members_q90', 'a'])}",
                     f"{format_number(table.loc['members_q10', 'b'])}–{format_number(table.loc['members_q90', 'b'])}"))
        for k in config.THRESHOLDS:
            rows.append((f"Tỷ lệ chi bộ ≥ {k} đảng viên", format_percent(table.loc[f"share_at_least_{k}", "a"]),
                         format_percent(table.loc[f"share_at_least_{k}", "b"])))
            rows.append((f"Xác suất tỷ lệ ≥ {k} đạt 95%",
                         format_probability(table.loc[f"p_share_95_at_least_{k}", "a"]),
                         format_probability(table.loc[f"p_share_95_at_least_{k}", "b"])))
        rows.append((labels["expected_zero_cells"], format_number(table.loc["expected_zero_cells", "a"], 1),
                     format_number(table.loc["expected_zero_cells", "b"], 1)))
        rows.append((labels["at_risk_cells"], format_number(table.loc["at_risk_cells", "a"]),
                     format_number(table.loc["at_risk_cells", "b"])))
        body = "".join(f'<tr><td>{a}</td><td class="num">{b}</td><td class="num">{c}</td></tr>'
                       for a, b, c in rows[1:])
        body = f"<tr><td>{rows[0][0]}</td><td>{rows[0][1]}</td><td>{rows[0][2]}</td></tr>" + body
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
        head = ("<tr><th>Mã chi bộ</th><th>Tên chi bộ</th><th>Xã</th><th>Huyện</th>"
                f"<th>Đảng viên {self.base_year}</th><th>Kỳ vọng {self.horizon}</th>"
                f"<th>Xác suất ≥ {self.threshold}</th></tr>")
        body = "".join(
            f"<tr><td>{html.escape(r.cell_id)}</td><td>{html.escape(r.cell_name)}</td>"
            f"<td>{html.escape(r.commune)}</td><td>{html.escape(r.district)}</td>"
            f'<td class="num">{format_number(r.members_now)}</td>'
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
        """Write the current cell table (scenario A) to XLSX, atomically.

        Sheets: ``chi_bo`` (every cell of the unit: MODEL.md §3 columns and the
        members at the base year), ``co_nguy_co`` (the at-risk cells), ``kich_ban``
        (the parameters of both scenarios, the data's synthetic flag, shares).
        Default path: :meth:`default_path`. Returns the path written.
        """
        from .files import write_table

        path = Path(path) if path is not None else self.default_path()
        if path.suffix.lower() != ".xlsx":
            raise ParameterError(f"{path}: the cell table is written as .xlsx")
        return write_table({"chi_bo": self.cell_table("a"), "co_nguy_co": self.at_risk("a"),
                            "kich_ban": self.parameters_table()}, path)

    def parameters_table(self) -> pd.DataFrame:
        """The state's parameters and key figures as ``name, value`` rows."""
        state = asdict(replace(self.state, quotas=None))
        state.pop("quotas", None)
        rows = [("data", "Dữ liệu mô phỏng (synthetic)" if self.synthetic else "real"),
                ("unit", self.unit), ("cells", int(self.members_now.size)),
                ("base_year", self.base_year), ("horizon", self.horizon), ("threshold", self.threshold),
                ("scenario_a", self.results.scenario.label), ("scenario_b", self.compare.scenario.label)]
        rows += [(name, value) for name, value in state.items()
                 if name not in ("unit", "base_year", "horizon", "threshold")]
        for r in self.shares("a").itertuples():
            rows.append((f"share_at_least_{r.threshold}", r.share))
            rows.append((f"p_share_95_at_least_{r.threshold}", r.p_share_95))
        return pd.DataFrame({"name": [r[0] for r in rows], "value": [str(r[1]) for r in rows]})


@dataclass
class ExplorerPage:
    """What the notebook displays for one state (HTML snippets and a PNG)."""

    view: ExplorerView | None
    error: str | None
    banner_html: str = ""
    rates_html: str = ""
    title_html: str = ""
    shares_html: str = ""
    comparison_html: str = ""
    at_risk_html: str = ""
    figure_png: bytes = b""
    status_html: str = ""

    def widget_values(self) -> dict:
        """New value of each output widget, by name (``banner, rates, title,
        figure, shares, comparison, at_risk, status``). On an error only the
        rates and the status change: the last good figures stay on screen."""
        values = {"rates": self.rates_html, "status": self.status_html}
        if self.error is None:
            values.update(banner=self.banner_html, title=self.title_html, figure=self.figure_png,
                          shares=self.shares_html, comparison=self.comparison_html, at_risk=self.at_risk_html)
        return values

    def __repr__(self) -> str:
        what = f"error={self.error!r}" if self.error else f"unit={self.view.unit!r}, png={len(self.figure_png)} bytes"
        return f"ExplorerPage({what})"
