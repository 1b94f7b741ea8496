"""What a run was made with (version, uv.lock, data hash, versions) is recorded, and a
replay of the bundled data gives the committed key figures exactly."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import pytest

from conftest import ROOT, make_tables
from nq21model import __version__, batch_files, briefings, config, provenance
from nq21model.data import load_dataset
from nq21model.forecast import forecast

FIXTURE = ROOT / "tests" / "fixtures" / "replay.json"
ENVIRONMENT = {"python", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert"}


@pytest.fixture
def data_files(tmp_path):
    cells, history = make_tables()
    paths = {"cells": tmp_path / "cells.csv", "history": tmp_path / "history.csv"}
    cells.to_csv(paths["cells"], index=False)
    history.to_csv(paths["history"], index=False)
    return paths


# ---------------------------------------------------------------- the parts


def test_lock_hash_is_the_start_of_the_sha256_of_uv_lock(tmp_path):
    lock = ROOT / "uv.lock"
    assert lock.is_file(), "uv.lock is committed at the repository root"
    assert provenance.LOCK_FILE == lock
    assert provenance.lock_hash() == hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    assert provenance.lock_hash(tmp_path / "uv.lock") is None  # an installed wheel has none


def test_data_hash_depends_on_the_bytes_in_a_stable_order(data_files, tmp_path):
    h = provenance.data_hash(data_files)
    assert len(h) == 64
    # the same files, listed in another order or lying elsewhere: the same hash
    assert provenance.data_hash([data_files["history"], data_files["cells"]]) == h
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    for p in data_files.values():
        shutil.copy(p, elsewhere / p.name)
    assert provenance.data_hash({k: elsewhere / p.name for k, p in data_files.items()}) == h
    # one byte more, or a file fewer: another hash
    with open(elsewhere / "history.csv", "ab") as fh:
        fh.write(b"\n")
    assert provenance.data_hash(elsewhere.glob("*.csv")) != h
    assert provenance.data_hash([data_files["cells"]]) != h
    assert provenance.data_hash([]) is None


def test_provenance_bundles_the_parts(data_files):
    info = provenance.provenance(data_files)
    assert info["package"] == "nq21model" and info["version"] == __version__ == provenance.package_version()
    assert info["lock_sha256"] == provenance.lock_hash()
    assert info["data_sha256"] == provenance.data_hash(data_files)
    assert info["data_files"] == ["cells.csv", "history.csv"]
    assert set(info["environment"]) == ENVIRONMENT and all(info["environment"].values())
    json.dumps(info)  # fit for a manifest


def test_provenance_text_is_one_vietnamese_sentence(data_files):
    info = provenance.provenance(data_files)
    text = provenance.provenance_text(data_files)
    assert text == provenance.provenance_text(info=info)
    assert text.startswith(f"Phiên bản nq21model {__version__}, ") and text.endswith(".")
    assert f"khóa môi trường uv.lock {info['lock_sha256']}" in text
    assert f"dữ liệu sha256 {info['data_sha256'][:12]} (cells.csv, history.csv)" in text
    assert "\n" not in text and ". " not in text  # one sentence
    bare = provenance.provenance_text(info={**info, "lock_sha256": None, "data_sha256": None})
    assert "không có tệp khóa môi trường uv.lock" in bare and "không có tệp dữ liệu" in bare


# ---------------------------------------------------------------- the manifest


def test_manifest_of_a_briefing_run_carries_the_provenance(data_files, tmp_path):
    """write_manifest on a small run without notebooks (the full batch is in test_briefings)."""
    dataset = load_dataset(**data_files)
    results = forecast(dataset)
    params = briefings.notebook_parameters(cells=data_files["cells"], history=data_files["history"])
    run = briefings.BriefingRun(out_dir=tmp_path, unit_column="district")
    path = batch_files.write_manifest(tmp_path / "manifest.json", results=results, params=params, run=run,
                                    units=[], slugs={}, notebook=briefings.NOTEBOOK, kernel=config.KERNEL_NAME,
                                    command=["nq21model", "briefings"])
    manifest = json.loads(path.read_text(encoding="utf-8"))
    info = manifest["provenance"]
    assert info["version"] == __version__ == manifest["package"]["version"]
    assert info["lock_sha256"] == provenance.lock_hash() and len(info["lock_sha256"]) == 12
    assert info["data_sha256"] == provenance.data_hash(data_files)
    assert info["data_files"] == ["cells.csv", "history.csv"]
    assert set(info["environment"]) == ENVIRONMENT
    assert info["environment"]["pandas"] == manifest["versions"]["pandas"]
    assert provenance.provenance_text(info=info).startswith(f"Phiên bản nq21model {__version__}")


# ---------------------------------------------------------------- the replay


def _refresh_tool():
    spec = importlib.util.spec_from_file_location("refresh_replay", ROOT / "tools" / "refresh_replay.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replay_of_the_bundled_data_gives_the_committed_key_figures(tmp_path):
    """write_bundle → the same bytes as data/raw (test_synth checks each file), and
    the default forecast on them → the numbers of tests/fixtures/replay.json, exactly."""
    tool = _refresh_tool()
    got = tool.replay(tmp_path)
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    raw = {"cells": config.CELLS_FILE, "history": config.HISTORY_FILE}
    assert got["data_sha256"] == provenance.data_hash(raw), "the regenerated data differ from data/raw"
    how = (f"\nIf the model's numbers changed on purpose, refresh the fixture with `{tool.REFRESH}` "
           "and commit tests/fixtures/replay.json with the change.")
    assert got["data_sha256"] == expected["data_sha256"], "the bundled data changed since the fixture" + how
    for key in ("seed", "base_year", "horizons", "scenario", "method"):
        assert got[key] == expected[key], f"{key}: {got[key]!r}, fixture {expected[key]!r}" + how
    diffs = [f"{year} {name}: {value!r}, fixture {expected['province'].get(year, {}).get(name)!r}"
             for year, figures in got["province"].items() for name, value in figures.items()
             if expected["province"].get(year, {}).get(name) != value]
    assert got["province"].keys() == expected["province"].keys() and not diffs, \
        "replay figures differ from tests/fixtures/replay.json:\n  " + "\n  ".join(diffs) + how
