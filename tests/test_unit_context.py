"""A batch hands each unit its cells' rates (nq21model.unit_context): the unit's
notebook gets exactly the batch's numbers without recomputing the whole data set,
and anything that does not match is ignored."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nq21model import report
from nq21model.unit_context import FOLDER, context_key, load_unit, save_units

UNIT = "Mường Tè"


@pytest.fixture(scope="module", params=[None, 0.035], ids=["continue", "rate"])
def batch(request, tmp_path_factory):
    """The full forecast of the bundled data and a context with two units saved."""
    context = tmp_path_factory.mktemp("context")
    results = report.run_forecast(unit_column="district", admission_rate=request.param)
    names = report.unit_order(results.full.cells["district"].unique())
    from nq21model.fmt import unit_file_names

    slugs = unit_file_names(names)
    runs = report.scenario_runs(results)
    save_units(results, runs, context, by="district", units=[UNIT, "Tam Đường"], slugs=slugs,
               key=context_key(results.full, results.base_year, "district", results.scenario, results.horizons))
    return results, context, request.param


def test_a_unit_gets_the_batchs_numbers(batch, monkeypatch):
    results, context, rate = batch
    handed = report.run_forecast(unit=UNIT, unit_column="district", admission_rate=rate, context_dir=str(context))
    assert handed.scenario_runs  # it came from the context, scenario runs included
    own = results.subset("district", UNIT)
    own._stats.clear()  # the unit's own statistics, computed on its cells alone
    own.cells
    with monkeypatch.context() as patched:  # the page's per-cell statistics are the batch's, not computed again
        from nq21model import engine

        def computed(*args, **kwargs):
            raise AssertionError("per-cell statistics computed in the unit")

        patched.setattr(engine, "summarise_cells", computed)
        patched.setattr(engine, "cell_quantiles", computed)
        pd.testing.assert_frame_equal(handed.cells, own.cells, check_exact=False, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(handed.units(), own.units())
    pd.testing.assert_frame_equal(report.compare_scenarios(handed, unit=UNIT, by="district"),
                                  report.compare_scenarios(own, unit=UNIT, by="district"))
    assert report.scenario_label(handed) == report.scenario_label(own)


def test_a_countrys_quantiles_are_not_handed_over(monkeypatch):
    """Above the engine's LARGE_CELL_DRAWS the batch's quantiles use thinned draws, a
    unit's own every draw: the unit computes its quantiles, takes the rest."""
    from nq21model import engine

    results = report.run_forecast(unit_column="district")
    monkeypatch.setattr(engine, "LARGE_CELL_DRAWS", 10)
    stats = results.unit_stats("district", UNIT)
    assert stats and all("q10" not in v and "p_at_least_4" in v for v in stats.values())


def test_another_scenario_or_an_altered_file_is_ignored(batch):
    results, context, rate = batch
    other = report.run_forecast(unit=UNIT, unit_column="district", admission_rate=0.04, context_dir=str(context))
    assert other.scenario_runs is None  # computed here: the saved rates are of another scenario
    key = context_key(results.full, results.base_year, "district", results.scenario, results.horizons)
    names = results.full.cells["district"].unique()
    assert load_unit(context, UNIT, by="district", key=key, names=names) is not None
    assert load_unit(context, UNIT, by="commune", key=key, names=names) is None
    assert load_unit(context, "Sìn Hồ", by="district", key=key, names=names) is None  # not saved
    npz = context / FOLDER / "muong-te.run1.npz"
    saved = npz.read_bytes()
    try:
        npz.write_bytes(saved[:-10] + b"0" * 10)
        assert load_unit(context, UNIT, by="district", key=key, names=names) is None
    finally:
        npz.write_bytes(saved)
    meta = json.loads((context / FOLDER / "muong-te.json").read_text(encoding="utf-8"))
    assert meta["unit"] == UNIT and meta["key"] == key
    with np.load(npz, allow_pickle=False) as arrays:  # plain arrays: nothing to unpickle
        assert all(arrays[name].dtype == float for name in arrays.files)


def test_a_dask_worker_gets_the_units_part_of_the_context(batch, monkeypatch, tmp_path):
    """On a Dask worker the unit's notebook finds its own part of the context beside
    the province-wide files (it had them not: every unit forecast the whole data set);
    the unit's files go once it ran, the batch's folder when the batch ends, the
    worker's when it stops; a worker's folder left by a killed worker goes too."""
    from nq21model import cluster

    results, context, rate = batch
    (context / "extras.json").write_text("{}", encoding="utf-8")  # a province-wide file, sent once
    monkeypatch.setattr(cluster.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cluster, "_FOLDER", [])
    killed = tmp_path / "nq21-worker-999999999"  # no such process
    (killed / "context-x").mkdir(parents=True)
    seen = {}

    def execute_unit(task):
        folder = task["parameters"]["context_dir"]
        seen["folder"], seen["files"] = folder, sorted(p.name for p in Path(folder).rglob("*") if p.is_file())
        seen["handed"] = report.run_forecast(unit=UNIT, unit_column="district", admission_rate=rate,
                                             context_dir=folder)
        return {"unit": task["unit"], "status": "ok", "notebook": None, "html": None}

    monkeypatch.setattr(cluster, "execute_unit", execute_unit)
    task = {"unit": UNIT, "slug": "muong-te", "parameters": {"unit": UNIT}}
    unit_files = cluster._unit_files(str(context), task["slug"])
    assert unit_files and all(name.startswith(f"{FOLDER}/muong-te.") for name in unit_files)  # not Tam Đường's
    cluster.execute_unit_remote(task, cluster._context_files(str(context)), unit_files, "batch-1")
    assert "extras.json" in seen["files"] and "muong-te.json" in seen["files"]
    assert seen["handed"].scenario_runs  # the batch's numbers, not a forecast of every cell
    assert sorted(p.name for p in Path(seen["folder"]).rglob("*") if p.is_file()) == ["extras.json"]
    assert not killed.exists()
    cluster._drop_contexts("batch-1")
    assert not Path(seen["folder"]).exists() and not [p for p in tmp_path.rglob("*") if p.is_file()]
    cluster._drop_contexts()  # the worker stops
    assert not list(tmp_path.iterdir())
