"""What a briefing shows beside its forecast: the programme's target tracker, the
admission-quota proposal, the backtest scores and the province cross-check.

They concern the whole province, so a batch of briefings computes them once
(:func:`compute_extras`), saves them in a context folder (:func:`save_extras`) and
every unit's notebook loads them (:func:`load_extras`); a notebook run on its own
computes them itself. A part that cannot be computed for the data at hand (too
little history for a backtest, no tracker tables, a budget below the floors…) is
left out with its reason in ``problems``, so a briefing says why instead of failing.
"""
from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import config
from .exceptions import DataError, ParameterError
from .results import ForecastResults

EXTRAS_FILE = "extras.pickle"

#: Years of history the backtest needs before its base year.
_BACKTEST_YEARS = 5


@dataclass
class BriefingExtras:
    """Province-wide analyses for the briefings of one run."""

    by: str
    base_year: int
    tracker: object | None = None          # targets.TrackerData
    targets: pd.DataFrame | None = None    # targets.track_targets(by=by)
    paths: dict = field(default_factory=dict)  # unit -> targets.indicator_paths (small multiples)
    allocation: object | None = None       # allocate.Allocation
    backtest_scores: pd.DataFrame | None = None
    crosscheck: pd.DataFrame | None = None
    calibration_json: str | None = None    # the calibration the forecast used, if any
    problems: dict = field(default_factory=dict)
    key: tuple = ()                        # what they were made for (see :func:`extras_key`)


def data_key(dataset) -> tuple:
    """The data files' SHA-256 (or, for data not from files, the tables' hash)."""
    import hashlib

    sources = dataset.sources or {}
    if sources and all(Path(p).exists() for p in sources.values()):
        return tuple(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in sorted(sources.values()))
    return (int(pd.util.hash_pandas_object(dataset.history, index=False).sum()),)


def extras_key(results: ForecastResults, by: str) -> tuple:
    """Data, base year, grouping and scenario the extras of ``results`` depend on."""
    return (data_key(results.dataset), results.base_year, by, results.scenario.label, results.rates.source)


def _attempt(extras: BriefingExtras, part: str, compute):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compute()
    except (DataError, ParameterError, ValueError) as exc:
        extras.problems[part] = str(exc)
        return None


#: The parts, costliest first (the order they are handed to workers).
PARTS = ("targets", "crosscheck", "quotas", "backtest")

_LABELS = {"targets": "chỉ tiêu của Chương trình hành động", "quotas": "đề xuất chỉ tiêu kết nạp",
           "backtest": "kiểm định dự báo", "crosscheck": "đối chiếu tổng số toàn tỉnh (ETS)"}


def compute_part(results: ForecastResults, part: str, by: str = "district", units=()) -> tuple[dict, dict]:
    """One part of the extras: (fields of :class:`BriefingExtras`, problems);
    ``units``: the units whose indicator paths to prepare (part "targets")."""

    dataset, base = results.dataset, results.base_year
    holder = BriefingExtras(by=by, base_year=base)
    fields = {}
    if part == "targets":
        from .targets import load_tracker_data, track_targets

        fields["tracker"] = _attempt(holder, "targets", lambda: load_tracker_data(dataset))
        if fields["tracker"] is not None:
            # the briefing's own forecast (fixed or calibrated rates) when it covers the target years
            later = {y for y in config.TARGETS if y > base}
            reuse = results if later <= set(results.horizons) else None
            fields["targets"] = _attempt(holder, "targets", lambda: track_targets(
                fields["tracker"], by=by, base_year=base, scenario=results.scenario, results=reuse))
            fields["paths"] = {unit: indicator_paths_for(fields["tracker"], results, unit=unit, by=by)
                               for unit in units}
    elif part == "quotas":
        from .allocate import allocate

        from .forecast import default_horizons

        horizon = default_horizons(base)[-1]
        sc = results.scenario
        budget = ({"admissions_per_year": sc.admissions_per_year} if sc.admissions_per_year is not None
                  else {"admission_rate": sc.admission_rate})
        survival = results.rates if results.rates.source == "calibrated" else None
        fields["allocation"] = _attempt(holder, "quotas", lambda: allocate(
            dataset, base_year=base, horizon=horizon, attrition_rate=sc.attrition_rate,
            survival=survival, **budget))
    elif part == "backtest":
        from .backtest import backtest, backtest_scores_table

        replay = base - _BACKTEST_YEARS
        if replay - dataset.first_year < 3:
            holder.problems["backtest"] = (f"lịch sử từ {dataset.first_year} không đủ để kiểm định lại "
                                           f"{_BACKTEST_YEARS} năm trước năm gốc {base}")
        else:
            result = _attempt(holder, "backtest", lambda: backtest(dataset, replay, base, crosscheck=False))
            if result is not None:
                fields["backtest_scores"] = backtest_scores_table(result)
    elif part == "crosscheck":
        from .backtest import ets_crosscheck_table

        fields["crosscheck"] = _attempt(holder, "crosscheck", lambda: ets_crosscheck_table(
            dataset, base, max(results.horizons),
            rates=results.rates if results.rates.source == "calibrated" else None))
    else:
        raise ParameterError(f"unknown part '{part}' (parts: {', '.join(PARTS)})")
    return fields, holder.problems


def indicator_paths_for(tracker, results: ForecastResults, *, unit: str | None, by: str = "district"):
    """Each indicator's history and projection for one unit (or the province)."""
    from .results import PROVINCE
    from .targets import indicator_paths

    province = unit in (None, PROVINCE)
    return indicator_paths(tracker, by=None if province else by, unit=PROVINCE if province else unit,
                           base_year=results.base_year, scenario=results.scenario)


def compute_extras(results: ForecastResults, *, by: str = "district", progress=None,
                   jobs: int = 1, units=()) -> BriefingExtras:
    """Compute the tracker table, the quota allocation, the backtest and the ETS
    cross-check for the data, base year and scenario of ``results``.

    The allocation uses the scenario's budget (admission rate or number a year)
    and attrition, towards the last target year's highest threshold; the backtest
    replays the five years before the base year; the indicator paths of the small
    multiples are prepared for ``units``. With ``jobs`` > 1 the parts run in that
    many worker processes.
    """
    extras = BriefingExtras(by=by, base_year=results.base_year, key=extras_key(results, by))
    say = progress or (lambda message: None)
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(PARTS)), mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {part: pool.submit(compute_part, results, part, by, units) for part in PARTS}
            outcomes = {}
            for part in reversed(PARTS):  # the cheap ones first, for the progress messages
                outcomes[part] = futures[part].result()
                say(_LABELS[part])
    else:
        outcomes = {}
        for part in reversed(PARTS):
            say(_LABELS[part])
            outcomes[part] = compute_part(results, part, by, units)
    for part in PARTS:
        fields, problems = outcomes[part]
        for name, value in fields.items():
            setattr(extras, name, value)
        extras.problems.update(problems)
    return extras


def save_extras(extras: BriefingExtras, folder: str | Path) -> Path:
    """Write ``extras`` into ``folder`` atomically; returns the file."""
    from .files import atomic_path

    path = Path(folder) / EXTRAS_FILE
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(extras, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def load_extras(folder: str | Path) -> BriefingExtras:
    """The extras a batch saved in ``folder``."""
    path = Path(folder) / EXTRAS_FILE
    if not path.exists():
        raise ParameterError(f"{path}: no briefing context here (made by 'nq21model briefings')")
    return pickle.loads(path.read_bytes())


def briefing_extras(results: ForecastResults, *, by: str = "district", context_dir: str = "") -> BriefingExtras:
    """The extras of a briefing: loaded from the batch's ``context_dir`` when they
    were made for the same data, base year, grouping and scenario, else computed here."""
    if context_dir:
        extras = load_extras(context_dir)
        if extras.key == extras_key(results, by):
            return extras
    return compute_extras(results, by=by)
