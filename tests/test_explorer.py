"""The scenario explorer: widget state → results (against a plain forecast of the
whole province, calibrated by default and with the textbook fixed rates), caching,
errors, quotas, the people behind a rate, data without district and with dissolved
cells, the XLSX export, the charts, and the notebook executed by papermill."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import ROOT, make_tables
from nq21model import config
from nq21model.data import Dataset, load_dataset
from nq21model.exceptions import ParameterError
from nq21model.explorer import (EXPLORER_DRAWS, LEVELS, Explorer, ExplorerState, default_threshold, fan_path,
                                rate_band_html, slugify, threshold_options)
from nq21model.explorer_view import EXPORT_HEADERS
from nq21model.fmt import format_number, format_percent, format_probability
from nq21model.forecast import forecast
from nq21model.results import CELL_COLUMNS, PROVINCE, ForecastResults
from nq21model.scenario import Scenario, programme_base, scenario_rates

pytestmark = pytest.mark.filterwarnings("ignore::nq21model.exceptions.DataWarning")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset()


@pytest.fixture(scope="module")
def app(dataset):
    return Explorer(dataset)


@pytest.fixture(scope="module")
def no_district(dataset):
    """The bundled data as a file made after July 2025 would be: no district column
    (and no totals table: the rate is then of the village cells' local members)."""
    return replace(dataset, cells=dataset.cells.drop(columns="district"), totals=None, sources={})


def unit_row(results, by, unit, horizon):
    table = results.province if by == "province" else results.units(by)
    row = table[(table["unit"] == unit) & (table["status"] == "forecast") & (table["horizon"] == horizon)]
    assert len(row) == 1
    return row.iloc[0]


def check_view_against(view, which, full, level, unit, horizon, *, band_tolerance=1.0):
    """The view's figures of one scenario equal those of the whole province's forecast."""
    name = PROVINCE if level == "province" else unit
    expected = unit_row(full, level, name, horizon)
    shares = view.shares(which).set_index("threshold")
    for k in config.THRESHOLDS:
        assert shares.loc[k, "share"] == pytest.approx(expected[f"share_at_least_{k}"], abs=1e-12)
        assert shares.loc[k, "p_share_95"] == pytest.approx(expected[f"p_share_95_at_least_{k}"], abs=1e-12)
    row = view.unit_row(which)
    assert row["expected_members"] == pytest.approx(expected["expected_members"], rel=1e-12)
    for q in ("members_q10", "members_q90"):  # the explorer's fast band: within a member of the exact one
        assert abs(row[q] - expected[q]) <= band_tolerance
    path = view.path(which).reset_index(drop=True)
    reference = full.path(None if level == "province" else level, None if level == "province" else unit)
    pd.testing.assert_frame_equal(path[["year", "observed", "expected"]], reference[["year", "observed", "expected"]])
    assert (path[["q10", "q90"]] - reference[["q10", "q90"]]).abs().max().max() <= band_tolerance
    cells = full.cells[full.cells["horizon"] == horizon].reset_index(drop=True)
    if level != "province":
        cells = cells[full.dataset.cells[level].eq(unit).to_numpy()]
    table = view.cell_table(which)
    columns = [c for c in CELL_COLUMNS if c in full.cells]
    assert list(table.columns) == columns + [f"members_{view.base_year}"]
    pd.testing.assert_frame_equal(table[columns], cells[columns].reset_index(drop=True))


# ------------------------------------------------------------- state → results


@pytest.mark.parametrize("level,unit", [("district", "Mường Tè"), ("commune", "Xã Pa Ủ"),
                                        ("commune_2025", "Xã Bình Lư"), ("province", None)])
def test_calibrated_view_matches_a_forecast_of_the_whole_province(app, dataset, level, unit):
    """By default both scenarios are calibrated on history up to the base year, with
    parameter uncertainty; the explorer forecasts only the unit's cells, but from the
    same calibration and with province admissions from every cell: its figures must
    equal those of a plain forecast of the province."""
    state = ExplorerState(level=level, unit=unit, horizon=2029, compare_admission_rate=0.021,
                          compare_allocation="members")
    view = app.run(state)
    calibration = app.calibration(2025)
    assert calibration.draws == EXPLORER_DRAWS
    for which, scenario in (("a", Scenario()), ("b", Scenario(admission_rate=0.021, allocation="members"))):
        assert view._get(which).results.rates.source == "calibrated"
        assert view._get(which).results.rates.draws == EXPLORER_DRAWS
        full = forecast(dataset, scenario, horizons=[2029], calibration=calibration)
        check_view_against(view, which, full, level, unit, 2029)


def test_fixed_rates_match_the_textbook_engine(app, dataset):
    """'Cố định': one attrition for every cell, the rate of all members split by
    population — exactly the fixed-rate forecast (no parameter draws, so even the
    band is exact); without a totals table it is the textbook process on local
    members, whose province total grows by (s + r) a year."""
    state = ExplorerState(level="district", unit="Phong Thổ", admissions="rate", admission_rate=0.042,
                          rates="fixed", attrition_rate=0.025, allocation="members", horizon=2029,
                          compare_rates="fixed", compare_allocation="population")
    view = app.run(state)
    for which, scenario in (("a", Scenario(admission_rate=0.042, fixed_rates=True, attrition_rate=0.025,
                                           allocation="members")),
                            ("b", Scenario(admission_rate=0.03, fixed_rates=True, allocation="population"))):
        assert view._get(which).results.rates.draws == 1
        full = forecast(dataset, scenario, horizons=[2029])
        check_view_against(view, which, full, "district", "Phong Thổ", 2029, band_tolerance=0)

    local = Explorer(replace(dataset, totals=None))
    state = ExplorerState(level="province", admissions="rate", admission_rate=0.04, rates="fixed",
                          attrition_rate=0.03, allocation="population", horizon=2028)
    view = local.run(state)
    textbook = forecast(local.dataset, Scenario.textbook(0.04, 0.03), horizons=[2028])
    check_view_against(view, "a", textbook, "province", None, 2028, band_tolerance=0)
    m0 = dataset.at_base(2025).members_at(2025).sum()
    path = view.path().set_index("year")["expected"]
    for year in range(2026, 2029):
        assert path[year] == pytest.approx(m0 * (0.97 + 0.04) ** (year - 2025), rel=1e-12)


def test_continue_is_the_calibrated_trend(app):
    """Scenario A's default, 'Giữ nguyên xu hướng hiện nay': each cell's calibrated
    admissions carried forward; the rate slider, the allocation and the attrition
    do nothing (the notebook greys them out)."""
    state = ExplorerState(level="district", unit="Tam Đường")
    view = app.run(state)
    natural = app.natural(2025, 2030)
    idx = app.unit_index("district", "Tam Đường")
    np.testing.assert_array_equal(view.results.rates.admissions, natural.admissions[:, idx])
    for change in ({"admission_rate": 0.05}, {"allocation": "population"}, {"attrition_rate": 0.04}):
        assert app.run(state.with_(**change)).results is view.results
    disabled = app.controls_disabled(state)
    assert disabled["admission_rate"] and disabled["allocation"] and disabled["attrition_rate"]
    assert not disabled["compare_admission_rate"] and not disabled["compare_allocation"]
    assert not any(v for k, v in app.controls_disabled(state.with_(admissions="rate", rates="fixed")).items()
                   if not k.startswith("compare_"))
    assert view.results.scenario.label == "giữ nguyên xu hướng kết nạp hiện nay"


def test_parameter_uncertainty_widens_the_band(app):
    state = ExplorerState(level="province", admissions="rate", admission_rate=0.035)
    calibrated = app.run(state).unit_row()
    fixed = app.run(state.with_(rates="fixed")).unit_row()
    assert calibrated["members_q90"] - calibrated["members_q10"] > fixed["members_q90"] - fixed["members_q10"]


def test_short_history_falls_back_to_fixed_rates_with_a_note(app):
    state = ExplorerState(level="district", unit="Mường Tè", base_year=2016, horizon=2020)
    view = app.run(state)
    for which in ("a", "b"):
        assert view._get(which).results.rates.source == "fixed"
        assert view.notes(which)[0].startswith("Lịch sử chưa đủ 3 năm trước năm gốc 2016")
    assert "Lịch sử chưa đủ 3 năm" in view.title_html() and "Lịch sử chưa đủ 3 năm" in view.rates_html("a")
    assert not any(app.controls_disabled(state).values())  # the sliders apply again
    # the totals table starts in 2018: the rate is of local members, and says so
    assert "số đảng viên tại chỗ" in view.people("a") and "không có đủ số liệu đến năm 2016" in view.people("a")
    assert app.rate_description("a", 2016) == "A: kết nạp/năm (% đảng viên tại chỗ)"


def test_share_now_and_cells_needed_are_counted_from_history(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn"))
    active = dataset.at_base(2025)
    members = active.members_at(2025)[active.cells.set_index("cell_id")["district"] == "Nậm Nhùn"]
    shares = view.shares().set_index("threshold")
    for k in config.THRESHOLDS:
        assert shares.loc[k, "share_now"] == pytest.approx((members >= k).mean())
    assert (shares["cells_needed"] == int(np.ceil(0.95 * len(members)))).all()
    assert shares["observed"].isna().all()  # 2030 is not in history


def test_replay_shows_what_happened_at_the_horizon(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Sìn Hồ", base_year=2022, horizon=2025))
    members = dataset.members_at(2025)[dataset.cells.set_index("cell_id")["district"] == "Sìn Hồ"].dropna()
    observed = view.shares().set_index("threshold")["observed"]
    for k in config.THRESHOLDS:
        assert observed[k] == pytest.approx((members >= k).mean())
    assert view.threshold == 3  # the 2025 target


def test_a_higher_admission_rate_raises_the_shares(app):
    state = ExplorerState(level="district", unit="Mường Tè", admissions="rate")
    low, high = app.run(state.with_(admission_rate=0.02)), app.run(state.with_(admission_rate=0.06))
    assert (high.shares()["share"] > low.shares()["share"]).all()
    assert high.unit_row()["expected_members"] > low.unit_row()["expected_members"]
    assert len(high.at_risk()) <= len(low.at_risk())


def test_comparison_sets_both_scenarios_side_by_side(app):
    view = app.run(ExplorerState(level="district", unit="Phong Thổ", admissions="rate", admission_rate=0.05,
                                 compare_admission_rate=0.03))
    table = view.comparison().set_index("figure")
    assert table.loc["scenario", "a"] == "kết nạp 5% tổng số đảng viên/năm"
    assert table.loc["scenario", "b"] == "kết nạp 3% tổng số đảng viên/năm"
    assert table.loc["rates", "a"].startswith("Tỷ lệ hiệu chỉnh theo lịch sử 2015–2025")
    for k in config.THRESHOLDS:
        assert table.loc[f"share_at_least_{k}", "a"] == pytest.approx(view.shares("a").iloc[k - 3]["share"])
        assert table.loc[f"share_at_least_{k}", "b"] == pytest.approx(view.shares("b").iloc[k - 3]["share"])
    assert table.loc["at_risk_cells", "a"] == len(view.at_risk("a"))
    # admissions of the unit's cells: A's 5 % is 5/3 of B's 3 % (both split by calibrated shares)
    assert table.loc["admissions_first_year", "a"] == pytest.approx(table.loc["admissions_first_year", "b"] * 5 / 3)
    html = view.comparison_html()
    assert "Kịch bản A" in html and "Kịch bản B" in html and "Kết nạp năm 2026 (kỳ vọng)" in html
    assert format_percent(table.loc["share_at_least_4", "b"]) in html


def test_at_risk_is_the_results_at_risk_list_at_the_threshold(app, dataset):
    view = app.run(ExplorerState(level="district", unit="Mường Tè", threshold=5))
    assert view.threshold == 5
    expected = view.results.at_risk(2030, 5)
    pd.testing.assert_frame_equal(view.at_risk(), expected)
    assert (expected["p_at_least"] < 0.5).sum() + (expected["members_now"] == 0).sum() >= len(expected) > 3
    html = view.at_risk_html(limit=3)
    assert expected["cell_id"].iloc[0] in html and expected["cell_id"].iloc[3] not in html
    assert f"… và {len(expected) - 3} chi bộ khác" in html


def test_default_threshold_follows_the_programme():
    assert default_threshold(2025) == 3
    assert [default_threshold(y) for y in (2026, 2028, 2030)] == [4, 4, 4]
    assert default_threshold(2031) == 5
    assert threshold_options()[0] == ("Theo mục tiêu", 0)
    assert [v for _, v in threshold_options()[1:]] == list(config.THRESHOLDS)


def test_shares_html_shows_the_numbers_of_the_view(app):
    view = app.run(ExplorerState(level="district", unit="Tam Đường", admission_rate=0.03))
    html = view.shares_html()
    for r in view.shares().itertuples():
        assert f'data-threshold="{r.threshold}"' in html
        assert format_percent(r.share) in html and format_probability(r.p_share_95) in html


# ------------------------------------------------------------ people behind a rate


def test_the_rate_is_shown_in_people_from_the_programme_base(app, dataset):
    """"3,5 % tổng số đảng viên ≈ N đảng viên/năm toàn tỉnh, chi bộ thôn, bản ≈ M":
    N from the totals table's members carried forward, M the rates' expected
    admissions of every village cell (φ · N), and the unit's part."""
    state = ExplorerState(level="district", unit="Sìn Hồ", admissions="rate", admission_rate=0.035)
    view = app.run(state)
    base = programme_base(dataset, 2025)
    province = 0.035 * base.members_at(2025)
    rates = scenario_rates(dataset, Scenario(admission_rate=0.035), 2025, 2030, natural=app.natural(2025, 2030))
    village = rates.admissions.mean(axis=0)[:, 0].sum()
    assert village == pytest.approx(base.phi * province, rel=1e-9)
    unit = rates.admissions.mean(axis=0)[app.unit_index("district", "Sìn Hồ"), 0].sum()
    assert view.people("a") == (f"3,5% tổng số đảng viên ≈ {format_number(province)} đảng viên/năm toàn tỉnh, "
                                f"chi bộ thôn, bản ≈ {format_number(village)}; Sìn Hồ ≈ {format_number(unit)} "
                                "(năm 2026)")
    assert view.people("a") in app.page(state).rates_html
    assert format_number(0.03 * base.members_at(2025)) in app.page(state).rates_b_html
    assert app.rate_description("a") == "A: kết nạp/năm (% tổng số đảng viên)"
    # continuing: the calibrated admissions, and the rate of all members they amount to
    trend = app.run(state.with_(admissions="continue")).people("a")
    natural = app.natural(2025, 2030).admissions.mean(axis=0)[:, 0].sum()
    assert trend.startswith(f"giữ nguyên xu hướng hiện nay: chi bộ thôn, bản ≈ {format_number(natural)} ")
    assert format_percent(natural / base.phi / base.members_at(2025)) + " tổng số đảng viên" in trend


def test_rate_band_marks_the_programme_band():
    inside, outside = rate_band_html(0.035, 0.05), rate_band_html(0.045)
    assert 'data-inside="true"' in inside and "trong khung 3–4% tổng số đảng viên" in inside
    assert 'data-inside="false"' in outside and "ngoài khung 3–4%" in outside
    assert "left:25.0%;width:25.0%" in inside  # 3–4 % on the 2–6 % ruler
    assert "B 5%/năm" in inside
    assert "Kết nạp A ≈ 3,3%/năm" in rate_band_html(0.033, approx_a=True)


# ------------------------------------------------------- data of other shapes


def test_dissolved_cells_are_not_forecast_and_are_counted_in_their_years(app, dataset):
    """Sìn Hồ has 3 cells dissolved before 2025: the unit's indices are positions
    among the cells present in the base year, the history counts the dissolved
    cells in the years they existed, the page and the export list them."""
    active = dataset.at_base(2025)
    idx = app.unit_index("district", "Sìn Hồ")
    assert list(active.cells["cell_id"].iloc[idx]) == list(
        active.cells.loc[active.cells["district"] == "Sìn Hồ", "cell_id"])
    dissolved = active.absent[active.absent["district"] == "Sìn Hồ"]
    assert len(dissolved) == 3 and (dissolved["reason"] == "dissolved").all()
    view = app.run(ExplorerState(level="district", unit="Sìn Hồ"))
    assert view.members_now.size == len(idx) == (dataset.cells["district"] == "Sìn Hồ").sum() - 3
    assert "3 chi bộ đã giải thể, sáp nhập trước năm gốc" in view.title_html()
    history = dataset.members_at(2020)[dataset.cells.set_index("cell_id")["district"] == "Sìn Hồ"]
    assert history.notna().sum() == len(idx) + 3
    assert view.path().set_index("year").loc[2020, "observed"] == history.sum()
    province = app.run(ExplorerState(level="province"))
    assert province.members_now.size == len(active.cells) == len(dataset.cells) - 12
    assert "12 chi bộ đã giải thể" in province.title_html()


def test_a_data_set_without_district(no_district, tmp_path):
    """Files made after July 2025 have no district: the levels are the province, the
    new communes and the old ones; the default unit falls back with a note; no
    'Huyện' column anywhere; without totals the rate is of local members."""
    app = Explorer(no_district)
    assert app.levels() == [(LEVELS["province"], "province"), ("Xã, phường (sau 1/7/2025)", "commune_2025"),
                            (LEVELS["commune"], "commune")]
    assert app.default_level() == "commune_2025"
    level, unit, note = app.start("district", "Mường Tè")
    assert (level, unit) == ("commune_2025", app.units("commune_2025")[0]) and "không có cấp 'district'" in note
    assert app.unit_options("commune")[0] == (app.units("commune")[0],) * 2
    state = ExplorerState(level="commune", unit="Xã Pa Ủ", admissions="rate", admission_rate=0.04)
    view = app.run(state)
    assert view.results.rates.source == "calibrated"
    assert "district" not in view.cell_table() and "Huyện" not in view.at_risk_html()
    assert "số đảng viên tại chỗ của chi bộ thôn, bản" in view.people("a")
    assert "không có bảng tổng số đảng viên" in view.people("a")
    assert app.rate_description("b") == "B: kết nạp/năm (% đảng viên tại chỗ)"
    assert "nq21-rate-band" not in view.rates_html("a")  # no programme band to compare a local rate with
    sheets = pd.read_excel(view.write_cell_table(tmp_path / "x.xlsx"), sheet_name=None, header=1)
    assert "Huyện" not in sheets["Chi bộ"] and "Xã mới (sau 1/7/2025)" in sheets["Chi bộ"]
    with pytest.raises(ParameterError, match="level must be one of province, commune_2025, commune"):
        app.run(state.with_(level="district", unit="Mường Tè"))


# --------------------------------------------------------------------- caching


def test_views_and_the_unchanged_scenario_are_cached(app, monkeypatch):
    from nq21model import calibrate

    fits = []
    original = calibrate.Calibration.fit
    monkeypatch.setattr(calibrate.Calibration, "fit", lambda self, *a, **k: fits.append(a) or original(self, *a, **k))
    state = ExplorerState(level="district", unit="Than Uyên", admissions="rate")
    first = app.run(state)
    assert app.run(ExplorerState(level="district", unit="Than Uyên", admissions="rate")) is first
    moved = app.run(state.with_(admission_rate=0.041))
    assert moved is not first
    assert moved.compare is first.compare  # scenario B did not change: not recomputed
    assert moved.results is not first.results
    assert app.run(state.with_(attrition_rate=0.04)).results is first.results  # calibrated: no attrition
    app.run(state.with_(compare_admission_rate=0.037, unit="Tam Đường", horizon=2028))
    assert fits == []  # the calibration of 2025 was fitted once, before
    assert app.calibration(2025) is app.calibration(2025)
    assert app.natural(2025, 2030) is app.natural(2025, 2030)
    assert app.unit_index("district", "Than Uyên") is app.unit_index("district", "Than Uyên")


def test_options_for_the_widgets(app, dataset):
    assert app.units("province") == [PROVINCE]
    assert [key for _, key in app.levels()] == ["province", "district", "commune_2025", "commune"]
    assert dict((k, v) for v, k in app.levels())["commune_2025"] == "Xã, phường (sau 1/7/2025)"
    assert sorted(app.units("district")) == sorted(dataset.cells["district"].unique())
    assert len(app.units("commune_2025")) == dataset.cells["commune_2025"].nunique() == 38
    communes = app.unit_options("commune")
    assert len(communes) == dataset.cells["commune"].nunique()
    assert ("Xã Pa Ủ (Mường Tè)", "Xã Pa Ủ") in communes
    assert app.units("district").index("Tam Đường") < app.units("district").index("Thành phố Lai Châu")
    assert app.base_years() == dataset.years
    assert app.horizons(2022)[0] == 2023 and app.horizons()[0] == 2026
    assert app.default_horizon(2022, 2030) == 2030
    assert app.default_horizon(2028, 2027) == 2030
    assert app.default_horizon(2031, None) == 2036
    assert [v for _, v in app.admissions_options()] == ["continue", "rate"]
    assert [label for label, _ in app.admissions_options()] == ["Giữ nguyên xu hướng hiện nay", "Theo tỷ lệ kết nạp"]
    assert [label for label, _ in app.rate_options()] == ["Hiệu chỉnh theo lịch sử", "Cố định"]
    assert app.allocations() == [("Theo khả năng của từng chi bộ", "calibrated"), ("Theo dân số", "population"),
                                 ("Theo số đảng viên tại chỗ", "members")]
    assert [v for _, v in app.allocations(quotas=True)] == ["calibrated", "population", "members", "quota"]
    assert app.start("district", "Mường Tè") == ("district", "Mường Tè", "")
    assert app.start("province", "x") == ("province", None, "")


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("state,words", [
    (ExplorerState(level="district", unit="Nowhere"), "no district named 'Nowhere'"),
    (ExplorerState(level="commune"), "choose a commune (one of: Phường Đoàn Kết"),
    (ExplorerState(level="district", unit="Mường Tè", horizon=2025), "at or before the base year"),
    (ExplorerState(level="district", unit="Mường Tè", base_year=2010), "outside the history"),
    (ExplorerState(level="village", unit="Mường Tè"), "level must be one of"),
    (ExplorerState(level="district", unit="Mường Tè", admissions="rate", allocation="quota"), "needs a quotas table"),
    (ExplorerState(level="district", unit="Mường Tè", admissions="rate", admission_rate=1.5),
     "admission rate must be in"),
    (ExplorerState(level="district", unit="Mường Tè", compare_admissions="more"), "admissions must be one of"),
    (ExplorerState(level="district", unit="Mường Tè", rates="guess"), "rates must be one of"),
])
def test_a_state_the_data_cannot_answer_gives_an_error_page(app, state, words):
    with pytest.raises(ValueError) as info:  # ParameterError and DataError are ValueErrors
        app.run(state)
    assert words in str(info.value)
    page = app.page(state)
    assert page.view is None and words in page.error
    assert set(page.widget_values()) == {"rates", "rates_b", "status"}
    assert "nq21-error" in page.widget_values()["status"]


# ---------------------------------------------------------------------- quotas


def quotas_for(dataset, years, per_cell=None):
    rows = [{"cell_id": c, "year": y, "quota": (per_cell or {}).get(c, 0)}
            for c in dataset.cells["cell_id"] for y in years]
    return pd.DataFrame(rows)


def test_a_quotas_table_in_the_state_sets_the_admissions(app, dataset):
    small = dataset.cells.loc[dataset.cells["district"] == "Mường Tè", "cell_id"].iloc[:5].tolist()
    quotas = quotas_for(dataset, range(2026, 2031), {c: 2 for c in small})
    state = ExplorerState(level="district", unit="Mường Tè", admissions="rate", allocation="quota", quotas=quotas,
                          rates="fixed")
    view = app.run(state)
    cells = view.results.dataset.cells["cell_id"]
    lam = view.results.rates.lam[0]
    assert np.allclose(lam[cells.isin(small).to_numpy()], 2.0)  # fixed rates: every quota is met
    assert np.allclose(lam[~cells.isin(small).to_numpy()], 0.0)
    assert view.results.scenario.label.startswith("kết nạp theo chỉ tiêu giao")
    # calibrated: a quota is met up to the cell's capacity, twice its calibrated rate
    view = app.run(state.with_(rates="calibrated"))
    natural = app.natural(2025, 2030).admissions[:, app.unit_index("district", "Mường Tè")]
    np.testing.assert_allclose(view.results.rates.admissions,
                               np.minimum(np.where(cells.isin(small).to_numpy()[None, :, None], 2.0, 0.0),
                                          2.0 * natural))


def test_a_quota_provider_is_asked_once_per_scenario_and_years(dataset):
    calls = []

    def provider(data, scenario, base_year, horizon):
        calls.append((scenario.admission_rate, scenario.admission_base, base_year, horizon))
        return quotas_for(data, range(base_year + 1, horizon + 1),
                          {c: 1 for c in data.cells["cell_id"].iloc[:50]})

    app = Explorer(dataset, quota_provider=provider)
    assert app.allocations()[-1] == ("Theo chỉ tiêu tối ưu", "quota")
    state = ExplorerState(level="district", unit="Mường Tè", admissions="rate", allocation="quota", horizon=2028,
                          rates="fixed")
    app.run(state)
    app.run(state.with_(compare_admission_rate=0.05))
    app.run(state.with_(unit="Tam Đường"))
    assert calls == [(state.admission_rate, "all", 2025, 2028)]
    app.run(state.with_(admission_rate=0.05))
    assert calls[-1] == (0.05, "all", 2025, 2028)


# ---------------------------------------------------------------------- export


def decimals_at_most(values, digits):
    values = pd.Series(values, dtype=float).dropna().to_numpy()
    return np.array_equal(values, np.round(values, digits))


EXPORT_COLUMNS = {header: column for column, header in EXPORT_HEADERS.items()}


def test_write_cell_table_has_vietnamese_headers_and_rounded_values(app, tmp_path, dataset):
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn", admissions="rate", admission_rate=0.031))
    path = view.write_cell_table(tmp_path / "out.xlsx")
    sheets = pd.read_excel(path, sheet_name=None, header=1)  # under the title row
    assert list(sheets) == ["Chi bộ", "Có nguy cơ", "Không dự báo", "Kịch bản"]
    table = sheets["Chi bộ"]
    present = dataset.at_base(2025).cells
    assert len(table) == (present["district"] == "Nậm Nhùn").sum() == len(view.cell_table())
    assert list(table.columns) == ["Mã chi bộ", "Huyện", "Xã mới (sau 1/7/2025)", "Xã", "Tên chi bộ", "Năm dự báo",
                                   "Đảng viên tại chỗ dự kiến (kỳ vọng)", "Phân vị 10%", "Trung vị", "Phân vị 90%",
                                   "Xác suất không còn đảng viên", "Xác suất ≥ 3 đảng viên", "Xác suất ≥ 4 đảng viên",
                                   "Xác suất ≥ 5 đảng viên", "Đảng viên tại chỗ 2025"]
    assert decimals_at_most(table["Đảng viên tại chỗ dự kiến (kỳ vọng)"], 1)
    for col in [c for c in table if c.startswith("Xác suất")]:  # numbers, shown "> 0,99" by their format
        np.testing.assert_allclose(table[col].to_numpy(float), view.cell_table()[EXPORT_COLUMNS[col]].to_numpy())
    risk = sheets["Có nguy cơ"]
    assert len(risk) == len(view.at_risk())
    assert list(risk.columns) == ["Mã chi bộ", "Tên chi bộ", "Xã", "Huyện", "Đảng viên tại chỗ 2025", "Dự kiến 2030",
                                  "Xác suất ≥ 4 (2030)"]
    assert decimals_at_most(risk["Dự kiến 2030"], 1)
    np.testing.assert_allclose(risk["Xác suất ≥ 4 (2030)"], view.at_risk()["p_at_least"])  # shown 2 decimals
    gone = sheets["Không dự báo"]
    assert set(gone["Tình trạng"]) == {"đã giải thể, sáp nhập"} and len(gone) == len(view.absent) > 0
    params = sheets["Kịch bản"].set_index("Mục")["Giá trị"]
    assert params["Dữ liệu"].startswith("Dữ liệu mô phỏng")
    assert params["Kịch bản A: tỷ lệ kết nạp (thanh trượt)"] == "3,1%"
    assert params["Kịch bản A"] == "kết nạp 3,1% tổng số đảng viên/năm"
    assert params["Kịch bản A: số người"] == view.people("a")
    assert params["Kịch bản B: kết nạp"] == "Theo tỷ lệ kết nạp"
    numbers = pd.to_numeric(params, errors="coerce").dropna()
    assert decimals_at_most(numbers, 2)
    chances = pd.to_numeric(params[params.index.str.contains("xác suất")], errors="coerce")
    assert not ((chances > 0.99) | ((chances > 0) & (chances < 0.01))).any()  # "> 0,99" there, as text
    book = openpyxl.load_workbook(path)
    for ws in book.worksheets:  # the synthetic mark on every sheet, on screen and in print
        assert ws["A1"].value.startswith("Dữ liệu mô phỏng") and "Dữ liệu mô phỏng" in ws.oddHeader.center.text
        assert ws.freeze_panes == "A3"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_a_failed_export_keeps_the_previous_file(app, tmp_path, monkeypatch):
    state = ExplorerState(level="district", unit="Nậm Nhùn")
    assert "nq21-saved" in app.export(state, tmp_path)
    (path,) = tmp_path.iterdir()
    before = path.read_bytes()
    original = pd.DataFrame.to_excel

    def fails_on_the_second_sheet(self, writer, sheet_name="Sheet1", **kwargs):
        if sheet_name == "Có nguy cơ":
            raise OSError("disk full")
        return original(self, writer, sheet_name=sheet_name, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_excel", fails_on_the_second_sheet)
    status = app.export(state.with_(compare_admission_rate=0.05), tmp_path)
    assert "nq21-error" in status and "disk full" in status
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_export_names_the_file_and_reports_errors(app, tmp_path):
    state = ExplorerState(level="commune", unit="Xã Pa Ủ", base_year=2022, horizon=2027)
    status = app.export(state, tmp_path)
    expected = tmp_path / "explorer_xa-pa-u_2022-2027.xlsx"
    assert expected.exists() and str(expected) in status
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert "nq21-error" in app.export(state, blocker)
    assert "nq21-error" in app.export(state.with_(unit="Nowhere"), tmp_path)
    with pytest.raises(ParameterError, match="xlsx"):
        app.run(state).write_cell_table(tmp_path / "x.csv")


def test_slugify():
    assert slugify("Mường Tè") == "muong-te"
    assert slugify("Thành phố Lai Châu") == "thanh-pho-lai-chau"
    assert slugify("Đoàn Kết") == "doan-ket"
    assert slugify("!!!") == "unit"


def test_synthetic_banner_only_for_synthetic_data(app):
    assert "Dữ liệu mô phỏng" in app.banner_html()
    cells, history = make_tables()
    real = Explorer(Dataset(cells=cells, history=history))
    assert real.banner_html() == ""
    view = real.run(ExplorerState(level="district", unit="Sìn Hồ", horizon=2028))
    assert len(view.cell_table()) == (cells["district"] == "Sìn Hồ").sum()
    assert view.results.rates.source == "calibrated"  # eight years of history: calibrated


def test_fan_path_band_is_within_a_member_of_the_exact_one(app):
    """The explorer's fast band of a total (one transform for all parameter draws)
    against the exact engine's, for every district, the province and a long horizon."""
    state = ExplorerState(level="province", horizon=2035)
    results = app.run(state).results
    exact = ForecastResults.path(results)
    fast = fan_path(results)
    pd.testing.assert_frame_equal(fast[["year", "observed", "expected"]], exact[["year", "observed", "expected"]])
    assert (fast[["q10", "q90"]] - exact[["q10", "q90"]]).abs().max().max() <= 1
    for district in app.units("district"):
        res = app.run(state.with_(level="district", unit=district)).results
        assert (fan_path(res)[["q10", "q90"]] - ForecastResults.path(res)[["q10", "q90"]]).abs().max().max() <= 1


# ---------------------------------------------------------------------- charts


def test_charts_draw_the_views_numbers_on_given_axes(app):
    from matplotlib.figure import Figure

    from nq21model.plots_explorer import plot_target_shares, plot_unit_fan_chart

    view = app.run(ExplorerState(level="district", unit="Mường Tè", base_year=2022, horizon=2025))
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_unit_fan_chart(view, ax1) is ax1
    assert plot_target_shares(view, ax2) is ax2
    path = view.path()
    history, line_a = ax1.lines[0], ax1.lines[1]
    np.testing.assert_allclose(history.get_ydata(), path["observed"].dropna())
    np.testing.assert_allclose(line_a.get_ydata(), path.loc[path["year"] >= 2022, "expected"])
    assert ax1.get_title() == "Đảng viên tại chỗ — Mường Tè"
    bottom = ax2.get_ylim()[0]
    heights = [p.get_y() + p.get_height() for p in ax2.patches[:3]]
    np.testing.assert_allclose(heights, np.maximum(view.shares()["share"], bottom))
    texts = [t.get_text() for t in ax2.texts]
    assert f"{format_percent(view.shares()['share'][0])}\nP={format_probability(view.shares()['p_share_95'][0])}" in texts
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert legend == ["Kịch bản A", "Kịch bản B", "Mục tiêu 95%", "Năm 2022", "Thực tế 2025"]


@pytest.mark.parametrize("level,unit", [("district", "Mường Tè"), ("commune", "Xã Pa Ủ")])
def test_axis_hints_cover_every_admission_rate(dataset, level, unit):
    from nq21model.plots_explorer import ExplorerRenderer

    app = Explorer(dataset)
    state = ExplorerState(level=level, unit=unit, horizon=2030, admissions="rate")
    hints = app.axis_hints(state)
    low, high = hints["members"]
    renderer = ExplorerRenderer()
    for rate in (0.02, 0.027, 0.06):
        for which_rate in ({"admission_rate": rate}, {"compare_admission_rate": rate}):
            view = app.run(state.with_(**which_rate))
            assert view.axis_hints == hints
            for which in ("a", "b"):
                path = view.path(which).dropna(subset=["q10"])
                assert low <= path["q10"].min() and path["q90"].max() <= high
                assert hints["share_floor"] <= view.shares(which)["share"].min() + 1e-12
            renderer.render_rgba(view)
    assert renderer.full_draws == 1  # the axes did not move with the sliders
    assert app.axis_hints(state.with_(attrition_rate=0.04)) == hints  # calibrated: no attrition
    assert app.axis_hints(state.with_(rates="fixed", compare_rates="fixed")) != hints


def test_blitted_redraw_equals_a_full_draw(app):
    """A view drawn over the cached background gives the same pixels as a fresh figure."""
    from nq21model.plots_explorer import ExplorerRenderer

    state = ExplorerState(level="district", unit="Mường Tè", admissions="rate")
    renderer = ExplorerRenderer()
    renderer.render_rgba(app.run(state))
    moved = app.run(state.with_(admission_rate=0.036))
    blitted = renderer.render_rgba(moved).copy()
    fresh = ExplorerRenderer().render_rgba(moved)
    assert renderer.full_draws == 1  # the second view reused the background
    assert np.abs(blitted.astype(int) - fresh.astype(int)).max() == 0
    png = renderer.render_png(moved)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------------------- notebook


@pytest.mark.slow
def test_notebook_runs_with_papermill_and_shows_the_package_numbers(tmp_path, app):
    import papermill as pm

    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "explore.ipynb"), str(out), kernel_name=config.KERNEL_NAME,
                        parameters={"unit": "Nậm Nhùn", "admissions": "rate", "admission_rate": 0.031,
                                    "horizon": 2029, "out_dir": str(tmp_path)},
                        cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = json.loads(out.read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
              or o.get("name") == "stderr"]
    assert errors == []
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    by_class = {cls: m["state"] for m in state.values() for cls in m["state"].get("_dom_classes", [])}
    view = app.run(ExplorerState(level="district", unit="Nậm Nhùn", admissions="rate", admission_rate=0.031,
                                 horizon=2029))
    assert by_class["nq21-shares"]["value"] == view.shares_html()
    assert by_class["nq21-admission"]["value"] == 0.031
    assert by_class["nq21-admission"]["description"] == "A: kết nạp/năm (% tổng số đảng viên)"
    assert by_class["nq21-rates"]["value"] == view.rates_html("a")
    assert "Dữ liệu mô phỏng" in by_class["nq21-banner"]["value"]
    assert "Nậm Nhùn" in by_class["nq21-title"]["value"]
    assert by_class["nq21-status"]["value"] == ""
    assert by_class["nq21-ctl-attrition-rate"]["disabled"] is True  # calibrated rates: no attrition slider
    shown = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert len(shown) == 1  # only the explorer itself is displayed


def test_notebook_shows_its_controls_first():
    """Committed without outputs; the parameters cell first (papermill); every code
    cell's source collapsed, so that a user sees the controls, not the code."""
    nb = json.loads((ROOT / "notebooks" / "explore.ipynb").read_text(encoding="utf-8"))
    assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][0]["source"][0].startswith("# ")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0] is nb["cells"][1] and "parameters" in code[0]["metadata"].get("tags", [])
    assert nb["metadata"]["kernelspec"]["name"] == config.KERNEL_NAME
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None
        assert cell["metadata"]["jupyter"]["source_hidden"] is True
        assert "hide-input" in cell["metadata"]["tags"]
    assert all(c["cell_type"] == "code" for c in nb["cells"][1:])  # no heading between hidden cells
    assert "widgets" not in nb["metadata"]


def test_notebook_wiring_reacts_to_the_controls(tmp_path, dataset):
    """The notebook's code cells run in-process (widgets without a browser); then the
    controls are changed as a user would and the outputs follow."""
    import contextlib
    import io

    nb = json.loads((ROOT / "notebooks" / "explore.ipynb").read_text(encoding="utf-8"))
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code + f"\nout_dir = {str(tmp_path)!r}\n", "explore.ipynb", "exec"), ns)
    controls, outputs, app = ns["controls"], ns["outputs"], ns["app"]
    assert "Mường Tè" in outputs["title"].value and outputs["figure"].value[:4] == b"\x89PNG"
    assert "giữ nguyên xu hướng hiện nay" in outputs["rates"].value
    assert controls["admission_rate"].disabled and controls["attrition_rate"].disabled
    assert controls["admission_rate"].description == "A: kết nạp/năm (% tổng số đảng viên)"

    controls["admissions"].value = "rate"
    assert not controls["admission_rate"].disabled
    controls["admission_rate"].value = 0.045
    expected = app.run(ExplorerState(level="district", unit="Mường Tè", admissions="rate", admission_rate=0.045))
    assert outputs["shares"].value == expected.shares_html()
    assert "ngoài khung 3–4%" in outputs["rates"].value and expected.people("a") in outputs["rates"].value

    controls["rates"].value = "fixed"
    assert not controls["attrition_rate"].disabled
    controls["attrition_rate"].value = 0.03
    assert "giảm 3%/năm" in outputs["shares"].value and "phân bổ theo dân số" in outputs["rates"].value

    controls["level"].value = "commune_2025"
    assert controls["unit"].value == app.units("commune_2025")[0]
    assert "Xã, phường (sau 1/7/2025)" in outputs["title"].value
    controls["level"].value = "commune"
    assert controls["unit"].value == app.units("commune")[0]
    assert controls["unit"].value in outputs["title"].value
    controls["unit"].value = "Xã Pa Ủ"
    assert "Xã Pa Ủ" in outputs["title"].value

    controls["base_year"].value = 2022
    assert controls["horizon"].options[0] == 2023 and controls["horizon"].value == 2030
    controls["horizon"].value = 2025
    assert "Thực tế 2025" in outputs["shares"].value

    ns["export"].click()
    assert "nq21-saved" in outputs["status"].value
    assert (tmp_path / "explorer_xa-pa-u_2022-2025.xlsx").exists()
    assert [v for _, v in controls["allocation"].options] == ["calibrated", "population", "members", "quota"]
    controls["base_year"].value = 2016  # too short to calibrate: fixed rates, said on the page
    assert "Lịch sử chưa đủ 3 năm" in outputs["title"].value
    assert controls["admission_rate"].description == "A: kết nạp/năm (% đảng viên tại chỗ)"
    controls["base_year"].value = 2025
    controls["rates"].value = "calibrated"
    before = outputs["shares"].value
    controls["allocation"].value = "quota"  # optimised quotas (allocate.optimised_quotas)
    assert outputs["shares"].value != before and "nq21-error" not in outputs["status"].value
