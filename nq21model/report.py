"""The content of a briefing, as package functions (Vietnamese text).

A briefing notebook only calls ``report.*``. This module makes the briefing's one
model run (:func:`run_forecast`) and re-exports the sections, which live in
smaller modules:

- :mod:`nq21model.report_base` — displayables (:class:`HTML`, figures that carry
  Vietnamese alt text), HTML tables, traffic lights, banner and title;
- :mod:`nq21model.summary` — the conclusion box the briefing opens with
  (:func:`show_conclusion`): verdicts, cells to act on, recommendations;
- :mod:`nq21model.report_programme` — the programme's targets table and charts,
  the quota proposal;
- :mod:`nq21model.report_forecast` — key figures, admissions, the forecast's
  charts, at-risk and dissolved cells, the index overview;
- :mod:`nq21model.report_scenarios` — the admission scenarios side by side;
- :mod:`nq21model.report_appendix` — Phụ lục kỹ thuật: method, how each indicator
  is forecast, backtest, cross-check with another model.

Data functions return a DataFrame or dict of numbers (tested); ``show_*``
functions return an :class:`HTML` block or a figure. To add a section: write
``show_<section>(results, *, unit, by)`` in the module it belongs to (and its data
function if it shows numbers), export it here, then add one markdown heading cell
and one code cell calling it to ``notebooks/briefing.ipynb``.
"""
from __future__ import annotations

from . import config, report_programme
from .report_appendix import *  # noqa: F401,F403
from .report_appendix import __all__ as _appendix
from .report_base import *  # noqa: F401,F403
from .report_base import __all__ as _base
from .report_base import _block, _esc, _figure_class  # noqa: F401 (used by callers)
from .report_forecast import *  # noqa: F401,F403
from .report_forecast import __all__ as _forecast
from .report_forecast import _unit_table, _value_text  # noqa: F401
from .report_programme import *  # noqa: F401,F403
from .report_programme import __all__ as _programme
from .report_programme import _missing  # noqa: F401
from .report_scenarios import *  # noqa: F401,F403
from .report_scenarios import __all__ as _scenarios
from .results import ForecastResults
from .summary import *  # noqa: F401,F403
from .summary import __all__ as _summary


# ----------------------------------------------------------------------- the run


def run_forecast(*, cells_path: str = "", history_path: str = "", totals_path: str = "", sheet: str = "",
                 history_sheet: str = "", base_year: int | None = None, horizons: list[int] | None = None,
                 admission_rate: float | None = None, admissions_per_year: float | None = None,
                 admission_base: str = "all", fixed_rates: bool = False,
                 attrition_rate: float = config.ATTRITION_RATE, allocation: str | None = None,
                 quotas_path: str = "", max_lift: float = 2.0, method: str = "exact", draws: int = 10_000,
                 seed: int | None = None, unit: str | None = None, unit_column: str = "",
                 reconcile: bool = False, dataset=None, context_dir: str = "") -> ForecastResults:
    """Load the data, build the scenario and forecast: the briefing's one model run.

    Paths given as ``""`` mean the bundled data (totals: ``totals.csv`` beside the
    cells file, if any). ``unit`` (a value of ``unit_column``, default the data's
    grouping) is checked to exist; ParameterError names the choices. ``dataset``,
    when given, is used instead of loading the paths. The calibration is the batch's
    (from ``context_dir``) when it has one for these data and base year, else fitted
    here.
    """
    from .data import load_dataset
    from .model_tables import load_quotas
    from .exceptions import ParameterError
    from .forecast import forecast
    from .scenario import Scenario

    if dataset is None:
        from .tables import sheet_option

        sheets = sheet_option(sheet), sheet_option(history_sheet)
        dataset = _remembered(lambda: load_dataset(cells_path or None, history_path or None,
                                                   totals=totals_path or None, sheet=sheets[0],
                                                   history_sheet=sheets[1], reconcile=reconcile),
                              (cells_path, history_path, totals_path, *sheets, reconcile))
    unit_column = unit_column or dataset.default_unit
    if unit_column not in dataset.cells:
        raise ParameterError(f"no column '{unit_column}' in the cells table "
                             f"(columns: {', '.join(dataset.cells.columns)})")
    if unit is not None:
        names = set(dataset.cells[unit_column].astype(str))
        if unit not in names:
            raise ParameterError(f"no {unit_column} named '{unit}' (choose from: {', '.join(sorted(names))})")
    quotas = load_quotas(quotas_path, dataset.cells) if quotas_path else None
    scenario = Scenario(admission_rate=admission_rate, admissions_per_year=admissions_per_year,
                        admission_base=admission_base, fixed_rates=fixed_rates, attrition_rate=attrition_rate,
                        allocation=allocation, quotas=quotas, max_lift=max_lift)
    base = dataset.last_year if base_year is None else int(base_year)
    dataset.check_base_year(base)
    if unit is not None and context_dir:
        handed = _unit_from_batch(dataset, scenario, base, horizons, unit, unit_column, context_dir, method)
        if handed is not None:
            return handed
    calibration = None if fixed_rates else briefing_calibration(dataset, base, context_dir)
    results = forecast(dataset, scenario, base_year=base, horizons=horizons or None, calibration=calibration,
                       method=method, draws=draws, seed=seed)
    return results if unit is None else results.subset(unit_column, unit)


#: A batch's warm kernel keeps the last data set it loaded (:func:`warm_up` turns this
#: on): ``[key, dataset, warnings]``, the key the paths, options and files' SHA-256.
_DATA: list | None = None


def _remembered(load, options: tuple):
    """``load()``'s data set, or — in a warm kernel, while the files (cells, history,
    totals, the synthetic marker) are as they were — a copy of the one it loaded last,
    its warnings raised again. Each unit of a batch read and checked the same files
    (0.3 s a district, 1.5 s a unit of a country's 100,000 cells); a copy, so that a
    unit never sees what an earlier one changed."""
    if _DATA is None:
        return load()
    import copy
    import warnings

    from .data import dataset_files
    from .provenance import sha256

    cells_path, history_path, totals_path = (path or None for path in options[:3])
    files = [f for f in dataset_files(cells_path, history_path, totals_path).values() if f is not None]
    try:
        key = (options, tuple((str(f.resolve()), sha256(f) if f.is_file() else None) for f in files))
    except OSError:  # a file that cannot be read: load() says so
        return load()
    if _DATA and _DATA[0] == key:
        for w in _DATA[2]:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return copy.deepcopy(_DATA[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load()
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _DATA[:] = [key, copy.deepcopy(dataset), list(caught)]
    return dataset


def _unit_from_batch(dataset, scenario, base: int, horizons, unit: str, by: str, context_dir: str, method: str):
    """The unit's results as its batch computed them (:mod:`unit_context`), or None."""
    from .calibrate import can_calibrate
    from .forecast import check_horizons
    from .unit_context import context_key, load_unit, unit_results, usable

    if not usable(method, scenario, stand_in=not (scenario.fixed_rates or can_calibrate(dataset, base))):
        return None
    key = context_key(dataset, base, by, scenario, check_horizons(horizons or None, base))
    saved = load_unit(context_dir, unit, by=by, key=key, names=dataset.cells[by].astype(str).unique())
    return None if saved is None else unit_results(dataset, scenario, base, saved, by=by, unit=unit)


def briefing_calibration(dataset, base_year: int, context_dir: str = ""):
    """The calibration of a briefing: the batch's (saved in ``context_dir`` for the
    same data and base year), else one fitted here; None when history is too short."""
    from .calibrate import Calibration, can_calibrate

    if not can_calibrate(dataset, base_year):
        return None
    if context_dir:
        from .context import load_calibration_json

        saved = load_calibration_json(context_dir, dataset, base_year)
        if saved is not None:
            from .exceptions import ParameterError

            try:
                return Calibration.from_json(saved)
            except ParameterError:  # made by another version: fit again
                pass
    return Calibration().fit(dataset, base_year)


#: The modules a briefing imports as it runs (those ``report`` itself does not).
BRIEFING_MODULES = ("allocate", "calibrate", "extras", "files", "forecast", "plots", "plots_targets", "quota_tables",
                    "quotas", "targets", "tracker_tables", "trends", "unit_context")


def warm_up() -> None:
    """Import what a briefing uses and draw a small figure (the fonts loaded): what a
    batch's worker has its kernel do once, before its first unit, while the batch is
    still preparing (:mod:`nq21model.runner`); and keep the data set and the batch's
    context the units load (:func:`_remembered`, :func:`nq21model.context.remember`:
    each gets a copy), and the small multiples' figure, drawn into again by each unit
    (:data:`report_programme._REUSED`: the same image). Changes no state a briefing
    reads."""
    import gc
    import importlib

    from .context import remember

    global _DATA
    _DATA = []
    remember()
    report_programme._REUSED = {}

    for name in BRIEFING_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    fig, ax = new_figure(2.0, 1.0)  # noqa: F405 (report_base)
    ax.plot([2025, 2030], [0.9, 0.95])
    ax.set_title("Đảng viên tại chỗ")
    fig.to_png()
    del fig, ax
    # what is imported lives as long as the kernel: the collector need not walk it
    # again at every full collection (in a kernel with pandas, scipy and matplotlib
    # loaded those took most of a briefing's chart time)
    gc.collect()
    gc.freeze()


__all__ = ["run_forecast", "briefing_calibration", "warm_up", *_base, *_forecast, *_scenarios, *_programme, *_appendix,
           *_summary]
