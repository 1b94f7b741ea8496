"""Tests of the programme's indicator tracker (issue 7): each indicator, the status
boundaries, missing data, the new files' validation, the CLI and the briefing helpers."""
from __future__ import annotations

import io
import unicodedata

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import make_tables, run_cli
from nq21model import target_views as V
from nq21model import targets as T
from nq21model.data import load_dataset
from nq21model.tracker_tables import load_organisation_years, load_organisations, load_roles, load_unit_counts
from nq21model.exceptions import DataError, ParameterError
from nq21model.forecast import forecast
from nq21model.results import PROVINCE

ROLE_NAMES = ["secretary_is_village_head", "secretary_is_front_head", "village_head_is_member",
              "front_head_is_member"]


# ---------------------------------------------------------------- small inputs
def _small_tables(seed: int = 3):
    """Cells/history (conftest) plus hand-made tracker tables with a spread of values."""
    cells, history = make_tables(n_cells=12, years=range(2018, 2026), seed=seed)
    rng = np.random.default_rng(seed)
    roles = []
    for i, cid in enumerate(cells["cell_id"]):
        for y in range(2020, 2026):
            vh = bool(rng.random() < 0.5 + 0.05 * (y - 2020))
            fh = bool(rng.random() < 0.4 + 0.05 * (y - 2020))
            svh = vh and bool(rng.random() < 0.5)
            sfh = fh and not svh and bool(rng.random() < 0.4)
            roles.append({"cell_id": cid, "year": y, "secretary_is_village_head": int(svh),
                          "secretary_is_front_head": int(sfh), "village_head_is_member": int(vh),
                          "front_head_is_member": int(fh)})
    kinds = ["commune", "commune", "agency", "school", "private_enterprise", "commune", "agency", "health"]
    orgs = pd.DataFrame({
        "org_id": [f"O{i}" for i in range(len(kinds))],
        "org_name": [f"Đảng bộ {i}" for i in range(len(kinds))],
        "district": ["Tam Đường" if i % 2 else "Sìn Hồ" for i in range(len(kinds))],
        "commune": [f"Xã {i % 3}" for i in range(len(kinds))],
        "kind": kinds,
    })
    org_years = []
    for i, kind in enumerate(kinds):
        for y in range(2018, 2026):
            rating = ["xuat_sac", "tot", "hoan_thanh", "khong_hoan_thanh"][int(rng.integers(4))]
            chair = str(int(rng.random() < 0.6)) if kind == "commune" else ""
            head = str(int(rng.random() < 0.8)) if kind in ("agency", "school", "health") else ""
            org_years.append({"org_id": f"O{i}", "year": y, "rating": rating,
                              "secretary_is_council_chair": chair, "secretary_is_unit_head": head})
    counts = []
    for d, m0 in (("Sìn Hồ", 1000), ("Tam Đường", 1500)):
        m = m0
        for y in range(2018, 2026):
            adm = int(rng.poisson(0.035 * m))
            m = m + adm - int(0.015 * m)
            rated = m - 30
            priv = int(rng.poisson(2))
            counts.append({"unit": d, "year": y, "members": m, "admitted": adm, "members_rated": rated,
                           "members_rated_good": int(rated * (0.85 + 0.01 * (y - 2018))),
                           "villages": 6 + (y == 2019), "villages_with_cell": 6,
                           "admitted_private": priv, "admitted_owners": int(priv > 2)})
    return cells, history, pd.DataFrame(roles), orgs, pd.DataFrame(org_years), pd.DataFrame(counts)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tracker")
    cells, history, roles, orgs, org_years, counts = _small_tables()
    for name, frame in (("cells", cells), ("history", history), ("roles", roles), ("organisations", orgs),
                        ("organisation_years", org_years), ("totals", counts)):
        frame.to_csv(d / f"{name}.csv", index=False)
    return d


@pytest.fixture(scope="module")
def small(small_dir):
    dataset = load_dataset(small_dir / "cells.csv", small_dir / "history.csv")
    return T.load_tracker_data(dataset)


@pytest.fixture(scope="module")
def small_table(small):
    return T.track_targets(small, by="district")


@pytest.fixture(scope="module")
def bundled():
    return T.load_tracker_data()


@pytest.fixture(scope="module")
def bundled_table(bundled):
    return T.track_targets(bundled, by="district")


# ---------------------------------------------------------------- status boundaries
@pytest.mark.parametrize("p, observed, expected", [
    (1.0, True, T.MET), (0.0, True, T.MISSED),
    (1.0, False, T.LIKELY_MET), (0.8, False, T.LIKELY_MET), (0.7999, False, T.AT_RISK),
    (0.2, False, T.AT_RISK), (0.1999, False, T.UNLIKELY_MET), (0.0, False, T.UNLIKELY_MET),
    (None, False, T.NO_DATA), (float("nan"), True, T.NO_DATA),
])
def test_status_boundaries(p, observed, expected):
    assert T.status_for(p, observed=observed) == expected


def test_boundary_constants_documented():
    assert T.LIKELY == 0.8 and T.UNLIKELY == 0.2
    assert "0.8" in T.__doc__ and "0.2" in T.__doc__


def test_target_comparisons():
    strict = T.INDICATORS["1_org"]          # "trên 90 %"
    assert not strict.met(0.90, 2025) and strict.met(0.9001, 2025)
    plain = T.INDICATORS["3a"]               # "có 40 %"
    assert plain.met(0.40, 2025) and not plain.met(0.3999, 2025) and not plain.met(0.69, 2030)
    empty = T.INDICATORS["no_empty_cell"]    # no bản cell at 0
    assert empty.met(0, 2025) and not empty.met(1, 2025)


def test_indicator_names_are_the_programme_words():
    names = {c: i.name for c, i in T.INDICATORS.items()}
    assert names["2d_3"] == "Tỷ lệ chi bộ thôn, bản, tổ dân phố có từ 3 đảng viên tại chỗ trở lên"
    assert "trưởng ban công tác mặt trận" in names["3a"]
    assert "chủ tịch HĐND cấp xã" in names["4a"]
    assert all(unicodedata.is_normalized("NFC", n) for n in names.values())
    codes = set(T.INDICATORS)
    for code in ("2a", "2b", "2c", "3a", "3b", "3c", "4a", "4b", "no_empty_cell", "owner_per_district"):
        assert code in codes
    assert {"1_org", "1_member", "2d_3", "2d_4", "2d_5", "2b_owner"} <= codes


# ---------------------------------------------------------------- each share indicator, by hand
def _reference_shares(code, small, by="district"):
    """Slow, obvious reference: loop over the rows of the raw tables."""
    out: dict[tuple[str, int], list[float]] = {}

    def add(unit, year, s, t):
        for u in (unit, PROVINCE):
            acc = out.setdefault((u, int(year)), [0.0, 0.0])
            acc[0] += s
            acc[1] += t

    district = dict(zip(small.dataset.cells["cell_id"], small.dataset.cells[by]))
    if code in ("3a", "3b", "3c"):
        for _, r in small.roles.iterrows():
            s = {"3a": r["secretary_is_village_head"] or r["secretary_is_front_head"],
                 "3b": r["village_head_is_member"], "3c": r["front_head_is_member"]}[code]
            add(district[r["cell_id"]], r["year"], float(bool(s)), 1.0)
    elif code in ("1_org", "4a", "4b"):
        org = small.organisations.set_index("org_id")
        for _, r in small.organisation_years.iterrows():
            o = org.loc[r["org_id"]]
            if code == "1_org":
                add(o[by], r["year"], float(r["rating"] in ("xuat_sac", "tot")), 1.0)
            elif code == "4a" and o["kind"] == "commune":
                add(o[by], r["year"], float(bool(r["secretary_is_council_chair"])), 1.0)
            elif code == "4b" and o["kind"] in ("agency", "school", "health"):
                add(o[by], r["year"], float(bool(r["secretary_is_unit_head"])), 1.0)
    else:
        c = small.unit_counts.set_index(["unit", "year"])
        for (unit, year), r in c.iterrows():
            if code == "1_member":
                add(unit, year, r["members_rated_good"], r["members_rated"])
            elif code == "2c":
                add(unit, year, r["villages_with_cell"], r["villages"])
            elif code == "2a" and (unit, year - 1) in c.index:
                add(unit, year, r["admitted"], c.loc[(unit, year - 1), "members"])
    return out


@pytest.mark.parametrize("code", ["1_org", "1_member", "2a", "2c", "3a", "3b", "3c", "4a", "4b"])
def test_share_counts_match_reference(code, small):
    assert {c for c, i in T.INDICATORS.items() if i.kind == "share"} == set(T.SHARE_FUNCTIONS)
    got = getattr(T, f"share_{code}")(small, by="district")
    pd.testing.assert_frame_equal(got, T.share_counts(code, small, by="district"))
    ref = _reference_shares(code, small)
    assert len(got) == len(ref)
    for _, r in got.iterrows():
        s, t = ref[(r["unit"], int(r["year"]))]
        assert (r["successes"], r["trials"]) == (s, t), (code, r["unit"], r["year"])


@pytest.mark.parametrize("code", ["1_org", "1_member", "2a", "2c", "3a", "3b", "3c", "4a", "4b"])
def test_observed_rows_of_each_share_indicator(code, small, small_table):
    ref = _reference_shares(code, small)
    rows = small_table[(small_table["indicator"] == code) & (small_table["year"] == 2025)]
    assert set(rows["unit"]) == {PROVINCE, "Sìn Hồ", "Tam Đường"}
    for _, r in rows.iterrows():
        s, t = ref[(r["unit"], 2025)]
        assert r["value"] == pytest.approx(s / t)
        assert r["method"] == "observed"
        assert r["status"] == (T.MET if T.INDICATORS[code].met(s / t, 2025) else T.MISSED)


def test_count_indicators_by_hand(small, small_table):
    c = small.unit_counts
    since = c[c["year"].between(2021, 2025)]
    row = small_table[(small_table["indicator"] == "2b") & (small_table["unit"] == PROVINCE)].iloc[0]
    assert row["value"] == since["admitted_private"].sum()
    assert row["status"] == (T.MET if since["admitted_private"].sum() >= 30 else T.MISSED)
    owners = small_table[small_table["indicator"] == "2b_owner"]
    assert list(owners["unit"]) == [PROVINCE]              # a province-only target
    assert owners["value"].iloc[0] == since["admitted_owners"].sum()
    per = since.groupby("unit")["admitted_owners"].sum()
    opd = small_table[small_table["indicator"] == "owner_per_district"].set_index("unit")
    for unit, n in per.items():
        assert opd.loc[unit, "value"] == n
        assert opd.loc[unit, "status"] == (T.MET if n >= 1 else T.MISSED)
    assert opd.loc[PROVINCE, "value"] == pytest.approx((per >= 1).mean())
    assert opd.loc[PROVINCE, "target"] == 1.0


def test_columns_and_order(small_table):
    assert list(small_table.columns) == T.COLUMNS
    assert small_table["indicator"].iloc[0] == "1_org"
    assert small_table["unit"].iloc[0] == PROVINCE
    assert set(small_table["status"]) <= {T.MET, T.LIKELY_MET, T.AT_RISK, T.MISSED, T.UNLIKELY_MET, T.NO_DATA}


# ---------------------------------------------------------------- membership from the exact engine
def test_membership_rows_from_the_engine(small, small_table):
    res = forecast(small.dataset, horizons=[2030])
    units = res.units("district").set_index(["unit", "horizon"])
    rows = small_table[small_table["indicator"].isin(["2d_4", "2d_5"])]
    for _, r in rows.iterrows():
        k = int(r["indicator"][-1])
        key = (r["unit"], 2030) if r["unit"] != PROVINCE else None
        expected = res.province.set_index("horizon").loc[2030] if key is None else units.loc[key]
        assert r["value"] == pytest.approx(expected[f"share_at_least_{k}"])
        assert r["method"] == "exact"
        p = expected[f"p_share_95_at_least_{k}"]
        assert r["status"] == T.status_for(p, observed=False)
        # the 80 % band of the realised share (a discrete law: the mean may lie outside)
        assert 0.0 <= r["low"] <= r["high"] <= 1.0


def test_observed_membership_and_empty_ban_cells(small, small_table):
    n = small.dataset.members_at(2025)
    cells = small.dataset.cells.set_index("cell_id")
    share3 = small_table[(small_table["indicator"] == "2d_3") & (small_table["unit"] == PROVINCE)].iloc[0]
    assert share3["value"] == pytest.approx((n >= 3).mean()) and share3["method"] == "observed"
    empty = small_table[(small_table["indicator"] == "no_empty_cell") & (small_table["unit"] == PROVINCE)
                        & (small_table["year"] == 2025)].iloc[0]
    ban = cells["cell_type"].eq("ban").reindex(n.index)
    assert empty["value"] == ((n == 0) & ban).sum()


def test_empty_ban_cells_forecast_probability(bundled_table, bundled):
    row = bundled_table[(bundled_table["indicator"] == "no_empty_cell") & (bundled_table["unit"] == PROVINCE)
                        & (bundled_table["year"] == 2030)].iloc[0]
    res = forecast(bundled.dataset, horizons=[2030])
    ban = res.dataset.cells["cell_type"].eq("ban").to_numpy()
    p_zero = res.cells["p_zero"].to_numpy()[ban]
    assert row["value"] == pytest.approx(p_zero.sum())
    # no bản cell empty: mixed over the parameter draws, each draw's cells independent
    draws = res.stats(2030)["draws_zero"][:, ban]
    assert row["status"] == T.status_for(float(np.prod(1 - draws, axis=1).mean()), observed=False)


# ---------------------------------------------------------------- projections
def test_project_share_recovers_a_logit_trend():
    years = np.arange(2018, 2026)
    n = 1_000_000
    true = 1 / (1 + np.exp(-(0.2 + 0.1 * (years - 2025))))
    series = pd.DataFrame({"year": years, "successes": np.round(true * n), "trials": n})
    ind = T.INDICATORS["3b"]
    row = T.project_share(series, [2030], base_year=2025, indicator=ind)[0]
    assert row["method"] == "logit_trend"
    assert row["value"] == pytest.approx(1 / (1 + np.exp(-(0.2 + 0.5))), abs=0.01)
    assert row["high"] - row["low"] < 0.1     # a series this smooth shows no yearly shocks
    assert row["status"] == T.UNLIKELY_MET      # 0.668 against 0.90: little chance


def test_project_share_uses_the_trend_model():
    from nq21model.trends import fit_share_trend, predict_share

    series = pd.DataFrame({"year": range(2019, 2026), "successes": [10, 11, 11, 13, 12, 14, 15],
                           "trials": [20] * 7})
    ind = T.INDICATORS["3c"]                # 80 % in 2030: 16 of 20
    row = T.project_share(series, [2030], base_year=2025, indicator=ind)[0]
    p = predict_share(fit_share_trend(series), 2030, needed=16)[3]
    assert row["method"] == "logit_trend" and row["status"] == T.status_for(p, observed=False)

def test_project_share_constant_and_too_short():
    ind = T.INDICATORS["2c"]
    full = pd.DataFrame({"year": [2023, 2024, 2025], "successes": [5, 5, 5], "trials": [5, 5, 5]})
    row = T.project_share(full, [2030], base_year=2025, indicator=ind)[0]
    assert (row["method"], row["value"], row["status"]) == ("constant", 1.0, T.LIKELY_MET)
    short = pd.DataFrame({"year": [2024, 2025], "successes": [3, 4], "trials": [10, 10]})
    row = T.project_share(short, [2030], base_year=2025, indicator=T.INDICATORS["3a"])[0]
    assert row["status"] == T.NO_DATA
    # data after the base year are not used: 2025 is then projected
    row = T.project_share(full, [2025], base_year=2024, indicator=ind)[0]
    assert row["method"] == "constant" and row["status"] == T.LIKELY_MET
    # a year before the data has none
    later = full.assign(year=[2026, 2027, 2028])
    row = T.project_share(later, [2025], base_year=2030, indicator=ind)[0]
    assert row["status"] == T.NO_DATA


def test_project_count_poisson():
    series = pd.DataFrame({"year": range(2018, 2024), "count": [4, 4, 4, 4, 4, 4]})
    ind = T.INDICATORS["2b"]
    row = T.project_count(series, [2025], base_year=2023, indicator=ind)[0]
    assert row["method"] == "poisson_glm"
    assert row["value"] == pytest.approx(12 + 8)          # 2021-2023 observed + 2 years of 4
    assert row["status"] == T.status_for(stats.poisson.sf(17, 8.0), observed=False)
    row = T.project_count(series.assign(count=0), [2025], base_year=2023, indicator=ind)[0]
    assert (row["method"], row["status"]) == ("constant", T.UNLIKELY_MET)


def test_replay_from_an_earlier_base_year(bundled):
    table = T.track_targets(bundled, base_year=2022)
    prov = table[table["unit"] == PROVINCE].set_index(["indicator", "year"])
    assert prov.loc[("2d_3", 2025), "method"] == "exact"
    assert prov.loc[("3a", 2025), "method"] == "logit_trend"
    assert prov.loc[("2b", 2025), "method"] == "poisson_glm"
    assert table.attrs["base_year"] == 2022


# ---------------------------------------------------------------- missing data
def test_missing_tables_give_no_data(small):
    bare = T.TrackerData(dataset=small.dataset)
    table = T.track_targets(bare, by="district")
    for code in ("1_org", "1_member", "2a", "2b", "2b_owner", "2c", "3a", "3b", "3c", "4a", "4b",
                 "owner_per_district"):
        rows = table[table["indicator"] == code]
        assert len(rows) > 0 and (rows["status"] == T.NO_DATA).all(), code
        assert rows["value"].isna().all()
    assert (table[table["indicator"] == "2d_3"]["status"] != T.NO_DATA).all()


def test_grouping_the_counts_do_not_carry(small):
    table = T.track_targets(small, by="commune")
    communes = table[table["unit"].str.startswith("Xã")]
    for code in ("1_member", "2a", "2c", "owner_per_district"):
        assert (communes[communes["indicator"] == code]["status"] == T.NO_DATA).all(), code
    # the province still has them, and roles group by any cells column
    prov = table[(table["unit"] == PROVINCE) & (table["indicator"] == "2a")]
    assert (prov["status"] != T.NO_DATA).all()
    assert (communes[communes["indicator"] == "3a"]["status"] != T.NO_DATA).all()


def test_roles_from_the_cells_table(small_dir):
    cells = pd.read_csv(small_dir / "cells.csv")
    for i, name in enumerate(ROLE_NAMES):
        cells[name] = [int((j + i) % 3 == 0) for j in range(len(cells))]
    cells["village_head_is_member"] |= cells["secretary_is_village_head"]
    cells["front_head_is_member"] |= cells["secretary_is_front_head"]
    d = small_dir / "with_roles"
    d.mkdir(exist_ok=True)
    cells.to_csv(d / "cells.csv", index=False)
    dataset = load_dataset(d / "cells.csv", small_dir / "history.csv")
    data = T.load_tracker_data(dataset)
    assert data.roles is not None and set(data.roles["year"]) == {2025}
    table = T.track_targets(data)
    row = table[(table["indicator"] == "3b") & (table["year"] == 2025)].iloc[0]
    assert row["value"] == pytest.approx(cells["village_head_is_member"].mean())
    row = table[(table["indicator"] == "3b") & (table["year"] == 2030)].iloc[0]
    assert row["status"] == T.NO_DATA          # one year: no trend to project


def test_results_must_cover_the_target_years(small):
    short = forecast(small.dataset, horizons=[2027])
    with pytest.raises(ParameterError, match="needs \\[2030\\]"):
        T.track_targets(small, results=short)


def test_unknown_grouping_is_an_error(small):
    with pytest.raises(ParameterError, match="no column 'province'"):
        T.track_targets(small, by="province")


# ---------------------------------------------------------------- the bundled data
def test_bundled_mix_of_statuses(bundled_table):
    prov = bundled_table[bundled_table["unit"] == PROVINCE].set_index(["indicator", "year"])["status"]
    # the synthetic trends put some targets on track and some not
    assert prov[("2d_3", 2025)] == T.MET and prov[("3a", 2025)] == T.MET
    assert prov[("3c", 2025)] == T.MISSED and prov[("4b", 2025)] == T.MISSED
    assert prov[("3b", 2030)] == T.LIKELY_MET and prov[("3c", 2030)] == T.UNLIKELY_MET
    assert set(prov) >= {T.MET, T.LIKELY_MET, T.AT_RISK, T.MISSED, T.UNLIKELY_MET}
    assert T.NO_DATA not in set(bundled_table["status"])
    assert bundled_table.attrs["synthetic"] is True


# ---------------------------------------------------------------- validation of the new files
def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_roles_validation(tmp_path, small):
    roles = small.roles.astype({n: int for n in ROLE_NAMES}).astype(object)
    roles.loc[3, "secretary_is_village_head"] = 1
    roles.loc[3, "village_head_is_member"] = 0
    roles.loc[5, "cell_id"] = "NOPE"
    roles.loc[7, "front_head_is_member"] = "maybe"
    roles = pd.concat([roles, roles.iloc[[0]]], ignore_index=True)
    path = _write(tmp_path, "roles.csv", roles)
    with pytest.raises(DataError) as err:
        load_roles(path, small.dataset.cells)
    text = str(err.value)
    assert "roles.csv" in text
    assert "row 5" in text and "village_head_is_member" in text and "party member" in text
    assert "row 7" in text and "'NOPE' is not in the cells file" in text
    assert "row 9" in text and "expected yes/no" in text
    assert f"row {len(roles) + 1}" in text and "a second row" in text


def test_organisation_validation(tmp_path, small):
    orgs = small.organisations.copy()
    orgs.loc[2, "kind"] = "bakery"
    path = _write(tmp_path, "organisations.csv", orgs)
    with pytest.raises(DataError, match=r"organisations\.csv.*row 4.*kind.*unknown value 'bakery'"):
        load_organisations(path)
    years = pd.read_csv(small.sources["organisation_years"], dtype=str, keep_default_na=False)
    years.loc[0, "secretary_is_unit_head"] = "1"          # O0 is a commune
    years.loc[1, "rating"] = "tuyệt vời"
    years.loc[2, "org_id"] = "O99"
    path = _write(tmp_path, "organisation_years.csv", years)
    with pytest.raises(DataError) as err:
        load_organisation_years(path, small.organisations)
    text = str(err.value)
    assert "row 2" in text and "secretary_is_unit_head" in text and "leave it blank" in text
    assert "row 3" in text and "rating" in text and "hoàn thành xuất sắc" in text
    assert "row 4" in text and "'O99' is not in the organisations file" in text


def test_organisation_years_accept_vietnamese(tmp_path, small):
    years = pd.read_csv(small.sources["organisation_years"], dtype=str, keep_default_na=False)
    years["rating"] = years["rating"].map({"xuat_sac": "Hoàn thành xuất sắc nhiệm vụ",
                                           "tot": "hoàn thành tốt nhiệm vụ", "hoan_thanh": "Hoàn thành nhiệm vụ",
                                           "khong_hoan_thanh": "Không hoàn thành nhiệm vụ"})
    years = years.rename(columns={"org_id": "Mã tổ chức", "year": "Năm", "rating": "Xếp loại"})
    path = tmp_path / "ratings.xlsx"
    years.to_excel(path, index=False)
    got = load_organisation_years(path, small.organisations)
    pd.testing.assert_series_equal(got["rating"], small.organisation_years["rating"], check_dtype=False)


def test_unit_counts_validation(tmp_path, small):
    counts = small.unit_counts.astype(object)
    counts.loc[1, "members_rated_good"] = counts.loc[1, "members_rated"] + 1
    counts.loc[2, "admitted_owners"] = counts.loc[2, "admitted_private"] + 1
    counts.loc[4, "members"] = -5
    path = _write(tmp_path, "totals.csv", counts)
    with pytest.raises(DataError) as err:
        load_unit_counts(path)
    text = str(err.value)
    assert "totals.csv" in text
    assert "row 3" in text and "members_rated_good" in text and "is more than members_rated" in text
    assert "row 4" in text and "admitted_owners" in text
    assert "row 6" in text and "must be ≥ 0" in text


def test_explicit_missing_file_is_an_error(small, tmp_path):
    with pytest.raises(DataError, match="file not found"):
        T.load_tracker_data(small.dataset, roles="/nonexistent/roles.csv")
    with pytest.raises(ParameterError, match="need the table of organisations"):
        T.load_tracker_data(small.dataset, directory=tmp_path,
                            organisation_years=small.sources["organisation_years"])


# ---------------------------------------------------------------- briefing helpers
def test_unit_table_in_vietnamese(bundled_table):
    table = V.unit_table(bundled_table, "Mường Tè")
    assert list(table.columns) == ["Chỉ tiêu", "Năm", "Mục tiêu", "Kết quả", "Khoảng 80%", "Đánh giá", "Cách tính"]
    row = table[(table["Chỉ tiêu"] == T.INDICATORS["2d_3"].name) & (table["Năm"] == "2025")].iloc[0]
    raw = bundled_table[(bundled_table["unit"] == "Mường Tè") & (bundled_table["indicator"] == "2d_3")].iloc[0]
    from nq21model.fmt import format_percent

    assert row["Kết quả"] == format_percent(raw["value"], 1) and "," in row["Kết quả"]
    assert row["Mục tiêu"] == "≥ 95%" and row["Đánh giá"] == raw["status"]
    assert row["Cách tính"] == "số liệu thực tế" and row["Khoảng 80%"] == ""
    assert all(unicodedata.is_normalized("NFC", v) for v in table.to_numpy().ravel())
    assert "2b" not in set(table["Chỉ tiêu"])     # province-only rows are absent from a district
    with pytest.raises(ParameterError, match="no unit 'Atlantis'"):
        V.unit_table(bundled_table, "Atlantis")
    # a band whose two ends read the same is one value (not "100%–100%" beside a mean of 99,7%)
    point = bundled_table.copy()
    point.loc[(point["unit"] == "Mường Tè") & (point["indicator"] == "2d_4"), ["value", "low", "high"]] = \
        [0.997, 1.0, 1.0]
    row = V.unit_table(point, "Mường Tè").query("`Chỉ tiêu` == @T.INDICATORS['2d_4'].name").iloc[0]
    assert (row["Kết quả"], row["Khoảng 80%"]) == ("99,7%", "100%")


def test_province_table(bundled_table):
    table = V.province_table(bundled_table)
    assert list(table.columns[:5]) == ["Chỉ tiêu", "Năm", "Mục tiêu", PROVINCE, "Đánh giá"]
    assert "Mường Tè" in table.columns
    prov = bundled_table[bundled_table["unit"] == PROVINCE]
    assert len(table) == len(prov)
    owners = table[table["Chỉ tiêu"] == T.INDICATORS["2b_owner"].name].iloc[0]
    assert owners["Mường Tè"] == "–"
    mte = bundled_table[(bundled_table["unit"] == "Mường Tè") & (bundled_table["indicator"] == "3a")
                        & (bundled_table["year"] == 2030)]["status"].iloc[0]
    assert table[(table["Chỉ tiêu"] == T.INDICATORS["3a"].name) & (table["Năm"] == "2030")]["Mường Tè"].iloc[0] == mte


def test_indicator_paths_and_small_multiples(small):
    paths = V.indicator_paths(small, by="district", unit="Tam Đường")
    assert set(paths.columns) == {"indicator", "year", "observed", "expected", "low", "high", "target"}
    three = paths[paths["indicator"] == "3a"].set_index("year")
    ref = _reference_shares("3a", small)
    assert three.loc[2024, "observed"] == pytest.approx(ref[("Tam Đường", 2024)][0] / ref[("Tam Đường", 2024)][1])
    assert three.loc[2030, "target"] == 0.70 and not np.isnan(three.loc[2030, "expected"])
    d3 = paths[paths["indicator"] == "2d_4"].set_index("year")
    res = forecast(small.dataset, horizons=[2030])
    assert d3.loc[2030, "expected"] == pytest.approx(
        res.units("district").set_index(["unit", "horizon"]).loc[("Tam Đường", 2030), "share_at_least_4"])
    from nq21model.plots_targets import plot_targets

    fig = plot_targets(paths)
    assert len(fig.axes) == paths["indicator"].nunique()
    titles = [ax.get_title() for ax in fig.axes]
    assert any("đảng viên tại chỗ" in t.replace("\n", " ") for t in titles)
    assert "Tam Đường" in fig._suptitle.get_text()
    with pytest.raises(ParameterError):
        V.indicator_paths(small, by="district", unit="Atlantis")


def test_a_communes_chart_shows_the_indicators_of_its_table(bundled):
    """A commune's small multiples draw the indicators its table has: not those that
    are not a commune's (one organisation, or counted by district)."""
    commune = "Xã Pa Tần"
    table = T.track_targets(bundled, by="commune")
    rows = table[(table["unit"] == commune) & (table["method"] != "none")]
    paths = V.indicator_paths(bundled, by="commune", unit=commune)
    drawn = set(paths.dropna(subset=["observed", "expected"], how="all")["indicator"])
    assert drawn == set(rows["indicator"]) and not drawn & set(T.COMMUNE_EXCLUDED)


def test_status_matrix_figure(bundled_table):
    from nq21model.plots_targets import STATUS_COLOURS, plot_status_matrix

    ax = plot_status_matrix(bundled_table, year=2030)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == PROVINCE and "Mường Tè" in labels
    assert "Dữ liệu mô phỏng" in ax.get_title()
    shown = [s for s in STATUS_COLOURS if s != T.NOT_APPLICABLE]   # only when a unit has one
    assert [t.get_text() for t in ax.get_legend().get_texts()] == shown


# ---------------------------------------------------------------- command line
def test_cli_targets_prints_and_writes(tmp_path):
    out = tmp_path / "targets.xlsx"
    proc = run_cli("targets", "--unit", "district", "--out", out, check=True)
    assert "Dữ liệu mô phỏng" in proc.stdout and "2d_3" in proc.stdout and "Mường Tè" in proc.stdout
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) == {"targets", PROVINCE}
    table = sheets["targets"]
    assert list(table.columns) == T.COLUMNS
    assert list(sheets[PROVINCE].columns[:5]) == ["Chỉ tiêu", "Năm", "Mục tiêu", PROVINCE, "Đánh giá"]
    assert set(table["unit"]) >= {PROVINCE, "Mường Tè"}
    assert set(table["status"]) <= {T.MET, T.LIKELY_MET, T.AT_RISK, T.MISSED, T.UNLIKELY_MET, T.NO_DATA}


def test_cli_targets_bad_input(tmp_path, small_dir):
    roles = pd.read_csv(small_dir / "roles.csv", dtype=str)
    roles.loc[0, "year"] = "năm ngoái"
    bad = tmp_path / "roles.csv"
    roles.to_csv(bad, index=False)
    out = tmp_path / "t.xlsx"
    proc = run_cli("targets", "--cells", small_dir / "cells.csv", "--history", small_dir / "history.csv",
                   "--roles", bad, "--out", out)
    assert proc.returncode == 2
    assert "roles.csv" in proc.stderr and "row 2" in proc.stderr and "year" in proc.stderr
    assert not out.exists()


def test_small_shares_keep_two_decimals_so_a_miss_never_reads_as_the_target():
    assert V._fmt_value("2a", 0.0296) == "2,96%"
    assert V._fmt_value("3a", 0.316) == "31,6%"


def test_a_province_row_of_the_totals_is_the_province_not_one_more_unit(small):
    from dataclasses import replace

    counts = small.unit_counts
    own = counts.groupby("year", as_index=False).sum(numeric_only=True).assign(unit="Toàn tỉnh")
    with_row = replace(small, unit_counts=pd.concat([counts, own], ignore_index=True))
    for code in ("2b", "1_member"):
        plain = T.count_series(code, small) if code == "2b" else T.share_counts(code, small)
        other = T.count_series(code, with_row) if code == "2b" else T.share_counts(code, with_row)
        a = plain[plain["unit"] == PROVINCE].reset_index(drop=True)
        b = other[other["unit"] == PROVINCE].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def test_admission_rate_after_the_base_year_is_the_forecasts_own(bundled):
    """One number, one meaning: 2a in 2030 is the forecast's village admissions over
    their share φ of all admissions, over all members the year before."""
    from nq21model.scenario import programme_base

    res = forecast(bundled.dataset, horizons=[2025 + 5])
    table = T.track_targets(bundled, results=res)
    row = table[(table["indicator"] == "2a") & (table["unit"] == PROVINCE) & (table["year"] == 2030)].iloc[0]
    base = programme_base(bundled.dataset, 2025)
    expected = res.rates.admissions[:, :, -1].sum(axis=1).mean() / (base.phi * base.members_at(2029))
    assert row["value"] == pytest.approx(expected) and row["method"] == "exact"
    assert row["low"] < row["value"] < row["high"]
    # the chart's path is the table's, every year (it drew a trend of its own: 4.3 % against 3.3 %)
    full = forecast(bundled.dataset, horizons=list(range(2026, 2031)))
    table = T.track_targets(bundled, by="district", results=full)
    for unit in (PROVINCE, "Mường Tè"):
        path = V.indicator_paths(bundled, by="district", unit=unit, results=full)
        path = path[(path["indicator"] == "2a") & (path["year"] > 2025)].set_index("year")
        rows = table[(table["indicator"] == "2a") & (table["unit"] == unit)].set_index("year")
        assert set(rows.index) - {2025} <= set(path.index)
        for year in sorted(set(rows.index) - {2025}):
            assert rows.loc[year, "method"] == "exact"
            for a, b in (("expected", "value"), ("low", "low"), ("high", "high")):
                assert path.loc[year, a] == pytest.approx(rows.loc[year, b])
    # a scenario that fixes the admissions (a briefing batch --admission-rate): its rate every year, no crash in
    # the years without a target (KeyError: 2026)
    from nq21model.scenario import Scenario

    rate = forecast(bundled.dataset, Scenario(admission_rate=0.035), horizons=list(range(2026, 2031)))
    path = V.indicator_paths(bundled, by="district", unit="Mường Tè", results=rate)
    ahead = path[(path["indicator"] == "2a") & (path["year"] > 2025)]
    assert len(ahead) == 5 and (ahead["low"] == ahead["expected"]).all() and ahead["expected"].notna().all()


def test_a_ward_without_ban_cells_is_not_applicable(tmp_path):
    """A commune without bản cells has nothing "no bản cell without a local member"
    counts: "không áp dụng" (not "không có dữ liệu", which a board reads as missing
    figures), in the tracker, the conclusion's verdicts and the status matrix."""
    from nq21model.plots_targets import STATUS_COLOURS, plot_status_matrix
    from nq21model.statuses import NOT_APPLICABLE_WHY
    from nq21model.summary import programme_verdicts

    data = load_dataset()
    cells = data.cells.copy()
    ward = cells.loc[cells["cell_type"].eq("ban"), "commune"].iloc[0]
    cells.loc[cells["commune"].eq(ward), "cell_type"] = "to_dan_pho"
    cells.to_csv(tmp_path / "cells.csv", index=False)
    data.history.to_csv(tmp_path / "history.csv", index=False)
    ward_data = load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv")
    table = T.track_targets(ward_data, by="commune")
    rows = table[(table["indicator"] == "no_empty_cell") & (table["unit"] == ward)]
    assert sorted(rows["year"]) == [2025, 2030]
    assert (rows["status"] == T.NOT_APPLICABLE).all() and rows["value"].isna().all()
    others = table[(table["indicator"] == "no_empty_cell") & (table["unit"] != ward)]
    with_ban = set(cells.loc[cells["cell_type"].eq("ban"), "commune"]) | {PROVINCE}
    assert set(others.loc[others["unit"].isin(with_ban), "status"]).isdisjoint({T.NOT_APPLICABLE, T.NO_DATA})
    assert (others.loc[~others["unit"].isin(with_ban), "status"] == T.NOT_APPLICABLE).all()
    shares = table[(table["indicator"] == "2d_3") & (table["unit"] == ward)]
    assert (shares["status"] != T.NOT_APPLICABLE).all()          # its cells still count for 2d

    res = forecast(ward_data, horizons=[2030])
    verdicts = programme_verdicts(res, type("Extras", (), {"targets": table})(), unit=ward, by="commune")
    empty = verdicts[verdicts["code"] == "no_empty_cell"]
    assert len(empty) == 2 and (empty["status"] == T.NOT_APPLICABLE).all()
    assert (empty["number"] == NOT_APPLICABLE_WHY).all()
    ax = plot_status_matrix(table[table["unit"].isin([PROVINCE, ward])], year=2030)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(STATUS_COLOURS)
    # a bản cell founded but not yet in the history: figures missing, not "không áp dụng";
    # a ward whose one bản cell was dissolved in 2022: nothing to count in 2025 and 2030
    bans = cells[cells["cell_type"].eq("ban")]
    single = bans.groupby("commune").filter(lambda part: len(part) == 1)
    (new_cell, new_commune), (old_cell, old_commune) = single[["cell_id", "commune"]].to_numpy()[:2]
    history = data.history[~data.history["cell_id"].eq(new_cell)
                           & ~(data.history["cell_id"].eq(old_cell) & data.history["year"].gt(2022))]
    history.to_csv(tmp_path / "history.csv", index=False)
    changed = T.track_targets(load_dataset(tmp_path / "cells.csv", tmp_path / "history.csv"), by="commune")
    empty = changed[changed["indicator"] == "no_empty_cell"].set_index(["unit", "year"])["status"]
    assert [empty[(new_commune, y)] for y in (2025, 2030)] == [T.NO_DATA, T.NO_DATA]
    assert [empty[(old_commune, y)] for y in (2025, 2030)] == [T.NOT_APPLICABLE, T.NOT_APPLICABLE]

    from nq21model.index_page import status_counts

    counts = status_counts(table, [ward], base_year=2025).set_index(("", "Đơn vị"))
    assert [c for c in counts.columns if c[1] == T.NOT_APPLICABLE] and \
        counts.loc[ward, [c for c in counts.columns if c[1] == T.NOT_APPLICABLE]].sum() == 2


def test_the_briefing_views_are_still_found_in_targets():
    """What moved to target_views is still there for code that imported it from targets."""
    from nq21model.targets import format_targets, indicator_paths, province_table, unit_table

    assert (unit_table, province_table, indicator_paths, format_targets) == \
        (V.unit_table, V.province_table, V.indicator_paths, V.format_targets)
    with pytest.raises(AttributeError):
        T.no_such_name


def test_small_multiples_mark_the_programme_years(bundled):
    """Each panel's year axis is ticked every five years (every year in a panel of a
    few years), so that 2025 and 2030, the programme's target years, are labelled
    wherever a panel reaches them."""
    from nq21model.plots_targets import plot_targets

    fig = plot_targets(V.indicator_paths(bundled))
    spans = set()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        step = 5 if high - low - 1 > 5 else 1
        spans.add(step)
        assert ticks and all(t % step == 0 for t in ticks) and len(ticks) >= 2, (ax.get_title(), ticks)
        assert {y for y in (2025, 2030) if low <= y <= high} <= set(ticks), (ax.get_title(), ticks)
    assert spans == {1, 5}  # the bundled data have both kinds of panel


def test_small_multiples_drawn_again_into_their_figure_give_the_same_image(bundled):
    """A batch's warm kernel draws unit after unit into one figure, its panels kept
    (half the chart's time): each image is the one a new figure gives — the other
    unit's lines, limits, ticks and title gone, one legend."""
    from nq21model.plots_targets import plot_targets, targets_figsize
    from nq21model.report_base import _figure_class

    def png(fig):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=60)
        return buffer.getvalue()

    paths = {unit: V.indicator_paths(bundled, by="district", unit=unit) for unit in ("Tam Đường", "Mường Tè")}
    fresh = {}
    for unit, part in paths.items():
        fresh[unit] = png(plot_targets(part, fig=_figure_class()(figsize=targets_figsize(part["indicator"].nunique()))))
    again = _figure_class()(figsize=targets_figsize(paths["Mường Tè"]["indicator"].nunique()))
    for unit in ("Mường Tè", "Tam Đường", "Mường Tè"):
        assert png(plot_targets(paths[unit], fig=again, keep_panels=True)) == fresh[unit], unit
    assert len(again.legends) == 1 and "Mường Tè" in again._suptitle.get_text()
    again.axes[0].text(2020, 0.5, "ghi chú")  # without keep_panels a figure is cleared, a user's marks too
    assert png(plot_targets(paths["Tam Đường"], fig=again)) == fresh["Tam Đường"]
