"""forecast(): dataset + scenario → ForecastResults, by the exact engine or Monte Carlo."""
from __future__ import annotations

import warnings
from typing import Iterable

from . import config
from .data import Dataset, load_dataset
from .exceptions import DataWarning, ParameterError
from .results import ForecastResults
from .scenario import Rates, Scenario, scenario_rates

METHODS = ("exact", "monte-carlo")


def default_horizons(base_year: int) -> list[int]:
    """Every target year after the base year (else five years on)."""
    later = [y for y in sorted(config.TARGETS) if y > base_year]
    return later or [base_year + 5]


def check_horizons(horizons: Iterable[int] | None, base_year: int) -> list[int]:
    """Sorted distinct horizons, each after the base year (ParameterError otherwise)."""
    if not horizons:
        return default_horizons(base_year)
    horizons = sorted(set(int(h) for h in horizons))
    early = [h for h in horizons if h <= base_year]
    if early:
        raise ParameterError(f"horizon {early[0]} is at or before the base year {base_year}; "
                             "a target year up to the base year is reported as observed")
    if horizons[-1] > base_year + 50:
        raise ParameterError(f"horizon {horizons[-1]} is more than 50 years after the base year")
    return horizons


def forecast(dataset: Dataset | None = None, scenario: Scenario | None = None, *,
             base_year: int | None = None, horizons: Iterable[int] | None = None,
             rates: Rates | None = None, calibration=None, method: str = "exact", draws: int = 10_000,
             seed: int | None = None) -> ForecastResults:
    """Forecast local members per cell, unit and province.

    Parameters
    ----------
    dataset : Dataset, optional
        Default: the bundled synthetic province. Cells without history in the base
        year (dissolved, or not yet in the data) are listed, not forecast.
    scenario : Scenario, optional
        Default ``Scenario()``: continue as calibrated on history up to the base year,
        with parameter uncertainty. With fewer than :data:`calibrate.MIN_YEARS` years
        of history before the base year, fixed rates instead (a note says so).
    base_year : int, optional
        Default the last year of history.
    horizons : iterable of int, optional
        Default every target year (2025, 2030) after the base year.
    rates : Rates, optional
        Per-cell rates made elsewhere (for the cells present in the base year).
    calibration : Calibration, optional
        A fitted calibration to use instead of fitting one.
    method : {"exact", "monte-carlo"}
    draws, seed
        Monte Carlo only.
    """
    from .calibrate import MIN_YEARS, can_calibrate

    dataset = dataset if dataset is not None else load_dataset()
    scenario = scenario if scenario is not None else Scenario()
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    base_year = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base_year)
    horizons = check_horizons(horizons, base_year)
    active = dataset.at_base(base_year)
    notes = []
    if rates is None:
        if not scenario.fixed_rates and calibration is None and not can_calibrate(dataset, base_year):
            scenario = short_history_scenario(dataset, scenario)
            notes.append(SHORT_HISTORY_NOTE.format(years=MIN_YEARS, base=base_year, label=scenario.label))
            warnings.warn(f"history has fewer than {MIN_YEARS} years before the base year {base_year}: fixed rates "
                          f"({scenario.label}) instead of each cell's calibrated rates, so the spread is narrower "
                          "than it should be (the forecast's note says so in Vietnamese)", DataWarning, stacklevel=2)
        natural = None
        if not scenario.fixed_rates:
            from .calibrate import Calibration

            calibration = calibration or Calibration().fit(dataset, base_year)
            natural = calibration.rates(active, horizons[-1])
        rates = scenario_rates(dataset, scenario, base_year, horizons[-1], natural=natural)
    elif rates.base_year != base_year or rates.lam.shape[-1] < horizons[-1] - base_year \
            or rates.lam.shape[1] != len(active.cells):
        raise ParameterError("the rates do not cover the base year, cells and horizons asked for")
    samples = None
    if method == "monte-carlo":
        from .montecarlo import simulate_members

        if draws < 1:
            raise ParameterError(f"draws must be ≥ 1, got {draws}")
        if seed is not None and seed < 0:
            raise ParameterError(f"seed must be ≥ 0, got {seed}")
        n0 = active.members_at(base_year).to_numpy()
        samples = simulate_members(n0, rates.survival, rates.lam, list(range(1, horizons[-1] - base_year + 1)),
                                   draws=draws, seed=seed)
    return ForecastResults(active, scenario, rates, horizons, full=dataset, method=method, samples=samples,
                           draws=draws if samples is not None else None, seed=seed, notes=tuple(notes))


#: The line a forecast (and its briefing) carries when history is too short to calibrate.
SHORT_HISTORY_NOTE = ("Lịch sử chưa đủ {years} năm trước năm gốc {base}: dự báo dùng tỷ lệ cố định ({label}), "
                      "không hiệu chỉnh theo từng chi bộ, nên khoảng bất định thấp hơn thực tế.")


def short_history_scenario(dataset: Dataset, scenario: Scenario) -> Scenario:
    """Fixed rates standing in for a calibration that history cannot support: the
    scenario's admissions (default the programme's 3.5 %, of all members when a
    totals table gives them, else of local members), one attrition rate."""
    base = "all" if dataset.totals is not None and scenario.admission_base == "all" else "local"
    allocation = scenario.allocation if scenario.allocation not in (None, "calibrated") else "population"
    return scenario.with_(fixed_rates=True, admission_base=base, allocation=allocation)
