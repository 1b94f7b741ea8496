"""A unit's part of a batch's forecast, handed to its notebook.

A briefing shows one unit, but its numbers come from the whole data set's forecast
(a programme rate is shared between all cells; the comparison runs three more
scenarios). A batch computes those once; for each unit it saves the unit's cells'
rates — under the page's scenario and under each comparison scenario — and the
page's per-cell statistics (``<slug>.stats.npz``) in
``_context/units/<slug>.<scenario>.npz`` (NumPy arrays, read with
``allow_pickle=False``) and ``<slug>.json`` (what they were made for: the context's key, the unit, the arrays'
SHA-256, the province-wide admissions of each scenario). The unit's notebook
rebuilds its results from them (:func:`unit_results`), the same numbers as the
batch's, without recomputing the country; anything that does not match — other
data, base year, scenario, grouping, an altered file — is ignored and the notebook
computes for itself.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

FOLDER = "units"
FORMAT = "nq21model.unit-context"
_ARRAYS = ("survival", "lam", "admissions", "transfers")
_SERIES = ("village_admissions", "province_admissions")


def context_key(dataset, base_year: int, by: str, scenario, horizons) -> list:
    """What a unit's saved rates depend on: the data files' hashes, the base year, the
    grouping, every setting of the scenario (quotas aside: a batch with quotas saves
    none) and the horizons."""
    from .extras import data_key

    return _plain((data_key(dataset), int(base_year), by, repr(scenario),
                   "fixed" if scenario.fixed_rates else "calibrated", [int(h) for h in horizons]))


def usable(method: str, scenario, *, stand_in: bool) -> bool:
    """Whether a forecast can be handed to its units this way: the exact engine, no
    quota table, rates as the scenario asked (``stand_in``: the short-history
    stand-in replaced them). The batch asks it of its results, a notebook of its
    parameters, so that both agree."""
    return method == "exact" and scenario.quotas is None and not stand_in


def _rates_arrays(rates, prefix: str) -> dict:
    arrays = {f"{prefix}__survival": rates.survival, f"{prefix}__lam": rates.lam}
    for name in ("admissions", "transfers"):
        if name in rates.info:
            arrays[f"{prefix}__{name}"] = rates.info[name]
    return {k: np.ascontiguousarray(v, dtype=float) for k, v in arrays.items()}


def _series(rates) -> dict:
    return {name: [float(v) for v in np.atleast_1d(rates.info[name])] for name in _SERIES if name in rates.info}


def save_units(results, runs, folder: str | Path, *, by: str, units, slugs: dict, key: tuple) -> None:
    """Save each unit's rates of ``results`` and of each of ``runs`` (pairs of key and
    results, as :func:`report_scenarios.scenario_runs` yields them one at a time, so
    that only one run of the whole data set is held) into ``folder/units/``: a
    ``<slug>.<name>.npz`` per unit and run, then the unit's ``<slug>.json``."""
    from .files import atomic_path

    out = Path(folder) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    metas = {unit: {"format": FORMAT, "key": _plain(key), "unit": unit, "by": by, "source": results.rates.source,
                    "horizons": list(results.horizons), "notes": list(results.notes), "files": {}, "runs": []}
             for unit in units}

    def write(res, name: str) -> None:
        for unit in units:
            _add_arrays(out, metas[unit], name, slugs[unit], _rates_arrays(res.subset(by, unit).rates, name))

    write(results, "page")
    for unit in units:  # the page's per-cell statistics too: the batch has them for at_risk.xlsx
        stats = {f"page__stats__{h}__{key}": v for h, values in results.unit_stats(by, unit).items()
                 for key, v in values.items()}
        _add_arrays(out, metas[unit], "stats", slugs[unit], stats)
    for unit in units:
        metas[unit]["page"] = _series(results.rates)
    for i, (rate, run) in enumerate(runs.items() if isinstance(runs, dict) else runs):
        write(run, f"run{i}")
        for unit in units:
            metas[unit]["runs"].append({"rate": rate, "name": f"run{i}", **_series(run.rates)})
    for unit in units:
        with atomic_path(out / f"{slugs[unit]}.json") as tmp:
            tmp.write_text(json.dumps(metas[unit], ensure_ascii=False), encoding="utf-8")


def _add_arrays(out: Path, meta: dict, name: str, slug: str, arrays: dict) -> None:
    from .files import atomic_path

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    file = f"{slug}.{name}.npz"
    with atomic_path(out / file) as tmp:
        tmp.write_bytes(data)
    meta["files"][name] = {"file": file, "sha256": hashlib.sha256(data).hexdigest()}


def load_unit(context_dir: str | Path, unit: str, *, by: str, key: tuple, names):
    """(meta, arrays) a batch saved for ``unit`` (``names``: every unit of ``by``, as
    the batch named their files), or None when there is none for this key and
    grouping, or its files are not intact."""
    from .fmt import unit_file_names

    slug = unit_file_names(names).get(unit)
    folder = Path(context_dir) / FOLDER
    try:
        meta = json.loads((folder / f"{slug}.json").read_text(encoding="utf-8"))
        if not (isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("unit") == unit
                and meta.get("by") == by and meta.get("key") == _plain(key)):
            return None
        arrays = {}
        for name, entry in meta["files"].items():
            if Path(entry["file"]).name != entry["file"] or not entry["file"].startswith(f"{slug}."):
                return None
            data = (folder / entry["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                return None
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays.update({key_: npz[key_] for key_ in npz.files})
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return meta, arrays


def _plain(key):
    return json.loads(json.dumps(key, default=str))


def _rates(arrays: dict, prefix: str, series: dict, base_year: int, source: str, extra: dict):
    from .scenario import Rates

    info = {name: arrays[f"{prefix}__{name}"] for name in ("admissions", "transfers") if f"{prefix}__{name}" in arrays}
    info.update({name: np.asarray(series[name]) for name in _SERIES if name in series})
    info.update(extra)
    info["draws"] = arrays[f"{prefix}__survival"].shape[0]
    return Rates(base_year=base_year, survival=arrays[f"{prefix}__survival"], lam=arrays[f"{prefix}__lam"],
                 source=source, info=info)


def unit_results(dataset, scenario, base_year: int, saved, *, by: str, unit: str):
    """The unit's results (and ``scenario_runs``) from what :func:`load_unit` found."""
    from .report_scenarios import comparison_scenarios, scenario_key
    from .results import ForecastResults
    from .scenario import programme_base

    meta, arrays = saved
    active = dataset.at_base(base_year)

    def extra(sc) -> dict:
        if sc.kind == "rate" and sc.admission_base == "all":
            return {"programme_base": programme_base(dataset, base_year)}
        return {}

    def build(sc, prefix, series):
        rates = _rates(arrays, prefix, series, base_year, meta["source"], extra(sc))
        return ForecastResults.for_unit(dataset, active, sc, rates, meta["horizons"], by, unit,
                                        notes=tuple(meta["notes"]))

    results = build(scenario, "page", meta["page"])
    stats: dict = {}
    for name, values in arrays.items():
        if name.startswith("page__stats__"):
            horizon, key = name[len("page__stats__"):].split("__", 1)
            stats.setdefault(int(horizon), {})[key] = values
    results.use_stats(stats)
    wanted = {scenario_key(sc): sc for sc, current in comparison_scenarios(results) if not current}
    results.scenario_runs = {}
    for run in meta["runs"]:
        rate = run["rate"]
        if rate in wanted:
            results.scenario_runs[rate] = build(wanted[rate], run["name"], run)
    return results


__all__ = ["save_units", "load_unit", "unit_results"]
