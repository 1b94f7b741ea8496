"""What a briefing shows beside its forecast: the programme's target tracker, the
admission-quota proposal, the backtest scores and the province cross-check.

They concern the whole province, so a batch of briefings computes them once
(:func:`compute_extras`), saves them in a context folder
(:func:`nq21model.context.save_extras`) and every unit's notebook loads them
(:func:`briefing_extras`); a notebook run on its own computes them itself. A part
that cannot be computed for the data at hand (too little history for a backtest, no
tracker tables, a budget below the floors…) is left out with its reason in
``problems``, so a briefing says why instead of failing.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import config
from .context import ContextError, load_extras
from .exceptions import DataError, ParameterError
from .provenance import sha256
from .results import ForecastResults

#: Years of history the backtest needs before its base year.
_BACKTEST_YEARS = 5


@dataclass
class BriefingExtras:
    """Province-wide analyses for the briefings of one run."""

    by: str
    base_year: int
    tracker: object | None = None          # targets.TrackerData
    targets: pd.DataFrame | None = None    # targets.track_targets(by=by)
    paths: dict = field(default_factory=dict)  # unit -> target_views.indicator_paths (small multiples)
    allocation: object | None = None       # allocate.Allocation
    backtest_scores: pd.DataFrame | None = None
    crosscheck: pd.DataFrame | None = None
    calibration_json: str | None = None    # the calibration the forecast used, if any
    problems: dict = field(default_factory=dict)
    key: tuple = ()                        # what they were made for (see :func:`extras_key`)


def data_key(dataset) -> tuple:
    """The data files' SHA-256 (or, for data not from files, the tables' hash)."""
    sources = dataset.sources or {}
    if sources and all(Path(p).exists() for p in sources.values()):
        return tuple(sha256(p) for p in sorted(sources.values()))
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

    dataset, base = results.full, results.base_year
    holder = BriefingExtras(by=by, base_year=base)
    fields = {}
    if part == "targets":
        from .targets import load_tracker_data, track_targets

        fields["tracker"] = _attempt(holder, "targets", lambda: load_tracker_data(dataset))
        if fields["tracker"] is not None:
            # the briefing's own forecast (fixed or calibrated rates) when it covers the target
            # years and every cell (one unit's results would count its admissions as the province's)
            later = {y for y in config.TARGETS if y > base}
            reuse = results if later <= set(results.horizons) and results.subset_of is None else None
            fields["targets"] = _attempt(holder, "targets", lambda: track_targets(
                fields["tracker"], by=by, base_year=base, scenario=results.scenario, results=reuse))
            fields["paths"] = {unit: indicator_paths_for(fields["tracker"], results, unit=unit, by=by)
                               for unit in units}
    elif part == "quotas":
        from .allocate import allocate, budget_grouping
        from .forecast import default_horizons

        sc = results.scenario
        natural = results.rates.info.get("natural") or (results.rates if sc.kind == "continue" else None)
        budget = {"admissions_per_year": sc.admissions_per_year} if sc.kind == "number" else \
            {"admission_rate": sc.rate, "admission_base": sc.admission_base} if sc.kind == "rate" else {}
        fields["allocation"] = _attempt(holder, "quotas", lambda: allocate(
            results.full, base_year=base, horizon=default_horizons(base)[-1], unit=budget_grouping(dataset, by, base),
            rates=natural if natural is not None and natural.source == "calibrated" else None, **budget))
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
        from .crosscheck import ets_crosscheck_table

        if results.subset_of is not None:  # one unit's cells: not the province's forecast
            holder.problems["crosscheck"] = ("chỉ có khi lập cả đợt báo cáo (nq21model briefings), "
                                             "vì cần dự báo của cả tỉnh")
        else:  # beside the forecast's own province path: the page's model
            fields["crosscheck"] = _attempt(holder, "crosscheck", lambda: ets_crosscheck_table(
                dataset, base, max(results.horizons), path=results.path(None, None)))
    else:
        raise ParameterError(f"unknown part '{part}' (parts: {', '.join(PARTS)})")
    return fields, holder.problems


def indicator_paths_for(tracker, results: ForecastResults, *, unit: str | None, by: str = "district"):
    """Each indicator's history and projection for one unit (or the province)."""
    from .results import PROVINCE
    from .target_views import indicator_paths

    province = unit in (None, PROVINCE)
    if not province and results.subset_of is None:  # the engine on the unit's cells only
        results = results.subset(by, unit)
    return indicator_paths(tracker, by=None if province else by, unit=PROVINCE if province else unit,
                           base_year=results.base_year, results=results)


_FORKED: ForecastResults | None = None


def _forked_part(part: str, by: str, units) -> tuple[dict, dict]:
    """:func:`compute_part` of the results :func:`compute_extras` forked its process with."""
    return compute_part(_FORKED, part, by, units)


def compute_extras(results: ForecastResults, *, by: str = "district", progress=None,
                   jobs: int = 1, units=(), on_start=None, on_part=None) -> BriefingExtras:
    """Compute the tracker table, the quota allocation, the backtest and the ETS
    cross-check for the data, base year and scenario of ``results``.

    The allocation uses the scenario's budget (admission rate or number a year)
    and attrition, towards the last target year's highest threshold; the backtest
    replays the five years before the base year; the indicator paths of the small
    multiples are prepared for ``units``. With ``jobs`` > 1 the parts run in that
    many worker processes (forked). ``on_start()`` is called once they are started
    (before any part is computed when ``jobs`` is 1), ``on_part(part, fields)`` as
    each part is ready (with ``jobs`` > 1, while the others are still computed).
    """
    extras = BriefingExtras(by=by, base_year=results.base_year, key=extras_key(results, by))
    outcomes = {}

    def done(part, outcome):
        outcomes[part] = outcome
        if progress is not None:
            progress(_LABELS[part])
        if on_part is not None:
            on_part(part, outcome[0])

    start = on_start or (lambda: None)
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        global _FORKED
        _FORKED = results  # the forked processes inherit it: not pickled once a part (a country's is GBs)
        try:
            with ProcessPoolExecutor(min(jobs, len(PARTS)), mp_context=multiprocessing.get_context("fork")) as pool:
                futures = {pool.submit(_forked_part, part, by, units): part for part in PARTS}
                start()  # the processes are forked at the first submit
                for future in as_completed(futures):  # on_part as soon as a part is ready
                    done(futures[future], future.result())
        finally:
            _FORKED = None
    else:
        start()
        for part in reversed(PARTS):
            done(part, compute_part(results, part, by, units))
    for part in PARTS:
        fields, problems = outcomes[part]
        for name, value in fields.items():
            setattr(extras, name, value)
        extras.problems.update(problems)
    return extras


def briefing_extras(results: ForecastResults, *, by: str = "district", context_dir: str = "") -> BriefingExtras:
    """The extras of a briefing: loaded from the batch's ``context_dir`` when they
    were made for the same data, base year, grouping and scenario and their files
    are intact, else computed here."""
    key = extras_key(results, by)
    if context_dir:
        try:
            return load_extras(context_dir, key=key)
        except ContextError:
            pass
    return compute_extras(results, by=by)
