"""The second generator of test worlds (tests/worlds.py) keeps its own invariants."""
from __future__ import annotations

import json
import unicodedata

import numpy as np
import pandas as pd
import pytest

from worlds import (capacity_world, expected_admissions, make_world, realised_admissions, simulate_future,
                    write_world)

CELL_COLUMNS = ["cell_id", "cell_name", "commune", "district", "cell_type", "population"]
HISTORY_COLUMNS = ["cell_id", "year", "local_members", "admitted", "exited", "assigned_members"]


@pytest.fixture(scope="module")
def world():
    return make_world(seed=3)


@pytest.fixture(scope="module")
def transfer_world():
    return make_world(n_cells=300, seed=5, with_transfers=True, fraction_dissolved=0.08)


def _identity_gaps(history: pd.DataFrame) -> pd.DataFrame:
    """Rows after the first of each cell where the yearly identity fails."""
    h = history.sort_values(["cell_id", "year"])
    prev = h.groupby("cell_id")["local_members"].shift()
    tin = h["transferred_in"] if "transferred_in" in h else 0
    later = h["cell_id"].eq(h["cell_id"].shift())
    return h[later & (h["local_members"] != prev + h["admitted"] + tin - h["exited"])]


def test_schema(world):
    cells, history, totals = world.cells, world.history, world.totals
    assert list(cells.columns) == CELL_COLUMNS
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(totals.columns) == ["unit", "year", "members", "admitted"]
    assert len(cells) == 600 and cells["cell_id"].is_unique
    assert set(cells["cell_type"]) == {"ban", "thon", "to_dan_pho"}
    assert (cells["population"] > 0).all() and cells["population"].dtype.kind == "i"
    for col in HISTORY_COLUMNS[2:] + ["year"]:
        assert history[col].dtype.kind == "i" and (history[col] >= 0).all(), col
    assert set(history["cell_id"]) == set(cells["cell_id"])
    assert not history.duplicated(["cell_id", "year"]).any()
    span = history.groupby("cell_id")["year"].agg(["min", "max", "count"])
    assert (span["max"] - span["min"] + 1 == span["count"]).all()  # consecutive years
    text = pd.concat([cells[c] for c in ("cell_name", "commune", "district")])
    assert all(unicodedata.is_normalized("NFC", t) for t in text)
    assert text.str.contains("[ăâđêôơưạảấầậắẳẹếềểệỉịọỏốồổộớờởợụủứừửữựỳỹ]", case=False).any()
    assert not cells.duplicated(["commune", "cell_name"]).any()
    assert cells["cell_name"].str.startswith("Chi bộ ").all()


def test_identity_on_every_consecutive_pair(world, transfer_world):
    assert _identity_gaps(world.history).empty
    assert _identity_gaps(transfer_world.history).empty
    assert (world.history.groupby("year")["exited"].sum() > 0).all()


def test_founded_and_dissolved(world):
    span = world.history.groupby("cell_id")["year"].agg(["min", "max"])
    founded, dissolved = span["min"] > 2015, span["max"] < 2025
    assert founded.sum() == 30 and dissolved.sum() >= 20
    first = world.history.groupby("cell_id").first()
    assert (first.loc[founded, "local_members"] - first.loc[founded, "admitted"] <= 8).all()  # small start
    truth = world.truth
    assert (truth.loc[dissolved[dissolved].index, "absorbed_by"] != "").all()
    absorbers = truth.loc[dissolved[dissolved].index, "absorbed_by"]
    assert (span.loc[absorbers, "max"] == 2025).all()
    none = make_world(n_cells=120, seed=1, fraction_founded=0, fraction_dissolved=0)
    assert none.history.groupby("cell_id")["year"].agg(["min", "max"]).eq([2015, 2025]).all().all()


def test_zero_and_large_cells(world):
    lowest = world.history.groupby("cell_id")["local_members"].agg(["min", "max"])
    assert 0.08 <= (lowest["min"] == 0).mean() <= 0.25
    assert lowest["max"].max() >= 100


def test_merged_members_move_with_transfers(transfer_world):
    h = transfer_world.history.set_index(["cell_id", "year"])
    truth = transfer_world.truth
    for cell, row in truth[truth["absorbed_by"] != ""].iterrows():
        moved = h.loc[(cell, row["end_year"]), "local_members"]
        assert h.loc[(row["absorbed_by"], row["end_year"] + 1), "transferred_in"] >= moved


def test_totals_cover_village_cells(world):
    unit = world.history["cell_id"].map(world.cells.set_index("cell_id")["district"]).rename("unit")
    village = world.history.groupby([unit, "year"])[["local_members", "admitted"]].sum()
    totals = world.totals.set_index(["unit", "year"])
    assert totals.index.is_unique and len(totals) == world.cells["district"].nunique() * 11
    joined = village.merge(totals, how="outer", on=["unit", "year"], suffixes=("_village", ""))
    assert not joined.isna().any().any()
    assert (joined["members"] >= joined["local_members"]).all()
    assert (joined["admitted"] >= joined["admitted_village"]).all()
    assert (joined["members"] > joined["local_members"]).any()


def test_deterministic_in_seed():
    a, b, c = make_world(n_cells=150, seed=7), make_world(n_cells=150, seed=7), make_world(n_cells=150, seed=8)
    for name in ("cells", "history", "totals"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.history.equals(c.history)
    f1, f2 = simulate_future(a, draws=20, seed=1), simulate_future(b, draws=20, seed=1)
    np.testing.assert_array_equal(f1.members, f2.members)


def test_options():
    w = make_world(n_cells=200, seed=2, with_district=False, no_admission_year=2020, only_ban=True)
    assert "district" not in w.cells and "transferred_in" not in w.history
    assert set(w.totals["unit"]) == set(w.cells["commune"])
    assert (w.cells["cell_type"] == "ban").all()
    assert w.history.loc[w.history["year"] == 2020, "admitted"].sum() == 0
    assert w.totals.loc[w.totals["year"] == 2020, "admitted"].sum() == 0
    assert w.history.loc[w.history["year"] == 2021, "admitted"].sum() > 0
    assert _identity_gaps(w.history).empty
    one = make_world(n_cells=100, seed=2, one_district=True, first_year=2018, last_year=2024)
    assert one.cells["district"].nunique() == 1 and one.totals["unit"].nunique() == 1
    assert sorted(one.history["year"].unique()) == list(range(2018, 2025))
    t = make_world(n_cells=100, seed=2, with_transfers=True)
    assert list(t.history.columns) == HISTORY_COLUMNS + ["transferred_in"]


def test_drift_is_configurable():
    flat = make_world(n_cells=100, seed=4, drift_sd=0.0, unit_drift_sd=0.0, shock_sd=0.0)
    assert all(v == (0.0, 0.0) for v in flat.params["walk_province"].values())
    steep = make_world(n_cells=100, seed=4, drift_sd=0.3)
    assert np.ptp([v[0] for v in steep.params["walk_province"].values()]) > 0


def test_simulate_future(world):
    fut = simulate_future(world, to_year=2030, draws=200, seed=0)
    alive = world.history.loc[world.history["year"] == 2025, "cell_id"].to_numpy()
    assert list(fut.cell_id) == list(alive) and list(fut.years) == list(range(2026, 2031))
    assert fut.members.shape == (200, len(alive), 5) and (fut.members >= 0).all()
    last = world.history[world.history["year"] == 2025].set_index("cell_id")["local_members"]
    q = fut.quantiles(2026)
    assert (q["q10"] <= q["q90"]).all() and (q["q90"] - q["q10"]).max() > 0
    assert abs(q["mean"].sum() / last.sum() - 1) < 0.15
    back = simulate_future(world, from_year=2020, to_year=2025, draws=50, seed=0)
    assert back.members.shape[2] == 5
    with pytest.raises(ValueError):
        simulate_future(world, from_year=2030)


@pytest.mark.parametrize("response", ["min", "saturating"])
def test_capacity_response_never_above_capacity(response):
    cw = capacity_world(n_cells=200, seed=3, response=response)
    assert cw.lift.between(1, 3).all() and (cw.capacity >= cw.natural).all()
    cells = cw.capacity.index
    pop = cw.world.cells.set_index("cell_id").loc[cells, "population"]
    assert np.corrcoef(cw.capacity / pop, pop)[0, 1] ** 2 < 0.9 and (cw.capacity / pop).std() > 0
    hist = cw.world.history.groupby("cell_id")["admitted"].mean().loc[cells]
    assert not np.allclose(hist, cw.capacity)
    for q in (0.0, 0.5, 2.0, 5.0, 50.0):
        expected = expected_admissions(cw, cells, np.full(len(cells), q))
        assert (expected <= cw.capacity.to_numpy() + 1e-12).all() and (expected <= q + 1e-12).all()
    quotas = pd.DataFrame({"cell_id": np.repeat(cells, 200), "year": 2026, "quota": 50.0})
    got = realised_admissions(cw, quotas, np.random.default_rng(0))
    means = got.groupby("cell_id")["admitted"].mean()
    assert (means.sum() / cw.capacity.sum()) < 1.05
    zero = realised_admissions(cw, quotas.assign(quota=0.0).set_index(["cell_id", "year"])["quota"],
                               np.random.default_rng(1))
    assert zero["admitted"].sum() == 0


def test_write_world(tmp_path, world):
    paths = write_world(world, tmp_path / "w")
    assert set(paths) == {"cells", "history", "totals", "marker"}
    assert json.loads(paths["marker"].read_text(encoding="utf-8"))["generator"] == "tests/worlds.py"
    raw = paths["cells"].read_bytes()
    assert b"\r\n" not in raw and "Chi bộ".encode() in raw
    back = pd.read_csv(paths["history"])
    pd.testing.assert_frame_equal(back, world.history, check_dtype=False)
    assert "marker" not in write_world(world, tmp_path / "bare", marker=False)
    assert not (tmp_path / "bare" / "SYNTHETIC.json").exists()
