"""forecast(): dataset + scenario → ForecastResults, by the exact engine or Monte Carlo."""
from __future__ import annotations

from typing import Iterable

from . import config
from .data import Dataset, load_dataset
from .exceptions import ParameterError
from .results import ForecastResults
from .scenario import Rates, Scenario, fixed_rates

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
             rates: Rates | None = None, method: str = "exact", draws: int = 10_000,
             seed: int | None = None) -> ForecastResults:
    """Forecast local members per cell, unit and province.

    Parameters
    ----------
    dataset : Dataset, optional
        Default: the bundled synthetic province.
    scenario : Scenario, optional
        Default: ``Scenario()`` (admissions 3.5 %, attrition 2 %, by population).
    base_year : int, optional
        Default the last year of history.
    horizons : iterable of int, optional
        Default every target year (2025, 2030) after the base year.
    rates : Rates, optional
        Per-cell rates (e.g. from :func:`nq21model.calibrate.calibrated_rates`);
        default the scenario's fixed rates.
    method : {"exact", "monte-carlo"}
    draws, seed
        Monte Carlo only.
    """
    dataset = dataset if dataset is not None else load_dataset()
    scenario = scenario if scenario is not None else Scenario()
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    base_year = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base_year)
    horizons = check_horizons(horizons, base_year)
    if rates is None:
        rates = fixed_rates(dataset, scenario, base_year, horizons[-1])
    elif rates.base_year != base_year or rates.lam.shape[-1] < horizons[-1] - base_year:
        raise ParameterError("the rates do not cover the base year and horizons asked for")
    samples = None
    if method == "monte-carlo":
        from .montecarlo import simulate_members

        if draws < 1:
            raise ParameterError(f"draws must be ≥ 1, got {draws}")
        if seed is not None and seed < 0:
            raise ParameterError(f"seed must be ≥ 0, got {seed}")
        n0 = dataset.members_at(base_year).to_numpy()
        samples = simulate_members(n0, rates.survival, rates.lam, [h - base_year for h in horizons]
                                   + list(range(1, horizons[-1] - base_year + 1)), draws=draws, seed=seed)
    return ForecastResults(dataset, scenario, rates, horizons, method=method, samples=samples,
                           draws=draws if samples is not None else None, seed=seed)
