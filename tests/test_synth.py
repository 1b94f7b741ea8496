"""Tests of the synthetic province generator and of the bundled data set."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nq21model.synth import (
    CELLS_COLUMNS,
    HISTORY_COLUMNS,
    SyntheticProvince,
    generate_province,
    province_summary,
    write_bundle,
)

RAW = Path(__file__).resolve().parents[1] / "data" / "raw"
PROGRAMME_FILES = ("roles.csv", "organisations.csv", "organisation_years.csv", "totals.csv")

DISTRICTS = {
    "Thành phố Lai Châu", "Tam Đường", "Phong Thổ", "Sìn Hồ",
    "Mường Tè", "Nậm Nhùn", "Than Uyên", "Tân Uyên",
}


@pytest.fixture(scope="module")
def sp() -> SyntheticProvince:
    return generate_province(seed=21)


@pytest.fixture(scope="module")
def summary(sp) -> pd.DataFrame:
    return province_summary(sp.history)


# ---------------------------------------------------------------- determinism
def test_same_seed_same_frames(sp):
    again = generate_province(seed=21)
    pd.testing.assert_frame_equal(sp.cells, again.cells)
    pd.testing.assert_frame_equal(sp.history, again.history)
    pd.testing.assert_frame_equal(sp.truth, again.truth)
    assert sp.params == again.params


def test_default_seed_is_21(sp):
    pd.testing.assert_frame_equal(generate_province().history, sp.history)
    assert sp.seed == 21 and sp.params["seed"] == 21


def test_different_seed_differs(sp):
    other = generate_province(seed=22)
    assert not other.history.equals(sp.history)
    assert not other.cells.equals(sp.cells)


# ---------------------------------------------------------------- shape
def test_cells_schema(sp):
    c = sp.cells
    assert list(c.columns) == CELLS_COLUMNS[:4] + ["commune_2025"] + CELLS_COLUMNS[4:]
    assert c["commune_2025"].nunique() == 38 and c["commune_2025"].notna().all()
    assert c["cell_id"].is_unique
    assert c["cell_id"].str.fullmatch(r"[A-Z]{3}-\d{2}-\d{3}").all()
    assert set(c["cell_type"]) == {"thon", "ban", "to_dan_pho"}
    assert pd.api.types.is_integer_dtype(c["population"]) and (c["population"] > 0).all()
    for col in ("cell_name", "commune", "district"):
        assert all(unicodedata.is_normalized("NFC", s) for s in c[col])
    assert c["cell_name"].str.startswith("Chi bộ ").all()
    # names unique within a commune
    assert not c.duplicated(["commune", "cell_name"]).any()
    assert list(c["cell_id"]) == sorted(c["cell_id"])


def test_history_schema(sp):
    h = sp.history
    assert list(h.columns) == HISTORY_COLUMNS
    for col in HISTORY_COLUMNS[1:]:
        assert pd.api.types.is_integer_dtype(h[col]), col
        assert (h[col] >= 0).all(), col
    assert set(h["cell_id"]) == set(sp.cells["cell_id"])
    counts = h.groupby("cell_id")["year"].agg(["min", "max", "size"])
    assert (counts["size"] == counts["max"] - counts["min"] + 1).all()          # consecutive years
    p = sp.params
    dissolved = counts[counts["max"] < 2025]
    founded = counts[counts["min"] > 2015]
    assert len(dissolved) == p["dissolved_cells"] and len(founded) == p["founded_cells"]
    first, last = p["change_years"]
    assert dissolved["max"].between(first - 1, last - 1).all() and founded["min"].between(first, last).all()
    assert ((counts["min"] == 2015) & (counts["max"] == 2025)).sum() == len(counts) - len(dissolved) - len(founded)
    assert h.equals(h.sort_values(["cell_id", "year"]).reset_index(drop=True))
    assert h["assigned_members"].max() <= 3


def test_identity_holds_after_first_year(sp):
    h = sp.history
    prev = h.groupby("cell_id")["local_members"].shift(1)
    later = prev.notna()                      # every row after a cell's first
    assert (h["year"].diff()[later] == 1).all()
    expected = prev + h["admitted"] + h["transferred_in"] - h["exited"]
    assert (expected[later] == h.loc[later, "local_members"]).all()
    # nobody leaves who was not there
    assert (h.loc[later, "exited"] <= prev[later]).all()


def test_truth_shape(sp):
    t = sp.truth
    assert {"cell_id", "year", "survival", "admission_mean", "propensity"} <= set(t.columns)
    span = sp.history.groupby("cell_id")["year"].agg(["min", "max"])
    alive = np.where(span["max"] < 2025, span["max"] - 2015, 2035 - np.maximum(span["min"], 2016) + 1)
    assert len(t) == int(alive.sum())
    assert t["year"].min() == 2016 and t["year"].max() == 2035
    assert t["survival"].between(0.9, 1.0).all()
    assert (t["admission_mean"] > 0).all()
    # after 2025 the 2025 effects are kept
    wide = t.pivot(index="cell_id", columns="year", values="admission_mean").dropna()
    np.testing.assert_allclose(wide[2035], wide[2025])
    wide_s = t.pivot(index="cell_id", columns="year", values="survival").dropna()
    np.testing.assert_allclose(wide_s[2030], wide_s[2025])


# ---------------------------------------------------------------- calibration
def test_layout(sp):
    c = sp.cells
    assert 1000 <= len(c) <= 1200
    assert set(c["district"]) == DISTRICTS
    assert c["commune"].nunique() == 106
    # tổ dân phố only in wards and townships; bản dominant in the highlands
    tdp = c[c["cell_type"] == "to_dan_pho"]
    assert tdp["commune"].str.match(r"(Phường|Thị trấn) ").all()
    highland = c[c["district"].isin(["Mường Tè", "Sìn Hồ", "Phong Thổ", "Nậm Nhùn"])]
    assert (highland["cell_type"] == "ban").mean() > 0.8


def test_totals(summary):
    m = summary["local_members"]
    assert 10_500 <= m[2015] <= 12_500      # ~ half of the > 23,000 members of 2015
    assert 14_500 <= m[2025] <= 16_500      # ~ half of 31,578 (September 2025)
    assert m.is_monotonic_increasing
    rates = summary.loc[2016:]
    assert rates["admission_rate"].between(0.03, 0.055).all()
    assert rates["attrition_rate"].between(0.015, 0.025).all()
    # the programme's push after 2022
    assert summary.loc[2023:2025, "admitted"].mean() > summary.loc[2016:2022, "admitted"].mean()


def test_small_cells(summary):
    s15, s25 = summary.loc[2015], summary.loc[2025]
    assert 0.015 <= s15["share_zero"] <= 0.04
    assert 0.12 <= s15["share_below_3"] <= 0.20
    assert 0.03 <= s25["share_below_3"] <= 0.06
    assert s25["share_zero"] * s25["cells"] <= 5
    assert 0.84 <= s25["share_at_least_5"] <= 0.90
    assert summary["share_below_3"].is_monotonic_decreasing


def test_urban_cells_larger_and_older(sp):
    h25 = sp.history[sp.history["year"] == 2025].merge(sp.cells, on="cell_id")
    size = h25.groupby("cell_type")["local_members"].mean()
    assert size["to_dan_pho"] > size["thon"] > 0 and size["to_dan_pho"] > size["ban"]
    attr = sp.truth.merge(sp.cells, on="cell_id").groupby("cell_type")["survival"].mean()
    assert attr["to_dan_pho"] < attr["ban"]


def test_truth_consistent_with_history(sp):
    h = sp.history.set_index(["cell_id", "year"])
    t = sp.truth[sp.truth["year"] <= 2025].set_index(["cell_id", "year"])
    prev = h["local_members"].groupby(level="cell_id").shift(1).loc[t.index]
    expected_exits = (prev * (1 - t["survival"])).sum()
    realised_exits = h.loc[t.index, "exited"].sum()
    assert abs(realised_exits / expected_exits - 1) < 0.08
    expected_adm = t["admission_mean"].sum()
    realised_adm = h.loc[t.index, "admitted"].sum()
    assert abs(realised_adm / expected_adm - 1) < 0.05
    expected_tin = t["transfer_mean"].sum()
    # members of dissolved cells move into a neighbour: transfers the truth does not draw
    last = sp.history.groupby("cell_id").tail(1)
    moved = last.loc[last["year"] < 2025, "local_members"].sum()
    realised_tin = h.loc[t.index, "transferred_in"].sum() - moved
    assert abs(realised_tin / expected_tin - 1) < 0.15


def test_params_describe_the_process(sp):
    p = sp.params
    assert set(p["beta_district"]) == DISTRICTS
    assert set(p["beta_type"]) == {"thon", "ban", "to_dan_pho"}
    assert 2 <= p["propensity_shape"] <= 3
    # recompute one admission mean from the stated formula
    t = sp.truth.merge(sp.cells, on="cell_id")
    row = t[(t["year"] == 2024)].iloc[7]
    lam = (row["population"] / 1000 * np.exp(p["beta_type"][row["cell_type"]]
           + p["beta_district"][row["district"]] + p["beta_year"][2024]) * row["propensity"])
    assert row["admission_mean"] == pytest.approx(lam)
    a = 1 / (1 + np.exp(-(p["gamma_type"][row["cell_type"]] + p["gamma_district"][row["district"]]
                          + p["gamma_year"][2024] + row["attrition_frailty"])))
    assert row["survival"] == pytest.approx(1 - a)


# ---------------------------------------------------------------- bundle
def test_write_bundle_reproduces_committed_files(tmp_path):
    paths = write_bundle(tmp_path, seed=21)
    for name in ("cells.csv", "history.csv", "SYNTHETIC.json", *PROGRAMME_FILES):
        assert (tmp_path / name).read_bytes() == (RAW / name).read_bytes(), name
    assert set(paths) == {"cells", "history", "marker", "roles", "organisations",
                          "organisation_years", "totals"}


def test_committed_files_match_generator(sp):
    cells = pd.read_csv(RAW / "cells.csv")
    history = pd.read_csv(RAW / "history.csv")
    assert list(cells.columns) == list(sp.cells.columns)
    assert list(history.columns) == HISTORY_COLUMNS
    assert (history.dtypes[HISTORY_COLUMNS[1:]] == "int64").all()
    np.testing.assert_array_equal(history["local_members"], sp.history["local_members"])
    text = (RAW / "cells.csv").read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text) and "\r" not in text
    marker = json.loads((RAW / "SYNTHETIC.json").read_text(encoding="utf-8"))
    assert marker["synthetic"] is True
    assert marker["generator"] == "nq21model.synth"
    assert marker["seed"] == 21
    assert "Dữ liệu mô phỏng" in marker["description"]


# ---------------------------------------------------------------- national scale
def test_small_national_layout():
    sp = generate_province(seed=5, n_cells=777)
    assert len(sp.cells) == 777 and sp.cells["cell_id"].is_unique
    assert len(sp.history) == 777 * 11
    h = sp.history
    prev = h.groupby("cell_id")["local_members"].shift(1)
    later = h["year"] > 2015
    assert ((prev + h["admitted"] + h["transferred_in"] - h["exited"])[later]
            == h.loc[later, "local_members"]).all()


def test_national_scale_shape():
    big = generate_province(seed=21, n_cells=100_000)
    assert len(big.cells) == 100_000
    assert big.cells["cell_id"].is_unique
    assert len(big.history) == 100_000 * 11
    assert big.cells["district"].nunique() > 100
    # commune names unique across districts, so that they can key a grouping
    assert big.cells.groupby("commune")["district"].nunique().max() == 1
    assert set(big.params["beta_district"]) == set(big.cells["district"])


def test_bad_n_cells():
    with pytest.raises(ValueError):
        generate_province(n_cells=0)


# ---------------------------------------------------------------- programme tables (issue 7)
@pytest.fixture(scope="module")
def programme(sp):
    from nq21model.synth import generate_programme

    return generate_programme(sp)


def test_programme_stream_leaves_core_unchanged(sp, programme):
    # the programme tables come from their own stream: the core is drawn first and
    # is the same whether or not they are generated
    again = generate_province(seed=21)
    pd.testing.assert_frame_equal(again.history, sp.history)
    from nq21model.synth import generate_programme

    pd.testing.assert_frame_equal(generate_programme(again).roles, programme.roles)


def test_programme_roles(sp, programme):
    from nq21model.synth_programme import ROLE_COLUMNS

    r = programme.roles
    assert list(r.columns) == ROLE_COLUMNS
    alive = sp.history[sp.history["year"] >= 2020]
    assert len(r) == len(alive) and set(r["year"]) == set(range(2020, 2026))
    # a secretary is a party member: secretary is head => the head is a member
    assert (r["village_head_is_member"] >= r["secretary_is_village_head"]).all()
    assert (r["front_head_is_member"] >= r["secretary_is_front_head"]).all()
    by_year = r.assign(a3=r["secretary_is_village_head"] | r["secretary_is_front_head"]).groupby("year").mean(
        numeric_only=True)
    assert by_year["a3"].is_monotonic_increasing
    assert 0.40 <= by_year.loc[2025, "a3"] <= 0.55            # 3a: 2025 target 40 % met
    assert by_year.loc[2025, "front_head_is_member"] < 0.60    # 3c: 2025 target 60 % missed


def test_programme_organisations(programme):
    from nq21model.synth_programme import ORGANISATION_KINDS, RATINGS

    o, oy = programme.organisations, programme.organisation_years
    assert o["org_id"].is_unique and set(o["kind"]) == set(ORGANISATION_KINDS)
    assert (o["kind"] == "commune").sum() == 106
    assert set(oy["rating"]) == set(RATINGS)
    merged = oy.merge(o, on="org_id")
    commune = merged["kind"].eq("commune")
    assert merged.loc[commune, "secretary_is_council_chair"].isin(["0", "1"]).all()
    assert merged.loc[~commune, "secretary_is_council_chair"].eq("").all()
    heads = merged["kind"].isin(["agency", "school", "health"])
    assert merged.loc[heads, "secretary_is_unit_head"].isin(["0", "1"]).all()
    assert merged.loc[~heads, "secretary_is_unit_head"].eq("").all()


def test_programme_unit_counts(sp, programme):
    u = programme.unit_counts
    assert set(u["unit"]) == DISTRICTS
    assert (u["members_rated_good"] <= u["members_rated"]).all()
    assert (u["members_rated"] <= u["members"]).all()
    assert (u["admitted_owners"] <= u["admitted_private"]).all()
    assert (u["villages_with_cell"] <= u["villages"]).all()
    total = u.groupby("year")["members"].sum()
    assert 30_000 <= total[2025] <= 33_000                # 31,578 at the 2025 congress
    assert (u.groupby("year")["admitted"].sum().loc[2023:] >= 1000).all()   # the programme push
    # a district's whole organisation holds its village cells: never fewer members or admissions
    village = sp.history.merge(sp.cells[["cell_id", "district"]], on="cell_id").rename(
        columns={"district": "unit"}).groupby(["unit", "year"])[["local_members", "admitted"]].sum()
    both = u.merge(village.add_suffix("_village").reset_index(), on=["unit", "year"], how="inner")
    assert len(both) == len(u)
    assert (both["members"] >= both["local_members_village"]).all()
    assert (both["admitted"] >= both["admitted_village"]).all()


def test_a_national_layout_has_the_communes_since_july_2025():
    """About three communes merged into one, as in the country (10,035 → 3,321): each
    commune in exactly one, within its district; a ward's group a ward."""
    from nq21model.synth_places import MERGED_PER_COMMUNE_2025

    cells = generate_province(seed=3, n_cells=6_000).cells
    pairs = cells[["district", "commune", "commune_2025"]].drop_duplicates()
    assert pairs["commune"].is_unique  # one commune_2025 per commune
    assert (pairs.groupby("commune_2025")["district"].nunique() == 1).all()
    ratio = pairs["commune"].nunique() / pairs["commune_2025"].nunique()
    assert abs(ratio - MERGED_PER_COMMUNE_2025) < 0.4
    assert cells["commune_2025"].str.match(r"^(Xã|Phường) ").all()
    wards = pairs[pairs["commune"].str.startswith("Phường ")]["commune_2025"]
    assert wards.str.startswith("Phường ").all()
